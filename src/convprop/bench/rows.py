"""The benchmark rows: each builds the same work for convprop and for PyTorch, separately.

A row's ``build(side, variant, quick)`` returns a callable that does the work once; it runs in
the worker process of its side (:mod:`convprop.bench.worker`), so the convprop side never has
PyTorch loaded and neither side's threads compete with the other's. Conv rows are forward +
both adjoints on float32 data, true convolution (convprop's default); ``variant`` is
``"auto"`` (the row itself), ``"ENGINE"`` (all three with ``method=ENGINE``) or
``"ENGINE/ROLE"`` for the engine table (``im2col/F``: F alone with ``method="im2col"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

ROLES = ("F", "G_delta", "G_gw")


@dataclass(frozen=True)
class ConvCase:
    """A convolution row: ``z`` of ``z_shape``, kernels ``w_shape``, zero padding ``p``."""

    label: str
    z_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    padding: int = 0

    @property
    def out_hw(self) -> tuple[int, int]:
        (_, _, h, w), (_, _, kh, kw) = self.z_shape, self.w_shape
        return h + 2 * self.padding - kh + 1, w + 2 * self.padding - kw + 1

    @property
    def role_gflop(self) -> float:
        """Floating-point work of one role (F, G_delta or G_gw): ``2 N O Ho Wo C kh kw``."""
        n, c, _, _ = self.z_shape
        o, _, kh, kw = self.w_shape
        ho, wo = self.out_hw
        return 2 * n * o * ho * wo * c * kh * kw / 1e9

    @property
    def gflop(self) -> float:
        """Work of F, G_delta and G_gw together."""
        return 3 * self.role_gflop

    @property
    def gbytes(self) -> float:
        """Least memory traffic of F + G_delta + G_gw in float32: each role reads two of z, w,
        x/eps and writes the third once, so each array is moved three times."""
        x_size = self.z_shape[0] * self.w_shape[0] * prod(self.out_hw)
        return 3 * 4 * (prod(self.z_shape) + prod(self.w_shape) + x_size) / 1e9


CONV_CASES = {
    "seed": ConvCase("conv F+G seed 1x1x128x128, 3x3", (1, 1, 128, 128), (1, 1, 3, 3)),
    "lenet1": ConvCase(
        "conv F+G LeNet-1 64x1x28x28 -> 6, 5x5 p2", (64, 1, 28, 28), (6, 1, 5, 5), 2
    ),
    "lenet2": ConvCase("conv F+G LeNet-2 64x6x14x14 -> 16, 5x5", (64, 6, 14, 14), (16, 6, 5, 5)),
    "wide": ConvCase(
        "conv F+G wide 32x64x32x32 -> 64, 3x3 p1", (32, 64, 32, 32), (64, 64, 3, 3), 1
    ),
    "large": ConvCase("conv F+G large 8x3x64x64 -> 16, 11x11", (8, 3, 64, 64), (16, 3, 11, 11)),
    "resnet": ConvCase(
        "conv F+G resnet 64x16x28x28 -> 16, 3x3 p1", (64, 16, 28, 28), (16, 16, 3, 3), 1
    ),
}


def _conv_data(case: ConvCase):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(case.z_shape, dtype=np.float32)
    w = rng.standard_normal(case.w_shape, dtype=np.float32)
    eps = rng.standard_normal((case.z_shape[0], case.w_shape[0], *case.out_hw), dtype=np.float32)
    return z, w, eps


def build_conv(case: ConvCase, side: str, variant: str = "auto") -> Callable[[], Any]:
    """F + G_delta + G_gw of ``case``, or one engine's role.

    convprop computes the seed's true convolution (its default ``kind``); PyTorch, a
    correlation, gets the flipped kernel, so both compute the same numbers. convprop's F + G
    is called as its autodiff op calls it in a training step: F's geometry passed on to both
    adjoints, so that an engine may keep work of F (or G_delta) for G_gw, as PyTorch's
    autograd keeps what its backward needs; a role alone is the public function alone.
    """
    z, w, eps = _conv_data(case)
    p = case.padding
    if side == "torch":
        import torch
        import torch.nn.functional as tF

        flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1])
        tz, tw = torch.tensor(z, requires_grad=True), torch.tensor(flipped, requires_grad=True)
        te = torch.tensor(eps)

        def theirs():
            out = tF.conv2d(tz, tw, padding=p)
            tz.grad = tw.grad = None
            out.backward(te)

        return theirs

    from convprop import conv

    method, _, role = variant.partition("/")
    opts = dict(padding=p, method=method)
    roles = {
        "F": lambda: conv.conv2d(z, w, **opts),
        "G_delta": lambda: conv.conv2d_adjoint_input(eps, w, input_shape=z.shape, **opts),
        "G_gw": lambda: conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, **opts),
    }
    if role:
        return roles[role]

    def ours():
        g = conv.conv_geometry(z.shape, w.shape, padding=p)
        x = conv.conv2d(z, w, method=method, geometry=g)
        delta = conv.conv2d_adjoint_input(eps, w, method=method, geometry=g)
        return x, delta, conv.conv2d_adjoint_weight(eps, z, method=method, geometry=g)

    return ours


def auto_methods(case: ConvCase) -> dict[str, str]:
    """The engine ``method="auto"`` picks for each role of ``case``."""
    from convprop import conv

    pick = dict(padding=case.padding)
    return {
        r: conv.choose_method(case.z_shape, case.w_shape, role=role, **pick)
        for r, role in zip(ROLES, ("forward", "input", "weight"), strict=True)
    }


def engines_for(case: ConvCase) -> list[str]:
    """The engines of the conv engine table that can compute ``case`` here (the compiled
    ones only where Numba is available)."""
    from convprop import conv, jit

    g = conv.conv_geometry(case.z_shape, case.w_shape, padding=case.padding)
    usable = jit.available()
    return [
        name
        for name, engine in conv.ENGINES.items()
        if engine.supports(g) and (usable or not engine.compiled)
    ]


# ------------------------------------------------------------------ ops and training


def build_max_pool(side: str) -> Callable[[], Any]:
    z = np.random.default_rng(0).standard_normal((64, 6, 28, 28), dtype=np.float32)
    eps = np.ones((64, 6, 14, 14), dtype=np.float32)
    if side == "torch":
        import torch
        import torch.nn.functional as tF

        tz, te = torch.tensor(z, requires_grad=True), torch.tensor(eps)

        def theirs():
            tz.grad = None
            tF.max_pool2d(tz, 2).backward(te)

        return theirs
    from convprop import ops
    from convprop.tensor import Tensor

    def ours():
        ops.max_pool2d(Tensor(z, requires_grad=True), 2).backward(eps)

    return ours


def build_cross_entropy(side: str) -> Callable[[], Any]:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((64, 10), dtype=np.float32)
    labels = rng.integers(0, 10, 64)
    if side == "torch":
        import torch
        import torch.nn.functional as tF

        tl, ty = torch.tensor(logits, requires_grad=True), torch.tensor(labels)

        def theirs():
            tl.grad = None
            tF.cross_entropy(tl, ty).backward()

        return theirs
    from convprop import ops
    from convprop.tensor import Tensor

    def ours():
        ops.cross_entropy(Tensor(logits, requires_grad=True), labels).backward()

    return ours


def build_batch_norm(side: str) -> Callable[[], Any]:
    """BatchNorm2d(16) forward + backward in training mode on 64x16x28x28; convprop gets the
    batch-last view a convolution hands on (PyTorch its own contiguous NCHW)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((64, 16, 28, 28), dtype=np.float32)
    eps = rng.standard_normal(z.shape, dtype=np.float32)
    if side == "torch":
        import torch

        layer = torch.nn.BatchNorm2d(16)
        tz, te = torch.tensor(z, requires_grad=True), torch.tensor(eps)

        def theirs():
            tz.grad = None
            layer(tz).backward(te)

        return theirs
    from convprop import nn
    from convprop.tensor import Tensor

    ours_layer = nn.BatchNorm2d(16)
    batch_last = z.transpose(1, 2, 3, 0).copy().transpose(3, 0, 1, 2)  # (C, H, W, N) memory
    eps_bl = eps.transpose(1, 2, 3, 0).copy().transpose(3, 0, 1, 2)

    def ours():
        ours_layer(Tensor(batch_last, requires_grad=True)).backward(eps_bl)

    return ours


