"""``convprop evaluate``: a checkpoint's accuracy and confusion matrix on a data set.

An application of the command line (it draws confusion.png with :mod:`convprop.plots`); the
library's own evaluation is :func:`convprop.train.evaluate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convprop.checkpoint import Checkpoint
from convprop.data import Split
from convprop.models import build_model
from convprop.nn import Module
from convprop.plots import plot_confusion
from convprop.train import evaluate


def model_from_checkpoint(ckpt: Checkpoint, split: Split) -> Module:
    """Rebuild the checkpoint's model for ``split`` and load its weights (shapes checked)."""
    model = build_model(
        ckpt.config["model"], split.input_shape, split.num_classes, np.random.default_rng(0)
    )
    model.load_state_dict(ckpt.model)
    return model


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """``C[i, j]``: how many examples of true class i were predicted as class j."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def format_confusion(matrix: np.ndarray) -> str:
    width = max(4, len(str(matrix.max())) + 1)
    header = "true\\pred" + "".join(f"{j:>{width}}" for j in range(len(matrix)))
    rows = [f"{i:>9}" + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(matrix)]
    return "\n".join([header, *rows])


def report(ckpt: Checkpoint, split: Split, checkpoint_path: Path, out: Path | None) -> dict:
    """Print accuracy and the confusion matrix; write ``confusion.png``."""
    model = model_from_checkpoint(ckpt, split)
    loss, accuracy, predicted = evaluate(model, split.test.images, split.test.labels)
    matrix = confusion_matrix(split.test.labels, predicted, split.num_classes)
    print(
        f"{ckpt.config['model']} on {split.name} (test set, {len(split.test)} examples): "
        f"accuracy {100 * accuracy:.2f}%, cross-entropy {loss:.4f}"
    )
    print(format_confusion(matrix))
    folder = out or checkpoint_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    names = list(split.class_names) if split.class_names else None
    png = plot_confusion(
        matrix,
        folder / "confusion.png",
        names,
        title=f"{ckpt.config['model']} on {split.name}: {100 * accuracy:.1f}%",
    )
    print(f"confusion matrix written to {png}" if png else "(matplotlib missing: no PNG)")
    return {"accuracy": accuracy, "loss": loss, "confusion": matrix.tolist()}
