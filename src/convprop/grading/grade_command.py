"""``convprop grade``: grade a folder of submissions against an assignment file.

    convprop grade DIR --assignment ASSIGNMENT.toml --out OUT [--jobs N]
                   [--sandbox auto|on|off] [--memory 2G] [--timeout SECONDS]

Every ``.py`` and ``.ipynb`` file in ``DIR`` is graded (:mod:`convprop.grading.gradebook`) and
``OUT/gradebook.csv``, ``OUT/feedback/NAME.md`` and ``OUT/results.json`` are written
(:mod:`convprop.grading.feedback`); ``OUT/cache`` keeps each file's result for the next run.
Each submission runs in a bubblewrap sandbox (:mod:`convprop.grading.sandbox`): ``--sandbox
auto`` (the default) uses one when it can and says so when it cannot, ``on`` refuses to grade
without one, ``off`` runs the files with your permissions.

Exit status: 0 when every file was graded (whatever its points), 2 for bad input (a bad
assignment file, a missing folder, no sandbox with ``--sandbox on``). Progress goes to standard
error, one line per file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from convprop.grading import assignment as assignments
from convprop.grading import feedback, gradebook, sandbox


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``convprop grade`` (see the module docstring)."""
    parser.add_argument("folder", metavar="DIR", help="a folder of .py and .ipynb submissions")
    parser.add_argument(
        "--assignment", required=True, metavar="TOML", help="the assignment file (TOML)"
    )
    parser.add_argument("--out", required=True, metavar="OUT", help="the folder to write into")
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(4, os.cpu_count() or 1),
        metavar="N",
        help="submissions graded at once (min(4, CPUs))",
    )
    sandbox.add_arguments(parser, "each submission")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="time limit per call (default: scaled with the size of each setting)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``convprop grade``; returns the exit status (0 graded, 2 bad input)."""
    start = time.perf_counter()
    try:
        if args.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
        if args.timeout is not None and not args.timeout > 0:
            raise ValueError(f"--timeout must be positive, got {args.timeout:g}")
        memory = sandbox.parse_size(args.memory)
        task = assignments.load(args.assignment)
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a folder")
        gradebook.submissions(args.folder)  # a missing or empty folder, before any work
        box, note = sandbox.make(
            args.sandbox, memory=memory, hide=(str(Path(args.folder)), str(out))
        )
        out.mkdir(parents=True, exist_ok=True)
    except (ValueError, sandbox.SandboxUnavailable) as error:
        print(f"convprop grade: error: {error}", file=sys.stderr)
        return 2
    described = describe(box) if box is not None else note or "off"
    print(f"convprop grade: {note or 'sandbox: ' + described}", file=sys.stderr)
    try:
        records = gradebook.grade_folder(
            args.folder,
            task,
            out=out,
            jobs=args.jobs,
            sandbox=box,
            timeout=args.timeout,
            log=gradebook.default_log,
        )
    except assignments.AssignmentError as error:
        print(f"convprop grade: error: {args.assignment}: {error}", file=sys.stderr)
        return 2
    feedback.write(out, task, records, described)
    full = sum(r["total"] == task.max_points for r in records)
    print(
        f"graded {len(records)} submissions in {time.perf_counter() - start:.1f} s "
        f"({full} with full points); wrote {out / 'gradebook.csv'}, {out / 'feedback'}/, "
        f"{out / 'results.json'}",
        file=sys.stderr,
    )
    return 0


def describe(box: sandbox.Sandbox) -> str:
    """One line: the sandbox and its limits."""
    return (
        f"bubblewrap, memory {box.memory / (1 << 30):g} GiB, CPU {box.cpu_seconds} s, "
        f"{box.processes} processes, no network, a private /tmp"
    )
