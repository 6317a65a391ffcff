"""convprop.grading.diagnose_conv and check_file: name the slip, pass the right answers.

The gallery (tests/grading/submissions/gallery.py) is written into tmp_path as one file per
submission and checked in a child process, as `convprop check` does; the catalogue's other
entries are checked in-process on small arrays.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from convprop import conv
from convprop.experiments import exam
from convprop.grading import CODES, Finding, Report, Submission, check_file, diagnose_conv
from tests.grading.submissions.gallery import GALLERY, SMALL, seed_source


def _codes(report: Report) -> list[str]:
    return sorted(report.codes)


@pytest.mark.parametrize("name", sorted(GALLERY))
def test_gallery_each_submission_gets_exactly_its_findings(tmp_path, name):
    source, options, expected = GALLERY[name]
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    report = check_file(path, **options)
    assert _codes(report) == sorted(expected), str(report)
    assert report.ok == all(f.severity != "error" for f in report.findings)
    assert report.ok == (name.startswith("correct") or name == "prints_a_lot")
    for f in report.findings:
        assert f.code in CODES and f.fix, f
    json.loads(report.to_json())  # plain JSON, NumPy types converted


def test_seed_q24_and_q25_written_literally_are_named_with_the_issue_words(tmp_path):
    """The seed's own expressions, as a student would type them: F right, G's two slips."""
    path = tmp_path / "seed.py"
    path.write_text(seed_source(exam.seed_q23_forward, exam.seed_q24_delta, exam.seed_q25_gw))
    report = check_file(path, forward="seed_q23_forward", delta="seed_q24_delta", gw="seed_q25_gw")
    assert _codes(report) == [
        "delta_shifted",
        "gw_flipped",
        "not_adjoint_of_own_F",
        "not_adjoint_of_own_F",
    ]
    messages = {f.code: f for f in report.findings}
    assert "delta is shifted by (2, 2): pad eps by kernel_size - 1 on each side" in (
        messages["delta_shifted"].message
    )
    assert messages["gw_flipped"].message == (
        "g_w is flipped: correct for correlation, not for convolution"
    )
    assert messages["delta_shifted"].first_wrong_index == (0, 0)
    assert report.verdicts["F"].startswith("true convolution")
    text = str(report)
    assert "F        ok" in text and "G_delta  WRONG" in text and "NOT OK: 4 errors" in text


def _right(z, w):
    return conv.conv2d(z, w)


def _right_g(eps, z, w):
    return conv.conv2d_backward(eps, z, w)


def _conv(z, w, **kw):
    return conv.conv2d(z, w, **kw)


CATALOGUE = {  # name -> (F, G, options, codes)
    "half_flip": (lambda z, w: _conv(z, w[::-1]), _right_g, {}, ["forward_half_flipped"]),
    "kernel_transposed": (lambda z, w: _conv(z, w.T), _right_g, {}, ["transposed_axes"]),
    "input_transposed": (lambda z, w: _conv(z.T, w), _right_g, {}, ["transposed_axes"]),
    "full_padding": (lambda z, w: _conv(z, w, padding="full"), _right_g, {}, ["full_padding"]),
    "forward_shifted": (  # x(j) = sum_k w(k) z(j - k): zero-padded, offset 0 instead of 2
        lambda z, w: _conv(z, w, padding="full")[:-4, :-4],
        _right_g,
        {},
        ["forward_shifted"],
    ),
    "gw_transposed": (
        _right,
        lambda e, z, w: (_right_g(e, z, w)[0], _right_g(e, z, w)[1].T),
        {},
        ["transposed_axes"],
    ),
    "all_zeros": (lambda z, w: np.zeros((8, 8)), _right_g, {}, ["all_zeros"]),
    "not_finite": (lambda z, w: _conv(z, w) + np.inf, _right_g, {}, ["not_finite"]),
    "float32": (
        lambda z, w: _conv(z.astype(np.float32), w.astype(np.float32)),
        _right_g,
        {},
        ["low_precision"],
    ),
    "nothing_sensible": (lambda z, w: np.cos(_conv(z, w)), _right_g, {}, ["forward_wrong"]),
    "delta_one_output_channel": (
        _right,
        lambda e, z, w: (conv.conv2d_adjoint_input(e[:, -1:], w[-1:]), _right_g(e, z, w)[1]),
        {"input_shape": (2, 3, 6, 6), "kernel_shape": (4, 3, 3, 3)},
        ["missing_channel_sum"],
    ),
    "gw_one_batch_element": (
        _right,
        lambda e, z, w: (_right_g(e, z, w)[0], conv.conv2d_adjoint_weight(e[:1], z[:1])),
        {"input_shape": (2, 3, 6, 6), "kernel_shape": (4, 3, 3, 3)},
        ["missing_batch_sum"],
    ),
}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_catalogue_in_process(name):
    F, G, options, codes = CATALOGUE[name]
    report = diagnose_conv(F, G, **{**SMALL, **options})
    got = sorted(c for c in report.codes if c != "not_adjoint_of_own_F")
    assert got == codes, str(report)


def test_right_answers_pass_in_2d_and_4d_with_odd_shapes():
    for zs, ws in (((9, 12), (2, 4)), ((3, 2, 7, 5), (1, 2, 3, 2)), ((128, 128), (3, 3))):
        report = diagnose_conv(_right, _right_g, input_shape=zs, kernel_shape=ws)
        assert report.ok and report.findings == [], str(report)
    halves = diagnose_conv(
        _right,
        G_delta=lambda e, w: conv.conv2d_adjoint_input(e, w, input_shape=(10, 10)),
        G_gw=lambda e, z: conv.conv2d_adjoint_weight(e, z),
        **SMALL,
    )
    assert halves.ok and set(halves.verdicts) == {"F", "G_delta", "G_gw"}


def test_f_alone_and_hostile_callables_in_process():
    alone = diagnose_conv(_right, **SMALL)
    assert alone.ok and alone.verdicts["G_delta"] == "not checked"

    def exits(z, w):
        raise SystemExit(3)

    def noisy(z, w):
        print("x" * 20_000)
        return [[1.0]]

    report = diagnose_conv(exits, lambda e, z, w: 7, **SMALL)
    assert _codes(report) == ["exits", "wrong_type"]
    assert "sys.exit(3)" in report.findings[0].message
    assert "not a pair (delta, g_w)" in report.findings[1].message
    report = diagnose_conv(noisy, **SMALL)
    assert _codes(report) == ["noisy_output", "wrong_shape", "wrong_type"]


def test_finding_and_report_are_plain_data():
    with pytest.raises(ValueError, match="unknown finding"):
        Finding("no_such_code", "error", "F", "x")
    f = Finding("delta_shifted", "error", "G_delta", "m", np.float64(2.5), (np.int64(0), 1), "fx")
    assert f.to_dict() == {
        "code": "delta_shifted",
        "severity": "error",
        "part": "G_delta",
        "message": "m",
        "max_abs_error": 2.5,
        "first_wrong_index": [0, 1],
        "fix": "fx",
    }
    report = Report("s.py", (4, 4), (3, 3), 0, [f], {"G_delta": "shifted by (2, 2)"})
    assert not report.ok and json.loads(report.to_json()) == [f.to_dict()]
    assert "fix: fx" in str(report)


def test_bad_shapes_are_value_errors():
    for zs, ws in (((4, 4), (5, 5)), ((1, 2, 4, 4), (1, 3, 3, 3)), ((4, 4, 4), (3, 3, 3))):
        with pytest.raises(ValueError):
            diagnose_conv(_right, input_shape=zs, kernel_shape=ws)


HOSTILE = """
import os, subprocess, sys, time
import numpy as np


