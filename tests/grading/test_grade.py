"""``convprop grade`` end to end: a class graded to exact points, the three outputs, the
cache, determinism, parallel jobs, and exit status 2 for bad input."""

from __future__ import annotations

import csv
import json

from convprop.cli import main
from convprop.grading import sandbox
from convprop.grading.assignment import load
from convprop.grading.gradebook import grade_folder
from tests.grading.grade_gallery import (
    ASSIGNMENT,
    CLASS,
    COLUMNS,
    SEED_ASSIGNMENT,
    SEED_CLASS,
)


def _class(tmp_path, assignment: str, files: dict) -> tuple[str, str, str]:
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    for name, (source, _) in files.items():
        (folder / name).write_text(source)
    (tmp_path / "a.toml").write_text(assignment)
    return str(folder), str(tmp_path / "a.toml"), str(out)


def _rows(out) -> dict[str, dict[str, str]]:
    with open(f"{out}/gradebook.csv", newline="") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


def _expected(files: dict, columns: list[str]) -> dict[str, list[float]]:
    return {name.rsplit(".", 1)[0]: points for name, (_, points) in files.items()}


def test_the_seed_class_graded_to_the_exact_points(tmp_path, capsys):
    folder, assignment, out = _class(tmp_path, SEED_ASSIGNMENT, SEED_CLASS)
    assert main(["grade", folder, "--assignment", assignment, "--out", out, "--jobs", "2"]) == 0
    rows = _rows(out)
    columns = ["conv.forward", "conv.dx", "conv.dw"]
    assert list(next(iter(rows.values()))) == ["submission", *columns, "total"]
    assert list(rows) == sorted(rows)  # sorted by name
    for name, points in _expected(SEED_CLASS, columns).items():
        assert [float(rows[name][c]) for c in columns] == points, name
        assert float(rows[name]["total"]) == sum(points)
    err = capsys.readouterr().err
    assert "graded 5 submissions" in err and "(3 with full points)" in err
    feedback = (tmp_path / "out" / "feedback" / "correlation.md").read_text()
    assert feedback.startswith("# correlation: 2 of 4 points")
    assert "| conv.forward | 0 / 2 | wrong: " in feedback
    assert "## conv.forward: 0 of 2 points (conv2d, seed convention)" in feedback
    assert "In setting 1 (input_shape = [10, 10], kernel_shape = [3, 3]):" in feedback
    assert "How to fix:" in feedback
    broken = (tmp_path / "out" / "feedback" / "syntax_error.md").read_text()
    assert "## The file" in broken and "SyntaxError" in broken and "(line 2)" in broken
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["assignment"]["columns"] == columns
    assert [r["submission"] for r in results["submissions"]] == sorted(rows)


def test_the_issues_assignment_graded_to_the_exact_points(tmp_path):
    folder, assignment, out = _class(tmp_path, ASSIGNMENT, CLASS)
    assert main(["grade", folder, "--assignment", assignment, "--out", out, "--jobs", "2"]) == 0
    rows = _rows(out)
    for name, points in _expected(CLASS, COLUMNS).items():
        assert [float(rows[name][c]) for c in COLUMNS] == points, name
    nb = (tmp_path / "out" / "feedback" / "notebook_cell_raises.md").read_text()
    assert "cell 4 failed: ZeroDivisionError: division by zero (" in nb
    assert "cell 4, line 1 in <module>)" in nb
    cut = (tmp_path / "out" / "feedback" / "padding_cut.md").read_text()
    assert "padding_cut_empty" in cut and "In setting 2 (" in cut


