"""``convprop exam``: every checkable answer of the seed, with the verdicts the math gives."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest

from convprop.data import DatasetNotFoundError
from convprop.experiments import exam, exam_training


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert exam.run_exam(json_output=True, seed=0) == 0
    return json.loads(printed.getvalue())


def _by_question(rows: list[dict], question: str) -> list[dict]:
    return [r for r in rows if r["question"] == question]


def test_every_row_has_the_json_fields(rows):
    for r in rows:
        assert {"question", "claim", "agrees", "max_abs_error", "measured", "correct"} <= set(r)
        assert isinstance(r["agrees"], bool)
        assert r["max_abs_error"] is not None or r["measured"]
        assert r["agrees"] or r["correct"] or r["question"] == "Q2.4-2.5"
    questions = {r["question"] for r in rows}
    assert {"Q2.3", "Q3.1", "Q3.2", "Q3.3", "Q3.4", "Q3.5", "Q3.6", "Q3.7", "Q4.1"} <= questions
    assert {"Q4.2", "Q5"} <= questions


def test_the_q2_verdicts_are_kept(rows):
    assert all(r["agrees"] for r in _by_question(rows, "Q2.3"))
    assert not [r for r in _by_question(rows, "Q2.4") if "G_delta" in r["claim"]][0]["agrees"]
    assert not _by_question(rows, "Q2.5")[0]["agrees"]


def test_q3_likelihood_answers_agree_to_rounding(rows):
    for q in ("Q3.1", "Q3.2", "Q3.3", "Q3.4", "Q3.5", "Q3.6"):
        (r,) = _by_question(rows, q)
        assert r["agrees"] and r["max_abs_error"] < 1e-9, r
    (q37,) = _by_question(rows, "Q3.7")
    assert q37["agrees"] and "before" in q37["measured"]


def test_q4_epoch_and_noise(rows):
    assert _by_question(rows, "Q4.1")[0]["agrees"]
    iid, small, big = _by_question(rows, "Q4.2")
    assert iid["agrees"] and iid["max_abs_error"] <= 0.05  # |ratio - sqrt 2|
    assert small["agrees"]
    # doubling 256 -> 512 of 1438 without replacement: sqrt(2 * 1182 / 414) = 1.60, not sqrt 2
    assert not big["agrees"] and "sqrt((K - K_b) / (K - 1))" in big["correct"]
    measured = float(big["measured"].split()[1].rstrip(";"))
    assert measured == pytest.approx(math.sqrt(2 * (1438 - 256) / (1438 - 512)), abs=0.05)


def test_q5_written_form_is_heavy_ball_with_alpha_squared(rows):
    as_momentum, as_alpha_squared = _by_question(rows, "Q5")
    assert not as_momentum["agrees"] and as_momentum["max_abs_error"] > 0.1
    assert "theta <- theta + v" in as_momentum["correct"]
    assert as_alpha_squared["agrees"] and as_alpha_squared["max_abs_error"] < 1e-12


def test_q3_q4_without_scikit_learn_use_a_synthetic_set(monkeypatch):
    def missing(*args, **kwargs):
        raise DatasetNotFoundError("no scikit-learn")

    monkeypatch.setattr(exam_training, "load_dataset", missing)
    q3 = exam_training.check_q3(0)
    assert all(r.agrees for r in q3) and "synthetic" in q3[1].measured
    q4 = exam_training.check_q4(0)
    assert q4[0].agrees and "K = 300" in q4[0].measured
    assert np.isfinite(q4[1].max_abs_error)
