r"""Cut the lr when a metric stops improving, as ``torch.optim.lr_scheduler.ReduceLROnPlateau``.

Call ``step(metric)`` once per epoch with the validation loss (``mode="min"``) or accuracy
(``mode="max"``). A value ``a`` improves on the best ``b`` so far when::

    min, rel   a < b (1 - threshold)        max, rel   a > b (1 + threshold)
    min, abs   a < b - threshold            max, abs   a > b + threshold

After more than ``patience`` epochs in a row without improvement, every group's lr becomes
``max(lr * factor, min_lr)`` (unless that changes it by ``eps`` or less), and the next
``cooldown`` epochs count no bad epochs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from convprop.optim.optimizer import Optimizer, check_nonnegative

_STATE = ("best", "num_bad_epochs", "cooldown_counter", "last_epoch")


class ReduceLROnPlateau:
    """Multiply the lr by ``factor`` when the metric has not improved for ``patience`` epochs.

    ``min_lr`` is one number or one per group. ``state_dict()`` is JSON-able (``best`` may be
    ``inf`` before the first step, which ``json`` writes as ``Infinity``).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a convprop Optimizer")
        if not float(factor) < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}"
            )
        n = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, list | tuple) else [min_lr] * n
        if len(min_lrs) != n:
            raise ValueError(f"ReduceLROnPlateau: expected {n} min_lrs (one per group)")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = check_nonnegative("factor", factor)
        self.patience = int(check_nonnegative("patience", patience))
        self.threshold = check_nonnegative("threshold", threshold)
        self.cooldown = int(check_nonnegative("cooldown", cooldown))
        self.min_lrs = [check_nonnegative("min_lr", m) for m in min_lrs]
        self.eps = check_nonnegative("eps", eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def is_better(self, a: float, best: float) -> bool:
        """Whether ``a`` improves on ``best`` by more than the threshold."""
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < best * (1.0 - self.threshold) if rel else a < best - self.threshold
        return a > best * (self.threshold + 1.0) if rel else a > best + self.threshold

    def step(self, metrics: float) -> None:
        """Record one epoch's metric; cut the lrs after ``patience`` epochs without progress."""
        current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                old = float(group["lr"])
                new = max(old * self.factor, floor)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lrs after the last :meth:`step`, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The counters, the best metric, the last lrs and the hyperparameters."""
        keys = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "eps")
        out = {k: getattr(self, k) for k in (*_STATE, *keys)}
        return {**out, "min_lrs": list(self.min_lrs), "last_lr": list(self._last_lr)}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.best = float(state_dict["best"])
        for k in ("num_bad_epochs", "cooldown_counter", "last_epoch", "patience", "cooldown"):
            setattr(self, k, int(state_dict[k]))
        for k in ("factor", "threshold", "eps"):
            setattr(self, k, float(state_dict[k]))
        self.mode, self.threshold_mode = str(state_dict["mode"]), str(state_dict["threshold_mode"])
        self.min_lrs = [float(m) for m in np.asarray(state_dict["min_lrs"]).ravel()]
        self._last_lr = [float(m) for m in np.asarray(state_dict["last_lr"]).ravel()]
