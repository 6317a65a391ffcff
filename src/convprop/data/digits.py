"""The 1,797 real 8x8 handwritten digits, shipped with convprop as package data.

The data is the test part of the UCI "optdigits" set (Alpaydin and Kaynak, UCI Machine Learning
Repository, CC BY 4.0, doi:10.24432/C50P49): 8x8 images of pixel counts 0..16, ten classes.
convprop ships it as ``convprop/data/files/digits.csv.gz`` (one row per image, 64 pixel columns
then the label; the same bytes scikit-learn installs), with its attribution in
``DIGITS-LICENSE.txt`` beside it, and parses it with NumPy: no scikit-learn needed.

The train/test split is fixed: within each class, in label order, a permutation drawn from the
one generator ``np.random.default_rng(0)`` sends the first ``round(0.2 * n_class)`` samples to the
test set. That gives 1,438 training and 359 test images, the same on every run and machine.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .dataset import DatasetNotFoundError, Split, split_from_pixels

__all__ = ["DIGITS_TEST_FRACTION", "digits_csv_path", "digits_split_indices", "load_digits"]

DIGITS_TEST_FRACTION = 0.2  # of each class, held out for the test set
DIGITS_CSV = Path(__file__).resolve().parent / "files" / "digits.csv.gz"  # package data
_NUM_SAMPLES, _NUM_PIXELS, _MAX_PIXEL = 1797, 64, 16


def digits_csv_path() -> Path:
    """Where convprop's bundled ``digits.csv.gz`` lies.

    Raises:
        DatasetNotFoundError: this installation of convprop lacks the file (a broken install).
    """
    if not DIGITS_CSV.is_file():
        raise DatasetNotFoundError(
            f"the bundled digits file {DIGITS_CSV} is missing from this installation of "
            "convprop; reinstall it: pip install --force-reinstall convprop"
        )
    return DIGITS_CSV


def _read_digits_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse and check the CSV: pixels ``(1797, 8, 8)`` in 0..16, labels ``(1797,)`` in 0..9."""
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path}: cannot parse the digits CSV: {err}") from None
    if table.shape != (_NUM_SAMPLES, _NUM_PIXELS + 1):
        raise ValueError(
            f"{path}: expected {_NUM_SAMPLES} rows of {_NUM_PIXELS} pixels and a label, "
            f"found a table of shape {table.shape}"
        )
    pixels, labels = table[:, :_NUM_PIXELS], table[:, _NUM_PIXELS]
    if pixels.min() < 0 or pixels.max() > _MAX_PIXEL:
        raise ValueError(f"{path}: pixel values must lie in [0, {_MAX_PIXEL}]")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels must lie in [0, 9]")
    return pixels.reshape(-1, 8, 8), labels


def digits_split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified split: sorted ``(train_indices, test_indices)`` into ``labels``."""
    rng = np.random.default_rng(0)
    test_parts = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n_test = round(DIGITS_TEST_FRACTION * len(members))
        test_parts.append(members[rng.permutation(len(members))[:n_test]])
    test = np.sort(np.concatenate(test_parts))
    train = np.setdiff1d(np.arange(len(labels)), test)  # sorted
    return train, test


def load_digits(*, standardize: bool = True) -> Split:
    """The 8x8 digits as a ``Split``: 1,438 training and 359 test images, ten classes.

    Images are float32 ``(N, 1, 8, 8)``, the 0..16 pixel counts divided by 16 and then, when
    ``standardize`` is set, standardised with the training set's pixel mean and std (recorded
    in the ``Split``). Labels are int64 digits 0..9.

    Raises:
        DatasetNotFoundError: the bundled file is missing (a broken installation).
    """
    path = digits_csv_path()
    pixels, labels = _read_digits_csv(path)
    train, test = digits_split_indices(labels)
    return split_from_pixels(
        "digits",
        (pixels[train], labels[train]),
        (pixels[test], labels[test]),
        max_value=_MAX_PIXEL,
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        standardize=standardize,
        source=str(path),
    )