def reads_stdin(z):
    return input()


def writes_fd1(z):
    for _ in range(200):
        os.write(1, b"x" * 10_000)
    return z


def leaves_a_child(z):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    time.sleep(60)


def returns_object_array(z):
    return np.array([object(), 1])
"""


def test_submission_survives_stdin_fd_writes_grandchildren_and_hanging_imports(tmp_path):
    path = tmp_path / "hostile.py"
    path.write_text(HOSTILE)
    z = np.ones((3, 3))
    with Submission(path, timeout=1.0) as sub:
        assert sub.open().failure == "" and "reads_stdin" in sub.names
        assert sub.call("reads_stdin", z).message.startswith("EOFError")
        out = sub.call("writes_fd1", z)
        assert out.failure == "" and out.arrays[0].shape == (3, 3)
        assert sub.stray_output[0] == 2_000_000  # drained and counted, not kept
        assert sub.call("leaves_a_child", z).failure == "timeout"  # group killed, no hang
        assert sub.call("returns_object_array", z).failure == "wrong_type"
    hangs = tmp_path / "hangs.py"
    hangs.write_text("while True:\n    pass\n")
    with Submission(hangs, timeout=1.0, import_timeout=1.0) as sub:
        opened = sub.open()
        assert opened.failure == "timeout" and sub.call("F", z).failure == "timeout"
