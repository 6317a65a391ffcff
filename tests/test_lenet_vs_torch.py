"""LeNet-5, batch 64, SGD lr 0.05 momentum 0.9, 10 epochs on MNIST-format data: convprop's
test accuracy is within one point of PyTorch's with the same recipe, weights and batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convprop.bench.twin import torch_accuracy, torch_twin
from convprop.config import TrainConfig
from convprop.data import DataLoader, load_mnist, write_idx
from convprop.models import build_model
from convprop.train import evaluate, train


def _write_mnist_like(folder, n_train=1500, n_test=500, seed=0):
    """Ten classes of blurred random strokes, randomly shifted, in heavy noise."""
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
        images = np.clip(images + 0.35 * rng.standard_normal(images.shape), 0, 1)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", (images * 255).astype(np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))


@pytest.mark.slow
def test_lenet5_recipe_matches_pytorch_within_one_point(tmp_path):
    _write_mnist_like(tmp_path)
    split = load_mnist(tmp_path)
    config = TrainConfig(
        dataset="mnist", model="lenet5", epochs=10, batch_size=64, lr=0.05, momentum=0.9, seed=0
    )
    initial = build_model("lenet5", split.input_shape, 10, np.random.default_rng(config.seed))
    reference = torch_twin(initial)  # same initial weights, before convprop trains
    summary = train(config, tmp_path / "run", split=split, progress=False, log=lambda *a: None)

    torch.manual_seed(0)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(split.train, 64, shuffle=True, seed=config.seed)  # same batches
    for epoch in range(10):
        for index in loader.batch_indices(epoch):
            x, y = split.train[index]
            loss = torch.nn.functional.cross_entropy(reference(torch.tensor(x)), torch.tensor(y))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    ours = summary["test_accuracy"]
    theirs = torch_accuracy(reference, split.test.images, split.test.labels)
    assert 0.5 < theirs < 0.995, f"the task should be neither trivial nor hopeless: {theirs}"
    assert abs(ours - theirs) <= 0.01, f"convprop {ours:.4f} vs PyTorch {theirs:.4f}"
    assert evaluate(initial, split.test.images, split.test.labels)[1] < 0.3  # untrained: chance
