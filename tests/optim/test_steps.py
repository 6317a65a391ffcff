"""Optimizers without PyTorch: the update equations, the momentum conventions, dtypes, errors.

The helpers here serve the other ``test_optim_*`` modules too: ``_schedule`` (learning-rate
schedules), ``_checkpoint`` (state_dict round trips) and ``_vs_torch`` (against torch.optim).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from convprop.optim import (
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    LinearLR,
    MultiStepLR,
    Optimizer,
    StepLR,
    classical_momentum_step,
    seed_momentum_step,
)

SHAPES = [(7, 5), (3,)]  # 35 elements: full SIMD blocks and a scalar tail in PyTorch's kernels
STEPS = 100


class Param:
    """A stand-in for a convprop Tensor: ``.data`` and ``.grad`` only."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = np.array(data)
        self.grad: np.ndarray | None = None


def initial(dtype: Any = np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]


def gradients(steps: int = STEPS, dtype: Any = np.float64) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(1)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]


def two_groups(params: list[Any], second: dict[str, Any]) -> list[dict[str, Any]]:
    """The first parameter with the defaults, the second with the options ``second``."""
    return [{"params": [params[0]]}, {"params": [params[1]], **second}]


def run_ours(make: Callable[[list[Param]], Any], grads: list[list[np.ndarray]], **kw: Any):
    """Step a convprop optimizer through ``grads``; return the parameters after every step."""
    params = [Param(x) for x in initial(**kw)]
    opt = make(params)
    trajectory = []
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.copy()
        opt.step()
        trajectory.append([p.data.copy() for p in params])
    return trajectory


def train(
    opt: Optimizer, params: list[Param], grads: list[list[np.ndarray]], start: int = 0
) -> None:
    """Step through ``grads``; the second parameter has no gradient on every third step."""
    for step, step_grads in enumerate(grads, start):
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g
        if step % 3 == 0:
            params[1].grad = None
        opt.step()


# --- the update equations, against a reference one float at a time ------------------------

SGD_GRID = [
    dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
    for m, d, n, wd, mx in itertools.product(
        [0.0, 0.5, 0.9], [0.0, 0.3], [False, True], [0.0, 1e-2], [False, True]
    )
    if not (n and (m == 0 or d != 0)) and not (mx and (d != 0 or wd == 0))
]


ADAM_GRID = [
    dict(betas=betas, weight_decay=wd, amsgrad=ams, maximize=mx)
    for betas, wd, ams, mx in itertools.product(
        [(0.9, 0.999), (0.3, 0.5)], [0.0, 0.1], [False, True], [False, True]
    )
]


def reference_sgd(theta: float, grads: Sequence[float], lr: float, **options: Any) -> float:
    """PyTorch's SGD as its documentation writes it, on one float."""
    mu, tau, wd = (options.get(k, 0.0) for k in ("momentum", "dampening", "weight_decay"))
    b = None
    for g in grads:
        g = -g if options.get("maximize") else g
        g = g + wd * theta
        if mu != 0:
            b = g if b is None else mu * b + (1 - tau) * g
            g = g + mu * b if options.get("nesterov") else b
        theta = theta - lr * g
    return theta


def reference_adam(theta: float, grads: Sequence[float], lr: float, **options: Any) -> float:
    """Adam (AdamW with ``decoupled``) as Kingma and Ba write it, on one float."""
    (beta1, beta2), wd, eps = options["betas"], options["weight_decay"], options["eps"]
    m = s = s_max = 0.0
    for t, g in enumerate(grads, 1):
        g = -g if options["maximize"] else g
        if options["decoupled"]:
            theta = theta * (1 - lr * wd)
        else:
            g = g + wd * theta
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * g * g
        s_max = max(s_max, s)
        s_hat = (s_max if options["amsgrad"] else s) / (1 - beta2**t)
        theta = theta - lr * (m / (1 - beta1**t)) / (math.sqrt(s_hat) + eps)
    return theta


def assert_close(ours: np.ndarray, expected: np.ndarray, rtol: float, what: str = "") -> None:
    """``max |ours - expected| <= rtol * max |expected|``: error relative to the parameter's size.

    One scale per parameter (its largest entry), so an entry that passes near zero on its way
    is held to the parameter's rounding, not to its own.
    """
    error = np.abs(ours - expected).max()
    scale = np.abs(expected).max()
    assert error <= rtol * scale, f"{what}: max |error| {error:.3g}, {error / scale:.3g} relative"


def assert_matches_reference(
    ours: list[np.ndarray], reference: Callable[[float, list[float]], float]
) -> None:
    """Each parameter after 100 steps within 1e-12 (relative) of the reference's float64."""
    for j, start in enumerate(initial()):
        grads = [step[j].reshape(-1) for step in gradients()]
        expected = [reference(x, [g[i] for g in grads]) for i, x in enumerate(start.reshape(-1))]
        assert_close(ours[j].reshape(-1), np.array(expected), 1e-12, f"parameter {j}")


