"""``convprop evaluate``: per-class precision, recall and F1 beside the confusion matrix, in the
text and in its JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convprop.cli import main
from convprop.evaluate import confusion_matrix, format_confusion, per_class


def test_per_class_scores_from_a_confusion_matrix_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 0, 1])
    matrix = confusion_matrix(labels, predicted, 4)
    scores = per_class(matrix)
    # class 0: 2 of 3 predicted 0 are right, 2 of 3 zeros found
    # class 1: 1 of 3 predicted 1 are right, 1 of 2 ones found
    # class 2: never predicted, never found; class 3: no examples at all (0/0 -> 0)
    np.testing.assert_allclose(scores["precision"], [2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(scores["recall"], [2 / 3, 1 / 2, 0, 0])
    np.testing.assert_allclose(
        scores["f1"], [2 / 3, 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2), 0, 0]
    )
    assert scores["support"] == [3, 2, 1, 0]


def test_per_class_scores_equal_scikit_learns():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels, predicted = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    scores = per_class(confusion_matrix(labels, predicted, 5))
    p, r, f, s = metrics.precision_recall_fscore_support(labels, predicted, zero_division=0)
    for ours, theirs in zip(
        (scores["precision"], scores["recall"], scores["f1"]), (p, r, f), strict=True
    ):
        np.testing.assert_allclose(ours, theirs)
    assert scores["support"] == list(s)


def test_the_text_puts_the_scores_beside_each_row():
    matrix = np.array([[5, 1], [0, 4]])
    text = format_confusion(matrix, per_class(matrix), ["cat", "dog"]).splitlines()
    assert "precision" in text[0] and "recall" in text[0] and "f1" in text[0]
    assert text[1].split() == ["cat", "5", "1", "1.000", "0.833", "0.909", "6"]
    assert text[2].split() == ["dog", "0", "4", "0.800", "1.000", "0.889", "4"]
    assert text[3].split()[-2:] == ["(macro", "average)"]


def test_evaluate_prints_and_writes_the_scores(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz")]) == 0
    printed = capsys.readouterr().out
    assert "precision recall" in printed and "(macro average)" in printed
    written = json.loads((out / "evaluation.json").read_text())
    assert written["accuracy"] == summary["test_accuracy"]
    assert len(written["precision"]) == len(written["f1"]) == 10
    assert sum(written["support"]) == written["examples"] == 359
    assert written["macro_f1"] == pytest.approx(np.mean(written["f1"]))
    assert main(["evaluate", str(out / "model.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == written