def test_a_rerun_reuses_unchanged_files_and_gives_the_same_bytes(tmp_path, capsys):
    files = {k: SEED_CLASS[k] for k in ("loops.py", "correlation.py", "syntax_error.py")}
    folder, assignment, out = _class(tmp_path, SEED_ASSIGNMENT, files)
    args = ["grade", folder, "--assignment", assignment, "--out", out, "--jobs", "1"]
    assert main(args) == 0
    outputs = ["gradebook.csv", "results.json", "feedback/correlation.md"]
    first = {p: (tmp_path / "out" / p).read_bytes() for p in outputs}
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().err.count("(cached)") == 3
    assert {p: (tmp_path / "out" / p).read_bytes() for p in outputs} == first
    # a changed file is graded again, the others are reused; another out grades afresh
    (tmp_path / "class" / "correlation.py").write_text(SEED_CLASS["loops.py"][0])
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("(cached)") == 2 and "correlation.py: 4 / 4 points (" in err
    again = [*args[:-3], str(tmp_path / "out2"), "--jobs", "2"]
    assert main(again) == 0 and "(cached)" not in capsys.readouterr().err
    assert (tmp_path / "out2" / "gradebook.csv").read_bytes() == (
        tmp_path / "out" / "gradebook.csv"
    ).read_bytes()


def test_a_changed_assignment_grades_afresh(tmp_path):
    files = {"loops.py": SEED_CLASS["loops.py"]}
    folder, assignment, out = _class(tmp_path, SEED_ASSIGNMENT, files)
    logged: list[str] = []
    task = load(assignment)
    grade_folder(folder, task, out=out, log=logged.append)
    grade_folder(folder, task, out=out, log=logged.append)
    (tmp_path / "a.toml").write_text(SEED_ASSIGNMENT.replace("dw = 1", "dw = 5"))
    records = grade_folder(folder, load(assignment), out=out, log=logged.append)
    assert ["cached" in line for line in logged] == [False, True, False]
    assert records[0]["total"] == 8


def _bad(tmp_path, capsys, args: list[str]) -> str:
    assert main(["grade", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("convprop grade: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1]  # one line, the last
    return errors[0]


def test_bad_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    files = {"loops.py": SEED_CLASS["loops.py"]}
    folder, assignment, out = _class(tmp_path, SEED_ASSIGNMENT, files)
    base = ["--assignment", assignment, "--out", out]
    assert "no such folder" in _bad(tmp_path, capsys, [str(tmp_path / "none"), *base])
    (tmp_path / "empty").mkdir()
    assert "no .py or .ipynb files" in _bad(tmp_path, capsys, [str(tmp_path / "empty"), *base])
    assert "--jobs must be" in _bad(tmp_path, capsys, [folder, *base, "--jobs", "0"])
    assert "a size such as 2G" in _bad(tmp_path, capsys, [folder, *base, "--memory", "lots"])
    (tmp_path / "bad.toml").write_text(SEED_ASSIGNMENT.replace("conv2d", "conv9d"))
    bad = [folder, "--assignment", str(tmp_path / "bad.toml"), "--out", out]
    assert "layer: unknown layer 'conv9d'" in _bad(tmp_path, capsys, bad)
    # a setting key the layer's judge does not know: found on the first file
    (tmp_path / "bad.toml").write_text(SEED_ASSIGNMENT.replace("[10, 10]", "[10, 10]\nstrde = 2"))
    assert "question 'conv' setting 1: " in _bad(tmp_path, capsys, bad)
    # --sandbox on where none can be made
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: [])
    sandbox.available.cache_clear()
    try:
        err = _bad(tmp_path, capsys, [folder, *base, "--sandbox", "on"])
        assert "no sandbox can be made: no bwrap found" in err
        assert main(["grade", folder, *base, "--sandbox", "auto"]) == 0
        assert "no sandbox (no bwrap found" in capsys.readouterr().err
    finally:
        sandbox.available.cache_clear()


def test_two_files_of_one_name_are_refused(tmp_path, capsys):
    files = {"loops.py": SEED_CLASS["loops.py"], "loops.ipynb": SEED_CLASS["notebook.ipynb"]}
    folder, assignment, out = _class(tmp_path, SEED_ASSIGNMENT, files)
    err = _bad(tmp_path, capsys, [folder, "--assignment", assignment, "--out", out])
    assert "loops.ipynb and loops.py are both submission 'loops'" in err
