r"""The one-cycle policy (Smith & Topin, 2018), as ``torch.optim.lr_scheduler.OneCycleLR``.

Stepped once per *batch*, for ``total_steps`` steps. With ``eta_max = max_lr``,
``eta_0 = eta_max / div_factor`` and ``eta_min = eta_0 / final_div_factor``, the lr goes::

    two phases (default)   eta_0  -> eta_max  over steps 0 .. p T - 1,
                           eta_max -> eta_min over the rest, to step T - 1
    three_phase            eta_0 -> eta_max, eta_max -> eta_0 (to step 2 p T - 2),
                           eta_0 -> eta_min

each leg annealed from ``a`` to ``b`` at the fraction ``t`` of it done by
``cos: b + (a - b) (1 + cos(pi t)) / 2`` or ``linear: a + (b - a) t`` (``p = pct_start``,
``T = total_steps``). With ``cycle_momentum`` the momentum (SGD's ``momentum``, Adam's
``beta1``) runs the other way, ``max_momentum -> base_momentum -> max_momentum``.
"""

from __future__ import annotations

import math
from typing import Any

from convprop.optim.optimizer import Optimizer
from convprop.optim.schedule import LRScheduler


def anneal_cos(start: float, end: float, pct: float) -> float:
    """``end + (start - end) (1 + cos(pi pct)) / 2``: from ``start`` at 0 to ``end`` at 1."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def anneal_linear(start: float, end: float, pct: float) -> float:
    """``start + (end - start) pct``."""
    return (end - start) * pct + start


ANNEALING = {"cos": anneal_cos, "linear": anneal_linear}


def _per_group(name: str, value: Any, n: int) -> list[float]:
    values = list(value) if isinstance(value, list | tuple) else [value] * n
    if len(values) != n:
        raise ValueError(f"OneCycleLR: expected {n} values of {name} (one per group)")
    return [float(v) for v in values]


class OneCycleLR(LRScheduler):
    """Warm the lr up to ``max_lr`` and anneal it far below, over ``total_steps`` batch steps.

    Give ``total_steps``, or ``epochs`` and ``steps_per_epoch``. Stepping past ``total_steps``
    is an error, as in PyTorch. ``max_lr``, ``base_momentum`` and ``max_momentum`` may be
    lists, one per parameter group; each group keeps its ``max_lr``, ``min_lr``,
    ``base_momentum`` and ``max_momentum`` (saved with the optimizer's ``state_dict``).
    """

    hyperparameters = (
        "total_steps",
        "pct_start",
        "anneal_strategy",
        "cycle_momentum",
        "use_beta1",
        "three_phase",
    )

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a convprop Optimizer")
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            per_epoch = _positive("steps_per_epoch", steps_per_epoch)
            total_steps = _positive("epochs", epochs) * per_epoch
        self.total_steps = _positive("total_steps", total_steps)
        if not 0.0 <= float(pct_start) <= 1.0:
            raise ValueError(f"OneCycleLR: pct_start must lie in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ANNEALING:
            raise ValueError(
                f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        self.pct_start = float(pct_start)
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum and not self.use_beta1 and "momentum" not in optimizer.defaults:
            raise ValueError(
                "OneCycleLR: the optimizer has neither momentum nor betas; "
                "pass cycle_momentum=False"
            )
        groups = optimizer.param_groups
        n = len(groups)
        lows = _per_group("base_momentum", base_momentum, n)
        highs = _per_group("max_momentum", max_momentum, n)
        for group, top, low, high in zip(
            groups, _per_group("max_lr", max_lr, n), lows, highs, strict=True
        ):
            group["initial_lr"] = top / div_factor
            group["max_lr"] = top
            group["min_lr"] = group["initial_lr"] / final_div_factor
            if self.cycle_momentum:
                self._set_momentum(group, high)
                group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer)

    def _phases(self) -> list[tuple[float, str, str, str, str]]:
        """``(end_step, start_lr, end_lr, start_momentum, end_momentum)`` per leg."""
        p, T = self.pct_start, self.total_steps
        if self.three_phase:
            return [
                (p * T - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (2 * p * T - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (T - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        return [
            (p * T - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
            (T - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
        ]

    def _set_momentum(self, group: dict[str, Any], momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _next_lrs(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {step} times; total_steps is {self.total_steps}"
            )
        anneal = ANNEALING[self.anneal_strategy]
        phases = self._phases()
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr_a, lr_b, m_a, m_b) in enumerate(phases):
                if step <= end or i == len(phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(anneal(group[lr_a], group[lr_b], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, anneal(group[m_a], group[m_b], pct))
                    break
                start = end
        return lrs


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"OneCycleLR: {name} must be an integer >= 1, got {value!r}")
    return int(value)
