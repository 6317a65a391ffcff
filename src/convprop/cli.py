"""The ``convprop`` command line: thin over the library.

Exit codes: 0 success; 1 a failure while running (divergence, a file that cannot be
written); 2 bad input found before work starts (a flag, a data folder, a checkpoint);
130 interrupted (a checkpoint was written; the message says how to resume).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import convprop
from convprop.checkpoint import CheckpointError, load_checkpoint
from convprop.config import OPTIMIZERS, SCHEDULES, TrainConfig, resume_config
from convprop.data import DATASETS, DatasetNotFoundError, IdxError, load_dataset
from convprop.data.folder import parse_image_size
from convprop.interrupt import Interrupted
from convprop.model_file import ModelFileError, is_model_file, locate
from convprop.models import MODELS
from convprop.nn.init import INITIALISERS
from convprop.optim.sgd import FORMS
from convprop.report import OutputExists, check_out_dir

BAD_INPUT = (
    ValueError,
    DatasetNotFoundError,
    IdxError,
    CheckpointError,
    OutputExists,
    ModelFileError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
)


class BadInput(Exception):
    """Raised by a command for input it rejects before starting work (exit code 2)."""


class validating:  # noqa: N801 (used as a statement: ``with validating():``)
    """``with validating():`` turns the errors of bad input into :class:`BadInput` (exit 2).

    The experiments use it too, for the input they check before starting work."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> bool:
        if error is not None and isinstance(error, BAD_INPUT):
            raise BadInput(str(error)) from error
        return False


DATA_DIR_HELP = "IDX files' folder (mnist...); DIR with train/ and test/ (folder); FILE.npz (npz)"


def _image_size(text: str) -> list[int]:
    try:
        return parse_image_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _train_flags(p: argparse.ArgumentParser) -> None:
    d = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    p.add_argument("--dataset", choices=list(DATASETS), help=f"data set ({d['dataset']})")
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument(
        "--image-size", type=_image_size, metavar="H,W", help="resize every folder image to HxW"
    )
    p.add_argument("--augment", metavar="SPEC", help="per batch: crop=PADDING,hflip[=P]")
    p.add_argument(
        "--normalize",
        action="store_true",
        default=None,
        help="standardise each channel by the training set's mean and std (folder, npz)",
    )
    p.add_argument(
        "--model",
        type=_model_name,
        metavar="{" + ",".join(sorted(MODELS)) + "} or PATH.py:FUNCTION",
        help=f"a built-in model, or a function in a file of yours ({d['model']})",
    )
    p.add_argument("--width", type=int, help=f"resnet: channels of stage 1 ({d['width']})")
    p.add_argument("--depth", type=int, help=f"resnet: 6n+2 layers ({d['depth']})")
    p.add_argument("--epochs", type=int, help=f"passes over the training set ({d['epochs']})")
    p.add_argument("--batch-size", type=int, help=f"examples per step ({d['batch_size']})")
    p.add_argument("--lr", type=float, help=f"learning rate ({d['lr']})")
    p.add_argument("--momentum", type=float, help=f"momentum in [0, 1) ({d['momentum']})")
    p.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum")
    p.add_argument(
        "--momentum-form",
        choices=FORMS,
        help=f"SGD convention ({d['momentum_form']})",
    )
    p.add_argument("--weight-decay", type=float, help=f"L2 penalty ({d['weight_decay']})")
    p.add_argument(
        "--label-smoothing",
        type=float,
        help=f"target smoothing in [0, 1) ({d['label_smoothing']})",
    )
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), help=f"({d['optimizer']})")
    p.add_argument("--schedule", choices=list(SCHEDULES), help=f"per epoch ({d['schedule']})")
    p.add_argument("--step-size", type=int, help=f"epochs per drop, step ({d['step_size']})")
    p.add_argument(
        "--gamma",
        type=float,
        help=f"lr factor: per drop (step), per epoch (exponential) ({d['gamma']})",
    )
    p.add_argument("--init", choices=list(INITIALISERS), help=f"initialiser ({d['init']})")
    p.add_argument("--seed", type=int, help=f"weights and batch order ({d['seed']})")
    p.add_argument("--checkpoint-every", type=int, help="also checkpoint every N steps")
    p.add_argument(
        "--val-split", type=float, help="hold out this fraction of the training set (0)"
    )
    p.add_argument(
        "--patience", type=int, help="stop after N epochs without a lower validation loss"
    )


