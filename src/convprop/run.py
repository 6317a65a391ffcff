"""A training run: what :func:`prepare` builds and :func:`convprop.train.fit` advances.

:class:`Run` holds the configuration, data, model, optimizer, schedule and progress of one run,
and writes its checkpoint; :func:`prepare` checks everything that can be wrong with the input
before any training and resumes from a checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convprop import optim
from convprop.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from convprop.config import TrainConfig, make_optimizer, make_schedule
from convprop.data import ArrayDataset, DataLoader, Split, load_dataset
from convprop.data.arrays import normalized
from convprop.data.transforms import Normalize, parse_augment
from convprop.distributed import Communicator, Serial
from convprop.model_file import ModelFile, is_model_file, record_for
from convprop.models import CUSTOM, model_for
from convprop.nn import Module
from convprop.report import RunWriter
from convprop.validation import hold_out


@dataclass
class Running:
    """The current epoch's sums so far (a checkpoint stores them as a list, in this order)."""

    loss_sum: float = 0.0  # summed cross-entropy of the examples seen
    correct: int = 0  # right predictions among them
    count: int = 0  # examples seen
    seconds: float = 0.0  # training time of the epoch so far

    def add(self, loss_sum: float, correct: int, count: int, seconds: float) -> None:
        """One more batch; ``seconds`` is the epoch's time so far, not the batch's."""
        self.loss_sum += loss_sum
        self.correct += correct
        self.count += count
        self.seconds = seconds

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.count, 1)

    @property
    def per_second(self) -> float:
        return self.count / max(self.seconds, 1e-9)

    def saved(self) -> list[float]:
        return [self.loss_sum, self.correct, self.count, self.seconds]


@dataclass
class Run:
    """Everything a training run holds; :func:`prepare` builds it, :func:`fit` advances it."""

    config: TrainConfig
    split: Split
    model: Module
    optimizer: optim.Optimizer
    schedule: optim.LRScheduler | None
    loader: DataLoader
    writer: RunWriter | None  # None on processes other than rank 0
    comm: Communicator
    epoch: int = 0  # epochs completed
    step: int = 0  # batches completed in the current epoch
    running: Running = field(default_factory=lambda: Running())  # this epoch's sums so far
    history: list[dict[str, Any]] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)  # compute / communicate seconds
    val: ArrayDataset | None = None  # held out of the training set by --val-split
    model_file: ModelFile | None = None  # where a --model PATH.py:FUNCTION came from

    @property
    def latest_path(self) -> Path | None:
        """Where the run's latest state goes: ``model.npz``, or with ``--patience``
        ``last.npz`` (``model.npz`` then holds the epoch of the lowest validation loss)."""
        if self.writer is None:
            return None
        if self.config.patience:
            return self.writer.out / "last.npz"
        return self.writer.checkpoint_path

    def save(self, path: Path | None = None) -> Path | None:
        """Write the checkpoint (rank 0 only): weights, optimizer, schedule, progress."""
        if self.writer is None:
            return None
        extra: dict[str, Any] = {}
        if self.model_file is not None:
            extra["model_file"] = self.model_file.as_dict()
        return save_checkpoint(
            path or self.latest_path,
            Checkpoint(
                model=self.model.state_dict(),
                optimizer=self.optimizer.state_dict(),
                config=dataclasses.asdict(self.config),
                progress={"epoch": self.epoch, "step": self.step, "running": self.running.saved()},
                scheduler=None if self.schedule is None else self.schedule.state_dict(),
                extra={
                    "history": self.history,
                    "num_classes": self.split.num_classes,
                    "input_shape": list(self.split.input_shape),
                    "normalisation": [self.split.mean, self.split.std],
                    **extra,
                },
            ),
        )


def prepare(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: str | Path | None = None,
    split: Split | None = None,
    comm: Communicator | None = None,
    model: Module | None = None,
) -> Run:
    """Check the configuration, load the data, build the model and optimizer, and load the
    checkpoint to resume from. Everything that can be wrong with the input fails here, before
    any training (shapes of another model's checkpoint are named by parameter).

    ``model``: a module built in Python, trained instead of building ``config.model``. Its
    checkpoint can be rebuilt by ``convprop evaluate`` and ``--resume`` when
    ``config.model`` is the ``PATH.py:FUNCTION`` that builds it (the file's SHA-256 is
    recorded); otherwise the run's model is recorded as ``"custom"``, which only Python can
    resume (``prepare(config, out, resume=..., model=the_same_net)``).
    """
    config.validate()
    if model is not None:
        if not isinstance(model, Module):
            raise TypeError(f"prepare(model=...) takes a convprop nn.Module, got {type(model)}")
        if not is_model_file(config.model):
            config = dataclasses.replace(config, model=CUSTOM)
    comm = comm or Serial()
    state = load_checkpoint(resume) if resume is not None else None
    stored = state.extra.get("normalisation") if state is not None and config.normalize else None
    measure = split is None and config.normalize and not stored  # a caller's split is as given
    split = split or load_dataset(
        config.dataset,
        config.data_dir,
        image_size=config.image_size,
        normalize=stored or False,  # a resumed run reuses the checkpoint's mean and std
    )
    split, val = hold_out(split, config.val_split, config.seed)
    if measure:  # the mean and std of the training set left after the split
        split = normalized(split, True)
        if val is not None:
            val = ArrayDataset(Normalize(split.mean, split.std)(val.images), val.labels)
    if config.batch_size > len(split.train):
        raise ValueError(
            f"--batch-size {config.batch_size} is larger than the training set "
            f"({len(split.train)} examples)"
        )
    rng = np.random.default_rng(config.seed)
    recorded = state.extra.get("model_file") if state is not None else None
    if model is None:
        model, source = model_for(
            dataclasses.asdict(config), split.input_shape, split.num_classes, rng, recorded
        )
    else:
        source = record_for(config.model) if is_model_file(config.model) else None
    comm.broadcast_parameters(model.parameters())
    optimizer = make_optimizer(config, model.parameters())
    schedule = make_schedule(config, optimizer)
    loader = DataLoader(
        split.train,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        transform=parse_augment(config.augment),
    )
    writer = RunWriter(Path(out), config, split) if comm.rank == 0 else None
    run = Run(config, split, model, optimizer, schedule, loader, writer, comm, val=val)
    run.model_file = source
    if state is not None:
        model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        if schedule is not None and state.scheduler is not None:
            schedule.load_state_dict(state.scheduler)
        run.epoch, run.step = state.progress["epoch"], state.progress["step"]
        run.running = Running(*state.progress["running"])
        run.history = list(state.extra["history"])
    return run
