"""Held-out validation: a seeded split of the training set, and early stopping on its loss.

``--val-split f`` moves a random fraction ``f`` of the training examples into a validation
set, the same ones for the same seed and data (a generator of its own, apart from the weights'
and the batch order's). Each epoch then reports ``val_loss`` and ``val_accuracy``.

``--patience P`` stops training once ``P`` epochs in a row have not lowered the validation
loss below its best so far. Everything it needs is in the run's history (one ``val_loss`` per
epoch), which the checkpoint holds, so a resumed run stops where an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from convprop.data import ArrayDataset, Split

VAL_STREAM = 0x5A1  # the split's generator is default_rng([seed, VAL_STREAM])


def hold_out(split: Split, fraction: float, seed: int) -> tuple[Split, ArrayDataset | None]:
    """The split with ``fraction`` of its training set moved out, and that part.

    Both keep the training set's order; ``fraction == 0`` changes nothing (None for the
    validation set).
    """
    if not fraction:
        return split, None
    n = len(split.train)
    k = int(round(fraction * n))
    if k < 1 or k >= n:
        raise ValueError(
            f"--val-split {fraction} of {n} training examples leaves "
            f"{'no validation' if k < 1 else 'no training'} examples"
        )
    order = np.random.default_rng([seed, VAL_STREAM]).permutation(n)
    held, kept = np.sort(order[:k]), np.sort(order[k:])
    train = ArrayDataset(*split.train[kept])
    return dataclasses.replace(split, train=train), ArrayDataset(*split.train[held])


def best_epoch(history: list[dict[str, Any]]) -> int | None:
    """Index in ``history`` of the epoch with the lowest ``val_loss`` (the first of ties);
    None without validation."""
    losses = [row["val_loss"] for row in history if "val_loss" in row]
    if not losses or len(losses) != len(history):
        return None
    return int(np.argmin(losses))


def should_stop(history: list[dict[str, Any]], patience: int) -> bool:
    """Whether ``patience`` epochs have passed since the lowest validation loss."""
    best = best_epoch(history)
    return bool(patience) and best is not None and len(history) - 1 - best >= patience


def improved(history: list[dict[str, Any]]) -> bool:
    """Whether the last epoch has the lowest validation loss so far."""
    best = best_epoch(history)
    return best is not None and best == len(history) - 1
