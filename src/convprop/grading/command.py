"""``convprop check``: diagnose the F and G in a student's file, or in a folder of them.

    convprop check FILE.py [--forward NAME] [--backward NAME | --delta NAME --gw NAME]
                           [--input-shape H,W] [--kernel-shape kh,kw] [--timeout S] [--json]
    convprop check --batch DIR [--csv FILE] [--json] [same options]

Exit status: 0 when every file checked is right (warnings and notes allowed), 1 when a
submission has findings, 2 for bad command-line input (a missing file or folder, a malformed
shape). With ``--batch`` the CSV (columns ``file, ok, findings, errors, codes, first_message``)
goes to standard output unless ``--csv FILE`` is given; the progress and the summary line go
to standard error in that case, so that standard output is the CSV alone.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from convprop.grading.diagnose import check_file, check_shapes
from convprop.grading.findings import Report
from convprop.grading.submission import DEFAULT_TIMEOUT

COLUMNS = ("file", "ok", "findings", "errors", "codes", "first_message")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``convprop check`` (see the module docstring)."""
    parser.add_argument(
        "file", nargs="?", help="a .py file defining F and G (loading it runs its code)"
    )
    parser.add_argument("--forward", default="F", metavar="NAME", help="F(z, w) (default F)")
    parser.add_argument(
        "--backward",
        metavar="NAME",
        help="G(eps, z, w) -> (delta, g_w) (default G; a file without G but with G_delta "
        "and G_gw is checked in halves)",
    )
    parser.add_argument("--delta", metavar="NAME", help="G_delta(eps, w), for G in two halves")
    parser.add_argument("--gw", metavar="NAME", help="G_gw(eps, z), for G in two halves")
    parser.add_argument(
        "--input-shape", default="128,128", metavar="H,W", help="z: H,W or N,C,H,W (128,128)"
    )
    parser.add_argument(
        "--kernel-shape", default="3,3", metavar="kh,kw", help="w: kh,kw or O,C,kh,kw (3,3)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"time limit per call of the user's code ({DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random arrays (0)")
    parser.add_argument(
        "--json", action="store_true", help="print the findings as a JSON list (for graders)"
    )
    parser.add_argument(
        "--batch", metavar="DIR", help="check every .py file in DIR: one CSV row per file"
    )
    parser.add_argument(
        "--csv", metavar="FILE", help="with --batch: write the CSV to FILE (default: stdout)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``convprop check``; returns the exit status (0 right, 1 findings, 2 bad input)."""
    try:
        options = _options(args)
        if args.batch is not None:
            return _batch(Path(args.batch), options, args)
        if not Path(args.file).is_file():
            raise ValueError(f"no such file: {args.file}")
    except ValueError as error:
        print(f"convprop check: error: {error}", file=sys.stderr)
        return 2
    report = check_file(args.file, **options)
    print(report.to_json() if args.json else report)
    return 0 if report.ok else 1


def _options(args: argparse.Namespace) -> dict:
    if (args.file is None) == (args.batch is None):
        raise ValueError("give one FILE to check, or --batch DIR")
    if args.csv is not None and args.batch is None:
        raise ValueError("--csv needs --batch DIR")
    if args.backward is not None and (args.delta is not None or args.gw is not None):
        raise ValueError("give --backward, or --delta and --gw, not both")
    if not args.timeout > 0:
        raise ValueError(f"--timeout must be positive, got {args.timeout:g}")
    input_shape, kernel_shape = check_shapes(
        _parse_shape(args.input_shape, "--input-shape"),
        _parse_shape(args.kernel_shape, "--kernel-shape"),
    )
    return {
        "forward": args.forward,
        "backward": args.backward,
        "delta": args.delta,
        "gw": args.gw,
        "input_shape": input_shape,
        "kernel_shape": kernel_shape,
        "seed": args.seed,
        "timeout": args.timeout,
    }


def _parse_shape(text: str, flag: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise ValueError(
            f"{flag} must be comma-separated integers such as 128,128; got {text!r}"
        ) from None
    if len(shape) not in (2, 4) or min(shape) < 1:
        raise ValueError(f"{flag} must be 2 or 4 positive integers, got {text!r}")
    return shape


def _batch(folder: Path, options: dict, args: argparse.Namespace) -> int:
    if not folder.is_dir():
        raise ValueError(f"no such folder: {folder}")
    files = sorted(p for p in folder.glob("*.py") if p.is_file())
    if not files:
        raise ValueError(f"no .py files in {folder}")
    if args.csv is not None and not Path(args.csv).resolve().parent.is_dir():
        raise ValueError(f"cannot write {args.csv}: no such folder")
    quiet_stdout = args.csv is None or args.json  # stdout carries the CSV or the JSON
    log = sys.stderr if quiet_stdout else sys.stdout
    reports = []
    for path in files:
        report = check_file(path, **options)
        reports.append((path.name, report))
        verdict = "ok" if report.ok else f"{len(report.findings)} findings"
        print(f"checked {path.name}: {verdict}", file=log, flush=True)
    table = _csv(reports)
    if args.csv is not None:
        Path(args.csv).write_text(table)
    if args.json:
        listing = [{"file": n, "ok": r.ok, "findings": r.to_list()} for n, r in reports]
        print(json.dumps(listing, indent=2))
    elif args.csv is None:
        sys.stdout.write(table)
    right = sum(r.ok for _, r in reports)
    where = f"; CSV in {args.csv}" if args.csv is not None else ""
    print(
        f"{right} of {len(reports)} submissions right, {len(reports) - right} with findings"
        f"{where}",
        file=log,
    )
    return 0 if right == len(reports) else 1


def _csv(reports: list[tuple[str, Report]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for name, r in reports:
        errors = [f for f in r.findings if f.severity == "error"]
        first = (errors or r.findings or [None])[0]
        writer.writerow(
            [
                name,
                r.ok,
                len(r.findings),
                len(errors),
                " ".join(r.codes),
                "" if first is None else f"{first.part}: {first.message}",
            ]
        )
    return out.getvalue()
