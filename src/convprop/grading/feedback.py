"""What ``convprop grade`` writes: ``gradebook.csv``, ``feedback/NAME.md``, ``results.json``.

- ``gradebook.csv``: a row per submission, sorted by name: ``submission`` (the file name
  without its suffix), one column per ``QUESTION.PART`` with the points earned, ``total``;
- ``feedback/NAME.md``: for the student, a table of every part's points, then for each part
  that lost points (or has a warning) what was found, in which setting, and how to fix it;
- ``results.json``: the assignment and every record of :mod:`convprop.grading.gradebook`.

The files hold no times or dates, so the same inputs give the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import convprop
from convprop.grading.assignment import Assignment

Record = dict[str, Any]


def write(
    out: str | Path, assignment: Assignment, records: list[Record], sandbox: str = ""
) -> None:
    """Write the three outputs into ``out`` (made if missing); old feedback files are kept."""
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    (out / "gradebook.csv").write_text(gradebook_csv(assignment, records))
    for r in records:
        (out / "feedback" / f"{r['submission']}.md").write_text(feedback_md(assignment, r))
    results = {
        "convprop": convprop.__version__,
        "sandbox": sandbox,
        "assignment": {
            "name": assignment.name,
            "seed": assignment.seed,
            "sha256": assignment.sha256,
            "columns": assignment.columns,
            "max_points": assignment.max_points,
            "questions": [
                {
                    "id": q.id,
                    "layer": q.layer,
                    "convention": q.convention,
                    "options": q.options,
                    "points": q.points,
                    "settings": list(q.settings),
                }
                for q in assignment.questions
            ],
        },
        "submissions": records,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def gradebook_csv(assignment: Assignment, records: list[Record]) -> str:
    """The CSV text: ``submission``, one column per ``QUESTION.PART``, ``total``."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["submission", *assignment.columns, "total"])
    for r in records:
        points = [_num(r["points"].get(c, 0.0)) for c in assignment.columns]
        writer.writerow([r["submission"], *points, _num(r["total"])])
    return text.getvalue()


def feedback_md(assignment: Assignment, record: Record) -> str:
    """The feedback file of one submission, in Markdown."""
    questions = {q.id: q for q in assignment.questions}
    lines = [
        f"# {record['submission']}: {_num(record['total'])} of "
        f"{_num(assignment.max_points)} points",
        "",
        f"Assignment `{assignment.name}`, file `{record['file']}`, graded by convprop "
        f"{convprop.__version__}. A part earns its points only when it is right in every "
        "setting of its question.",
        "",
        "| part | points | verdict |",
        "| --- | ---: | --- |",
    ]
    for q in record["questions"]:
        for p in q["parts"]:
            codes = sorted({f["code"] for f in p["findings"] if f["severity"] == "error"})
            verdict = "right" if p["ok"] else "wrong: " + ", ".join(codes)
            if not p["ok"] and not codes:
                verdict = "not run: see The file below"
            lines.append(
                f"| {q['id']}.{p['part']} | {_num(p['points'])} / {_num(p['max_points'])} "
                f"| {verdict} |"
            )
    if record["file_findings"]:
        lines += ["", "## The file", ""]
        lines += [line for f in record["file_findings"] for line in _finding(f)]
    for q in record["questions"]:
        question = questions[q["id"]]
        for p in q["parts"]:
            if not p["findings"]:
                continue
            lines += [
                "",
                f"## {q['id']}.{p['part']}: {_num(p['points'])} of {_num(p['max_points'])} "
                f"points ({q['layer']}, {q['convention']} convention)",
            ]
            setting = None
            for f in p["findings"]:
                if f["setting"] != setting:
                    setting = f["setting"]
                    lines += ["", f"In setting {setting} ({_setting(question, setting)}):", ""]
                lines += _finding(f)
    return "\n".join(lines) + "\n"


def _finding(f: dict[str, Any]) -> list[str]:
    tail, error, index = "", f.get("max_abs_error"), f.get("first_wrong_index")
    if error is not None and math.isfinite(error):
        tail = f" Largest error {error:.3g}"
        if index:  # not for a scalar (the loss)
            tail += f", first at index {tuple(index)}"
        tail += "."
    elif index:
        tail = f" First wrong at index {tuple(index)}."
    message = str(f["message"]).rstrip(".")
    lines = [f"- **{f['code']}** ({f['severity']}): {message}.{tail}"]
    if f.get("fix"):
        lines.append(f"  How to fix: {f['fix']}")
    return lines


def _setting(question: Any, n: int) -> str:
    setting = question.settings[n - 1]
    return ", ".join(f"{k} = {json.dumps(v)}" for k, v in setting.items())


def _num(x: float) -> str:
    return f"{x:g}"
