"""Grading a folder of submissions against an assignment, and writing the gradebook.

:func:`grade_file` grades one ``.py`` or ``.ipynb`` file: it loads it once
(:class:`~convprop.grading.Submission`, in the sandbox if one is given) and, for every question
and every setting, asks the layer's judge (:func:`convprop.grading.layers.judge`) which parts
are right. A part earns its points only when it is right in every setting of its question.
The result is a plain dict (a *record*, JSON as is). :func:`grade_folder` grades every file of a
folder, ``jobs`` at a time (threads, each driving its own child process), reusing the record of
a file whose bytes and assignment are unchanged (``OUT/cache``), and returns the records sorted
by name. :func:`write` writes ``gradebook.csv``, ``feedback/NAME.md`` and ``results.json``
(:mod:`convprop.grading.feedback`).

A mistake in the assignment's settings (a key the layer does not know) is found by the judge
on the first file and raises :class:`~convprop.grading.assignment.AssignmentError`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import convprop
from convprop.grading import explain
from convprop.grading.assignment import Assignment, AssignmentError, Question
from convprop.grading.findings import Finding
from convprop.grading.sandbox import Sandbox
from convprop.grading.submission import Submission

SUFFIXES = (".py", ".ipynb")
Record = dict[str, Any]


def submissions(folder: str | Path) -> list[Path]:
    """The ``.py`` and ``.ipynb`` files of ``folder``, sorted (``ValueError`` if none, or if
    two share a name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"no such folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"no .py or .ipynb files in {folder}")
    names: dict[str, Path] = {}
    for p in files:
        if p.stem in names:
            raise ValueError(f"{names[p.stem].name} and {p.name} are both submission {p.stem!r}")
        names[p.stem] = p
    return files


def grade_file(
    path: str | Path,
    assignment: Assignment,
    *,
    sandbox: Sandbox | None = None,
    timeout: float | None = None,
) -> Record:
    """The record of one submission: points per ``QUESTION.PART``, findings, total."""
    from convprop.grading.layers import judge

    path = Path(path)
    record: Record = {
        "submission": path.stem,
        "file": path.name,
        "sha256": _sha256(path),
        "file_findings": [],
        "questions": [],
    }
    with Submission(path, sandbox=sandbox) as sub:
        opened = sub.open()
        if opened.printed > explain.NOISY:
            record["file_findings"].append(explain.noisy("file", opened.printed, opened.head))
        if opened.failure:
            record["file_findings"].append(explain.failure("file", opened))
        elif opened.note:  # a notebook cell raised
            record["file_findings"].append(
                Finding(
                    "import_error",
                    "error",
                    "file",
                    opened.note,
                    fix="make the notebook run from top to bottom (Run All) without an error",
                )
            )
        for q in assignment.questions:
            record["questions"].append(
                _question(sub, q, assignment.seed, timeout, judge, loaded=not opened.failure)
            )
    record["file_findings"] = [f.to_dict() for f in record["file_findings"]]
    record["points"] = {
        f"{q['id']}.{p['part']}": p["points"] for q in record["questions"] for p in q["parts"]
    }
    record["total"] = sum(record["points"].values())
    return record


def _question(
    sub: Submission,
    q: Question,
    seed: int,
    timeout: float | None,
    judge: Callable[..., dict],
    loaded: bool,
) -> Record:
    options = {**q.options, "seed": seed}
    if timeout is not None and "timeout" not in options:
        options["timeout"] = timeout
    parts = {part: {"ok": loaded, "findings": []} for part in q.points}
    for n, setting in enumerate(q.settings, 1):
        if not loaded:
            break
        options["seed"] = seed + n - 1  # settings of the same shapes test other numbers
        try:
            results = judge(sub, q.layer, q.convention, setting, options)
        except ValueError as error:
            raise AssignmentError(f"question {q.id!r} setting {n}: {error}") from None
        for part, verdict in parts.items():
            if part not in results:
                raise AssignmentError(
                    f"question {q.id!r} points.{part}: the {q.layer} judge has no part {part!r} "
                    "for this question (a bias part without bias = true?)"
                )
            result = results[part]
            verdict["ok"] = verdict["ok"] and result.ok
            for f in result.findings:
                verdict["findings"].append({**f.to_dict(), "setting": n})
    return {
        "id": q.id,
        "layer": q.layer,
        "convention": q.convention,
        "parts": [
            {
                "part": part,
                "ok": verdict["ok"],
                "points": q.points[part] if verdict["ok"] else 0.0,
                "max_points": q.points[part],
                "findings": verdict["findings"],
            }
            for part, verdict in parts.items()
        ],
    }


def grade_folder(
    folder: str | Path,
    assignment: Assignment,
    *,
    out: str | Path | None = None,
    jobs: int = 1,
    sandbox: Sandbox | None = None,
    timeout: float | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Record]:
    """Grade every submission of ``folder``; records sorted by name.

    With ``out``, records are cached in ``OUT/cache`` and reused while the file, the
    assignment, convprop's version, the sandbox and ``timeout`` are unchanged.
    """
    files = submissions(folder)
    cache = None if out is None else Path(out) / "cache"
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    key = {
        "assignment_sha256": assignment.sha256,
        "convprop": convprop.__version__,
        "sandbox": sandbox is not None,
        "timeout": timeout,
    }

    def one(path: Path) -> Record:
        start = time.perf_counter()
        cached = None if cache is None else _cached(cache / f"{path.stem}.json", path, key)
        if cached is not None:
            if log:
                log(f"{path.name}: unchanged, {_total(cached, assignment)} (cached)")
            return cached
        record = grade_file(path, assignment, sandbox=sandbox, timeout=timeout)
        if cache is not None:
            entry = {"key": key, "record": record}
            (cache / f"{path.stem}.json").write_text(json.dumps(entry, sort_keys=True))
        if log:
            log(f"{path.name}: {_total(record, assignment)} ({time.perf_counter() - start:.1f} s)")
        return record

    if jobs <= 1:
        records = [one(p) for p in files]
    else:
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            records = [f.result() for f in [pool.submit(one, p) for p in files]]
        finally:  # a bad setting stops the rest at once
            pool.shutdown(wait=True, cancel_futures=True)
    return sorted(records, key=lambda r: r["submission"])


def _cached(entry: Path, path: Path, key: dict) -> Record | None:
    try:
        saved = json.loads(entry.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("key") != key:
        return None
    record = saved.get("record")
    if not isinstance(record, dict) or record.get("sha256") != _sha256(path):
        return None
    return record


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _total(record: Record, assignment: Assignment) -> str:
    return f"{record['total']:g} / {assignment.max_points:g} points"


def default_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