def _model_name(value: str) -> str:
    """``--model``: a name of MODELS or ``PATH.py:FUNCTION`` (checked by TrainConfig)."""
    if value in MODELS or is_model_file(value):
        return value
    raise argparse.ArgumentTypeError(
        f"unknown model {value!r}; choose one of {', '.join(MODELS)}, or PATH.py:FUNCTION"
    )


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields that were given on the command line."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def cmd_train(args: argparse.Namespace, defaults: dict[str, Any] | None = None) -> int:
    from convprop.cores import blas_threads
    from convprop.distributed import communicator, limit_blas_threads
    from convprop.train import fit, prepare

    comm = communicator(getattr(args, "distributed", False))
    args.comm = comm  # main() aborts every process when one fails
    if comm.size > 1:
        chosen = os.environ.get("OPENBLAS_NUM_THREADS")
        note = (
            f"BLAS threads per process from OPENBLAS_NUM_THREADS={chosen}"
            if chosen
            else limit_blas_threads(1) + " (set OPENBLAS_NUM_THREADS to choose)"
        )
        ranks = comm.describe()  # every rank takes part
        if comm.rank == 0:
            print(f"distributed over {comm.size} processes ({ranks}); {note}", flush=True)
    given = {**(defaults or {}), **_given(args)}
    with validating():
        if args.resume:
            saved = load_checkpoint(args.resume)
            config = resume_config(saved.config, given)
            out = Path(args.out) if args.out else Path(args.resume).parent
            if comm.rank == 0:
                _note_model_file(saved.config, saved.extra)
        else:
            config = TrainConfig(**given)
            out = Path(args.out or "runs/train")
        config.validate()
        if comm.rank == 0:
            check_out_dir(out, overwrite=args.overwrite, resuming=bool(args.resume))
        run = prepare(config, out, resume=args.resume, comm=comm)
    if args.resume and comm.rank == 0:
        print(
            f"resuming {config.model} on {config.dataset} at epoch {run.epoch + 1}, step "
            f"{run.step}, from {args.resume}"
        )
    try:  # the command line's process is ours: signals stop cleanly, freed memory is kept
        summary = fit(run, handle_signals=True, retain_memory=True, threads=blas_threads())
    except Interrupted as stop:
        if comm.rank == 0:
            print(
                f"\ninterrupted: checkpoint written to {stop.checkpoint}; resume with\n"
                f"  convprop train --resume {stop.checkpoint}",
                file=sys.stderr,
            )
        return 130
    if comm.rank == 0:
        from convprop.plots import plot_curves

        curves = plot_curves(
            run.history,
            out / "curves.png",
            title=f"{config.model} on {config.dataset}",
            label_smoothing=config.label_smoothing,
        )
        if "checkpoint" in summary:  # --patience: the best epoch's model is kept
            print(f"{summary['checkpoint']}; its test accuracy is the one below")
        print(
            f"test accuracy {100 * summary['test_accuracy']:.2f}% after {summary['epochs']} "
            f"epochs ({summary['train_seconds']:.1f} s, "
            f"{summary['examples_per_second']:,.0f} img/s); results in {out}/ "
            f"(metrics.csv, summary.json, model.npz{', curves.png' if curves else ''})"
        )
    return 0


def _note_model_file(config: dict[str, Any], extra: dict[str, Any]) -> None:
    """Say that rebuilding a checkpoint's model from its model file runs that file's code."""
    record = extra.get("model_file")
    if is_model_file(str(config.get("model", ""))) and record:
        print(
            f"note: rebuilding the model runs the code of the model file {record['path']} "
            f"({record['function']}; its SHA-256 is checked against the checkpoint's)",
            file=sys.stderr,
        )


# The demo's recipe, chosen on six seeds: mean test accuracy 98.0%, lowest 97.8% (see README).
DEMO = dict(
    dataset="digits",
    model="cnn",
    epochs=15,
    batch_size=16,
    lr=0.05,
    momentum=0.9,
    weight_decay=5e-4,
    label_smoothing=0.1,
    schedule="cosine",
)


def cmd_demo(args: argparse.Namespace) -> int:
    print(
        "convprop demo: the cnn model (3x3 true-convolution layers) on the 1,797 8x8 digits, "
        "SGD with momentum 0.9, 15 epochs"
    )
    args.overwrite, args.resume, args.out = True, None, args.out or "runs/demo"
    return cmd_train(args, defaults=DEMO)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from convprop.evaluate import model_from_checkpoint, report

    with validating():
        ckpt = load_checkpoint(args.checkpoint)
        for key, remedy in (("model", ""), ("dataset", " (pass --dataset)")):
            if key not in ckpt.config and not (key == "dataset" and args.dataset):
                raise ValueError(
                    f"{args.checkpoint}: the checkpoint's configuration lacks the key "
                    f"{key!r}{remedy}"
                )
        stored = ckpt.extra.get("normalisation") if ckpt.config.get("normalize") else None
        split = load_dataset(
            args.dataset or ckpt.config["dataset"],
            args.data_dir or ckpt.config.get("data_dir"),
            image_size=ckpt.config.get("image_size"),
            normalize=stored or False,  # the training set's mean and std, from the checkpoint
        )
        _note_model_file(ckpt.config, ckpt.extra)
        model = model_from_checkpoint(ckpt, split)  # fails here, named, if shapes differ
    report(
        ckpt,
        split,
        Path(args.checkpoint),
        Path(args.out) if args.out else None,
        as_json=args.json,
        model=model,
    )
    return 0