@pytest.mark.parametrize("options", SGD_GRID, ids=str)
def test_sgd_follows_its_equations(options: dict[str, Any]) -> None:
    final = run_ours(lambda p: SGD(p, lr=0.1, **options), gradients())[-1]
    assert_matches_reference(final, lambda x, g: reference_sgd(x, g, 0.1, **options))


@pytest.mark.parametrize("options", ADAM_GRID, ids=str)
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_follows_its_equations(options: dict[str, Any], decoupled: bool) -> None:
    cls = AdamW if decoupled else Adam
    final = run_ours(lambda p: cls(p, lr=0.01, eps=1e-6, **options), gradients())[-1]
    full = {**options, "eps": 1e-6, "decoupled": decoupled}
    assert_matches_reference(final, lambda x, g: reference_adam(x, g, 0.01, **full))


def test_sgd_positional_order_is_torchs() -> None:
    # torch.optim.SGD(params, lr, momentum, dampening, weight_decay, nesterov)
    opt = SGD([Param(np.zeros(2))], 0.1, 0.9, 0.0, 1e-2, True)
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["dampening"]) == (0.1, 0.9, 0.0)
    assert (group["weight_decay"], group["nesterov"]) == (1e-2, True)


# --- the two momentum conventions, and the seed's written form ----------------------------


def run_momentum(form: str, nesterov: bool, schedule: bool) -> list[np.ndarray]:
    params = [Param(x) for x in initial()]
    opt = SGD(params, lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=1e-2, form=form)
    sched = StepLR(opt, step_size=2, gamma=0.1) if schedule else None
    for step, step_grads in enumerate(gradients()):
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g
        opt.step()
        if sched is not None and step % 20 == 19:
            sched.step()
    return [p.data for p in params]


@pytest.mark.parametrize("nesterov", [False, True])
def test_classical_form_equals_pytorch_form_with_constant_lr(nesterov: bool) -> None:
    classical = run_momentum("classical", nesterov, schedule=False)
    pytorch = run_momentum("pytorch", nesterov, schedule=False)
    for x, y in zip(classical, pytorch, strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)
    # The velocity is -lr times the buffer.
    p, q = Param(np.zeros(3)), Param(np.zeros(3))
    pytorch_opt = SGD([p], lr=0.05, momentum=0.9)
    classical_opt = SGD([q], lr=0.05, momentum=0.9, form="classical")
    for g in gradients(20):
        p.grad = q.grad = g[1]
        pytorch_opt.step()
        classical_opt.step()
    velocity = classical_opt.state[0]["velocity"]
    np.testing.assert_allclose(velocity, -0.05 * pytorch_opt.state[0]["momentum_buffer"])


@pytest.mark.parametrize("nesterov", [False, True])
def test_classical_form_differs_from_pytorch_form_under_a_schedule(nesterov: bool) -> None:
    classical = run_momentum("classical", nesterov, schedule=True)
    pytorch = run_momentum("pytorch", nesterov, schedule=True)
    gap = max(np.abs(x - y).max() for x, y in zip(classical, pytorch, strict=True))
    assert gap > 1e-3  # the classical velocity carries steps taken at the old lr


def test_seed_pseudocode_is_heavy_ball_with_alpha_squared() -> None:
    gamma, alpha = 0.9, 0.1
    theta_seed, theta_ball = initial()[0], initial()[0]
    v, velocity = np.zeros_like(theta_seed), None
    for g in gradients():
        v = seed_momentum_step(theta_seed, g[0], v, gamma=gamma, alpha=alpha)
        velocity = classical_momentum_step(theta_ball, g[0], velocity, lr=alpha**2, momentum=gamma)
    np.testing.assert_allclose(theta_seed, theta_ball, rtol=0, atol=1e-12)
    np.testing.assert_allclose(alpha * v, velocity, rtol=0, atol=1e-12)  # u = alpha v
    # ... and not the heavy ball with step alpha, which moves much further.
    theta_alpha, velocity = initial()[0], None
    for g in gradients():
        velocity = classical_momentum_step(theta_alpha, g[0], velocity, lr=alpha, momentum=gamma)
    assert np.abs(theta_alpha - theta_seed).max() > 0.1


# --- dtypes, missing gradients, zero_grad ------------------------------------------------

DTYPE_CASES = {
    "sgd": lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "sgd-dampened": lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-2),
    "sgd-classical": lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2, form="classical"),
    "adam": lambda p: Adam(p, weight_decay=1e-2, amsgrad=True),
    "adamw": lambda p: AdamW(p),
}


