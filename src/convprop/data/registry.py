"""Load a dataset by name, ``load_dataset("digits")``, over the name-to-loader dict DATASETS.

The built-in data sets (``digits``, ``mnist``, ``fashion-mnist``) come standardised already; the
user's own data (``folder``, ``npz``) takes ``image_size`` (folders) and ``normalize``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .arrays import load_npz
from .dataset import DatasetNotFoundError, Split
from .digits import load_digits
from .folder import load_image_folders
from .mnist import MNIST_FILES, load_fashion_mnist, load_mnist

__all__ = ["DATASETS", "OWN_DATA", "load_dataset"]

Loader = Callable[..., Split]  # (data_dir, **kwargs) -> Split


def _digits(data_dir: str | os.PathLike[str] | None, **kwargs: Any) -> Split:
    if data_dir is not None:
        raise ValueError(
            f"the digits dataset is bundled with convprop; it takes no data_dir (got {data_dir!r})"
        )
    return load_digits(**kwargs)


def _mnist(data_dir: str | os.PathLike[str] | None, **kwargs: Any) -> Split:
    if data_dir is None:
        raise DatasetNotFoundError(
            f"mnist has no default location: pass data_dir, a folder holding "
            f"{', '.join(MNIST_FILES)} (each raw or .gz), directly or in MNIST/raw/"
        )
    return load_mnist(data_dir, **kwargs)


def _needs_dir(name: str, what: str, loader: Loader) -> Loader:
    def load(data_dir: str | os.PathLike[str] | None, **kwargs: Any) -> Split:
        if data_dir is None:
            raise DatasetNotFoundError(f"the {name} dataset needs --data-dir (data_dir): {what}")
        return loader(data_dir, **kwargs)

    return load


DATASETS: dict[str, Loader] = {
    "digits": _digits,  # the 1,797 8x8 UCI digits (bundled; no data_dir)
    "mnist": _mnist,  # the four IDX files in data_dir (no default location)
    "fashion-mnist": load_fashion_mnist,  # data_dir defaults to Debian's dataset-fashion-mnist
    "folder": _needs_dir(
        "folder", "a folder with train/CLASS/*.png and test/", load_image_folders
    ),
    "npz": _needs_dir("npz", "a .npz with x_train, y_train, x_test, y_test", load_npz),
}
OWN_DATA = ("folder", "npz")  # the data sets that take image_size / normalize


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    image_size: Any = None,
    normalize: Any = False,
    **kwargs: Any,
) -> Split:
    """Load the dataset ``name`` (a key of ``DATASETS``) as a ``Split``.

    Args:
        name: ``"digits"`` (bundled with convprop; takes no ``data_dir``), ``"mnist"``
            (needs ``data_dir``) or ``"fashion-mnist"`` (``data_dir`` defaults to Debian's).
        data_dir: the folder holding the IDX files, for the MNIST-style datasets; the image
            folder (``train/``, ``test/``) for ``"folder"``; the ``.npz`` file for ``"npz"``.
        image_size: ``(H, W)`` to resize every image of a ``"folder"`` to.
        normalize: ``True`` standardises every channel of ``"folder"``/``"npz"`` data with the
            training set's mean and std; a ``(mean, std)`` pair applies stored ones. The
            built-in data sets are standardised already and refuse it.
        **kwargs: passed to the loader, e.g. ``standardize=False``.

    Raises:
        ValueError: an unknown ``name``, a ``data_dir`` given for ``"digits"``, or
            ``image_size``/``normalize`` for a data set that does not take it.
        DatasetNotFoundError: the data is not there (for ``"mnist"``, also when no
            ``data_dir`` is given, since MNIST has no default location).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; the datasets are: {', '.join(DATASETS)}")
    if image_size is not None:
        if name != "folder":
            raise ValueError(f"--image-size (image_size) is for folder data, not {name}")
        kwargs["image_size"] = image_size
    if normalize is not False and normalize is not None:
        if name not in OWN_DATA:
            raise ValueError(
                f"--normalize is for folder and npz data: {name} is standardised already "
                "(by its training set's pixel mean and std)"
            )
        kwargs["normalize"] = normalize
    return DATASETS[name](data_dir, **kwargs)
