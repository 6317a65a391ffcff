"""Learning-rate schedules: the cosine recursion, and resuming from a saved state_dict."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from convprop.optim import SGD, CosineAnnealingLR, LinearLR, MultiStepLR, StepLR
from tests.optim.test_steps import Param

SCHEDULES = {
    "step": lambda o: StepLR(o, 4, gamma=0.5),
    "multistep": lambda o: MultiStepLR(o, [3, 7, 7, 12], gamma=0.3),
    "linear": lambda o: LinearLR(o, start_factor=0.1, total_iters=8),
    "cosine": lambda o: CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
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
