"""``convprop evaluate``: a checkpoint's accuracy, confusion matrix and per-class precision,
recall and F1 on a data set.

An application of the command line (it draws confusion.png with :mod:`convprop.plots`); the
library's own evaluation is :func:`convprop.train.evaluate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from convprop.checkpoint import Checkpoint
from convprop.data import Split
from convprop.models import model_for
from convprop.nn import Module
from convprop.plots import plot_confusion
from convprop.report import write_atomic
from convprop.train import evaluate


def model_from_checkpoint(ckpt: Checkpoint, split: Split) -> Module:
    """Rebuild the checkpoint's model for ``split`` and load its weights (shapes checked).

    A model file (``--model PATH.py:FUNCTION``) is run again from the path the checkpoint
    records, and refused if its SHA-256 differs from the recorded one.
    """
    model, _ = model_for(
        ckpt.config,
        split.input_shape,
        split.num_classes,
        np.random.default_rng(0),
        ckpt.extra.get("model_file"),
    )
    model.load_state_dict(ckpt.model)
    return model


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """``C[i, j]``: how many examples of true class i were predicted as class j."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class(matrix: np.ndarray) -> dict[str, list[float] | list[int]]:
    """Precision, recall, F1 and support of each class from a confusion matrix ``C``.

    ``precision_k = C[k, k] / sum_i C[i, k]`` (of the examples predicted k, the right ones),
    ``recall_k = C[k, k] / sum_j C[k, j]`` (of the examples of class k, those found),
    ``F1_k = 2 P R / (P + R)``; a ratio with nothing to count (0 / 0) is 0, as scikit-learn's
    ``zero_division=0``. ``support_k = sum_j C[k, j]``.
    """
    m = np.asarray(matrix, dtype=np.float64)
    right = np.diag(m)
    predicted, support = m.sum(axis=0), m.sum(axis=1)
    precision = np.divide(right, predicted, out=np.zeros_like(right), where=predicted > 0)
    recall = np.divide(right, support, out=np.zeros_like(right), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(right), where=both > 0)
    return {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.astype(np.int64).tolist(),
    }


def format_confusion(
    matrix: np.ndarray,
    scores: dict[str, Any] | None = None,
    class_names: list[str] | None = None,
) -> str:
    """The matrix, one row per true class, with that class's precision, recall, F1 and
    support beside it, and their macro averages below."""
    width = max(4, len(str(matrix.max())) + 1)
    label = max([9, *(len(n) for n in class_names or [])])
    names = class_names or [str(i) for i in range(len(matrix))]
    side = "  precision recall     f1 support" if scores else ""
    corner = "true\\pred"
    header = f"{corner:>{label}}" + "".join(f"{j:>{width}}" for j in range(len(matrix)))
    rows = []
    for i, row in enumerate(matrix):
        line = f"{names[i]:>{label}}" + "".join(f"{v:>{width}}" for v in row)
        if scores:
            line += (
                f"  {scores['precision'][i]:9.3f} {scores['recall'][i]:6.3f} "
                f"{scores['f1'][i]:6.3f} {scores['support'][i]:>7}"
            )
        rows.append(line)
    if scores:
        pad = " " * (label + width * len(matrix))
        rows.append(
            f"{pad}  {np.mean(scores['precision']):9.3f} {np.mean(scores['recall']):6.3f} "
            f"{np.mean(scores['f1']):6.3f} {sum(scores['support']):>7}  (macro average)"
        )
    return "\n".join([header + side, *rows])


def report(
    ckpt: Checkpoint,
    split: Split,
    checkpoint_path: Path,
    out: Path | None,
    *,
    as_json: bool = False,
    model: Module | None = None,
) -> dict:
    """Print accuracy, the confusion matrix and per-class scores (or, ``as_json``, their
    JSON); write ``evaluation.json`` and ``confusion.png`` beside the checkpoint (or in
    ``out``). ``model``: the checkpoint's, already rebuilt (else rebuilt here)."""
    model = model if model is not None else model_from_checkpoint(ckpt, split)
    loss, accuracy, predicted = evaluate(model, split.test.images, split.test.labels)
    matrix = confusion_matrix(split.test.labels, predicted, split.num_classes)
    scores = per_class(matrix)
    names = list(split.class_names) if split.class_names else None
    result = {
        "checkpoint": str(checkpoint_path),
        "model": ckpt.config["model"],
        "dataset": split.name,
        "examples": len(split.test),
        "accuracy": accuracy,
        "loss": loss,
        "confusion": matrix.tolist(),
        "class_names": names,
        **scores,
        "macro_f1": float(np.mean(scores["f1"])),
    }
    folder = out or checkpoint_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "evaluation.json", json.dumps(result, indent=2) + "\n")
    png = plot_confusion(
        matrix,
        folder / "confusion.png",
        names,
        title=f"{ckpt.config['model']} on {split.name}: {100 * accuracy:.1f}%",
    )
    if as_json:
        print(json.dumps(result, indent=2))
        return result
    print(
        f"{ckpt.config['model']} on {split.name} (test set, {len(split.test)} examples): "
        f"accuracy {100 * accuracy:.2f}%, cross-entropy {loss:.4f}"
    )
    print(format_confusion(matrix, scores, names))
    print(f"written to {folder / 'evaluation.json'}" + (f" and {png}" if png else ""))
    if png is None:
        print("(matplotlib missing: no confusion.png)")
    return result
