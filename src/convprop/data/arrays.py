"""A user's own arrays as a ``Split``: from NumPy arrays, or from an ``.npz`` file.

``load_npz(path)`` reads ``x_train``, ``y_train``, ``x_test``, ``y_test`` (and, if present,
``classes``, the class names); ``split_from_arrays`` takes the four arrays directly. Images are
``(N, H, W)`` (one channel) or ``(N, C, H, W)``; uint8 (or any integer type, values 0..255) is
divided by 255, floats are used as they are, in float32. Labels are integers ``0..M-1``, ``M``
the number of class names or else one more than the largest training label.

``normalize=True`` then standardises every channel with the training set's per-channel mean and
standard deviation (measured here, recorded in ``Split.mean`` and ``Split.std`` as tuples, and
stored in a run's checkpoint); ``normalize=(mean, std)`` applies given ones (what ``evaluate``
and ``--resume`` do with the checkpoint's).
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import ArrayDataset, DatasetNotFoundError, Split
from .transforms import Normalize, channel_stats

__all__ = ["NPZ_KEYS", "load_npz", "normalized", "split_from_arrays"]

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")  # the arrays an .npz must hold
Normalization = bool | Sequence[Any]  # False, True (measure), or a (mean, std) pair


def _images(x: Any, name: str, where: str) -> np.ndarray:
    """Images ``(N, H, W)`` or ``(N, C, H, W)`` -> float32 ``(N, C, H, W)``."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{where}{name} has shape {x.shape}: images must be (N, H, W) or (N, C, H, W)"
        )
    if x.ndim == 4 and x.shape[3] in (1, 3, 4) and x.shape[1] > 4:  # e.g. (N, 32, 32, 3)
        raise ValueError(
            f"{where}{name} has shape {x.shape}, which looks like (N, H, W, C); convprop takes "
            "(N, C, H, W): np.transpose(x, (0, 3, 1, 2))"
        )
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, H, W)
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(
                f"{where}{name}: integer pixels must lie in 0..255, found {x.min()}..{x.max()}"
            )
        out = x.astype(np.float32)
        out /= np.float32(255)
        return out
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{where}{name}: images must be integers or floats, not {x.dtype}")
    out = x.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{where}{name} holds NaN or infinite values")
    return out


def _labels(y: Any, n: int, name: str, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{where}{name} has shape {y.shape}: labels must be one-dimensional")
    if len(y) != n:
        raise ValueError(f"{where}{name} has {len(y)} labels for {n} images")
    if not (np.issubdtype(y.dtype, np.integer) and not y.dtype == np.bool_):
        raise ValueError(f"{where}{name}: labels must be integers, not {y.dtype}")
    return y.astype(np.int64)


def split_from_arrays(
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    *,
    name: str = "arrays",
    class_names: Sequence[str] | None = None,
    normalize: Normalization = False,
    source: str | None = None,
) -> Split:
    """A ``Split`` of float32 ``(N, C, H, W)`` images and int64 labels from four arrays.

    Raises:
        ValueError: one line naming the array (and ``source``): wrong rank, lengths that
            disagree, train and test images of different shapes, labels out of range.
    """
    where = f"{source}: " if source else ""
    train_x, test_x = _images(x_train, "x_train", where), _images(x_test, "x_test", where)
    train_y = _labels(y_train, len(train_x), "y_train", where)
    test_y = _labels(y_test, len(test_x), "y_test", where)
    if len(train_x) == 0 or len(test_x) == 0:
        raise ValueError(f"{where}x_train and x_test must each hold at least one image")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise ValueError(
            f"{where}x_train's images are {train_x.shape[1:]} (C, H, W) but x_test's are "
            f"{test_x.shape[1:]}"
        )
    m = len(class_names) if class_names is not None else int(train_y.max()) + 1
    for labels, key in ((train_y, "y_train"), (test_y, "y_test")):
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= m:
            bad = low if low < 0 else high
            raise ValueError(
                f"{where}{key} holds the label {bad}, outside 0..{m - 1} "
                + ("(one per class name)" if class_names is not None else "(from y_train)")
            )
    split = Split(
        name=name,
        train=ArrayDataset(train_x, train_y),
        test=ArrayDataset(test_x, test_y),
        num_classes=m,
        input_shape=tuple(int(v) for v in train_x.shape[1:]),  # type: ignore[arg-type]
        class_names=tuple(class_names) if class_names is not None else None,
        source=source,
    )
    return normalized(split, normalize)


def normalized(split: Split, normalize: Normalization) -> Split:
    """``split`` with every channel standardised: by the training set's per-channel mean and
    std (``normalize=True``), or by a given ``(mean, std)`` pair; ``False`` returns it as is.

    The images are ``x = (pixels / 255 - mean[c]) / std[c]``; ``Split.mean`` and ``Split.std``
    become the per-channel tuples.
    """
    if normalize is False or normalize is None:
        return split
    if normalize is True:
        mean, std = channel_stats(split.train.images)
    else:
        mean, std = (tuple(float(v) for v in np.atleast_1d(a)) for a in normalize)
        if len(mean) != split.input_shape[0] or len(std) != len(mean):
            raise ValueError(
                f"the stored normalisation has {len(mean)} means and {len(std)} stds for "
                f"images of {split.input_shape[0]} channels"
            )
    t = Normalize(mean, std)
    train = ArrayDataset(t(split.train.images), split.train.labels)
    test = ArrayDataset(t(split.test.images), split.test.labels)
    return dataclasses.replace(split, train=train, test=test, mean=mean, std=std)


def load_npz(path: str | os.PathLike[str], *, normalize: Normalization = False) -> Split:
    """The ``Split`` of an ``.npz`` file holding ``x_train, y_train, x_test, y_test``.

    Raises:
        DatasetNotFoundError: no such file.
        ValueError: one line naming the file: not an .npz archive, a missing or unreadable
            array, or any problem :func:`split_from_arrays` finds.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such .npz file")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise ValueError(f"{path}: not an .npz archive (np.savez writes one)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise ValueError(
                    f"{path}: missing the array{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)} (it needs {', '.join(NPZ_KEYS)})"
                )
            for key in (*NPZ_KEYS, "classes"):
                if key in archive.files:
                    arrays[key] = archive[key]
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read the arrays ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as error:
        raise ValueError(f"{path}: truncated or corrupt .npz ({error})") from None
    names = arrays.get("classes")
    return split_from_arrays(
        *(arrays[k] for k in NPZ_KEYS),
        name="npz",
        class_names=None if names is None else [str(n) for n in np.ravel(names)],
        normalize=normalize,
        source=str(path),
    )
