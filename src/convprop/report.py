"""What a run writes and prints: the progress bar (tqdm), metrics.csv, summary.json.

Part of the core (``fit()`` uses it), so no figures here: ``convprop train`` draws curves.png
with :mod:`convprop.plots` after ``fit()`` returns.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

RESULT_FILES = ("model.npz", "metrics.csv", "summary.json", "curves.png")


class OutputExists(ValueError):
    """``--out`` already holds a run's results and ``--overwrite`` was not given."""


def check_out_dir(out: Path, *, overwrite: bool, resuming: bool = False) -> None:
    """Refuse to write into a folder that holds results, unless told to (or resuming)."""
    if out.exists() and not out.is_dir():
        raise OutputExists(f"--out {out} exists and is not a folder")
    found = [name for name in RESULT_FILES if (out / name).exists()]
    if found and not (overwrite or resuming):
        raise OutputExists(
            f"--out {out} already holds results ({', '.join(found)}); pass "
            f"--overwrite to replace them, --resume {out / 'model.npz'} to "
            f"continue that run, or choose another --out"
        )


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def progress_bar_class() -> tuple[type, bool]:
    """``tqdm.auto``'s bar, and whether it is Jupyter's widget (in a notebook kernel with
    ``ipywidgets`` installed) rather than the terminal's text bar."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tqdm.auto warns in Jupyter without ipywidgets
        from tqdm.auto import tqdm
    return tqdm, any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__)


class ProgressBar:
    """One epoch's progress through ``tqdm.auto``: batches, loss, throughput.

    In Jupyter (with ``ipywidgets``) it is tqdm's notebook widget; elsewhere tqdm's text bar
    on stderr, shown only when stderr is a terminal, so a log file or a pipe gets no bar
    updates. ``enabled=False`` (quiet) shows nothing. ``close()`` removes the bar: the epoch's
    summary line replaces it.
    """

    def __init__(self, label: str, total: int, enabled: bool = True) -> None:
        self.label, self.total = label, total
        self._bar: Any = None
        if not enabled:
            self.enabled = False
            return
        bar_class, notebook = progress_bar_class()
        self.enabled = notebook or sys.stderr.isatty()
        if self.enabled:
            self._bar = bar_class(
                total=total,
                desc=label,
                unit="batch",
                file=sys.stderr,
                leave=False,
                mininterval=0.1,
                dynamic_ncols=True,
            )

    def update(self, done: int, loss: float, rate: float) -> None:
        """``done`` batches of ``total`` finished; the running mean loss and images/s."""
        if self._bar is None:
            return
        self._bar.set_postfix_str(f"loss {loss:.4f}, {rate:,.0f} img/s", refresh=False)
        self._bar.update(done - self._bar.n)  # tqdm redraws at most every 0.1 s
        if done >= self.total:
            self._bar.refresh()  # the last batch is always drawn

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class RunWriter:
    """Writes a training run's files into ``out``."""

    def __init__(self, out: Path, config: Any, split: Any) -> None:
        self.out = out
        self.config = config
        self.split = split
        out.mkdir(parents=True, exist_ok=True)

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "model.npz"

    @staticmethod
    def epoch_line(row: dict[str, Any], epochs: int) -> str:
        val = (
            f"val loss {row['val_loss']:.4f} acc {100 * row['val_accuracy']:5.1f}%  "
            if "val_loss" in row
            else ""
        )
        return (
            f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f} "
            f"acc {100 * row['train_accuracy']:5.1f}%  {val}test loss {row['test_loss']:.4f} "
            f"acc {100 * row['test_accuracy']:5.1f}%  {row['seconds']:6.2f} s  "
            f"{row['examples_per_second']:>9,.0f} img/s"
        )

    def write_metrics(self, history: list[dict[str, Any]]) -> Path:
        buffer = io.StringIO()
        w = csv.DictWriter(buffer, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
        path = self.out / "metrics.csv"
        write_atomic(path, buffer.getvalue())
        return path

    def write_summary(
        self, history: list[dict[str, Any]], num_parameters: int, **extra: Any
    ) -> dict[str, Any]:
        seconds = sum(r["seconds"] for r in history)
        examples = len(self.split.train) * len(history)
        summary = {
            "test_accuracy": history[-1]["test_accuracy"],
            "final_train_loss": history[-1]["train_loss"],
            "test_loss": history[-1]["test_loss"],
            "best_test_accuracy": max(r["test_accuracy"] for r in history),
            "epochs": len(history),
            "train_seconds": seconds,
            "examples_per_second": examples / max(seconds, 1e-9),
            "num_parameters": num_parameters,
            "train_examples": len(self.split.train),
            "test_examples": len(self.split.test),
            "config": dataclasses.asdict(self.config),
            **extra,
        }
        write_atomic(self.out / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary
