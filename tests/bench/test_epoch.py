"""The epoch row's worker (``convprop.bench.epoch``) on a small synthetic Fashion-MNIST."""

from __future__ import annotations

import numpy as np
import pytest

from convprop import data
from convprop.bench import epoch
from convprop.data.dataset import split_from_pixels


@pytest.fixture
def tiny_fashion(monkeypatch):
    """load_fashion_mnist replaced by 200 + 50 random 28x28 images (the worker's only data)."""
    r = np.random.default_rng(0)
    pixels = lambda n: r.integers(0, 256, (n, 28, 28), dtype=np.uint8)  # noqa: E731
    labels = lambda n: r.integers(0, 10, n)  # noqa: E731
    split = split_from_pixels(
        "fashion-mnist",
        (pixels(200), labels(200)),
        (pixels(50), labels(50)),
        max_value=255,
        num_classes=10,
    )

    monkeypatch.setattr(data, "load_fashion_mnist", lambda *args, **kwargs: split)


def test_convprop_epoch_reports_its_warm_up_apart(tiny_fashion):
    """One epoch over 200 images: training seconds, the untimed warm-up step's seconds, the
    test accuracy and peak memory; the warm-up trains a copy, so the run equals one without
    it (the same accuracy from the same weights and batches)."""
    out = epoch.run_epoch("convprop", 200)
    assert out["batches"] == 4 and out["images"] == 200
    assert out["seconds"] > 0 and out["warmup_seconds"] > 0 and out["max_rss_mb"] > 0
    calls = []
    with pytest.MonkeyPatch.context() as m:
        m.setattr(epoch, "_warm_up", lambda *a: calls.append(a) or 0.0)
        without = epoch.run_epoch("convprop", 200)
    assert len(calls) == 1 and without["warmup_seconds"] == 0.0
    assert without["accuracy"] == out["accuracy"]


def test_warm_up_leaves_the_model_alone():
    """The warm-up step trains a deep copy: the model's parameters are unchanged."""
    from convprop import optim
    from convprop.models import build_model
    from convprop.train import train_step

    model = build_model("lenet5", (1, 28, 28), 10, np.random.default_rng(0))
    before = [p.data.copy() for p in model.parameters()]
    x = np.random.default_rng(1).standard_normal((8, 1, 28, 28), dtype=np.float32)
    y = np.arange(8) % 10

    def step(m, opt, b):
        train_step(m, opt, x[b], y[b])

    seconds = epoch._warm_up(model, lambda m: optim.SGD(m.parameters(), lr=0.5), step, [[0, 1]])
    assert seconds > 0
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, b)


def test_torch_epoch_warms_up_the_same_way(tiny_fashion):
    """PyTorch's side: the same keys, its warm-up step apart from the timed epoch."""
    pytest.importorskip("torch")
    out = epoch.run_epoch("torch", 200)
    assert out["batches"] == 4 and out["seconds"] > 0 and out["warmup_seconds"] > 0
    assert 0.0 <= out["accuracy"] <= 1.0
