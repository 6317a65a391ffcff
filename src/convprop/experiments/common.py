"""What every experiment shares: its output flags and folder, CSV and JSON, figures, progress
lines, and one small training run that records its curves.

An experiment writes ``OUT/summary.json``, one or more ``OUT/*.csv`` and ``OUT/*.png``; it
refuses to write into a folder that already holds a ``summary.json`` (or another run's
results) unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convprop import optim
from convprop.cli import validating  # bad input becomes BadInput (exit code 2)
from convprop.data import DataLoader, Split, load_dataset
from convprop.held_warnings import HeldWarnings
from convprop.models import build_model
from convprop.plots import pyplot  # matplotlib's pyplot on Agg, or None without it
from convprop.report import ProgressBar, check_out_dir, write_atomic
from convprop.train import Diverged, evaluate, train_step

FIGURE_DPI = 80  # small PNGs, fit to commit
__all__ = [
    "FIGURE_DPI",
    "add_output_arguments",
    "float_list",
    "int_list",
    "load_split",
    "log",
    "plain_ticks",
    "prepare_out",
    "pyplot",
    "save_figure",
    "train_curves",
    "validating",
    "write_csv",
    "write_json",
]


def add_output_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """``--out`` (default ``runs/<name>``), ``--seed`` and ``--overwrite``."""
    parser.add_argument("--out", default=f"runs/{name}", help=f"results folder (runs/{name})")
    parser.add_argument("--seed", type=int, default=0, help="fixes every random choice (0)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the results already in --out"
    )


def int_list(text: str) -> list[int]:
    """argparse type: ``"1,2,4"`` -> ``[1, 2, 4]``, positive, strictly increasing."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers such as 1,2,4; got {text!r}"
        ) from None
    if not values or min(values) < 1 or sorted(set(values)) != values:
        raise argparse.ArgumentTypeError(
            f"expected positive integers in increasing order, such as 1,2,4; got {text!r}"
        )
    return values


def float_list(text: str) -> list[float]:
    """argparse type: ``"0,0.5,0.9"`` -> ``[0.0, 0.5, 0.9]``, all finite."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers such as 0,0.5; got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers such as 0,0.5; got {text!r}")
    return values


def prepare_out(args: argparse.Namespace) -> Path:
    """The output folder, checked (not overwritten without ``--overwrite``) and created."""
    out = Path(args.out)
    with validating():
        if args.seed < 0:
            raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
        check_out_dir(out, overwrite=args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    return out


def load_split(name: str, data_dir: str | None = None) -> Split:
    with validating():
        return load_dataset(name, data_dir)


def write_json(path: Path, data: dict[str, Any]) -> Path:
    write_atomic(path, json.dumps(data, indent=2) + "\n")
    return path


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Rows of one dict each; the columns are the union of their keys, in first-seen order."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())
    return path


def save_figure(fig: Any, path: Path) -> Path:
    """Save at :data:`FIGURE_DPI`, as a 256-colour PNG when Pillow (matplotlib's own
    dependency) is there: a quarter of the size, the same to the eye."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    plt.close(fig)
    try:
        from PIL import Image
    except ImportError:
        path.write_bytes(buffer.getvalue())
        return path
    with Image.open(buffer) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, format="png", optimize=True)
    return path


def plain_ticks(*axes: Any) -> None:
    """Label log-scaled axes 1, 2, 4, ... and 0.2, 0.5, ... rather than 2^k or 10^k (the
    minor ticks at 2 and 5 only on axes that span two decades or less). Call after plotting."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def minor(v: float, _: Any) -> str:  # label the minor ticks at 2 and 5 times 10^k only
        if v <= 0:
            return ""
        leading = v / 10 ** math.floor(math.log10(v))
        return f"{v:g}" if any(abs(leading - d) < 1e-6 for d in (2, 5)) else ""

    for ax in axes:
        for axis, scale, (lo, hi) in (
            (ax.xaxis, ax.get_xscale(), ax.get_xlim()),
            (ax.yaxis, ax.get_yscale(), ax.get_ylim()),
        ):
            if scale == "log":
                narrow = lo > 0 and hi / lo <= 100
                axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                axis.set_minor_formatter(FuncFormatter(minor) if narrow else NullFormatter())


def log(message: str) -> None:
    """A progress line on stdout, flushed at once."""
    print(message, flush=True)


def train_curves(
    split: Split,
    *,
    model: str = "cnn",
    batch_size: int,
    lr: float,
    momentum: float,
    epochs: int,
    seed: int,
    label: str = "",
) -> dict[str, Any]:
    """Train ``model`` by SGD (PyTorch's form) and record what the experiments plot.

    The weights come from ``seed`` (the same for every call with the same seed, so runs that
    differ in one setting start from the same point); the batch order from ``(seed, epoch)``.
    Returns ``{"steps": [loss per update], "epochs": [row per epoch], "diverged_at": ...}``.
    Each epoch row holds the full training-set loss and the test accuracy measured after the
    epoch (in eval mode) and ``seconds``, the wall time spent in updates so far (evaluation
    excluded). A run whose loss or gradient stops being finite ends there, with
    ``diverged_at`` set to the 1-based epoch.
    """
    net = build_model(model, split.input_shape, split.num_classes, np.random.default_rng(seed))
    opt = optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    loader = DataLoader(split.train, batch_size, seed=seed, allow_large_batch=True)
    steps: list[float] = []
    rows: list[dict[str, Any]] = []
    seconds = 0.0
    for epoch in range(epochs):
        batches = loader.batch_indices(epoch)
        bar = ProgressBar(f"{label} epoch {epoch + 1}/{epochs}", len(batches))
        start, seen = time.perf_counter(), 0
        for i, index in enumerate(batches):
            x, y = split.train[index]
            try:
                with HeldWarnings(drop_on=Diverged):  # a diverging step's warnings: noise
                    loss_sum, _ = train_step(net, opt, x, y)
            except Diverged:
                bar.close()
                return {"steps": steps, "epochs": rows, "diverged_at": epoch + 1}
            steps.append(loss_sum / len(y))
            seen += len(y)
            bar.update(i + 1, steps[-1], seen / max(time.perf_counter() - start, 1e-9))
        epoch_seconds = time.perf_counter() - start
        bar.close()
        seconds += epoch_seconds
        train_loss, train_acc, _ = evaluate(net, split.train.images, split.train.labels)
        test_loss, test_acc, _ = evaluate(net, split.test.images, split.test.labels)
        rows.append(
            {
                "epoch": epoch + 1,
                "updates": (epoch + 1) * len(batches),
                "seconds": seconds,
                "epoch_seconds": epoch_seconds,
                "train_loss": train_loss,
                "train_accuracy": train_acc,
                "test_loss": test_loss,
                "test_accuracy": test_acc,
            }
        )
    return {"steps": steps, "epochs": rows, "diverged_at": None}
