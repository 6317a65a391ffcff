"""The rows of the benchmark: each builds the same work for convprop and PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from convprop import conv, ops
from convprop.bench.suite import Row, best_time
from convprop.tensor import Tensor


class Skip(Exception):
    """A row that cannot run here; the message says why."""


def _conv_row(name, z_shape, w_shape, padding=0, method="auto", quick=False):
    import torch
    import torch.nn.functional as tF

    rng = np.random.default_rng(0)
    z = rng.standard_normal(z_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    x = conv.conv2d(z, w, padding=padding, method=method)
    eps = rng.standard_normal(x.shape, dtype=np.float32)

    def ours():
        conv.conv2d(z, w, padding=padding, method=method)
        conv.conv2d_adjoint_input(eps, w, input_shape=z.shape, padding=padding, method=method)
        conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, padding=padding, method=method)

    tz = torch.tensor(z, requires_grad=True)
    tw = torch.tensor(np.ascontiguousarray(w[..., ::-1, ::-1]), requires_grad=True)
    teps = torch.tensor(eps)

    def theirs():
        out = tF.conv2d(tz, tw, padding=padding)
        tz.grad = tw.grad = None
        out.backward(teps)

    n, c, _, _ = z_shape
    o, _, kh, kw = w_shape
    gflop = 3 * 2 * n * o * x.shape[2] * x.shape[3] * c * kh * kw / 1e9
    repeat = 3 if quick else 7
    return Row(
        name,
        best_time(ours, repeat=repeat),
        best_time(theirs, repeat=repeat),
        gflop,
        note=f"method={conv.choose_method(z.shape, w.shape, padding=padding)}"
        if method == "auto" and hasattr(conv, "choose_method")
        else "",
    )


def seed_case(quick=False):
    return _conv_row("conv F+G seed 1x1x128x128, 3x3", (1, 1, 128, 128), (1, 1, 3, 3), quick=quick)


def lenet_conv1(quick=False):
    return _conv_row(
        "conv F+G LeNet-1 64x1x28x28 -> 6, 5x5 p2",
        (64, 1, 28, 28),
        (6, 1, 5, 5),
        padding=2,
        quick=quick,
    )


def lenet_conv2(quick=False):
    return _conv_row(
        "conv F+G LeNet-2 64x6x14x14 -> 16, 5x5", (64, 6, 14, 14), (16, 6, 5, 5), quick=quick
    )


def wide_layer(quick=False):
    return _conv_row(
        "conv F+G wide 32x64x32x32 -> 64, 3x3 p1",
        (32, 64, 32, 32),
        (64, 64, 3, 3),
        padding=1,
        quick=quick,
    )


def large_kernel(quick=False):
    return _conv_row(
        "conv F+G large 8x3x64x64 -> 16, 11x11", (8, 3, 64, 64), (16, 3, 11, 11), quick=quick
    )


def max_pool(quick=False):
    import torch
    import torch.nn.functional as tF

    z = np.random.default_rng(0).standard_normal((64, 6, 28, 28), dtype=np.float32)
    eps = np.ones((64, 6, 14, 14), dtype=np.float32)

    def ours():
        t = Tensor(z, requires_grad=True)
        ops.max_pool2d(t, 2).backward(eps)

    tz, teps = torch.tensor(z, requires_grad=True), torch.tensor(eps)

    def theirs():
        tz.grad = None
        tF.max_pool2d(tz, 2).backward(teps)

    return Row("max-pool 2x2 F+G 64x6x28x28", best_time(ours), best_time(theirs))


def cross_entropy(quick=False):
    import torch
    import torch.nn.functional as tF

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((64, 10), dtype=np.float32)
    labels = rng.integers(0, 10, 64)

    def ours():
        t = Tensor(logits, requires_grad=True)
        ops.cross_entropy(t, labels).backward()

    tl, ty = torch.tensor(logits, requires_grad=True), torch.tensor(labels)

    def theirs():
        tl.grad = None
        tF.cross_entropy(tl, ty).backward()

    return Row("cross-entropy F+G 64x10", best_time(ours), best_time(theirs))


def lenet_step(quick=False):
    import torch

    from convprop import optim
    from convprop.bench.twin import torch_twin
    from convprop.models import build_model

    model = build_model("lenet5", (1, 28, 28), 10, np.random.default_rng(0))
    twin = torch_twin(model)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.tensor(x), torch.tensor(y)

    def ours():
        loss = ops.cross_entropy(model(Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def theirs():
        loss = torch.nn.functional.cross_entropy(twin(tx), ty)
        topt.zero_grad()
        loss.backward()
        topt.step()

    flops = 3 * 2 * 64 * (6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 840)
    return Row("LeNet-5 training step, batch 64", best_time(ours), best_time(theirs), flops / 1e9)


def lenet_epoch(quick=False):
    """A full epoch over the real Fashion-MNIST training set, each side in its own process
    (so each peak resident memory is its own)."""
    from convprop.data import FASHION_MNIST_DIR

    if not Path(FASHION_MNIST_DIR).is_dir():
        raise Skip(
            f"LeNet-5 Fashion-MNIST epoch: {FASHION_MNIST_DIR} not found (install "
            f"Debian's dataset-fashion-mnist; make bench tries)"
        )
    limit = 6000 if quick else 60000
    sides = {}
    for side in ("convprop", "torch"):
        done = subprocess.run(
            [sys.executable, "-m", "convprop.bench.epoch", side, str(limit)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise Skip(f"LeNet-5 epoch ({side}) failed: {done.stderr.strip()[-300:]}")
        sides[side] = json.loads(done.stdout.strip().splitlines()[-1])
    ours, theirs = sides["convprop"], sides["torch"]
    return Row(
        f"LeNet-5 epoch, {limit:,} Fashion-MNIST images",
        ours["seconds"],
        theirs["seconds"],
        note=f"peak RSS {ours['max_rss_mb']:.0f} MB vs {theirs['max_rss_mb']:.0f} MB "
        f"({ours['max_rss_mb'] / theirs['max_rss_mb']:.2f}x); test acc "
        f"{ours['accuracy']:.3f} vs {theirs['accuracy']:.3f}",
    )


GROUPS = {
    "conv": [seed_case, lenet_conv1, lenet_conv2, wide_layer, large_kernel],
    "ops": [max_pool, cross_entropy],
    "train": [lenet_step, lenet_epoch],
}
