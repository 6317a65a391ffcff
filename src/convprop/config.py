"""A training run's configuration: one dataclass, one field per command-line flag.

The names a field accepts come from name-to-builder dicts, one per kind, which the command
line's choices are read from: models (:data:`convprop.models.MODELS`), initialisers
(:data:`convprop.nn.init.INITIALISERS`), data sets (:data:`convprop.data.DATASETS`), and here
:data:`OPTIMIZERS` and :data:`SCHEDULES`. A new optimizer is one builder and one dict entry.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from convprop import optim
from convprop.data.registry import OWN_DATA
from convprop.data.transforms import parse_augment
from convprop.model_file import is_model_file, parse_spec
from convprop.models import CUSTOM, MODELS
from convprop.nn.init import INITIALISERS
from convprop.resnet import blocks_per_stage
from convprop.tensor import Tensor


@dataclass
class TrainConfig:
    """One training run. Every field is a command-line flag of ``convprop train``."""

    dataset: str = "digits"  # digits | mnist | fashion-mnist | folder | npz
    data_dir: str | None = None  # IDX files' folder; image folder (folder); .npz file (npz)
    model: str = "cnn"  # mlp | cnn | lenet5 | resnet | PATH.py:FUNCTION (a model file)
    width: int = 16  # resnet: channels of the first stage (then 2x, 4x)
    depth: int = 20  # resnet: 6n+2 layers, n blocks per stage (20: ResNet-20, 8: n = 1)
    epochs: int = 10  # full passes over the training set
    batch_size: int = 64  # K_b, examples per mini-batch
    lr: float = 0.05  # step size alpha
    momentum: float = 0.9  # gamma; 0 is plain SGD
    nesterov: bool = False  # Nesterov momentum (PyTorch's form)
    momentum_form: str = "pytorch"  # pytorch (b <- mu b + g) | classical (v <- mu v - lr g)
    weight_decay: float = 0.0  # L2 penalty added to the gradient
    label_smoothing: float = 0.0  # targets (1 - a) x + a / M instead of the one-hot x
    optimizer: str = "sgd"  # sgd | adam | adamw
    schedule: str = "none"  # none | step | cosine | exponential (per epoch)
    step_size: int = 5  # epochs between lr drops for schedule=step
    gamma: float = 0.1  # lr factor at each drop (step), or every epoch (exponential)
    init: str = "torch"  # weight initialiser: torch (PyTorch's default) | he | xavier
    seed: int = 0  # fixes initial weights and the order of every epoch
    checkpoint_every: int = 0  # also checkpoint every N steps (0: at epoch ends only)
    image_size: list[int] | None = None  # [H, W] to resize every image of a folder to
    augment: str = ""  # per-batch augmentation, e.g. "crop=2,hflip" (convprop.data.transforms)
    normalize: bool = False  # standardise each channel by the training set's (folder, npz)
    val_split: float = 0.0  # fraction of the training set held out for validation (seeded)
    patience: int = 0  # stop after N epochs without a lower validation loss (0: never)

    def validate(self) -> None:
        """Raise ValueError naming the first bad field and how to fix it."""
        if is_model_file(self.model):
            parse_spec(self.model)  # one line when malformed; the file is read by prepare()
        elif self.model not in (*MODELS, CUSTOM):
            raise ValueError(
                f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}, or a model "
                f"file, PATH.py:FUNCTION"
            )
        if self.model == "resnet":
            blocks_per_stage(self.depth)
        elif (self.width, self.depth) != (16, 20):
            raise ValueError(f"--width and --depth shape the resnet model, not {self.model!r}")
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"--width must be a positive integer, got {self.width!r}")
        if self.init not in INITIALISERS:
            raise ValueError(
                f"unknown initialiser {self.init!r}; choose one of {', '.join(INITIALISERS)}"
            )
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
        if not (math.isfinite(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            raise ValueError(f"--label-smoothing must lie in [0, 1), got {self.label_smoothing}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("--nesterov needs --momentum > 0")
        if self.checkpoint_every < 0:
            raise ValueError("--checkpoint-every must be >= 0")
        parse_augment(self.augment)  # a bad spec fails here, in one line
        if self.normalize and self.dataset not in OWN_DATA:
            raise ValueError(
                f"--normalize is for folder and npz data: {self.dataset} is standardised already"
            )
        if self.image_size is not None and self.dataset != "folder":
            raise ValueError(f"--image-size is for folder data, not {self.dataset}")
        if not (math.isfinite(self.val_split) and 0 <= self.val_split < 1):
            raise ValueError(f"--val-split must lie in [0, 1), got {self.val_split}")
        if isinstance(self.patience, bool) or not isinstance(self.patience, int):
            raise ValueError(f"--patience must be an integer, got {self.patience!r}")
        if self.patience < 0:
            raise ValueError(f"--patience must be >= 0, got {self.patience}")
        if self.patience and not self.val_split:
            raise ValueError(
                "--patience stops on the validation loss: give --val-split FRACTION too"
            )


def _sgd(config: TrainConfig, params: list[Tensor]) -> optim.Optimizer:
    return optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
        form=config.momentum_form,
    )


def _adam(config: TrainConfig, params: list[Tensor]) -> optim.Optimizer:
    return optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _adamw(config: TrainConfig, params: list[Tensor]) -> optim.Optimizer:
    return optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


OPTIMIZERS: dict[str, Callable[[TrainConfig, list[Tensor]], optim.Optimizer]] = {
    "sgd": _sgd,  # momentum, nesterov, weight decay, momentum form
    "adam": _adam,  # weight decay as an L2 term in the gradient
    "adamw": _adamw,  # decoupled weight decay
}


def _constant(config: TrainConfig, optimizer: optim.Optimizer) -> None:
    return None


def _step(config: TrainConfig, optimizer: optim.Optimizer) -> optim.LRScheduler:
    return optim.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)


def _cosine(config: TrainConfig, optimizer: optim.Optimizer) -> optim.LRScheduler:
    return optim.CosineAnnealingLR(optimizer, T_max=config.epochs)


def _exponential(config: TrainConfig, optimizer: optim.Optimizer) -> optim.LRScheduler:
    return optim.ExponentialLR(optimizer, gamma=config.gamma)


SCHEDULES: dict[str, Callable[[TrainConfig, optim.Optimizer], optim.LRScheduler | None]] = {
    "none": _constant,  # the same lr throughout
    "step": _step,  # lr times gamma every step_size epochs
    "cosine": _cosine,  # half a cosine from lr down to 0 over the epochs
    "exponential": _exponential,  # lr times gamma every epoch
}


def make_optimizer(config: TrainConfig, params: list[Tensor]) -> optim.Optimizer:
    """The optimizer ``config.optimizer`` names, over ``params``."""
    return OPTIMIZERS[config.optimizer](config, params)


def make_schedule(config: TrainConfig, optimizer: optim.Optimizer) -> optim.LRScheduler | None:
    """The per-epoch lr schedule ``config.schedule`` names (None for ``"none"``)."""
    return SCHEDULES[config.schedule](config, optimizer)


RESUMABLE_CHANGES = ("epochs", "data_dir", "patience")  # what a resumed run may change


def resume_config(saved: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    """The configuration of a resumed run: the saved one, with ``epochs`` (to train longer),
    ``data_dir`` (data moved) or ``patience`` replaced; changing anything else is an error."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    base = {k: v for k, v in saved.items() if k in fields}
    changed = sorted(
        k for k, v in overrides.items() if k not in RESUMABLE_CHANGES and base.get(k) != v
    )
    if changed:
        raise ValueError(
            f"cannot change {', '.join('--' + c.replace('_', '-') for c in changed)}"
            f" when resuming; only --epochs, --data-dir and --patience may differ"
        )
    return TrainConfig(**{**base, **overrides})


def config_from_json(text: str) -> TrainConfig:
    """A TrainConfig from JSON (no ``eval``); unknown keys are an error."""
    data = json.loads(text)
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ValueError(f"unknown configuration keys: {unknown}")
    return TrainConfig(**data)
