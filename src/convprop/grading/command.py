"""``convprop check``: diagnose the layer code in a student's file, or in a folder of them.

    convprop check FILE.py [--layer LAYER] [--convention seed|cs231n] [--forward NAME]
                           [--backward NAME | --delta NAME --gw NAME] [--function NAME]
                           [--kind K] [--stride S] [--padding P] [--dilation D] [--bias]
                           [--input-shape SHAPE] [--kernel-shape SHAPE] [...shapes]
                           [--seed N] [--timeout S] [--json]
                           [--sandbox auto|on|off] [--memory 2G]
    convprop check --batch DIR [--csv FILE] [--json] [same options]

The seed's conv layer in its own geometry (the default: ``--layer conv2d --convention seed``,
true convolution, 'valid', stride 1, no bias) gets the full diagnosis of
:func:`~convprop.grading.check_file` (parts F, G_delta, G_gw; ``--delta``/``--gw`` for G in
halves); anything else is judged by :func:`convprop.grading.layers.judge` (parts forward, dx,
dw, db, loss, update; see docs/checking-a-layer.md for each convention's signatures).

Exit status: 0 when every file checked is right (warnings and notes allowed), 1 when a
submission has findings, 2 for bad command-line input (a missing file or folder, a malformed
shape, an unknown layer). With ``--batch`` the CSV (columns ``file, ok, findings, errors,
codes, first_message``) goes to standard output unless ``--csv FILE`` is given; the progress
and the summary line go to standard error in that case, so that standard output is the CSV.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from convprop.grading import sandbox
from convprop.grading.diagnose import check_file, check_shapes
from convprop.grading.findings import Report
from convprop.grading.layer_check import LayerReport, check_layer
from convprop.grading.layers import CONVENTIONS, LAYER_PARTS
from convprop.grading.layers.common import default_timeout
from convprop.grading.layers.conv2d import work as conv_work

# defaults told apart from the same text typed by the user (``is``): the seed's conv check
FORWARD_F = "F"
SEED_INPUT = "128,128"
SEED_KERNEL = "3,3"
COLUMNS = ("file", "ok", "findings", "errors", "codes", "first_message")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``convprop check`` (see the module docstring)."""
    parser.add_argument(
        "file", nargs="?", help="a .py file defining the layer (loading it runs its code)"
    )
    parser.add_argument(
        "--layer", default="conv2d", choices=list(LAYER_PARTS), help="the layer (conv2d)"
    )
    parser.add_argument(
        "--convention", default="seed", choices=CONVENTIONS, help="signatures (seed)"
    )
    parser.add_argument(
        "--forward",
        default=FORWARD_F,
        metavar="NAME",
        help="the forward function (F, or the "
        "convention's name: conv_forward_naive, affine_forward, ...)",
    )
    parser.add_argument(
        "--backward",
        metavar="NAME",
        help="the backward function (G: a file without G but with G_delta and G_gw is "
        "checked in halves; or the convention's name)",
    )
    parser.add_argument("--function", metavar="NAME", help="softmax's or momentum's function")
    parser.add_argument("--delta", metavar="NAME", help="G_delta(eps, w), for G in two halves")
    parser.add_argument("--gw", metavar="NAME", help="G_gw(eps, z), for G in two halves")
    parser.add_argument(
        "--kind",
        choices=("convolution", "correlation"),
        help="conv2d: (seed: convolution, cs231n: correlation)",
    )
    parser.add_argument("--stride", type=int, help="conv2d, max_pool2d: the stride")
    parser.add_argument("--padding", type=int, help="conv2d: zero padding on each side")
    parser.add_argument("--dilation", type=int, help="conv2d: the dilation")
    parser.add_argument(
        "--bias",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="conv2d, linear: a bias b and its gradient db (cs231n: yes, seed: no)",
    )
    parser.add_argument(
        "--input-shape",
        default=SEED_INPUT,
        metavar="SHAPE",
        help="z or x: H,W or N,C,H,W (seed conv: 128,128)",
    )
    parser.add_argument(
        "--kernel-shape",
        default=SEED_KERNEL,
        metavar="SHAPE",
        help="conv2d's w: kh,kw or O,C,kh,kw (seed conv: 3,3)",
    )
    parser.add_argument("--out-features", type=int, metavar="M", help="linear: M (5)")
    parser.add_argument("--kernel-size", metavar="K", help="max_pool2d: k or kh,kw (2)")
    parser.add_argument("--shape", metavar="SHAPE", help="softmax: N,K (16,10); momentum: w")
    parser.add_argument(
        "--scale", type=float, help="softmax: size of the logits (default: 1 and 1000)"
    )
    parser.add_argument("--steps", type=int, help="momentum: steps (5)")
    parser.add_argument("--learning-rate", type=float, help="momentum: alpha (0.01)")
    parser.add_argument("--momentum", type=float, help="momentum: gamma (0.9)")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="time limit per call of the user's code (default: 10 s plus 5 us per "
        "multiply-add of the work, enough for plain Python loops)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random arrays (0)")
    parser.add_argument(
        "--json", action="store_true", help="print the findings as a JSON list (for graders)"
    )
    sandbox.add_arguments(parser, "the file")
    parser.add_argument(
        "--batch", metavar="DIR", help="check every .py file in DIR: one CSV row per file"
    )
    parser.add_argument(
        "--csv", metavar="FILE", help="with --batch: write the CSV to FILE (default: stdout)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``convprop check``; returns the exit status (0 right, 1 findings, 2 bad input)."""
    try:
        check = _checker(args)
        if args.batch is not None:
            return _batch(Path(args.batch), check, args)
        if not Path(args.file).is_file():
            raise ValueError(f"no such file: {args.file}")
        report = check(args.file)
    except (ValueError, sandbox.SandboxUnavailable) as error:
        print(f"convprop check: error: {error}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report)
    return 0 if report.ok else 1


def _checker(args: argparse.Namespace):
    """A function FILE -> report, after every option is checked (ValueError if one is bad)."""
    if (args.file is None) == (args.batch is None):
        raise ValueError("give one FILE to check, or --batch DIR")
    if args.csv is not None and args.batch is None:
        raise ValueError("--csv needs --batch DIR")
    if args.backward is not None and (args.delta is not None or args.gw is not None):
        raise ValueError("give --backward, or --delta and --gw, not both")
    if args.timeout is not None and not args.timeout > 0:
        raise ValueError(f"--timeout must be positive, got {args.timeout:g}")
    hide = () if args.batch is None else (str(Path(args.batch)),)
    box, note = sandbox.make(args.sandbox, memory=sandbox.parse_size(args.memory), hide=hide)
    if note:
        print(f"convprop check: {note}", file=sys.stderr)
    run_in = {"sandbox": box}
    geometry = (args.kind, args.stride, args.padding, args.dilation, args.bias)
    seed_conv = args.layer == "conv2d" and args.convention == "seed"
    if seed_conv and geometry in ((None,) * 5, ("convolution", None, None, None, None)):
        options = _seed_options(args)
        return lambda path: check_file(path, **options, submission_options=run_in)
    if args.delta is not None or args.gw is not None:
        raise ValueError("--delta and --gw are for the seed's conv layer in its own geometry")
    from convprop.grading.layer_settings import settings_from_args

    typed = argparse.Namespace(**vars(args))  # the seed conv's shape defaults: not typed
    typed.input_shape = None if args.input_shape is SEED_INPUT else args.input_shape
    typed.kernel_shape = None if args.kernel_shape is SEED_KERNEL else args.kernel_shape
    settings = settings_from_args(typed)
    options = {
        "forward": None if args.forward is FORWARD_F else args.forward,
        "backward": args.backward,
        "function": args.function,
        "kind": args.kind,
        "bias": args.bias,
        "seed": args.seed,
        "timeout": args.timeout,
    }
    return lambda path: check_layer(
        path, args.layer, args.convention, settings, options, submission_options=run_in
    )


def _seed_options(args: argparse.Namespace) -> dict:
    input_shape, kernel_shape = check_shapes(
        _parse_shape(args.input_shape, "--input-shape"),
        _parse_shape(args.kernel_shape, "--kernel-shape"),
    )
    timeout = args.timeout
    if timeout is None:
        timeout = default_timeout(conv_work(input_shape, kernel_shape, {}))
    return {
        "forward": args.forward,
        "backward": args.backward,
        "delta": args.delta,
        "gw": args.gw,
        "input_shape": input_shape,
        "kernel_shape": kernel_shape,
        "seed": args.seed,
        "timeout": timeout,
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


def _batch(folder: Path, check, args: argparse.Namespace) -> int:
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
        report = check(path)
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


def _csv(reports: list[tuple[str, Report | LayerReport]]) -> str:
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
