"""Learning-rate schedules: the cosine recursion, resuming from a saved state_dict, and the
lr (and momentum) sequences of ExponentialLR, LambdaLR, OneCycleLR and ReduceLROnPlateau
against torch.optim.lr_scheduler's."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from convprop.optim import (
    SGD,
    Adam,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)
from tests.optim.test_steps import Param

SCHEDULES = {
    "step": lambda o: StepLR(o, 4, gamma=0.5),
    "multistep": lambda o: MultiStepLR(o, [3, 7, 7, 12], gamma=0.3),
    "linear": lambda o: LinearLR(o, start_factor=0.1, total_iters=8),
    "cosine": lambda o: CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
    "exponential": lambda o: ExponentialLR(o, gamma=0.9),
    "lambda": lambda o: LambdaLR(o, lambda e: 1.0 / (1 + e) ** 0.5),
    "onecycle": lambda o: OneCycleLR(o, max_lr=0.5, total_steps=40),
}


def lr_sequence(make_sched: Callable[[Any], Any], opt: Any, epochs: int = 30) -> list[list[float]]:
    sched = make_sched(opt)
    lrs = [sched.get_last_lr()]
    for _ in range(epochs):
        opt.step()  # no gradients: nothing moves, but torch wants step() before sched.step()
        sched.step()
        lrs.append(sched.get_last_lr())
    return lrs


def test_cosine_recursion_tracks_the_closed_form() -> None:
    opt = SGD([Param(np.zeros(2))], lr=0.1)
    lrs = lr_sequence(lambda o: CosineAnnealingLR(o, T_max=10, eta_min=1e-3), opt)
    for e, (lr,) in enumerate(lrs):
        closed = 1e-3 + (0.1 - 1e-3) * (1 + math.cos(math.pi * e / 10)) / 2
        assert abs(lr - closed) <= 1e-12 * 0.1


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_state_dict_round_trip(name: str) -> None:
    make = SCHEDULES[name]
    full = lr_sequence(make, SGD([Param(np.zeros(2))], lr=0.1), epochs=30)
    opt = SGD([Param(np.zeros(2))], lr=0.1)
    sched = make(opt)
    lrs = [sched.get_last_lr()]
    for _ in range(13):
        sched.step()
        lrs.append(sched.get_last_lr())
    opt_state, sched_state = opt.state_dict(), json.loads(json.dumps(sched.state_dict()))
    resumed_opt = SGD([Param(np.zeros(2))], lr=0.1)
    resumed = make(resumed_opt)  # build the scheduler first: building it resets the lr
    resumed_opt.load_state_dict(opt_state)
    resumed.load_state_dict(sched_state)
    for _ in range(17):
        resumed.step()
        lrs.append(resumed.get_last_lr())
    assert lrs == full


# ----------------------------------------------------------- against torch.optim.lr_scheduler
def _groups(n: int) -> list[dict[str, Any]]:
    return [{"params": [Param(np.zeros(2))], "lr": 0.1 * (i + 1)} for i in range(n)]


def _torch_groups(torch: Any, n: int) -> list[dict[str, Any]]:
    return [
        {"params": [torch.zeros(2, requires_grad=True)], "lr": 0.1 * (i + 1)} for i in range(n)
    ]


def _sequences(opt: Any, sched: Any, steps: int, metrics: list[float] | None = None) -> list:
    """Per step: every group's lr, momentum and betas (what a schedule may change)."""
    seen = []
    for k in range(steps + 1):
        seen.append(
            [(g["lr"], g.get("momentum"), tuple(g.get("betas", ()))) for g in opt.param_groups]
        )
        if k < steps:
            opt.step()
            sched.step(*([metrics[k]] if metrics is not None else []))
    return seen