def build_lenet_step(side: str) -> Callable[[], Any]:
    """One SGD-with-momentum step of LeNet-5 on a batch of 64 (the same weights both sides)."""
    from convprop.models import build_model

    model = build_model("lenet5", (1, 28, 28), 10, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    if side == "torch":
        import torch

        from convprop.bench.twin import torch_twin

        twin = torch_twin(model)
        topt = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
        tx, ty = torch.tensor(x), torch.tensor(y)

        def theirs():
            loss = torch.nn.functional.cross_entropy(twin(tx), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()

        return theirs
    from convprop import ops, optim
    from convprop.tensor import Tensor

    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def ours():
        loss = ops.cross_entropy(model(Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return ours


def build_conv_transpose(side: str) -> Callable[[], Any]:
    """nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1) on 32x16x14x14 -> 32x8x28x28, forward
    and backward (input, weight and bias gradients), float32; PyTorch gets the flipped kernel."""
    from convprop import nn

    layer = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, rng=0)
    rng = np.random.default_rng(1)
    z = rng.standard_normal((32, 16, 14, 14), dtype=np.float32)
    eps = rng.standard_normal((32, 8, 28, 28), dtype=np.float32)
    if side == "torch":
        import torch

        twin = torch.nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)
        with torch.no_grad():
            twin.weight.copy_(
                torch.tensor(np.ascontiguousarray(layer.weight.data[:, :, ::-1, ::-1]))
            )
            twin.bias.copy_(torch.tensor(layer.bias.data))
        tz, te = torch.tensor(z, requires_grad=True), torch.tensor(eps)

        def theirs():
            out = twin(tz)
            tz.grad = twin.weight.grad = twin.bias.grad = None
            out.backward(te)

        return theirs
    from convprop.tensor import Tensor

    def ours():
        layer.zero_grad()
        layer(Tensor(z, requires_grad=True)).backward(eps)

    return ours


CONV_TRANSPOSE_GFLOP = 3 * 2 * 32 * 16 * 14 * 14 * 8 * 4 * 4 / 1e9  # F, delta, g_w of the conv


LENET_STEP_GFLOP = (
    3 * 2 * 64 * (6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 840) / 1e9
)


# Nominal work of the memory-bound rows (so that every row has a GFLOP/s): max-pool 2x2, three
# comparisons per output for F and one add for G; cross-entropy about 5 flops a logit each way;
# BatchNorm in training about 7 flops an element forward and 10 back. And their least traffic
# in float32: each array read or written once per pass.
MAX_POOL_GFLOP, MAX_POOL_GBYTES = (
    4 * 64 * 6 * 14 * 14 / 1e9,
    4 * 2 * 64 * 6 * (28 * 28 + 14 * 14) / 1e9,
)
CROSS_ENTROPY_GFLOP, CROSS_ENTROPY_GBYTES = 10 * 64 * 10 / 1e9, 4 * 3 * 64 * 10 / 1e9
BATCH_NORM_GFLOP, BATCH_NORM_GBYTES = 17 * 64 * 16 * 28 * 28 / 1e9, 5 * 4 * 64 * 16 * 28 * 28 / 1e9
CONV_TRANSPOSE_GBYTES = 3 * 4 * (32 * 16 * 14 * 14 + 32 * 8 * 28 * 28 + 16 * 8 * 4 * 4) / 1e9


@dataclass(frozen=True)
class Spec:
    """A timed row: its label, its floating-point work, its least memory traffic (GB, 0 if not
    counted) and how each side builds it."""

    key: str
    label: str
    gflop: float = 0.0
    group: str = "conv"
    gbytes: float = 0.0


SPECS = [
    *(Spec(k, c.label, c.gflop, "conv", c.gbytes) for k, c in CONV_CASES.items()),
    Spec(
        "conv_transpose",
        "ConvTranspose2d F+G 32x16x14x14 -> 8, k4 s2 p1",
        CONV_TRANSPOSE_GFLOP,
        "conv",
        CONV_TRANSPOSE_GBYTES,
    ),
    Spec("max_pool", "max-pool 2x2 F+G 64x6x28x28", MAX_POOL_GFLOP, "ops", MAX_POOL_GBYTES),
    Spec(
        "cross_entropy",
        "cross-entropy F+G 64x10",
        CROSS_ENTROPY_GFLOP,
        "ops",
        CROSS_ENTROPY_GBYTES,
    ),
    Spec("batch_norm", "BatchNorm2d F+G 64x16x28x28", BATCH_NORM_GFLOP, "ops", BATCH_NORM_GBYTES),
    Spec("lenet_step", "LeNet-5 training step, batch 64", LENET_STEP_GFLOP, group="train"),
]


def conv_key(z_shape, w_shape, padding: int = 0) -> str:
    """A row key for any convolution, ``"conv:N,C,H,W:O,C,kh,kw:p"`` (for the scaling runs)."""
    return f"conv:{','.join(map(str, z_shape))}:{','.join(map(str, w_shape))}:{padding}"


def parse_conv_key(key: str) -> ConvCase:
    _, zs, ws, p = key.split(":")
    z_shape, w_shape = (tuple(int(v) for v in t.split(",")) for t in (zs, ws))
    return ConvCase(key, z_shape, w_shape, int(p))  # type: ignore[arg-type]


def build(key: str, side: str, variant: str = "auto") -> Callable[[], Any]:
    """The callable of row ``key`` for ``side`` ("convprop" or "torch")."""
    if key in CONV_CASES:
        return build_conv(CONV_CASES[key], side, variant)
    if key.startswith("conv:"):
        return build_conv(parse_conv_key(key), side, variant)
    return {
        "max_pool": build_max_pool,
        "cross_entropy": build_cross_entropy,
        "batch_norm": build_batch_norm,
        "lenet_step": build_lenet_step,
        "conv_transpose": build_conv_transpose,
    }[key](side)


class Skip(Exception):
    """A row that cannot run here; the message says why."""
