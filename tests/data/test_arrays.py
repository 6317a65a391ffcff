"""A user's arrays: split_from_arrays and load_npz, and every bad input with its message."""

from __future__ import annotations

import numpy as np
import pytest

from convprop.data import DatasetNotFoundError, load_dataset, load_npz, split_from_arrays
from tests.data.images import write_npz


def test_npz_nhw_uint8(tmp_path):
    split = load_npz(write_npz(tmp_path / "d.npz"))
    assert split.name == "npz" and split.input_shape == (1, 8, 8) and split.num_classes == 3
    assert split.train.images.shape == (24, 1, 8, 8) and split.train.images.dtype == np.float32
    assert split.train.labels.dtype == np.int64 and split.test.labels.tolist() == [0, 1, 2] * 2
    with np.load(tmp_path / "d.npz") as raw:
        np.testing.assert_array_equal(split.train.images[:, 0] * 255, raw["x_train"])
    assert load_dataset("npz", tmp_path / "d.npz").num_classes == 3


def test_npz_nchw_float_and_class_names(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((10, 3, 4, 5)).astype(np.float64)
    path = write_npz(
        tmp_path / "d.npz",
        x_train=x,
        y_train=np.arange(10) % 2,
        x_test=x[:4],
        y_test=np.zeros(4, np.int32),
        classes=np.array(["cat", "dog", "eel"]),
    )
    split = load_npz(path)
    assert split.input_shape == (3, 4, 5) and split.class_names == ("cat", "dog", "eel")
    assert split.num_classes == 3 and split.train.images.dtype == np.float32
    np.testing.assert_array_equal(split.train.images, x.astype(np.float32))


def test_normalize_per_channel_from_python():
    rng = np.random.default_rng(1)
    x = (rng.random((20, 2, 4, 4)) * [[[[0.5]], [[2.0]]]]).astype(np.float32)
    y = np.arange(20) % 4
    split = split_from_arrays(x, y, x[:5], y[:5], normalize=True)
    assert len(split.mean) == 2 and split.std[1] > split.std[0]
    np.testing.assert_allclose(split.train.images.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    restored = (
        split.test.images * np.array(split.std)[:, None, None]
        + np.array(split.mean)[:, None, None]
    )
    np.testing.assert_allclose(restored, x[:5], atol=1e-6)


def _bad(tmp_path, **overrides):
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(ValueError) as error:
        load_npz(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"x_test": None}, "missing the array x_test (it needs x_train, y_train, x_test, y_test)"),
        ({"y_train": None, "y_test": None}, "missing the arrays y_train, y_test"),
        ({"x_train": np.zeros((24, 64), np.uint8)}, "x_train has shape (24, 64): images must be"),
        ({"x_train": np.zeros((24, 1, 1, 8, 8))}, "x_train has shape (24, 1, 1, 8, 8)"),
        ({"x_train": np.zeros((24, 8, 8, 3))}, "looks like (N, H, W, C)"),
        ({"y_train": np.zeros((24, 1), int)}, "y_train has shape (24, 1): labels must be one-"),
        ({"y_train": np.zeros(23, int)}, "y_train has 23 labels for 24 images"),
        ({"y_train": np.full(24, 0.5)}, "y_train: labels must be integers"),
        ({"y_train": np.arange(24) % 3 - 1}, "y_train holds the label -1, outside 0..1"),
        ({"y_test": np.full(6, 7)}, "y_test holds the label 7, outside 0..2 (from y_train)"),
        ({"classes": np.array(["a", "b"])}, "y_train holds the label 2, outside 0..1 (one per"),
        ({"x_test": np.zeros((6, 9, 9), np.uint8)}, "x_train's images are (1, 8, 8) (C, H, W)"),
        ({"x_train": np.full((24, 8, 8), 300, np.int32)}, "integer pixels must lie in 0..255"),
        ({"x_train": np.full((24, 8, 8), np.nan)}, "x_train holds NaN or infinite values"),
        ({"x_test": np.zeros((0, 8, 8)), "y_test": np.zeros(0, int)}, "at least one image"),
        ({"x_train": np.array(["a"] * 24).reshape(24, 1, 1)}, "integers or floats, not <U1"),
    ],
)
def test_bad_arrays_name_the_file_and_the_array(tmp_path, overrides, expected):
    assert expected in _bad(tmp_path, **overrides)


def test_bad_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="nothing.npz: no such .npz file"):
        load_npz(tmp_path / "nothing.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(ValueError, match="plain.npy: not an .npz archive"):
        load_npz(tmp_path / "plain.npy")
    good = write_npz(tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="cut.npz: (truncated or corrupt|cannot read)"):
        load_npz(tmp_path / "cut.npz")
    objects = np.empty(24, dtype=object)
    path = write_npz(tmp_path / "obj.npz", y_train=objects)
    with pytest.raises(ValueError, match="obj.npz: cannot read the arrays"):
        load_npz(path)
