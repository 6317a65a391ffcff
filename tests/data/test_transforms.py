"""Batch transforms, --augment's parser, and the loader's per-batch seeded augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from convprop.data import ArrayDataset, DataLoader, ImageFolder
from convprop.data.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    channel_stats,
    parse_augment,
)

X = np.random.default_rng(0).standard_normal((6, 2, 5, 7)).astype(np.float32)


def test_random_crop_is_a_window_of_the_padded_image():
    p = 2
    out = RandomCrop(padding=p)(X, np.random.default_rng(5))
    assert out.shape == X.shape and out.dtype == np.float32
    draws = np.random.default_rng(5)  # the same draws, by a plain loop
    top, left = draws.integers(0, 2 * p + 1, 6), draws.integers(0, 2 * p + 1, 6)
    padded = np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)))
    for n in range(6):
        np.testing.assert_array_equal(
            out[n], padded[n, :, top[n] : top[n] + 5, left[n] : left[n] + 7]
        )
    assert RandomCrop(size=(3, 4))(X, np.random.default_rng(0)).shape == (6, 2, 3, 4)
    np.testing.assert_array_equal(RandomCrop()(X, np.random.default_rng(0)), X)  # no room
    with pytest.raises(ValueError, match="a 9x9 crop does not fit a 5x7 image padded by 1"):
        RandomCrop(9, padding=1)(X, np.random.default_rng(0))


def test_horizontal_flip():
    out = RandomHorizontalFlip(0.5)(X, np.random.default_rng(1))
    flipped = np.random.default_rng(1).random(6) < 0.5
    assert 0 < flipped.sum() < 6 and out.dtype == np.float32
    for n in range(6):
        np.testing.assert_array_equal(out[n], X[n, :, :, ::-1] if flipped[n] else X[n])
    np.testing.assert_array_equal(
        RandomHorizontalFlip(1.0)(X, np.random.default_rng(0)), X[..., ::-1]
    )
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(X, np.random.default_rng(0)), X)


def test_normalize_per_channel_and_scalar():
    out = Normalize([1.0, -2.0], [2.0, 4.0])(X)
    np.testing.assert_allclose(out[:, 0], (X[:, 0] - 1) / 2, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], (X[:, 1] + 2) / 4, rtol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_allclose(Normalize(0.5, 2.0)(X), (X - 0.5) / 2, rtol=1e-6)
    with pytest.raises(ValueError, match="3 mean values for a batch of 2 channels"):
        Normalize([0, 0, 0], 1)(X)
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize(0, [1, 0])


def test_channel_stats_match_numpy():
    mean, std = channel_stats(X)
    np.testing.assert_allclose(mean, X.mean(axis=(0, 2, 3), dtype=np.float64), atol=1e-12)
    np.testing.assert_allclose(std, X.std(axis=(0, 2, 3), dtype=np.float64), rtol=1e-10)
    assert channel_stats(np.zeros((2, 1, 3, 3)))[1] == (1.0,)  # a constant channel is unscaled


def test_compose_draws_in_order_and_never_changes_its_input():
    before = X.copy()
    both = Compose([RandomCrop(padding=1), RandomHorizontalFlip()])
    out = both(X, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    expect = RandomHorizontalFlip()(RandomCrop(padding=1)(X, rng), rng)
    np.testing.assert_array_equal(out, expect)
    np.testing.assert_array_equal(X, before)
    assert "RandomCrop" in repr(both)


def test_random_transforms_want_a_generator():
    with pytest.raises(ValueError, match="RandomCrop is random: pass a generator"):
        RandomCrop(padding=1)(X)


@pytest.mark.parametrize(
    "spec, kinds",
    [
        ("crop=2,hflip", [("RandomCrop", 2), ("RandomHorizontalFlip", 0.5)]),
        ("hflip=0.25", [("RandomHorizontalFlip", 0.25)]),
        (" crop=0 ", [("RandomCrop", 0)]),
    ],
)
def test_parse_augment(spec, kinds):
    parts = parse_augment(spec).transforms
    got = [(type(t).__name__, getattr(t, "padding", getattr(t, "p", None))) for t in parts]
    assert got == kinds
    assert parse_augment("") is None and parse_augment(None) is None


@pytest.mark.parametrize(
    "spec, part",
    [
        ("crop", "'crop'"),
        ("crop=x", "'crop=x'"),
        ("crop=-1", "'crop=-1'"),
        ("hflip=2", "'hflip=2'"),
        ("rotate=3", "'rotate=3'"),
        ("crop=2,,hflip", "''"),
    ],
)
def test_parse_augment_errors_are_one_line(spec, part):
    with pytest.raises(ValueError) as error:
        parse_augment(spec)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"--augment {spec!r}: cannot read {part}")
    assert "crop=PADDING, hflip[=P]" in message


# ---------------------------------------------------------------- in the loader


def _loader(transform=True, seed=0):
    data = ArrayDataset(np.arange(40 * 18, dtype=np.float32).reshape(40, 2, 3, 3), np.arange(40))
    augment = parse_augment("crop=1,hflip") if transform else None
    return DataLoader(data, batch_size=8, seed=seed, transform=augment)


def test_loader_augmentation_is_a_pure_function_of_seed_epoch_and_batch():
    a, b = _loader(), _loader()
    epoch0 = [x for x, _ in a]
    epoch1 = [x for x, _ in a]
    np.testing.assert_array_equal(np.stack(epoch0), np.stack([x for x, _ in b]))
    assert not np.array_equal(epoch0[0], epoch1[0])
    plain = [x for x, _ in _loader(transform=False)]
    assert not np.array_equal(np.stack(epoch0), np.stack(plain))  # it did augment
    # resuming at epoch 1, batch 3 draws what the uninterrupted loader drew there
    c = _loader()
    index = c.batch_indices(1)[3]
    np.testing.assert_array_equal(c.load_batch(index, 1, 3)[0], epoch1[3])
    other = [x for x, _ in _loader(seed=1)]
    assert not np.array_equal(epoch0[0], other[0])


def test_loader_share_takes_a_part_of_the_augmented_global_batch():
    loader = _loader()
    index = loader.batch_indices(0)[2]
    whole_x, whole_y = loader.load_batch(index, 0, 2)
    x, y = loader.load_batch(index, 0, 2, share=lambda i: np.array_split(i, 2)[1])
    np.testing.assert_array_equal(x, whole_x[4:]) and np.testing.assert_array_equal(y, whole_y[4:])
    plain = _loader(transform=False)
    _, y_plain = plain.load_batch(index, 0, 2, share=lambda i: i[:3])
    np.testing.assert_array_equal(y_plain, index[:3])


def test_loader_uses_an_image_folders_transform(tmp_path):
    pytest.importorskip("PIL")
    from tests.data.images import write_folder

    flip = RandomHorizontalFlip(1.0)
    folder = ImageFolder(write_folder(tmp_path / "f"), transform=flip)
    loader = DataLoader(folder, batch_size=4, shuffle=False)
    assert loader.transform is flip and "transform=" in repr(loader)
    x, _ = next(iter(loader))
    np.testing.assert_array_equal(x, folder[np.arange(4)][0][..., ::-1])
