"""batch-size trade-off (Q4.3, Q4.4): the same model and epochs at several batch sizes

Each batch size trains the same model from the same initial weights for the same number of
epochs at the same learning rate (plain SGD by default, as in the seed's Q4). A small batch
makes many updates per epoch, each cheap but noisy; a large batch makes few, each closer to
the full gradient and faster per example (the arithmetic is batched), so the choice trades
updates per epoch against examples per second. Reported per batch size: updates per epoch,
seconds per epoch, examples per second, the final training loss (over the whole training
set) and test accuracy, and test accuracy against epochs and against wall time.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from convprop.data import DATASETS
from convprop.experiments import common, figures
from convprop.models import MODELS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_output_arguments(parser, "batch-size")
    parser.add_argument(
        "--batch-sizes",
        type=common.int_list,
        default=[2, 8, 32, 128, 512],
        help="K_b values, comma-separated (2,8,32,128,512)",
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs for every batch size (10)")
    parser.add_argument(
        "--lr", type=float, default=0.05, help="learning rate, the same for all (0.05)"
    )
    parser.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (0: plain)")
    parser.add_argument(
        "--target", type=float, default=0.95, help="report when test accuracy first reaches it"
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn", help="model (cnn)")
    parser.add_argument("--dataset", choices=DATASETS, default="digits", help="data set (digits)")
    parser.add_argument("--data-dir", help="folder with the IDX files (mnist, fashion-mnist)")


def run(args: argparse.Namespace) -> int:
    with common.validating():
        if args.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
        if not (math.isfinite(args.lr) and args.lr > 0):
            raise ValueError(f"--lr must be a positive number, got {args.lr}")
        if not 0 < args.target <= 1:
            raise ValueError(f"--target must lie in (0, 1], got {args.target}")
        if not 0 <= args.momentum < 1:
            raise ValueError(f"--momentum must lie in [0, 1), got {args.momentum}")
        split = common.load_split(args.dataset, args.data_dir)
        if args.batch_sizes[-1] > len(split.train):
            raise ValueError(
                f"--batch-sizes {args.batch_sizes[-1]} is larger than the training set "
                f"({len(split.train)} examples)"
            )
    out = common.prepare_out(args)
    start = time.perf_counter()
    common.log(
        f"batch-size: {args.model} on {split.name} ({len(split.train)} training examples), "
        f"{args.epochs} epochs, lr {args.lr:g}, momentum {args.momentum:g}"
    )
    table, curves = [], []
    for k_b in args.batch_sizes:
        run_ = common.train_curves(
            split,
            model=args.model,
            batch_size=k_b,
            lr=args.lr,
            momentum=args.momentum,
            epochs=args.epochs,
            seed=args.seed,
            label=f"K_b {k_b}",
        )
        row = summarise(k_b, len(split.train), run_, args.target)
        table.append(row)
        curves += [{"batch_size": k_b, **r} for r in run_["epochs"]]
        common.log(_line(row))
    summary = {
        "model": args.model,
        "dataset": split.name,
        "train_examples": len(split.train),
        "epochs": args.epochs,
        "lr": args.lr,
        "momentum": args.momentum,
        "seed": args.seed,
        "batch_sizes": table,
        "best_test_accuracy_batch_size": _best(table, "test_accuracy", max),
        "fastest_batch_size": _best(table, "examples_per_second", max),
        "soonest_to_target_batch_size": _best(table, "seconds_to_target", min),
        "seconds": time.perf_counter() - start,
    }
    common.write_csv(out / "batch_size.csv", table)
    common.write_csv(out / "curves.csv", curves)
    common.write_json(out / "summary.json", summary)
    figure = figures.plot_batch_size(args, split.name, table, curves, out / "batch_size.png")
    common.log(closing_line(summary, args.target, out, figure is not None))
    return 0


def closing_line(summary: dict[str, Any], target: float, out: Path, figure: bool) -> str:
    """The last line: which batch size did best, ran fastest and reached ``target`` soonest
    (or that none did, when every run stayed below it or diverged)."""

    def at(key: str, what: str) -> str:
        k_b = summary[key]
        return f"{what} at K_b {k_b}" if k_b is not None else f"no batch size with {what}"

    soonest = summary["soonest_to_target_batch_size"]
    reached = (
        f"{100 * target:g}% test accuracy soonest (wall time) at K_b {soonest}"
        if soonest is not None
        else f"no batch size reached {100 * target:g}% test accuracy"
    )
    return (
        f"{at('best_test_accuracy_batch_size', 'best test accuracy')}, "
        f"{at('fastest_batch_size', 'most examples/s')}, {reached}; "
        f"{summary['seconds']:.1f} s; results in {out}/"
        + ("" if figure else " (no figure: matplotlib missing)")
    )


def summarise(k_b: int, K: int, run: dict[str, Any], target: float) -> dict[str, Any]:
    """One row of the table from a run of :func:`common.train_curves`."""
    epochs = run["epochs"]
    seconds = epochs[-1]["seconds"] if epochs else math.nan
    reached = [r for r in epochs if r["test_accuracy"] >= target]
    return {
        "batch_size": k_b,
        "updates_per_epoch": math.ceil(K / k_b),
        "seconds_per_epoch": seconds / len(epochs) if epochs else None,
        "examples_per_second": K * len(epochs) / seconds if epochs else None,
        "final_train_loss": epochs[-1]["train_loss"] if epochs else None,
        "test_accuracy": epochs[-1]["test_accuracy"] if epochs else None,
        "best_test_accuracy": max(r["test_accuracy"] for r in epochs) if epochs else None,
        "train_seconds": seconds if epochs else None,
        "target_accuracy": target,
        "epochs_to_target": reached[0]["epoch"] if reached else None,
        "seconds_to_target": reached[0]["seconds"] if reached else None,
        "diverged_at_epoch": run["diverged_at"],
    }


def _best(table: list[dict[str, Any]], key: str, pick: Any) -> int | None:
    """The batch size whose ``key`` is ``pick`` (max or min) over the rows that have one."""
    rows = [r for r in table if r[key] is not None]
    return pick(rows, key=lambda r: r[key])["batch_size"] if rows else None


def _line(row: dict[str, Any]) -> str:
    line = f"  K_b {row['batch_size']:>4}: {row['updates_per_epoch']:>4} updates/epoch"
    if row["test_accuracy"] is not None:
        line += (
            f", {row['seconds_per_epoch']:.3f} s/epoch, {row['examples_per_second']:,.0f} "
            f"examples/s, train loss {row['final_train_loss']:.4f}, test accuracy "
            f"{100 * row['test_accuracy']:.1f}%"
        )
        if row["seconds_to_target"] is not None:
            line += (
                f"; {100 * row['target_accuracy']:g}% after {row['epochs_to_target']} epochs, "
                f"{row['seconds_to_target']:.2f} s"
            )
    if row["diverged_at_epoch"]:
        line += f" (diverged in epoch {row['diverged_at_epoch']})"
    return line
