"""Mini-batches and epochs: a loader whose batch order is a pure function of (seed, epoch).

One iteration of a ``DataLoader`` is one epoch, one pass over the whole dataset::

    loader = DataLoader(split.train, batch_size=64, seed=0)
    for epoch in range(10):
        for x, y in loader:  # epoch 0, then 1, ...: the counter advances as each pass starts
            ...

Because the order of epoch ``e`` is ``np.random.default_rng([seed, e]).permutation(n)``, a run
interrupted mid-epoch resumes exactly from ``batch_indices(e)[k:]``, and every rank of a
data-parallel job that shares the seed sees the same sequence of global batches to shard.
A ``transform`` (augmentation, :mod:`convprop.data.transforms`) is applied to each batch with the
generator ``np.random.default_rng([seed, e, k, 1])`` of batch ``k`` of epoch ``e``, so the
random crops and flips are a pure function of (seed, epoch, batch) too: no generator state to
checkpoint, and a resumed run draws exactly what the uninterrupted one drew.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

__all__ = ["DataLoader", "epoch_permutation"]


class IndexableDataset(Protocol):
    """What a loader needs: a length, and a batch ``(x, y)`` for an array of indices."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits ``n`` samples: a permutation of ``range(n)``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class DataLoader:
    """Yield ``(x, y)`` NumPy batches, one epoch per iteration, in an order fixed by the seed.

    Args:
        dataset: an ``ArrayDataset``, or anything with ``len()`` whose ``dataset[idx]`` gathers
            the batch ``(x, y)`` for an integer index array.
        batch_size: samples per batch; the last batch of an epoch is smaller unless
            ``drop_last``.
        shuffle: visit the samples in the epoch's permutation (see ``epoch_permutation``);
            otherwise in order ``0, 1, ..., n - 1`` every epoch.
        drop_last: drop the last, incomplete batch, so every batch has ``batch_size`` samples.
        seed: a non-negative int; with the epoch it fixes the order.
        allow_large_batch: allow ``batch_size > len(dataset)`` when not ``drop_last``; the
            epoch is then one batch of the whole dataset (full-batch training, or evaluating a
            small test set). Off by default, since it is more often a slip than a choice.
        transform: ``t(x, rng)`` applied to every batch's inputs with ``batch_generator(e, k)``;
            by default the dataset's own ``transform`` attribute (an ``ImageFolder``'s), if any.

    Attributes:
        epoch: the epoch that the next iteration will be; it advances by one as each iteration
            starts (``iter(loader)``), and ``set_epoch`` sets it.

    ``len(loader)`` is the number of batches per epoch: ``n // batch_size`` with ``drop_last``,
    else ``ceil(n / batch_size)``, as in PyTorch.

    Raises:
        ValueError: ``batch_size`` is not a positive int, ``seed`` is not a non-negative int,
            the dataset is empty, or ``batch_size`` exceeds the dataset's length (always with
            ``drop_last``, which would leave no batch at all; without it unless
            ``allow_large_batch``).
    """

    def __init__(
        self,
        dataset: IndexableDataset,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        *,
        allow_large_batch: bool = False,
        transform: Any = None,
    ) -> None:
        if not _is_int(batch_size) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not _is_int(seed) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        n = len(dataset)
        if n == 0:
            raise ValueError("cannot load batches from an empty dataset")
        if batch_size > n and (drop_last or not allow_large_batch):
            why = (
                "with drop_last=True an epoch would have no batch at all"
                if drop_last
                else "pass allow_large_batch=True to make each epoch one full batch"
            )
            raise ValueError(
                f"batch_size {batch_size} is larger than the dataset's {n} samples; {why}"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed)
        self.epoch = 0
        if transform is None:
            transform = getattr(dataset, "transform", None)
        self.transform = transform

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (to resume a run, or align ranks)."""
        self.epoch = _check_epoch(epoch)

    def batch_indices(self, epoch: int) -> list[np.ndarray]:
        """The index arrays of epoch ``epoch``'s batches, in order, without touching the data."""
        epoch, n = _check_epoch(epoch), len(self.dataset)
        if self.shuffle:
            order = epoch_permutation(n, self.seed, epoch)
        else:
            order = np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        return [order[i : i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def batch_generator(self, epoch: int, number: int) -> np.random.Generator:
        """The generator for batch ``number`` of epoch ``epoch``: ``[seed, epoch, number, 1]``."""
        return np.random.default_rng([self.seed, _check_epoch(epoch), int(number), 1])

    def load_batch(
        self,
        index: np.ndarray,
        epoch: int,
        number: int,
        share: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gather batch ``number`` of epoch ``epoch`` (its indices ``index``) and transform it.

        ``share`` picks a process's part of the global batch (``Communicator.share``); with a
        transform the whole batch is transformed first, so the draws do not depend on how many
        processes share it.
        """
        if self.transform is None:
            return self.dataset[index if share is None else share(index)]
        x, y = self.dataset[index]
        x = self.transform(x, self.batch_generator(epoch, number))
        if share is None:
            return x, y
        part = share(np.arange(len(index)))
        return x[part], y[part]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Start one epoch: fix its batches, advance ``epoch``, then gather them one at a time."""
        epoch, batches = self.epoch, self.batch_indices(self.epoch)
        self.epoch += 1
        return (self.load_batch(idx, epoch, k) for k, idx in enumerate(batches))

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed}, epoch={self.epoch}"
            + ("" if self.transform is None else f", transform={self.transform!r}")
            + ")"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_epoch(epoch: int) -> int:
    if not _is_int(epoch) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
    return int(epoch)
