"""Training by maximum likelihood: mini-batch SGD on the cross-entropy, epoch after epoch.

The loop in :func:`fit` reads as the seed's Q3.7 and Q4: for each epoch (one full pass over
the training set), for each mini-batch of ``batch_size`` examples: forward, loss (the negative
log-likelihood of the one-hot labels, i.e. the cross-entropy), zero_grad, backward, step; then
one log line. The rest keeps a run safe: checkpoints are atomic, a resumed run ends with the
same weights as an uninterrupted one, and a diverging run stops before it overwrites the last
good checkpoint. With a communicator (``convprop.distributed``) each process computes the
gradient of its share of the global batch and one Allreduce sums them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from convprop import optim
from convprop.config import TrainConfig
from convprop.cores import share_cores
from convprop.data import Split
from convprop.distributed import Communicator, Serial
from convprop.held_warnings import HeldWarnings
from convprop.interrupt import Interrupted, StopFlag
from convprop.memory import retain_freed_memory
from convprop.nn import Module
from convprop.ops import cross_entropy
from convprop.report import ProgressBar, RunWriter
from convprop.run import Run, Running, prepare
from convprop.tensor import Tensor, no_grad
from convprop.validation import best_epoch, improved, should_stop

__all__ = [
    "Diverged",
    "Interrupted",
    "Run",
    "Running",
    "evaluate",
    "fit",
    "prepare",
    "train",
    "train_step",
]


class Diverged(RuntimeError):
    """The loss or a gradient became NaN or infinite."""


@no_grad()
def evaluate(
    model: Module,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 1000,
    comm: Communicator | None = None,
) -> tuple[float, float, np.ndarray]:
    """Mean cross-entropy, accuracy and predicted classes of ``model`` on a dataset.

    With a communicator, each process evaluates every P-th example and the sums are reduced
    (the predictions returned are then this process's share only). The model is evaluated in
    eval mode and left in the mode it was found in.
    """
    comm = comm or Serial()
    images, labels = images[comm.rank :: comm.size], labels[comm.rank :: comm.size]
    modes = {m: m.training for m in model.modules()}  # restored below, layer by layer
    model.eval()
    total, predictions = 0.0, []
    try:
        for start in range(0, len(labels), batch_size):
            logits = model(Tensor(images[start : start + batch_size]))
            y = labels[start : start + batch_size]
            total += float(cross_entropy(logits, y, reduction="sum").data)
            predictions.append(np.argmax(logits.data, axis=1))
    finally:
        for m, mode in modes.items():
            m.training = mode
    predicted = np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)
    loss_sum, correct, count = comm.sum_scalars([total, np.sum(predicted == labels), len(labels)])
    return loss_sum / count, correct / count, predicted


def train_step(
    model: Module,
    optimizer: optim.Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    *,
    comm: Communicator | None = None,
    global_size: int | None = None,
    timing: dict[str, float] | None = None,
    label_smoothing: float = 0.0,
) -> tuple[float, int]:
    """forward, loss, zero_grad, backward, (allreduce), step.

    The loss is ``-(1/K_b) sum_k log f_theta(m_k^* | y_k)`` over the global batch of
    ``global_size`` examples (``len(y)`` when alone); a process holding a share of it sums its
    share's terms, and the Allreduce of the gradients completes the sum. Returns the global
    batch's summed loss and its number of correct predictions.
    """
    start = time.perf_counter()
    logits = model(Tensor(x))
    loss = cross_entropy(logits, y, reduction="sum", label_smoothing=label_smoothing)
    loss = loss / (global_size or len(y))
    optimizer.zero_grad()
    loss.backward()
    correct = int(np.sum(np.argmax(logits.data, axis=1) == y))
    loss_sum = float(loss.data) * (global_size or len(y))
    params = [p for p in model.parameters() if p.requires_grad]  # frozen ones have no grad
    computed = time.perf_counter()
    if comm is not None and comm.size > 1:
        loss_sum, correct = comm.sum_gradients(params, [loss_sum, correct])
    if timing is not None:
        timing["compute"] = timing.get("compute", 0.0) + computed - start
        timing["communicate"] = timing.get("communicate", 0.0) + time.perf_counter() - computed
    finite = all(p.grad is None or np.all(np.isfinite(p.grad)) for p in params)
    if not (np.isfinite(loss_sum) and finite):
        raise Diverged("loss or gradient is not finite")
    optimizer.step()
    return loss_sum, int(correct)


def fit(
    run: Run,
    *,
    progress: bool = True,
    log: Any = print,
    handle_signals: bool = False,
    retain_memory: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train ``run`` to ``config.epochs``; write metrics, summary and checkpoint; the summary.

    A library function leaves the process as it found it unless asked:

    - ``handle_signals=True`` makes SIGINT / SIGTERM (Ctrl-C, ``kill``) finish the step, write
      a checkpoint and raise :class:`Interrupted` (the handlers are restored on return). Off by
      default: in a notebook or a program of your own, a signal then does what it did before.
      ``convprop train`` and ``demo`` turn it on.
    - ``retain_memory=True`` calls :func:`convprop.memory.retain_freed_memory`, which tunes
      glibc's allocator for the whole process (steps reuse freed memory instead of faulting in
      fresh pages, 3-5 ms of a LeNet-5 step). ``convprop train`` and ``demo`` turn it on.
    - ``threads=n`` calls :func:`convprop.cores.share_cores`: the BLAS and convprop's compiled
      loops on ``n`` threads each, OpenBLAS's idle threads made to sleep soon so that the two
      take turns (the LeNet-5 step 2.5 -> 2.1-2.3 ms on 2 cores). ``convprop train`` and
      ``demo`` pass the BLAS's thread count.

    NumPy's overflow/invalid warnings of the step whose loss or gradient stops being finite
    are dropped: :class:`Diverged`'s one-line message says what happened. Figures are the
    application's (``convprop train`` draws ``curves.png`` with :mod:`convprop.plots`).

    With ``config.patience`` (and a validation set, ``config.val_split``) training stops once
    that many epochs have not lowered the validation loss; ``model.npz`` then holds the epoch
    of the lowest validation loss, ``last.npz`` the last one (resume from it), and the
    summary's ``test_accuracy`` is the best epoch's.
    """
    if retain_memory:
        retain_freed_memory()
    if threads is not None:
        share_cores(threads)
    config, comm = run.config, run.comm
    log = log if comm.rank == 0 else (lambda *a, **k: None)
    with StopFlag(enabled=handle_signals) as stop:
        while run.epoch < config.epochs and not should_stop(run.history, config.patience):
            batches = run.loader.batch_indices(run.epoch)
            bar = ProgressBar(
                f"epoch {run.epoch + 1}/{config.epochs}", len(batches), progress and comm.rank == 0
            )
            start_time = time.perf_counter() - run.running.seconds
            for index in batches[run.step :]:
                # this process's part of the batch, augmented if asked
                x, y = run.loader.load_batch(index, run.epoch, run.step, share=comm.share)
                try:
                    with HeldWarnings(drop_on=Diverged):
                        loss_sum, correct = train_step(
                            run.model,
                            run.optimizer,
                            x,
                            y,
                            comm=comm,
                            global_size=len(index),
                            timing=run.timing,
                            label_smoothing=config.label_smoothing,
                        )
                except Diverged as error:
                    raise Diverged(
                        f"training diverged at epoch {run.epoch + 1}, batch {run.step + 1}: "
                        f"{error} (lr {run.optimizer.param_groups[0]['lr']:g} is likely too "
                        f"large; lower --lr). {_last_good(run)}"
                    ) from None
                run.step += 1
                run.running.add(loss_sum, correct, len(index), time.perf_counter() - start_time)
                bar.update(run.step, run.running.mean_loss, run.running.per_second)
                if comm.any(stop.signal is not None):
                    bar.close()
                    raise Interrupted(run.save(), stop.signal or 0)
                if config.checkpoint_every and run.step % config.checkpoint_every == 0:
                    run.save()
            bar.close()
            _end_epoch(run, log)
            if comm.any(stop.signal is not None):
                raise Interrupted(run.save(), stop.signal or 0)
    if should_stop(run.history, config.patience) and run.epoch < config.epochs:
        best = best_epoch(run.history) or 0
        log(
            f"early stopping: no lower validation loss in {config.patience} epochs since epoch "
            f"{best + 1} ({run.history[best]['val_loss']:.4f}); model.npz holds that epoch"
        )
    if run.writer is None:
        return {}
    return run.writer.write_summary(
        run.history,
        run.model.num_parameters(),
        processes=comm.size,
        **_timing_summary(run),
        **_validation_summary(run),
    )


def _validation_summary(run: Run) -> dict[str, Any]:
    """The best epoch by validation loss; with patience, what model.npz holds."""
    best = best_epoch(run.history)
    if best is None:
        return {}
    row = run.history[best]
    out: dict[str, Any] = {"best_epoch": best + 1, "best_val_loss": row["val_loss"]}
    if run.config.patience:
        out.update(
            test_accuracy=row["test_accuracy"],  # of model.npz, the epoch kept
            test_loss=row["test_loss"],
            last_epoch_test_accuracy=run.history[-1]["test_accuracy"],
            stopped_early=len(run.history) < run.config.epochs,
            checkpoint=f"model.npz holds epoch {best + 1}, the lowest validation loss; "
            f"last.npz holds epoch {len(run.history)} (resume from it)",
        )
    return out


def _last_good(run: Run) -> str:
    """Where the last good checkpoint is, for a divergence message."""
    if run.writer is None:
        return "The last good checkpoint is on rank 0."
    path = run.latest_path
    if path is not None and path.exists():
        return f"The last good checkpoint, {path}, is untouched."
    return "No checkpoint had been written yet."


def _end_epoch(run: Run, log: Any) -> None:
    """Evaluate, log one line, step the schedule, write metrics and the checkpoint."""
    test_loss, test_acc, _ = evaluate(
        run.model, run.split.test.images, run.split.test.labels, comm=run.comm
    )
    done = run.running
    row = {
        "epoch": run.epoch + 1,
        "train_loss": done.mean_loss,
        "train_accuracy": done.correct / done.count,
        "test_loss": test_loss,
        "test_accuracy": test_acc,
    }
    if run.val is not None:
        row["val_loss"], row["val_accuracy"], _ = evaluate(
            run.model, run.val.images, run.val.labels, comm=run.comm
        )
    row.update(
        seconds=done.seconds,
        examples_per_second=done.per_second,
        lr=run.optimizer.param_groups[0]["lr"],
    )
    if run.comm.size > 1:
        steps = max(len(run.loader), 1)
        row["compute_s_per_step"] = run.timing.pop("compute", 0.0) / steps
        row["communicate_s_per_step"] = run.timing.pop("communicate", 0.0) / steps
    run.history.append(row)
    log(RunWriter.epoch_line(row, run.config.epochs))
    if run.schedule is not None:
        run.schedule.step()
    run.epoch, run.step, run.running = run.epoch + 1, 0, Running()
    if run.writer is not None:
        run.writer.write_metrics(run.history)
    run.save()
    if run.config.patience and improved(run.history) and run.writer is not None:
        run.save(run.writer.checkpoint_path)  # model.npz: the lowest validation loss so far


def _timing_summary(run: Run) -> dict[str, float]:
    rows = [r for r in run.history if "compute_s_per_step" in r]
    if not rows:
        return {}
    return {
        "compute_s_per_step": float(np.mean([r["compute_s_per_step"] for r in rows])),
        "communicate_s_per_step": float(np.mean([r["communicate_s_per_step"] for r in rows])),
    }


def train(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: str | Path | None = None,
    split: Split | None = None,
    progress: bool = True,
    log: Any = print,
    comm: Communicator | None = None,
    handle_signals: bool = False,
    retain_memory: bool = False,
    model: Module | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Prepare and fit a run (or resume one): the library's ``convprop train``, without its
    figure. ``handle_signals``, ``retain_memory`` and ``threads`` are :func:`fit`'s (all
    off unless asked);
    ``model`` is :func:`prepare`'s (a module built in Python)."""
    run = prepare(config, out, resume=resume, split=split, comm=comm, model=model)
    if resume is not None:
        log(
            f"resuming {config.model} on {config.dataset} at epoch {run.epoch + 1}, step "
            f"{run.step}, from {resume}"
        )
    return fit(
        run,
        progress=progress,
        log=log,
        handle_signals=handle_signals,
        retain_memory=retain_memory,
        threads=threads,
    )
