"""Training by maximum likelihood: mini-batch SGD on the cross-entropy, epoch after epoch.

The loop reads as the seed's Q3.7 and Q4: for each epoch (one full pass over the training
set), for each mini-batch of ``batch_size`` examples: forward, loss (the negative
log-likelihood of the one-hot labels, i.e. the cross-entropy), zero_grad, backward, step;
then one log line. Everything else here is bookkeeping that keeps a run safe to interrupt:
checkpoints are atomic, a resumed run ends with the same weights as an uninterrupted one,
and a diverging run stops before it overwrites the last good checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convprop import optim
from convprop.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from convprop.data import DataLoader, Split, load_dataset
from convprop.models import MODELS, build_model
from convprop.nn import Module
from convprop.ops import cross_entropy
from convprop.report import ProgressBar, RunWriter
from convprop.tensor import Tensor, no_grad

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine")


@dataclass
class TrainConfig:
    """One training run. Every field is a command-line flag of ``convprop train``."""

    dataset: str = "digits"  # digits | mnist | fashion-mnist
    data_dir: str | None = None  # folder with the IDX files (mnist, fashion-mnist)
    model: str = "cnn"  # mlp | cnn | lenet5
    epochs: int = 10  # full passes over the training set
    batch_size: int = 64  # K_b, examples per mini-batch
    lr: float = 0.05  # step size alpha
    momentum: float = 0.9  # gamma; 0 is plain SGD
    nesterov: bool = False  # Nesterov momentum (PyTorch's form)
    momentum_form: str = "pytorch"  # pytorch (b <- mu b + g) | classical (v <- mu v - lr g)
    weight_decay: float = 0.0  # L2 penalty added to the gradient
    optimizer: str = "sgd"  # sgd | adam | adamw
    schedule: str = "none"  # none | step | cosine (per epoch)
    step_size: int = 5  # epochs between lr drops for schedule=step
    gamma: float = 0.1  # lr factor at each drop for schedule=step
    seed: int = 0  # fixes initial weights and the order of every epoch
    checkpoint_every: int = 0  # also checkpoint every N steps (0: at epoch ends only)

    def validate(self) -> None:
        """Raise ValueError naming the first bad field and how to fix it."""
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}"
            )
        for name in ("epochs", "batch_size", "step_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be a positive integer, got {value!r}"
                )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"--lr must be a positive finite number, got {self.lr}")
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise ValueError(f"--momentum must lie in [0, 1), got {self.momentum}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("--nesterov needs --momentum > 0")
        if self.checkpoint_every < 0:
            raise ValueError("--checkpoint-every must be >= 0")


class Diverged(RuntimeError):
    """The loss or a gradient became NaN or infinite."""


def make_optimizer(config: TrainConfig, params: list[Tensor]) -> optim.Optimizer:
    if config.optimizer == "sgd":
        return optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
            form=config.momentum_form,
        )
    cls = optim.Adam if config.optimizer == "adam" else optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def make_schedule(config: TrainConfig, optimizer: optim.Optimizer) -> optim.LRScheduler | None:
    if config.schedule == "step":
        return optim.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.schedule == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return None


@no_grad()
def evaluate(
    model: Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000
) -> tuple[float, float, np.ndarray]:
    """Mean cross-entropy, accuracy and predicted classes of ``model`` on a dataset."""
    model.eval()
    total, predictions = 0.0, []
    for start in range(0, len(labels), batch_size):
        logits = model(Tensor(images[start : start + batch_size]))
        y = labels[start : start + batch_size]
        total += float(cross_entropy(logits, y, reduction="sum").data)
        predictions.append(np.argmax(logits.data, axis=1))
    model.train()
    predicted = np.concatenate(predictions)
    return total / len(labels), float(np.mean(predicted == labels)), predicted


def train_step(
    model: Module, optimizer: optim.Optimizer, x: np.ndarray, y: np.ndarray
) -> tuple[float, int]:
    """forward, loss, zero_grad, backward, step; returns (summed loss, correct count)."""
    logits = model(Tensor(x))
    loss = cross_entropy(logits, y)  # -(1/K_b) sum_k log f_theta(m_k^* | y_k)
    optimizer.zero_grad()
    loss.backward()
    if not (
        np.isfinite(loss.item()) and all(np.all(np.isfinite(p.grad)) for p in model.parameters())
    ):
        raise Diverged("loss or gradient is not finite")
    optimizer.step()
    return loss.item() * len(y), int(np.sum(np.argmax(logits.data, axis=1) == y))


class _StopFlag:
    """Set by SIGINT / SIGTERM: the loop finishes the current step, checkpoints and exits."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Interrupted(Exception):
    """Training stopped on a signal after writing a checkpoint."""

    def __init__(self, checkpoint: Path, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}; checkpoint written to {checkpoint}")
        self.checkpoint, self.signum = checkpoint, signum


