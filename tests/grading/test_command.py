"""``convprop check`` end to end: reports, JSON, batch CSV, and exit codes 0 / 1 / 2."""

from __future__ import annotations

import argparse
import csv
import io
import json

import pytest

from convprop.cli import main
from convprop.grading.command import COLUMNS, add_arguments, run
from tests.grading.submissions.gallery import BATCHED, GALLERY, VECTORISED

SMALL = ["--input-shape", "10,10", "--kernel-shape", "3,3"]


def _write(folder, name, source):
    path = folder / name
    path.write_text(source)
    return str(path)


def test_the_contract_with_cli_add_arguments_and_run(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([_write(tmp_path, "mine.py", VECTORISED), *SMALL])
    assert (args.forward, args.backward, args.delta, args.gw) == ("F", None, None, None)
    assert parser.parse_args(["x.py"]).input_shape == "128,128"
    assert run(args) == 0
    out = capsys.readouterr().out
    assert "OK: every part checked is right" in out and "F        ok" in out


def test_a_right_file_exits_0_and_a_wrong_one_1_with_json_for_graders(tmp_path, capsys):
    right = _write(tmp_path, "right.py", GALLERY["correct_loops"][0])
    assert main(["check", right, *SMALL]) == 0
    capsys.readouterr()
    wrong = _write(tmp_path, "wrong.py", GALLERY["forward_correlation"][0])
    assert main(["check", wrong, *SMALL, "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in findings] == [
        "forward_is_correlation",
        "not_adjoint_of_own_F",
        "not_adjoint_of_own_F",
    ]
    assert set(findings[0]) == {
        "code",
        "severity",
        "part",
        "message",
        "max_abs_error",
        "first_wrong_index",
        "fix",
    }
    assert findings[0]["part"] == "F" and findings[0]["first_wrong_index"] == [0, 0]


def test_four_d_shapes_and_the_two_halves_by_name(tmp_path, capsys):
    path = _write(tmp_path, "batched.py", BATCHED)
    assert main(["check", path, "--input-shape", "2,3,6,6", "--kernel-shape", "4,3,3,3"]) == 0
    halves = VECTORISED.replace("def G(", "def unused(") + "\nmy_delta = G_delta\nmy_gw = G_gw\n"
    path = _write(tmp_path, "halves.py", halves)
    assert main(["check", path, *SMALL, "--delta", "my_delta", "--gw", "my_gw"]) == 0
    assert main(["check", path, *SMALL]) == 0  # no G, but G_delta and G_gw: found by name
    capsys.readouterr()
    assert main(["check", path, *SMALL, "--backward", "G"]) == 1
    assert "no function named 'G'" in capsys.readouterr().out


def test_the_users_prints_do_not_reach_the_checkers_output(tmp_path, capsys):
    path = _write(tmp_path, "noisy.py", GALLERY["prints_a_lot"][0])
    assert main(["check", path, *SMALL]) == 0  # a warning only
    out = capsys.readouterr().out
    assert "noisy_output" in out and len(out) < 5000


@pytest.mark.parametrize(
    "argv",
    [
        ["missing.py"],
        ["{f}", "--input-shape", "10,x"],
        ["{f}", "--input-shape", "10,10,10"],
        ["{f}", "--input-shape", "10,10", "--kernel-shape", "4,1,3,3"],
        ["{f}", "--input-shape", "2,2", "--kernel-shape", "3,3"],
        ["{f}", "--batch", "{d}"],
        [],
        ["{f}", "--csv", "out.csv"],
        ["{f}", "--backward", "G", "--delta", "G_delta"],
        ["{f}", "--timeout", "0"],
        ["--batch", "{d}/nowhere"],
        ["--batch", "{d}/empty"],
        ["--batch", "{d}", "--csv", "{d}/no/such/folder/out.csv"],
    ],
)
def test_bad_command_line_input_exits_2(tmp_path, capsys, argv):
    f = _write(tmp_path, "f.py", VECTORISED)
    (tmp_path / "empty").mkdir()
    argv = [a.format(f=f, d=tmp_path) for a in argv]
    assert main(["check", *argv]) == 2
    assert "convprop check: error:" in capsys.readouterr().err


def test_a_flag_argparse_rejects_is_also_2():
    with pytest.raises(SystemExit) as stop:
        main(["check", "f.py", "--timeout", "soon"])
    assert stop.value.code == 2


def test_batch_writes_one_csv_row_per_file_and_a_summary(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("correct_vectorised", "delta_extra_flip", "syntax_error"):
        _write(folder, f"{name}.py", GALLERY[name][0])
    (folder / "notes.txt").write_text("not a submission")
    assert main(["check", "--batch", str(folder), *SMALL]) == 1
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert tuple(rows[0]) == COLUMNS
    assert [(r["file"], r["ok"], r["errors"]) for r in rows] == [
        ("correct_vectorised.py", "True", "0"),
        ("delta_extra_flip.py", "False", "2"),
        ("syntax_error.py", "False", "1"),
    ]
    assert rows[1]["codes"] == "delta_flipped not_adjoint_of_own_F"
    assert rows[1]["first_message"].startswith("G_delta: delta uses the kernel flipped")
    assert "1 of 3 submissions right, 2 with findings" in captured.err

    out = tmp_path / "grades.csv"
    assert main(["check", "--batch", str(folder), *SMALL, "--csv", str(out), "--json"]) == 1
    captured = capsys.readouterr()
    assert list(csv.DictReader(out.open()))[2]["codes"] == "import_error"
    listing = json.loads(captured.out)
    assert [(e["file"], e["ok"]) for e in listing][0] == ("correct_vectorised.py", True)
    assert f"CSV in {out}" in captured.err