def _assert_same(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for (lr, m, betas), (tlr, tm, tbetas) in zip(a, b, strict=True):
            assert abs(lr - tlr) <= 1e-12 * max(1.0, abs(tlr)), (k, lr, tlr)
            assert (m is None) == (tm is None) and (m is None or abs(m - tm) <= 1e-12), (k, m, tm)
            assert np.allclose(betas, tbetas, rtol=0, atol=1e-12), (k, betas, tbetas)


ONE_CYCLE = {
    "sgd-cos": dict(max_lr=0.5, total_steps=100),
    "sgd-linear-3phase": dict(
        max_lr=[0.5, 1.0],
        total_steps=97,
        anneal_strategy="linear",
        three_phase=True,
        pct_start=0.25,
    ),
    "sgd-epochs": dict(
        max_lr=0.3,
        epochs=7,
        steps_per_epoch=13,
        div_factor=10.0,
        final_div_factor=100.0,
        base_momentum=[0.8, 0.7],
        max_momentum=0.9,
    ),
    "sgd-no-momentum-cycle": dict(max_lr=0.5, total_steps=50, cycle_momentum=False),
    "adam": dict(max_lr=0.01, total_steps=120, three_phase=True),
}


@pytest.mark.parametrize("name", sorted(ONE_CYCLE))
def test_one_cycle_lr_and_momentum_equal_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    kwargs = ONE_CYCLE[name]
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    if name == "adam":
        opt, topt = Adam(_groups(2)), torch.optim.Adam(_torch_groups(torch, 2))
    else:
        opt = SGD(_groups(2), lr=0.1, momentum=0.9)
        topt = torch.optim.SGD(_torch_groups(torch, 2), lr=0.1, momentum=0.9)
    ours = _sequences(opt, OneCycleLR(opt, **kwargs), total - 1)
    theirs = _sequences(topt, torch.optim.lr_scheduler.OneCycleLR(topt, **kwargs), total - 1)
    _assert_same(ours, theirs)


def test_one_cycle_refuses_a_step_past_total_steps_and_an_optimizer_without_momentum() -> None:
    opt = SGD(_groups(1), lr=0.1)
    sched = OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="tried to step 4 times; total_steps is 3"):
        sched.step()
    with pytest.raises(ValueError, match="total_steps, or epochs and steps_per_epoch"):
        OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        OneCycleLR(opt, max_lr=1.0, total_steps=3, anneal_strategy="cosine")


@pytest.mark.parametrize("groups", [1, 2])
def test_exponential_and_lambda_lr_equal_pytorch(groups: int) -> None:
    torch = pytest.importorskip("torch")
    lambdas = [lambda e: 0.95**e * (1 + e % 3), lambda e: 1.0 / (1 + e)][:groups]
    builds = [
        (
            lambda o: ExponentialLR(o, 0.93),
            lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.93),
        ),
        (
            lambda o: LambdaLR(o, lambdas[0]),
            lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambdas[0]),
        ),
        (lambda o: LambdaLR(o, lambdas), lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambdas)),
    ]
    for ours, theirs in builds:
        opt = SGD(_groups(groups), lr=0.1)
        topt = torch.optim.SGD(_torch_groups(torch, groups), lr=0.1)
        _assert_same(_sequences(opt, ours(opt), 200), _sequences(topt, theirs(topt), 200))


PLATEAU = {
    "min-rel": dict(patience=3),
    "min-abs-cooldown": dict(threshold=0.05, threshold_mode="abs", cooldown=2, patience=1),
    "max-rel-min-lr": dict(mode="max", factor=0.5, patience=2, min_lr=[0.01, 0.03]),
    "max-abs": dict(mode="max", threshold_mode="abs", threshold=0.01, patience=0, factor=0.7),
}


@pytest.mark.parametrize("name", sorted(PLATEAU))
def test_reduce_lr_on_plateau_equals_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    # a noisy loss that plateaus: improvements early, then noise around a floor
    metrics = [float(1 / (1 + k) + 0.3 + 0.02 * rng.standard_normal()) for k in range(150)]
    if PLATEAU[name].get("mode") == "max":
        metrics = [1 - m for m in metrics]
    opt, topt = SGD(_groups(2), lr=0.1), torch.optim.SGD(_torch_groups(torch, 2), lr=0.1)
    ours = _sequences(opt, ReduceLROnPlateau(opt, **PLATEAU[name]), 150, metrics)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **PLATEAU[name])
    theirs = _sequences(topt, tsched, 150, metrics)
    _assert_same(ours, theirs)
    assert ours[-1] != ours[0]  # the lr was cut at least once


def test_reduce_lr_on_plateau_state_dict_round_trip() -> None:
    metrics = [1.0, 0.9, 0.95, 0.97, 0.96, 0.99, 0.98, 1.0, 0.97, 1.1, 1.0, 0.99, 1.2]
    full = _sequences(
        opt := SGD(_groups(1), lr=0.1), ReduceLROnPlateau(opt, patience=1), 13, metrics
    )
    opt = SGD(_groups(1), lr=0.1)
    sched = ReduceLROnPlateau(opt, patience=1)
    for m in metrics[:6]:
        sched.step(m)
    saved = json.loads(json.dumps(sched.state_dict()))
    resumed_opt = SGD(_groups(1), lr=0.1)
    resumed_opt.load_state_dict(opt.state_dict())
    resumed = ReduceLROnPlateau(resumed_opt, patience=5)
    resumed.load_state_dict(saved)
    rest = _sequences(resumed_opt, resumed, 7, metrics[6:])
    assert rest == full[6:]
