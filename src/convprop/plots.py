"""Figures (matplotlib, the ``plot`` extra). Without matplotlib they are skipped, not fatal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """Loss and accuracy per epoch, train and test, side by side."""
    plt = _pyplot()
    if plt is None:
        return None
    epochs = [r["epoch"] for r in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    left.plot(epochs, [r["test_loss"] for r in history], "s-", label="test")
    left.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="loss")
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
    plt = _pyplot()
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
