"""Load a dataset by name, ``load_dataset("digits")``, over the name-to-loader dict DATASETS."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .dataset import DatasetNotFoundError, Split
from .digits import load_digits
from .mnist import MNIST_FILES, load_fashion_mnist, load_mnist

__all__ = ["DATASETS", "load_dataset"]

Loader = Callable[..., Split]  # (data_dir, **kwargs) -> Split


def _digits(data_dir: str | os.PathLike[str] | None, **kwargs: Any) -> Split:
    if data_dir is not None:
        raise ValueError(
            "the digits dataset is bundled with convprop; "
            f"it takes no data_dir (got {data_dir!r})"
        )
    return load_digits(**kwargs)


def _mnist(data_dir: str | os.PathLike[str] | None, **kwargs: Any) -> Split:
    if data_dir is None:
        raise DatasetNotFoundError(
            f"mnist has no default location: pass data_dir, a folder holding "
            f"{', '.join(MNIST_FILES)} (each raw or .gz), directly or in MNIST/raw/"
        )
    return load_mnist(data_dir, **kwargs)


DATASETS: dict[str, Loader] = {
    "digits": _digits,  # the 1,797 8x8 UCI digits (bundled; no data_dir)
    "mnist": _mnist,  # the four IDX files in data_dir (no default location)
    "fashion-mnist": load_fashion_mnist,  # data_dir defaults to Debian's dataset-fashion-mnist
}


def load_dataset(
    name: str, data_dir: str | os.PathLike[str] | None = None, **kwargs: Any
) -> Split:
    """Load the dataset ``name`` (a key of ``DATASETS``) as a ``Split``.

    Args:
        name: ``"digits"`` (bundled with convprop; takes no ``data_dir``), ``"mnist"``
            (needs ``data_dir``) or ``"fashion-mnist"`` (``data_dir`` defaults to Debian's).
        data_dir: the folder holding the IDX files, for the MNIST-style datasets.
        **kwargs: passed to the loader, e.g. ``standardize=False``.

    Raises:
        ValueError: an unknown ``name``, or a ``data_dir`` given for ``"digits"``.
        DatasetNotFoundError: the data is not there (for ``"mnist"``, also when no
            ``data_dir`` is given, since MNIST has no default location).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; the datasets are: {', '.join(DATASETS)}")
    return DATASETS[name](data_dir, **kwargs)