def cmd_exam(args: argparse.Namespace) -> int:
    from convprop.experiments.exam import run_exam

    return run_exam(json_output=args.json, seed=args.seed)


def cmd_bench(args: argparse.Namespace) -> int:
    from convprop.bench import run
    from convprop.bench.suite import check_out

    with validating():  # before the rows run (the recipe group takes about 20 minutes)
        check_out(Path(args.out))
    return run(args)


def cmd_check(args: argparse.Namespace) -> int:
    from convprop.grading.command import run

    return run(args)


def cmd_grade(args: argparse.Namespace) -> int:
    from convprop.grading.grade_command import run

    return run(args)


def cmd_experiment(args: argparse.Namespace) -> int:
    from convprop.cores import share_cores
    from convprop.experiments import EXPERIMENTS
    from convprop.memory import retain_freed_memory

    retain_freed_memory()  # the experiments' training steps reuse freed memory, as train's
    share_cores()  # and run their compiled loops on the BLAS's threads
    return EXPERIMENTS[args.experiment].run(args)


def _train_arguments(p: argparse.ArgumentParser) -> None:
    _train_flags(p)
    p.add_argument("--out", help="folder for the results (runs/train)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue from model.npz")
    p.add_argument("--overwrite", action="store_true", help="replace the results already in --out")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel SGD over MPI: mpiexec -n P convprop train --distributed ...",
    )


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    _train_flags(p)
    p.add_argument("--out", help="folder for the results (runs/demo)")


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a model.npz written by convprop train")
    p.add_argument("--dataset", choices=list(DATASETS), help="default: the run's data set")
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument(
        "--out", help="folder for evaluation.json and confusion.png (default: beside it)"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def _exam_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--seed", type=int, default=0, help="seed of the arrays (0)")


def _experiment_arguments(parser: argparse.ArgumentParser) -> None:
    from convprop.experiments import EXPERIMENTS

    sub = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    for name, module in EXPERIMENTS.items():
        p = sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
        module.add_arguments(p)


def _check_arguments(p: argparse.ArgumentParser) -> None:
    from convprop.grading.command import add_arguments

    add_arguments(p)


def _grade_arguments(p: argparse.ArgumentParser) -> None:
    from convprop.grading.grade_command import add_arguments

    add_arguments(p)


def _bench_arguments(p: argparse.ArgumentParser) -> None:
    from convprop.bench.suite import add_arguments

    add_arguments(p)


class Command(NamedTuple):
    """A sub-command: what it runs, its one-line help, and the arguments it takes."""

    run: Callable[[argparse.Namespace], int]
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]


COMMANDS: dict[str, Command] = {
    "train": Command(
        cmd_train, "train a classifier by mini-batch SGD on the cross-entropy", _train_arguments
    ),
    "demo": Command(
        cmd_demo, "the main job: train the cnn on the bundled digits", _demo_arguments
    ),
    "evaluate": Command(
        cmd_evaluate, "accuracy and confusion matrix of a checkpoint", _evaluate_arguments
    ),
    "exam": Command(cmd_exam, "work the seed's exam questions on real arrays", _exam_arguments),
    "experiment": Command(
        cmd_experiment,
        "the seed's claims as experiments (listed by convprop experiment --help)",
        _experiment_arguments,
    ),
    "check": Command(
        cmd_check,
        "diagnose back-propagation code: conv2d, linear, relu, max_pool2d, softmax, momentum",
        _check_arguments,
    ),
    "grade": Command(
        cmd_grade, "grade a folder of submissions: gradebook and feedback", _grade_arguments
    ),
    "bench": Command(
        cmd_bench,
        "time convprop against PyTorch CPU in the same run (needs torch)",
        _bench_arguments,
    ),
}


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad command line reported in one line (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``convprop`` parser: one sub-parser per entry of :data:`COMMANDS`."""
    parser = _Parser(prog="convprop", description="Deep learning from first principles on NumPy.")
    parser.add_argument("--version", action="version", version=f"convprop {convprop.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        p.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks on errors",
        )
        command.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command].run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BadInput as error:
        return _fail(args, error, 2)
    except Exception as error:  # a failure while running: one line, traceback on --debug
        return _fail(args, error, 1)


def _fail(args: argparse.Namespace, error: BaseException, code: int) -> int:
    if getattr(args, "debug", False):
        traceback.print_exc()
    comm = getattr(args, "comm", None)
    if comm is not None and comm.size > 1:  # one failed process must not leave others hung
        print(
            f"convprop {args.command}: {comm.failure_message(error)}", file=sys.stderr, flush=True
        )
        comm.abort(code)
    where = locate(error) if code == 1 else None  # raised by the code of a model file
    message = f"{where}: {type(error).__name__}: {error}" if where else str(error)
    print(f"convprop {args.command}: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # python -m convprop.cli: run the imported module's main, so that
    from convprop.cli import main as _main  # its exception classes are the ones raised

    sys.exit(_main())
