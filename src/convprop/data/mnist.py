"""MNIST and Fashion-MNIST from their four standard IDX files, raw or gzip-compressed.

The files are looked for in ``data_dir`` itself and then in the torchvision layout below it
(``data_dir/MNIST/raw/`` or ``data_dir/FashionMNIST/raw/``); the first folder that holds all
four is used, and in it a raw file is preferred to its ``.gz``. Fashion-MNIST has a default
folder: the one Debian's package installs (``apt-get install dataset-fashion-mnist``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .dataset import DatasetNotFoundError, Split, split_from_pixels
from .idx import read_idx

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "MNIST_FILES",
    "find_mnist_files",
    "load_fashion_mnist",
    "load_mnist",
]

# The four files, in the order train images, train labels, test images, test labels.
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Where Debian's dataset-fashion-mnist package installs the four .gz files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_NUM_CLASSES = 10


def find_mnist_files(data_dir: str | os.PathLike[str], subfolder: str = "MNIST") -> list[Path]:
    """The paths of the four ``MNIST_FILES`` in the first folder that holds them all.

    Folders searched, in order: ``data_dir``, then ``data_dir/<subfolder>/raw`` (torchvision).

    Raises:
        DatasetNotFoundError: no folder holds all four; the message lists the file names, the
            folders searched, and what each lacked.
    """
    root = Path(data_dir)
    folders = [root, root / subfolder / "raw"]
    report = []
    for folder in folders:
        found = [p for p in (_find_one(folder, name) for name in MNIST_FILES) if p is not None]
        if len(found) == len(MNIST_FILES):
            return found
        if not folder.is_dir():
            report.append(f"{folder} (no such folder)")
        else:
            lacking = [n for n in MNIST_FILES if _find_one(folder, n) is None]
            report.append(f"{folder} (lacks {', '.join(lacking)})")
    raise DatasetNotFoundError(
        f"cannot find the {subfolder} IDX files {', '.join(MNIST_FILES)} (each raw or .gz); "
        f"looked in: {'; '.join(report)}"
    )


def _find_one(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one images/labels pair and check that they are MNIST-shaped and agree."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, H, W), "
            f"found {images.dtype} of shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{labels_path}: expected uint8 labels of shape (N,), "
            f"found {labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"image and label counts disagree: {images_path} holds {len(images)} images but "
            f"{labels_path} holds {len(labels)} labels"
        )
    bad = np.flatnonzero(labels >= _NUM_CLASSES)
    if len(bad):
        raise ValueError(
            f"{labels_path}: labels must lie in [0, {_NUM_CLASSES - 1}], but {len(bad)} do not "
            f"(the first is {labels[bad[0]]} at index {bad[0]})"
        )
    return images, labels


def _load(
    name: str,
    data_dir: str | os.PathLike[str],
    subfolder: str,
    class_names: tuple[str, ...],
    standardize: bool,
) -> Split:
    train_x, train_y, test_x, test_y = find_mnist_files(data_dir, subfolder)
    train, test = _read_pair(train_x, train_y), _read_pair(test_x, test_y)
    if train[0].shape[1:] != test[0].shape[1:]:
        raise ValueError(
            f"train and test images differ in size: {train_x} holds {train[0].shape[1:]} "
            f"images, {test_x} holds {test[0].shape[1:]}"
        )
    return split_from_pixels(
        name,
        train,
        test,
        max_value=255,
        num_classes=_NUM_CLASSES,
        class_names=class_names,
        standardize=standardize,
        source=str(train_x.parent),
    )


def load_mnist(data_dir: str | os.PathLike[str], *, standardize: bool = True) -> Split:
    """MNIST handwritten digits as a ``Split``: normally 60,000 training and 10,000 test images.

    Images are float32 ``(N, 1, 28, 28)``, pixels divided by 255 and then, when ``standardize``
    is set, standardised with the training set's pixel mean and std (recorded in the
    ``Split``). Labels are int64 digits 0..9.

    Raises:
        DatasetNotFoundError: the four files are not in ``data_dir`` or ``data_dir/MNIST/raw``.
        IdxError: a file is not well-formed IDX.
        ValueError: a file is not MNIST-shaped, image and label counts disagree, or a label
            lies outside [0, 9].
    """
    digits = tuple(str(d) for d in range(_NUM_CLASSES))
    return _load("mnist", data_dir, "MNIST", digits, standardize)


def load_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, standardize: bool = True
) -> Split:
    """Fashion-MNIST (Zalando's clothing images) as a ``Split``: 60,000 train, 10,000 test.

    ``data_dir`` defaults to ``FASHION_MNIST_DIR``, where ``apt-get install
    dataset-fashion-mnist`` puts the files; the torchvision layout ``data_dir/FashionMNIST/raw``
    is also searched. Everything else is as in ``load_mnist``; ``class_names`` come from
    ``FASHION_MNIST_CLASSES``.
    """
    folder = FASHION_MNIST_DIR if data_dir is None else data_dir
    try:
        return _load("fashion-mnist", folder, "FashionMNIST", FASHION_MNIST_CLASSES, standardize)
    except DatasetNotFoundError as err:
        if data_dir is not None:
            raise
        raise DatasetNotFoundError(
            f"{err}. Install them with 'apt-get install dataset-fashion-mnist', or pass data_dir"
        ) from None
