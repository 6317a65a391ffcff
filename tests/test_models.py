"""LeNet-5, batch 64, SGD lr 0.05 momentum 0.9, 10 epochs on MNIST-format data: convprop's
test accuracy is within one point of PyTorch's with the same recipe.

Both sides start from the same weights and see the same batches; they still drift apart,
because float32 rounding differs and SGD amplifies it, so one run of each differs by about a
point either way. The test compares the mean over three seeds (three data sets, inits and
batch orders), which is what "the same recipe gives the same accuracy" means.

Before that, one step exactly: convprop's lenet5 (each pool written before its ReLU) against
PyTorch's conv-relu-pool LeNet-5, the same values and gradients in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop.config import TrainConfig
from convprop.data import DataLoader, load_mnist, write_idx
from convprop.models import build_model
from convprop.train import evaluate, train

torch = pytest.importorskip("torch")
from convprop.bench.twin import torch_accuracy, torch_twin  # noqa: E402 (it imports torch)


def write_mnist_like(folder, seed, n_train=4000, n_test=2000, noise=0.5):
    """Ten classes of blurred random strokes, shifted by up to 4 pixels, in heavy noise."""
    rng = np.random.default_rng(seed)
    base = rng.random((10, 32, 32))
    for _ in range(3):  # blur: smooth prototypes
        base = (
            base
            + np.roll(base, 1, 1)
            + np.roll(base, 1, 2)
            + np.roll(base, -1, 1)
            + np.roll(base, -1, 2)
        ) / 5
    base = (base - base.min((1, 2), keepdims=True)) / np.ptp(base, (1, 2), keepdims=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        dy, dx = rng.integers(0, 5, n), rng.integers(0, 5, n)
        images = np.stack(
            [base[c, a : a + 28, b : b + 28] for c, a, b in zip(labels, dy, dx, strict=True)]
        )
        images = np.clip(images + noise * rng.standard_normal(images.shape), 0, 1)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", (images * 255).astype(np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))


def _torch_lenet5(model) -> torch.nn.Sequential:
    """PyTorch's LeNet-5, conv-relu-pool, with the weights of convprop's ``model`` (whose
    builder writes each pool before its ReLU) and its kernels flipped (torch correlates)."""
    conv1, conv2, fc1, fc2, fc3 = (m for m in model if isinstance(m, cp.nn.Conv2d | cp.nn.Linear))
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(400, 120),
        torch.nn.ReLU(),
        torch.nn.Linear(120, 84),
        torch.nn.ReLU(),
        torch.nn.Linear(84, 10),
    ).double()
    ours = [conv1, conv2, fc1, fc2, fc3]
    theirs = [m for m in net if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    with torch.no_grad():
        for a, b in zip(ours, theirs, strict=True):
            w = a.weight.data[:, :, ::-1, ::-1] if isinstance(a, cp.nn.Conv2d) else a.weight.data
            b.weight.copy_(torch.tensor(w.copy()))
            b.bias.copy_(torch.tensor(a.bias.data))
    return net, list(zip(ours, theirs, strict=True))


def test_lenet5_pool_first_equals_pytorchs_conv_relu_pool_lenet5():
    model = build_model("lenet5", (1, 28, 28), 10, np.random.default_rng(0))
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    net, pairs = _torch_lenet5(model)
    x = np.random.default_rng(1).standard_normal((8, 1, 28, 28))
    eps = np.random.default_rng(2).standard_normal((8, 10))
    z, tz = cp.Tensor(x, requires_grad=True, dtype=np.float64), torch.tensor(x, requires_grad=True)
    out, ref = model(z), net(tz)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.backward(eps)
    ref.backward(torch.tensor(eps))
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=1e-9, atol=1e-12)
    for a, b in pairs:
        gw = b.weight.grad.numpy()
        gw = gw[:, :, ::-1, ::-1] if isinstance(a, cp.nn.Conv2d) else gw
        np.testing.assert_allclose(a.weight.grad, gw, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.bias.grad, b.bias.grad.numpy(), rtol=1e-9, atol=1e-12)


def _torch_run(split, seed, epochs=10):
    torch.manual_seed(seed)
    net = torch_twin(build_model("lenet5", split.input_shape, 10, np.random.default_rng(seed)))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(split.train, 64, shuffle=True, seed=seed)  # convprop's batches
    for epoch in range(epochs):
        for index in loader.batch_indices(epoch):
            x, y = split.train[index]
            loss = torch.nn.functional.cross_entropy(net(torch.tensor(x)), torch.tensor(y))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return torch_accuracy(net, split.test.images, split.test.labels)


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 2-5 minutes, longer on a loaded machine
def test_lenet5_recipe_matches_pytorch_within_one_point(tmp_path):
    ours, theirs = [], []
    for seed in range(3):
        folder = tmp_path / f"data{seed}"
        folder.mkdir()
        write_mnist_like(folder, seed)
        split = load_mnist(folder)
        config = TrainConfig(
            dataset="mnist",
            model="lenet5",
            epochs=10,
            batch_size=64,
            lr=0.05,
            momentum=0.9,
            seed=seed,
        )
        untrained = build_model("lenet5", split.input_shape, 10, np.random.default_rng(seed))
        assert evaluate(untrained, split.test.images, split.test.labels)[1] < 0.3
        summary = train(
            config, tmp_path / f"run{seed}", split=split, progress=False, log=lambda *a: None
        )
        ours.append(summary["test_accuracy"])
        theirs.append(_torch_run(split, seed))
    runs = ", ".join(f"{a:.4f} vs {b:.4f}" for a, b in zip(ours, theirs, strict=True))
    assert 0.5 < np.mean(theirs) < 0.995, f"the task is trivial or hopeless: {runs}"
    assert abs(np.mean(ours) - np.mean(theirs)) <= 0.01, f"convprop vs PyTorch: {runs}"


def test_lenet5_gradients_match_torch_at_a_batch_of_64():
    """A LeNet-5 step at batch 64, float32, on the engines "auto" picks there (the compiled
    batch-last ones where Numba is installed, their register tiles included): the loss and
    every parameter's gradient equal the PyTorch twin's to float32 rounding."""
    from convprop import ops
    from convprop.tensor import Tensor

    model = build_model("lenet5", (1, 28, 28), 10, np.random.default_rng(0))
    twin = torch_twin(model)
    r = np.random.default_rng(1)
    x = r.standard_normal((64, 1, 28, 28), dtype=np.float32)
    y = r.integers(0, 10, 64)
    loss = ops.cross_entropy(model(Tensor(x)), y)
    loss.backward()
    theirs = torch.nn.functional.cross_entropy(twin(torch.tensor(x)), torch.tensor(y))
    theirs.backward()
    np.testing.assert_allclose(float(loss.data), theirs.item(), rtol=1e-6)
    for ours, (name, p) in zip(model.parameters(), twin.named_parameters(), strict=True):
        g = p.grad.numpy()
        if g.ndim == 4:  # the twin holds the flipped kernels (PyTorch correlates)
            g = g[:, :, ::-1, ::-1]
        assert ours.grad.dtype == np.float32
        np.testing.assert_allclose(ours.grad, g, rtol=0, atol=1e-5 * np.abs(g).max(), err_msg=name)
