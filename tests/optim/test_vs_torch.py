"""Optimizers and schedules against ``torch.optim``: trajectories to a tolerance, not bit for bit.

Each test steps convprop's optimizer and PyTorch's (``foreach=False``, its per-tensor path, the
default on CPU) through the same 100 gradients and compares the parameters after every step:
``max |ours - torch| <= rtol * max |torch|`` per parameter (:func:`assert_close`), with rtol
1e-6 in float32 and 1e-12 in float64. PyTorch fuses ``y + a * x`` into one rounding and orders
Adam's arithmetic differently, so the last bits differ; a wrong term does not come near.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from convprop.optim import SGD, Adam, AdamW, StepLR
from tests.optim.test_schedule import SCHEDULES, lr_sequence
from tests.optim.test_steps import (
    ADAM_GRID,
    SGD_GRID,
    Param,
    assert_close,
    gradients,
    initial,
    run_ours,
    two_groups,
)

torch = pytest.importorskip("torch")

RTOL = {np.float32: 1e-6, np.float64: 1e-12}


def run_torch(make: Callable[[list[Any]], Any], grads: list[list[np.ndarray]], **kw: Any):
    """Step a torch optimizer over ``torch.nn.Parameter`` copies of the start, as run_ours."""
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in initial(**kw)]
    opt = make(params)
    trajectory = []
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
    return trajectory


def assert_same_trajectory(ours: list[list[np.ndarray]], theirs: list[list[np.ndarray]]) -> None:
    """The parameters after every step within RTOL of torch's, in the parameters' dtype."""
    rtol = RTOL
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            assert x.dtype == y.dtype
            assert_close(x, y, rtol[x.dtype.type], f"step {step + 1}, parameter {j}")


# --- SGD against torch.optim.SGD ------------------------------------------------------------


@pytest.mark.parametrize("options", SGD_GRID, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_matches_torch(options: dict[str, Any], dtype: Any) -> None:
    second = {"lr": 0.03, "weight_decay": 0.1}  # a second group with its own options
    grads = gradients(dtype=dtype)
    ours = run_ours(lambda p: SGD(two_groups(p, second), lr=0.1, **options), grads, dtype=dtype)
    theirs = run_torch(
        lambda p: torch.optim.SGD(two_groups(p, second), lr=0.1, foreach=False, **options),
        grads,
        dtype=dtype,
    )
    assert_same_trajectory(ours, theirs)


CLASSICAL_GRID = [o for o in SGD_GRID if o["dampening"] == 0]  # the classical form has none


@pytest.mark.parametrize("options", CLASSICAL_GRID, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_classical_form_matches_torch_with_constant_lr(
    options: dict[str, Any], dtype: Any
) -> None:
    # v = -lr * b at every step, so the classical heavy ball takes PyTorch's steps (to 1e-6 in
    # float32 like PyTorch's own form; worst seen 8.7e-7: v holds lr * b, rounded each step).
    grads = gradients(dtype=dtype)
    ours = run_ours(lambda p: SGD(p, lr=0.1, form="classical", **options), grads, dtype=dtype)
    theirs = run_torch(lambda p: torch.optim.SGD(p, lr=0.1, **options), grads, dtype=dtype)
    assert_same_trajectory(ours, theirs)


@pytest.mark.parametrize("form", ["pytorch", "classical"])
def test_sgd_one_group_of_mixed_dtypes_matches_torch(form: str) -> None:
    # One group holding float32 and float64 parameters, one of them without a gradient for the
    # first steps (so a step has parameters with and without a momentum buffer).
    rng = np.random.default_rng(4)
    start = [
        rng.standard_normal((4, 3)).astype(np.float32),
        rng.standard_normal(5).astype(np.float32),
        rng.standard_normal((2, 2)),
        rng.standard_normal(6).astype(np.float32),
    ]
    ours = [Param(x.copy()) for x in start]
    theirs = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in start]
    options = dict(lr=0.05, momentum=0.9, weight_decay=1e-3, nesterov=form == "pytorch")
    ours_opt = SGD(ours, form=form, **options)
    theirs_opt = torch.optim.SGD(theirs, foreach=False, **options)
    grads = np.random.default_rng(5)
    for step in range(100):
        for j, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            g = None if (j == 3 and step < 3) else grads.standard_normal(p.data.shape)
            p.grad = None if g is None else g.astype(p.data.dtype)
            q.grad = None if g is None else torch.from_numpy(g.astype(p.data.dtype))
        ours_opt.step()
        theirs_opt.step()
        assert_same_trajectory([[p.data for p in ours]], [[q.detach().numpy() for q in theirs]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_with_step_schedule_matches_torch(dtype: Any) -> None:
    ours_params = [Param(x) for x in initial(dtype)]
    theirs_params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in initial(dtype)]
    ours = SGD(ours_params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    theirs = torch.optim.SGD(
        theirs_params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3, foreach=False
    )
    ours_sched = StepLR(ours, step_size=3, gamma=0.5)
    theirs_sched = torch.optim.lr_scheduler.StepLR(theirs, step_size=3, gamma=0.5)
    for step, step_grads in enumerate(gradients(dtype=dtype)):
        for p, q, g in zip(ours_params, theirs_params, step_grads, strict=True):
            p.grad, q.grad = g.copy(), torch.from_numpy(g.copy())
        ours.step()
        theirs.step()
        if step % 5 == 4:  # an "epoch" of five batches
            ours_sched.step()
            theirs_sched.step()
        assert_same_trajectory(
            [[p.data for p in ours_params]], [[q.detach().numpy() for q in theirs_params]]
        )


def test_sgd_positional_order_is_torchs() -> None:
    # torch.optim.SGD(params, lr, momentum, dampening, weight_decay, nesterov)
    keys = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    ours = SGD([Param(np.zeros(2))], 0.1, 0.9, 0.0, 1e-2, True)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], 0.1, 0.9, 0.0, 1e-2, True)
    assert {k: ours.param_groups[0][k] for k in keys} == {
        k: theirs.param_groups[0][k] for k in keys
    }


# --- Adam and AdamW against torch.optim.Adam and AdamW -------------------------------------


@pytest.mark.parametrize("options", ADAM_GRID, ids=str)
@pytest.mark.parametrize("ours_cls, torch_name", [(Adam, "Adam"), (AdamW, "AdamW")])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_matches_torch(
    options: dict[str, Any], ours_cls: Any, torch_name: str, dtype: Any
) -> None:
    torch_cls = getattr(torch.optim, torch_name)
    second = {"lr": 0.003, "eps": 1e-6}
    grads = gradients(dtype=dtype)
    ours = run_ours(
        lambda p: ours_cls(two_groups(p, second), lr=0.01, **options), grads, dtype=dtype
    )
    theirs = run_torch(
        lambda p: torch_cls(two_groups(p, second), lr=0.01, foreach=False, **options),
        grads,
        dtype=dtype,
    )
    assert_same_trajectory(ours, theirs)


# --- schedules against torch.optim.lr_scheduler --------------------------------------------

TORCH_SCHEDULES = {
    "step": lambda o: torch.optim.lr_scheduler.StepLR(o, 4, 0.5),
    "multistep": lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [3, 7, 7, 12], gamma=0.3),
    "linear": lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=8),
    "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
    "exponential": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    "lambda": lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0 / (1 + e) ** 0.5),
    "onecycle": lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=40),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_torch(name: str) -> None:
    ours_opt = SGD(two_groups([Param(x) for x in initial()], {"lr": 0.02}), lr=0.1)
    theirs_opt = torch.optim.SGD(
        two_groups([torch.nn.Parameter(torch.from_numpy(x)) for x in initial()], {"lr": 0.02}),
        lr=0.1,
    )
    ours = lr_sequence(SCHEDULES[name], ours_opt)
    theirs = lr_sequence(TORCH_SCHEDULES[name], theirs_opt)
    assert ours == theirs  # float for float: the same recursion in the same order
    assert [g["lr"] for g in ours_opt.param_groups] == ours[-1]
