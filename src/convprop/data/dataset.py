"""In-memory datasets: a pair of aligned arrays, and a train/test split with its metadata.

Every loader in this package returns a ``Split`` whose images are float32 ``(N, C, H, W)`` and
whose labels are int64 class indices in ``[0, num_classes)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ArrayDataset", "DatasetNotFoundError", "Split", "split_from_pixels"]


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are not where the loader looked.

    A ``FileNotFoundError`` (so also an ``OSError``): the usual cause is a missing download or
    a wrong ``data_dir``, and the message lists the file names expected and every folder searched.
    """


class ArrayDataset:
    """Inputs and labels held as two arrays whose first axes are aligned.

    ``dataset[i]`` is ``(images[i], labels[i])`` for any NumPy index ``i``: an int gives one
    sample, a slice, an integer array or a boolean mask gives a batch, gathered with one
    fancy-index per array.

    Args:
        images: inputs, first axis the sample, e.g. ``(N, C, H, W)``.
        labels: targets, first axis the sample, e.g. ``(N,)`` class indices.

    Raises:
        ValueError: the arrays are 0-d or disagree in length.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        images = np.ascontiguousarray(images)
        labels = np.ascontiguousarray(labels)
        if images.ndim == 0 or labels.ndim == 0:
            raise ValueError("images and labels must have a sample axis, got a 0-d array")
        if len(images) != len(labels):
            raise ValueError(
                f"images and labels disagree in length: {len(images)} images "
                f"{images.shape} but {len(labels)} labels {labels.shape}"
            )
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.images[index], self.labels[index]

    def __repr__(self) -> str:
        return (
            f"ArrayDataset(images={self.images.dtype}{list(self.images.shape)}, "
            f"labels={self.labels.dtype}{list(self.labels.shape)})"
        )


@dataclass(frozen=True)
class Split:
    """A dataset's train and test sets and what a model needs to know about them.

    The images of both sets were made as ``x = (pixels / max_value - mean) / std``, with ``mean``
    and ``std`` taken over every pixel of the *training* set; without standardisation ``mean`` is
    0.0 and ``std`` is 1.0, so ``x * std + mean`` always gives back the [0, 1] image. Data
    normalised per channel (``normalize=True`` for folder and npz data) has one ``mean`` and
    ``std`` per channel, as tuples (undo with ``x * std[c] + mean[c]`` for channel ``c``).
    """

    name: str  # "digits", "mnist", "fashion-mnist", ...
    train: ArrayDataset  # float32 (N, C, H, W) images, int64 (N,) labels
    test: ArrayDataset  # the same, held out
    num_classes: int  # labels lie in [0, num_classes)
    input_shape: tuple[int, int, int]  # (C, H, W) of one image
    class_names: tuple[str, ...] | None = None  # class_names[k] names label k, if known
    mean: float | tuple[float, ...] = 0.0  # subtracted from the [0, 1] pixels (per channel)
    std: float | tuple[float, ...] = 1.0  # then divided by
    source: str | None = None  # where the data was read from


def split_from_pixels(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    max_value: int,
    num_classes: int,
    class_names: tuple[str, ...] | None = None,
    standardize: bool = True,
    source: str | None = None,
) -> Split:
    """Build a ``Split`` from raw integer pixels ``(N, H, W)`` and integer labels ``(N,)``.

    Pixels become float32 ``(N, 1, H, W)`` in [0, 1] by dividing by ``max_value`` (255 for
    MNIST, 16 for the 8x8 digits), then, when ``standardize`` is set, are shifted and scaled by
    the training set's pixel mean and standard deviation (computed exactly, in float64, from a
    histogram of the integer pixels). Labels become int64.
    """
    (train_pixels, train_labels), (test_pixels, test_labels) = train, test
    mean, std = _pixel_stats(train_pixels, max_value) if standardize else (0.0, 1.0)
    h, w = train_pixels.shape[1:]
    return Split(
        name=name,
        train=_to_dataset(train_pixels, train_labels, max_value, mean, std),
        test=_to_dataset(test_pixels, test_labels, max_value, mean, std),
        num_classes=num_classes,
        input_shape=(1, int(h), int(w)),
        class_names=class_names,
        mean=mean,
        std=std,
        source=source,
    )


def _pixel_stats(pixels: np.ndarray, max_value: int) -> tuple[float, float]:
    """Mean and standard deviation of ``pixels / max_value``, from a histogram of the values."""
    if pixels.size == 0:
        return 0.0, 1.0
    counts = np.bincount(pixels.ravel(), minlength=max_value + 1).astype(np.float64)
    values = np.arange(len(counts), dtype=np.float64) / max_value
    mean = float(counts @ values / counts.sum())
    std = float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))
    return mean, (std if std > 0 else 1.0)  # a constant image set is left unscaled


def _to_dataset(
    pixels: np.ndarray, labels: np.ndarray, max_value: int, mean: float, std: float
) -> ArrayDataset:
    """Integer pixels ``(N, H, W)`` -> float32 ``(N, 1, H, W)``, scaled in place after one copy."""
    x = pixels.astype(np.float32)[:, None, :, :]  # (N, 1, H, W)
    x /= np.float32(max_value)
    if mean != 0.0 or std != 1.0:
        x -= np.float32(mean)
        x /= np.float32(std)
    return ArrayDataset(x, labels.astype(np.int64))
