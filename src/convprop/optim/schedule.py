r"""Learning-rate schedules that set ``group["lr"]`` once per epoch, as PyTorch's do.

Usage, per epoch: train (``optimizer.step()`` per batch), then ``scheduler.step()``. Building a
scheduler records each group's ``initial_lr`` (the base lr ``eta_0``) and applies epoch 0.
With ``e`` the epoch counter (``last_epoch``), the lr each schedule gives is::

    StepLR             eta_0 * gamma ** (e // step_size)
    MultiStepLR        eta_0 * gamma ** (number of milestones <= e)
    LinearLR           eta_0 * (s + (f - s) * min(e, T) / T)      (a warm-up when s < f = 1)
    CosineAnnealingLR  eta_min + (eta_0 - eta_min) * (1 + cos(pi e / T_max)) / 2
    ExponentialLR      eta_0 * gamma ** e
    LambdaLR           eta_0 * lr_lambda(e)                   (computed so, not recursively)

(:class:`~convprop.optim.cycle.OneCycleLR`, stepped per batch, and
:class:`~convprop.optim.plateau.ReduceLROnPlateau`, stepped with a metric, live beside this.)

Like PyTorch, ``step()`` computes each lr *recursively* from the current ``group["lr"]``
(a multiplication by ``gamma`` at a boundary; for the cosine, the ratio
``(1 + cos(pi e / T)) / (1 + cos(pi (e - 1) / T))``), so that changes made to the lr from
elsewhere compose, and the sequences equal ``torch.optim.lr_scheduler``'s float for float. The
closed forms above agree with the recursion to rounding (about 1e-16 relative per epoch).

``state_dict()`` is JSON-able (ints, floats and lists of them). It holds the scheduler's own
state only: restore the optimizer's lrs with the optimizer's ``load_state_dict``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from convprop.optim.optimizer import Optimizer, check_nonnegative


def _check_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"invalid {name}: {value!r} (expected an integer >= 1)")
    return int(value)


class LRScheduler:
    """Base class: ``step()`` advances ``last_epoch`` and writes each group's new lr.

    Subclasses give the next lrs in ``_next_lrs`` and name their hyperparameters in
    ``hyperparameters`` (saved by :meth:`state_dict`).
    """

    hyperparameters: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a convprop Optimizer")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def _next_lrs(self) -> list[float]:
        """The lr of every group for epoch ``last_epoch`` (already advanced)."""
        raise NotImplementedError

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one epoch and set every group's lr. Call after the epoch's optimizer steps."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self._next_lrs(), strict=True):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def get_last_lr(self) -> list[float]:
        """The lrs the last :meth:`step` set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """``last_epoch``, ``base_lrs``, ``last_lr`` and the hyperparameters, all JSON-able."""
        out: dict[str, Any] = {
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "last_lr": list(self._last_lr),
        }
        for name in self.hyperparameters:
            value = getattr(self, name)
            out[name] = sorted(value.elements()) if isinstance(value, Counter) else value
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (lists may come back as arrays)."""
        n = len(self.optimizer.param_groups)
        base_lrs = [float(x) for x in np.asarray(state_dict["base_lrs"]).ravel()]
        last_lr = [float(x) for x in np.asarray(state_dict["last_lr"]).ravel()]
        if len(base_lrs) != n or len(last_lr) != n:
            raise ValueError(f"the state_dict has lrs for {len(base_lrs)} groups, not {n}")
        for name in self.hyperparameters:
            current = getattr(self, name)
            value = state_dict[name]
            if isinstance(current, Counter):
                value = Counter(int(m) for m in np.asarray(value).ravel())
            else:
                value = type(current)(np.asarray(value).item())
            setattr(self, name, value)
        self.last_epoch = int(np.asarray(state_dict["last_epoch"]).item())
        self.base_lrs = base_lrs
        self._last_lr = last_lr


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs: ``eta_0 gamma**(e // size)``."""

    hyperparameters = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _check_positive_int("step_size", step_size)
        self.gamma = check_nonnegative("gamma", gamma)
        super().__init__(optimizer)

    def _next_lrs(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch (``gamma**k`` if listed k times)."""

    hyperparameters = ("milestones", "gamma")

    def __init__(
        self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1
    ) -> None:
        milestones = list(milestones)
        if any(isinstance(m, bool) or int(m) != m or m < 0 for m in milestones):
            raise ValueError(f"invalid milestones: {milestones!r} (expected integers >= 0)")
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = check_nonnegative("gamma", gamma)
        super().__init__(optimizer)

    def _next_lrs(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._current_lrs()]


class LinearLR(LRScheduler):
    """Scale the lr linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs.

    With ``start_factor < end_factor = 1`` this is a linear warm-up to the base lr.
    """

    hyperparameters = ("start_factor", "end_factor", "total_iters")

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
    ) -> None:
        if not 0.0 < float(start_factor) <= 1.0:
            raise ValueError(f"invalid start_factor: {start_factor!r} (expected it in (0, 1])")
        if not 0.0 <= float(end_factor) <= 1.0:
            raise ValueError(f"invalid end_factor: {end_factor!r} (expected it in [0, 1])")
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)
        self.total_iters = _check_positive_int("total_iters", total_iters)
        super().__init__(optimizer)

    def _next_lrs(self) -> list[float]:
        s, f, e = self.start_factor, self.end_factor, self.last_epoch
        if e == 0:
            return [lr * s for lr in self._current_lrs()]
        if e > self.total_iters:
            return self._current_lrs()
        ratio = 1.0 + (f - s) / (self.total_iters * s + (e - 1) * (f - s))
        return [lr * ratio for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from its base to ``eta_min`` along half a cosine over ``T_max`` epochs.

    Past ``T_max`` the lr rises again along the same cosine (no restarts), as in PyTorch.
    """

    hyperparameters = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _check_positive_int("T_max", T_max)
        self.eta_min = check_nonnegative("eta_min", eta_min)
        super().__init__(optimizer)

    def _next_lrs(self) -> list[float]:
        e, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if e == 0:
            return self._current_lrs()
        if (e - 1 - T) % (2 * T) == 0:  # leaving the minimum, where the ratio below is 0/0
            return [
                lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                for lr, base in zip(self._current_lrs(), self.base_lrs, strict=True)
            ]
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch: ``eta_0 gamma**e``."""

    hyperparameters = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = check_nonnegative("gamma", gamma)
        super().__init__(optimizer)

    def _next_lrs(self) -> list[float]:
        if self.last_epoch == 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class LambdaLR(LRScheduler):
    """Set the lr to ``eta_0 * lr_lambda(e)``: one function, or one per parameter group.

    The functions are not in :meth:`state_dict` (as in PyTorch): pass the same ones when
    building the scheduler that loads it.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Iterable[Callable[[int], float]],
    ) -> None:
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        lambdas = [lr_lambda] * n if callable(lr_lambda) else list(lr_lambda)
        if len(lambdas) != n:
            raise ValueError(
                f"LambdaLR: expected {n} lr_lambdas (one per group), got {len(lambdas)}"
            )
        if not all(callable(f) for f in lambdas):
            raise TypeError(
                "LambdaLR: lr_lambda must be a function of the epoch, or a list of them"
            )
        self.lr_lambdas = lambdas
        super().__init__(optimizer)

    def _next_lrs(self) -> list[float]:
        return [
            base * f(self.last_epoch)
            for f, base in zip(self.lr_lambdas, self.base_lrs, strict=True)
        ]