@pytest.mark.parametrize("name", sorted(DTYPE_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_and_identity_kept(name: str, dtype: Any) -> None:
    params = [Param(x) for x in initial(dtype)]
    arrays = [p.data for p in params]
    opt = DTYPE_CASES[name](params)
    train(opt, params, gradients(5, dtype))
    for p, array in zip(params, arrays, strict=True):
        assert p.data is array and p.data.dtype == dtype
    for state in opt.state.values():
        for value in state.values():
            assert not isinstance(value, np.ndarray) or value.dtype == dtype


@pytest.mark.parametrize("name", sorted(DTYPE_CASES))
def test_parameters_without_gradient_are_skipped(name: str) -> None:
    params = [Param(x) for x in initial()]
    opt = DTYPE_CASES[name](params)
    params[0].grad = np.ones(SHAPES[0])
    opt.step()
    assert not np.array_equal(params[0].data, initial()[0])
    assert np.array_equal(params[1].data, initial()[1]) and 1 not in opt.state


def test_zero_grad() -> None:
    params = [Param(x) for x in initial()]
    opt = SGD(params, lr=0.1)
    for p in params:
        p.grad = np.ones_like(p.data)
    grad = params[0].grad
    opt.zero_grad(set_to_none=False)
    assert params[0].grad is grad and not grad.any()
    opt.zero_grad()
    assert all(p.grad is None for p in params)


# --- bad arguments -------------------------------------------------------------------------


def one() -> list[Param]:
    return [Param(np.zeros(3))]


BAD = [
    ("lr", lambda: SGD(one(), lr=-0.1)),
    ("lr", lambda: SGD(one(), lr=float("nan"))),
    ("lr", lambda: SGD(one(), lr=float("inf"))),
    ("lr", lambda: SGD([{"params": one(), "lr": -1.0}], lr=0.1)),
    ("momentum", lambda: SGD(one(), lr=0.1, momentum=1.0)),
    ("momentum", lambda: SGD(one(), lr=0.1, momentum=-0.1)),
    ("momentum", lambda: SGD(one(), lr=0.1, momentum=float("nan"))),
    ("dampening", lambda: SGD(one(), lr=0.1, momentum=0.9, dampening=1.5)),
    ("dampening", lambda: SGD(one(), lr=0.1, momentum=0.9, dampening=0.1, form="classical")),
    ("weight_decay", lambda: SGD(one(), lr=0.1, weight_decay=-1e-4)),
    ("nesterov", lambda: SGD(one(), lr=0.1, nesterov=True)),
    ("nesterov", lambda: SGD(one(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
    ("form", lambda: SGD(one(), lr=0.1, form="sutskever")),
    ("lr", lambda: Adam(one(), lr=-1e-3)),
    ("eps", lambda: Adam(one(), eps=-1e-8)),
    ("betas", lambda: Adam(one(), betas=(1.0, 0.999))),
    ("betas", lambda: Adam(one(), betas=(0.9, -0.1))),
    ("betas", lambda: Adam(one(), betas=(0.9,))),
    ("weight_decay", lambda: AdamW(one(), weight_decay=-0.01)),
    ("params", lambda: SGD([], lr=0.1)),
    ("more than once", lambda: SGD(one() * 2, lr=0.1)),
    ("no parameters", lambda: SGD([{"params": []}], lr=0.1)),
    ("step_size", lambda: StepLR(SGD(one(), lr=0.1), step_size=0)),
    ("gamma", lambda: StepLR(SGD(one(), lr=0.1), step_size=2, gamma=-0.5)),
    ("milestones", lambda: MultiStepLR(SGD(one(), lr=0.1), milestones=[2, -1])),
    ("T_max", lambda: CosineAnnealingLR(SGD(one(), lr=0.1), T_max=0)),
    ("eta_min", lambda: CosineAnnealingLR(SGD(one(), lr=0.1), T_max=5, eta_min=-1.0)),
    ("start_factor", lambda: LinearLR(SGD(one(), lr=0.1), start_factor=0.0)),
    ("total_iters", lambda: LinearLR(SGD(one(), lr=0.1), total_iters=0)),
]


@pytest.mark.parametrize("name, build", BAD, ids=[f"{i}-{n}" for i, (n, _) in enumerate(BAD)])
def test_bad_arguments_raise_value_error_naming_them(name: str, build: Callable[[], Any]) -> None:
    with pytest.raises(ValueError, match=name):
        build()


def test_bad_parameters_raise_type_error() -> None:
    with pytest.raises(TypeError, match="single"):
        SGD(Param(np.zeros(3)), lr=0.1)
    with pytest.raises(TypeError, match="floating"):
        SGD([Param(np.zeros(3, dtype=np.int64))], lr=0.1)
    with pytest.raises(TypeError, match="mixes"):
        SGD([Param(np.zeros(3)), {"params": one()}], lr=0.1)


@pytest.mark.parametrize("foreach", [None, True, False])
def test_sgd_accepts_pytorchs_foreach_and_steps_the_same(foreach: Any) -> None:
    grads = np.random.default_rng(3).standard_normal((5, 3))
    plain, other = Param(np.ones(3)), Param(np.ones(3))
    for p, opt in (
        (plain, SGD([plain], lr=0.1, momentum=0.9)),
        (other, SGD([other], lr=0.1, momentum=0.9, foreach=foreach)),
    ):
        for g in grads:
            p.grad = g
            opt.step()
    np.testing.assert_array_equal(plain.data, other.data)
    with pytest.raises(ValueError, match="foreach"):
        SGD([Param(np.ones(2))], foreach="yes")
