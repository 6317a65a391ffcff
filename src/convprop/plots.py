"""Figures (matplotlib, the ``plot`` extra). Without matplotlib they are skipped, not fatal.

An application module: the command line (``convprop train``, ``demo``, ``evaluate``) and the
experiments draw with it; the library core never imports it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np


def pyplot() -> Any | None:
    """matplotlib's pyplot on the Agg backend, or None without the ``plot`` extra.

    In Jupyter (an IPython kernel is running) the notebook's backend is kept, so that the
    user's own figures still display inline after convprop has drawn one to a file.
    """
    try:
        import matplotlib
    except ImportError:
        return None
    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(
    history: list[dict[str, Any]], path: Path, title: str = "", label_smoothing: float = 0.0
) -> Path | None:
    """Loss and accuracy per epoch, train and test, side by side.

    The train loss is the one minimised, averaged over the epoch's batches: with label
    smoothing ``a > 0`` that is the cross-entropy against the smoothed targets, and its legend
    says so; the test loss is the plain cross-entropy after the epoch.
    """
    plt = pyplot()
    if plt is None:
        return None
    epochs = [r["epoch"] for r in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    smoothed = f"train loss (label smoothing {label_smoothing:g})"
    train_label = smoothed if label_smoothing else "train cross-entropy"
    left.plot(epochs, [r["train_loss"] for r in history], "o-", label=train_label)
    left.plot(epochs, [r["test_loss"] for r in history], "s-", label="test cross-entropy")
    left.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    right.plot(epochs, [100 * r["train_accuracy"] for r in history], "o-", label="train")
    right.plot(epochs, [100 * r["test_accuracy"] for r in history], "s-", label="test")
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_confusion(
    matrix: np.ndarray, path: Path, class_names: list[str] | None = None, title: str = ""
) -> Path | None:
    """A confusion matrix: rows are true classes, columns predicted ones."""
    plt = pyplot()
    if plt is None:
        return None
    n = len(matrix)
    names = class_names or [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * n, 0.8 + 0.5 * n))
    ax.imshow(matrix, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if matrix[i, j] > matrix.max() / 2 else "black",
            )
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