def train(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: str | Path | None = None,
    split: Split | None = None,
    progress: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """Run (or resume) training; write metrics, summary, checkpoint and curves to ``out``."""
    config.validate()
    state = load_checkpoint(resume) if resume is not None else None
    split = split or load_dataset(config.dataset, config.data_dir)
    model = build_model(
        config.model, split.input_shape, split.num_classes, np.random.default_rng(config.seed)
    )
    optimizer = make_optimizer(config, model.parameters())
    schedule = make_schedule(config, optimizer)
    loader = DataLoader(split.train, config.batch_size, shuffle=True, seed=config.seed)
    writer = RunWriter(Path(out), config, split)
    epoch, step, running, history = 0, 0, [0.0, 0, 0, 0.0], []
    if state is not None:
        model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        if schedule is not None and state.scheduler is not None:
            schedule.load_state_dict(state.scheduler)
        epoch, step = state.progress["epoch"], state.progress["step"]
        running, history = list(state.progress["running"]), list(state.extra["history"])
        log(
            f"resuming {config.model} on {config.dataset} at epoch {epoch + 1}, "
            f"step {step}, from {resume}"
        )

    def checkpoint(epoch: int, step: int) -> Path:
        progress_state = {"epoch": epoch, "step": step, "running": running}
        return save_checkpoint(
            writer.checkpoint_path,
            Checkpoint(
                model=model.state_dict(),
                optimizer=optimizer.state_dict(),
                config=dataclasses.asdict(config),
                progress=progress_state,
                scheduler=None if schedule is None else schedule.state_dict(),
                extra={
                    "history": history,
                    "num_classes": split.num_classes,
                    "input_shape": list(split.input_shape),
                    "normalisation": [split.mean, split.std],
                },
            ),
        )

    with _StopFlag() as stop:
        while epoch < config.epochs:
            batches = loader.batch_indices(epoch)
            bar = ProgressBar(f"epoch {epoch + 1}/{config.epochs}", len(batches), progress)
            start_time = time.perf_counter() - running[3]
            for index in batches[step:]:
                x, y = split.train[index]
                try:
                    loss_sum, correct = train_step(model, optimizer, x, y)
                except Diverged as error:
                    raise Diverged(
                        f"training diverged at epoch {epoch + 1}, batch {step + 1}: {error} "
                        f"(lr {optimizer.param_groups[0]['lr']:g} is likely too large; lower "
                        f"--lr). The last good checkpoint is {writer.checkpoint_path}"
                    ) from None
                step += 1
                running[:3] = [running[0] + loss_sum, running[1] + correct, running[2] + len(y)]
                running[3] = time.perf_counter() - start_time
                bar.update(step, running[0] / running[2], running[2] / max(running[3], 1e-9))
                if stop.signal is not None:
                    bar.close()
                    raise Interrupted(checkpoint(epoch, step), stop.signal)
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    checkpoint(epoch, step)
            bar.close()
            test_loss, test_acc, _ = evaluate(model, split.test.images, split.test.labels)
            row = {
                "epoch": epoch + 1,
                "train_loss": running[0] / running[2],
                "train_accuracy": running[1] / running[2],
                "test_loss": test_loss,
                "test_accuracy": test_acc,
                "seconds": running[3],
                "examples_per_second": running[2] / max(running[3], 1e-9),
                "lr": optimizer.param_groups[0]["lr"],
            }
            history.append(row)
            log(writer.epoch_line(row, config.epochs))
            if schedule is not None:
                schedule.step()
            epoch, step, running = epoch + 1, 0, [0.0, 0, 0, 0.0]
            writer.write_metrics(history)
            checkpoint(epoch, 0)
            if stop.signal is not None:
                raise Interrupted(writer.checkpoint_path, stop.signal)
    summary = writer.write_summary(history, model.num_parameters())
    writer.write_curves(history)
    return summary


def resume_config(saved: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    """The configuration of a resumed run: the saved one, with ``epochs`` (to train longer)
    or ``data_dir`` (data moved) replaced; changing anything else is an error."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    base = {k: v for k, v in saved.items() if k in fields}
    changed = sorted(
        k for k, v in overrides.items() if k not in ("epochs", "data_dir") and base.get(k) != v
    )
    if changed:
        raise ValueError(
            f"cannot change {', '.join('--' + c.replace('_', '-') for c in changed)}"
            f" when resuming; only --epochs and --data-dir may differ"
        )
    return TrainConfig(**{**base, **overrides})


def config_from_json(text: str) -> TrainConfig:
    """A TrainConfig from JSON (no ``eval``); unknown keys are an error."""
    data = json.loads(text)
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ValueError(f"unknown configuration keys: {unknown}")
    return TrainConfig(**data)
