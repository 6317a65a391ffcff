"""Optimizers and schedules: PyTorch agreement, the momentum conventions, checkpoints, errors.

PyTorch runs with ``foreach=False`` (its per-tensor ``_single_tensor_*`` path, the one
convprop mirrors; on CPU it is also the default).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch

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
    fma,
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


def run_torch(make: Callable[[list[torch.Tensor]], Any], grads: list[list[np.ndarray]], **kw):
    """The same with a torch optimizer over ``torch.nn.Parameter`` copies of the start."""
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in initial(**kw)]
    opt = make(params)
    trajectory = []
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
    return trajectory


def exact_fma(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``a * b + c`` in rational arithmetic, rounded to nearest (ties to even) in c's dtype."""
    dtype = c.dtype
    out = []
    for x, y, z in zip(*np.broadcast_arrays(a, b, c), strict=True):
        q = Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))
        near = dtype.type(float(q))  # within one ulp; pick the nearest neighbour, even on ties
        cands = [near, np.nextafter(near, dtype.type(np.inf)), np.nextafter(near, -np.inf)]
        uint = np.dtype(f"u{dtype.itemsize}")
        out.append(min(cands, key=lambda v: (abs(Fraction(float(v)) - q), int(v.view(uint)) & 1)))
    return np.array(out, dtype=dtype)


# --- the fused multiply-add behind SGD's bit equality -------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_fma_rounds_once(dtype: Any) -> None:
    rng = np.random.default_rng(2)
    n = 400
    a = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 3, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    ab = a.astype(np.float64) * b
    c = np.concatenate(
        [
            rng.standard_normal(n // 4),
            -ab[: n // 4],  # total cancellation
            -ab[: n // 4] * (1 + 1e-3 * rng.standard_normal(n // 4)),  # partial cancellation
            ab[: n // 4] * 2.0 ** -rng.integers(20, 60, n // 4),  # c far below a * b
        ]
    ).astype(dtype)
    np.testing.assert_array_equal(fma(a, b, c), exact_fma(a, b, c))
    assert fma(a, b, c).dtype == dtype


def test_fma_hard_cases() -> None:
    # float32: a * b + c lands in float64 exactly on a float32 midpoint; it must not round twice.
    f32 = np.float32
    a, b, c = (np.array([v], f32) for v in (1 + 2**-23, 2**-24 * (1 - 2**-23), 1 + 2**-23))
    assert (a.astype(np.float64) * b + c).astype(f32)[0] != c[0]  # two roundings go wrong
    assert fma(a, b, c)[0] == c[0]
    # float64: a scalar multiplier (as lr is), broadcasting, and exact ties.
    x = np.array([1 + 2**-52, 3.0, 2**-30])
    np.testing.assert_array_equal(
        fma(x, -(1 + 2**-52), x), exact_fma(np.full(3, -(1 + 2**-52)), x, x)
    )
    np.testing.assert_array_equal(
        fma(np.float64(0.5), x, 1.0), exact_fma(np.full(3, 0.5), x, np.ones(3))
    )


def torch_add_is_fused() -> bool:
    """Whether this PyTorch build's CPU ``add(alpha=)`` rounds once (AVX2/AVX-512 builds do)."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal(1000), rng.standard_normal(1000)
    got = torch.from_numpy(y).add(torch.from_numpy(x), alpha=0.0137).numpy()
    return bool(np.array_equal(got, fma(x, 0.0137, y)))


needs_fused_torch = pytest.mark.skipif(
    not torch_add_is_fused(),
    reason="this PyTorch CPU kernel rounds y + a * x twice (no FMA); bit equality needs FMA",
)


# --- SGD against torch.optim.SGD, bit for bit ---------------------------------------------

SGD_GRID = [
    dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
    for m, d, n, wd, mx in itertools.product(
        [0.0, 0.5, 0.9], [0.0, 0.3], [False, True], [0.0, 1e-2], [False, True]
    )
    if not (n and (m == 0 or d != 0)) and not (mx and (d != 0 or wd == 0))
]


@needs_fused_torch
@pytest.mark.parametrize("options", SGD_GRID, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_matches_torch_bit_for_bit(options: dict[str, Any], dtype: Any) -> None:
    second = {"lr": 0.03, "weight_decay": 0.1}  # a second group with its own options
    grads = gradients(dtype=dtype)
    ours = run_ours(lambda p: SGD(two_groups(p, second), lr=0.1, **options), grads, dtype=dtype)
    theirs = run_torch(
        lambda p: torch.optim.SGD(two_groups(p, second), lr=0.1, foreach=False, **options),
        grads,
        dtype=dtype,
    )
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for x, y in zip(a, b, strict=True):
            assert x.dtype == dtype
            assert np.array_equal(x, y), f"step {step + 1}: max |diff| {np.abs(x - y).max()}"


@needs_fused_torch
@pytest.mark.parametrize("options", SGD_GRID[::3], ids=str)
@pytest.mark.parametrize("foreach", [True, False])
def test_sgd_one_group_matches_torch_bit_for_bit(options: dict[str, Any], foreach: bool) -> None:
    # Both parameters in one group: foreach=True updates them laid end to end.
    grads = gradients(30, dtype=np.float32)
    ours = run_ours(lambda p: SGD(p, lr=0.1, foreach=foreach, **options), grads, dtype=np.float32)
    theirs = run_torch(
        lambda p: torch.optim.SGD(p, lr=0.1, foreach=False, **options), grads, dtype=np.float32
    )
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y), f"step {step + 1}: max |diff| {np.abs(x - y).max()}"


@pytest.mark.parametrize("form", ["pytorch", "classical"])
def test_sgd_foreach_equals_one_at_a_time(form: str) -> None:
    # Mixed dtypes in one group, and a parameter without a gradient at the first steps (so one
    # step has parameters with and without a momentum buffer): the same bits either way.
    rng = np.random.default_rng(4)
    start = [
        rng.standard_normal((4, 3)).astype(np.float32),
        rng.standard_normal(5).astype(np.float32),
        rng.standard_normal((2, 2)),
        rng.standard_normal(6).astype(np.float32),
    ]
    runs = []
    for foreach in (True, False):
        params = [Param(x.copy()) for x in start]
        opt = SGD(params, 0.05, 0.9, 0.0, 1e-3, form == "pytorch", foreach=foreach, form=form)
        grads = np.random.default_rng(5)
        for step in range(8):
            for j, p in enumerate(params):
                p.grad = None if (j == 3 and step < 3) else grads.standard_normal(p.data.shape)
            opt.step()
        runs.append((params, opt.state_dict()))
    (ours, ours_state), (ref, ref_state) = runs
    for p, q in zip(ours, ref, strict=True):
        assert p.data.dtype == q.data.dtype
        assert np.array_equal(p.data, q.data)
    assert ours_state.keys() == ref_state.keys()
    for key, value in ours_state.items():
        assert np.array_equal(value, ref_state[key]), key


def test_sgd_positional_order_is_torchs() -> None:
    # torch.optim.SGD(params, lr, momentum, dampening, weight_decay, nesterov)
    opt = SGD([Param(np.zeros(2))], 0.1, 0.9, 0.0, 1e-2, True)
    group = opt.param_groups[0]
    assert (group["weight_decay"], group["nesterov"]) == (1e-2, True)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], 0.1, 0.9, 0.0, 1e-2, True)
    assert {k: theirs.param_groups[0][k] for k in ("weight_decay", "nesterov")} == {
        "weight_decay": 1e-2,
        "nesterov": True,
    }


@needs_fused_torch
def test_sgd_with_step_schedule_matches_torch_bit_for_bit() -> None:
    grads = gradients(60)
    ours_params = [Param(x) for x in initial()]
    theirs_params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in initial()]
    ours = SGD(ours_params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    theirs = torch.optim.SGD(
        theirs_params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3, foreach=False
    )
    ours_sched = StepLR(ours, step_size=3, gamma=0.5)
    theirs_sched = torch.optim.lr_scheduler.StepLR(theirs, step_size=3, gamma=0.5)
    for step, step_grads in enumerate(grads):
        for p, q, g in zip(ours_params, theirs_params, step_grads, strict=True):
            p.grad, q.grad = g.copy(), torch.from_numpy(g.copy())
        ours.step()
        theirs.step()
        if step % 5 == 4:  # an "epoch" of five batches
            ours_sched.step()
            theirs_sched.step()
        for p, q in zip(ours_params, theirs_params, strict=True):
            assert np.array_equal(p.data, q.detach().numpy())


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


# --- Adam and AdamW against PyTorch --------------------------------------------------------

ADAM_GRID = [
    dict(betas=betas, weight_decay=wd, amsgrad=ams, maximize=mx)
    for betas, wd, ams, mx in itertools.product(
        [(0.9, 0.999), (0.3, 0.5)], [0.0, 0.1], [False, True], [False, True]
    )
]


@pytest.mark.parametrize("options", ADAM_GRID, ids=str)
@pytest.mark.parametrize(
    "ours_cls, torch_cls", [(Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW)]
)
def test_adam_matches_torch(options: dict[str, Any], ours_cls: Any, torch_cls: Any) -> None:
    second = {"lr": 0.003, "eps": 1e-6}
    grads = gradients()
    ours = run_ours(lambda p: ours_cls(two_groups(p, second), lr=0.01, **options), grads)
    theirs = run_torch(
        lambda p: torch_cls(two_groups(p, second), lr=0.01, foreach=False, **options), grads
    )
    for a, b in zip(ours, theirs, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=0)


# --- schedules against torch.optim.lr_scheduler --------------------------------------------

SCHEDULES = {
    "step": (
        lambda o: StepLR(o, 4, gamma=0.5),
        lambda o: torch.optim.lr_scheduler.StepLR(o, 4, 0.5),
    ),
    "multistep": (
        lambda o: MultiStepLR(o, [3, 7, 7, 12], gamma=0.3),
        lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [3, 7, 7, 12], gamma=0.3),
    ),
    "linear": (
        lambda o: LinearLR(o, start_factor=0.1, total_iters=8),
        lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=8),
    ),
    "cosine": (
        lambda o: CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
    ),
}


def lr_sequence(make_sched: Callable[[Any], Any], opt: Any, epochs: int = 30) -> list[list[float]]:
    sched = make_sched(opt)
    lrs = [sched.get_last_lr()]
    for _ in range(epochs):
        opt.step()  # no gradients: nothing moves, but torch wants step() before sched.step()
        sched.step()
        lrs.append(sched.get_last_lr())
    return lrs


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_torch(name: str) -> None:
    ours_make, torch_make = SCHEDULES[name]
    ours_opt = SGD(two_groups([Param(x) for x in initial()], {"lr": 0.02}), lr=0.1)
    theirs_opt = torch.optim.SGD(
        two_groups([torch.nn.Parameter(torch.from_numpy(x)) for x in initial()], {"lr": 0.02}),
        lr=0.1,
    )
    ours, theirs = lr_sequence(ours_make, ours_opt), lr_sequence(torch_make, theirs_opt)
    assert ours == theirs  # float for float: the same recursion in the same order
    assert [g["lr"] for g in ours_opt.param_groups] == ours[-1]


def test_cosine_recursion_tracks_the_closed_form() -> None:
    opt = SGD([Param(np.zeros(2))], lr=0.1)
    lrs = lr_sequence(lambda o: CosineAnnealingLR(o, T_max=10, eta_min=1e-3), opt)
    for e, (lr,) in enumerate(lrs):
        closed = 1e-3 + (0.1 - 1e-3) * (1 + math.cos(math.pi * e / 10)) / 2
        assert abs(lr - closed) <= 1e-12 * 0.1


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_state_dict_round_trip(name: str) -> None:
    make = SCHEDULES[name][0]
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


# --- checkpoints ---------------------------------------------------------------------------

CHECKPOINTED = {
    "sgd": lambda p: SGD(two_groups(p, {"lr": 0.01}), lr=0.1, momentum=0.9, weight_decay=1e-3),
    "sgd-nesterov-dampened": lambda p: SGD(
        two_groups(p, {"nesterov": True}), lr=0.1, momentum=0.8, dampening=0.0
    ),
    "sgd-classical": lambda p: SGD(p, lr=0.1, momentum=0.9, form="classical"),
    "adam-amsgrad": lambda p: Adam(two_groups(p, {"betas": (0.8, 0.99)}), lr=0.01, amsgrad=True),
    "adamw": lambda p: AdamW(p, lr=0.01),
}


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


@pytest.mark.parametrize("name", sorted(CHECKPOINTED))
def test_state_dict_round_trip_through_npz(name: str, tmp_path: Any) -> None:
    make, grads = CHECKPOINTED[name], gradients()
    straight = [Param(x) for x in initial()]
    train(make(straight), straight, grads)

    params = [Param(x) for x in initial()]
    opt = make(params)
    train(opt, params, grads[:50])
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    np.savez(tmp_path / "params.npz", *[p.data for p in params])

    with np.load(tmp_path / "params.npz", allow_pickle=False) as saved:
        resumed = [Param(saved[f"arr_{i}"]) for i in range(len(SHAPES))]
    resumed_opt = make(resumed)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as saved:
        resumed_opt.load_state_dict(saved)
    train(resumed_opt, resumed, grads[50:], start=50)
    for p, q in zip(resumed, straight, strict=True):
        assert np.array_equal(p.data, q.data)
    for group, saved_group in zip(resumed_opt.param_groups, opt.param_groups, strict=True):
        options = {k: v for k, v in group.items() if k != "params"}
        assert options == {k: v for k, v in saved_group.items() if k != "params"}
        assert all(type(v) is type(saved_group[k]) for k, v in options.items())


def test_state_dict_is_flat_and_detached() -> None:
    params = [Param(x) for x in initial()]
    opt = Adam(params, lr=0.01)
    train(opt, params, gradients(3))
    state = opt.state_dict()
    assert state["param_groups.0.params"].tolist() == [0, 1]
    assert state["param_groups.0.betas"].tolist() == [0.9, 0.999]
    assert state["state.0.step"] == 3 and state["state.1.step"] == 2
    for key, value in state.items():
        assert isinstance(value, (np.ndarray, float, int, bool)), key
    before = state["state.0.exp_avg"].copy()
    train(opt, params, gradients(2))
    assert np.array_equal(state["state.0.exp_avg"], before)


def test_load_state_dict_rejects_a_checkpoint_that_does_not_fit() -> None:
    params = [Param(x) for x in initial()]
    adam = Adam(params, lr=0.01)
    train(adam, params, gradients(2))
    with pytest.raises(ValueError, match="lacks"):
        SGD([Param(x) for x in initial()], lr=0.1).load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match="groups"):
        Adam(two_groups([Param(x) for x in initial()], {}), lr=0.01).load_state_dict(
            adam.state_dict()
        )
    other = [Param(np.zeros(4)), Param(np.zeros(3))]
    with pytest.raises(ValueError, match="shape"):
        Adam(other, lr=0.01).load_state_dict(adam.state_dict())
    bad = {**adam.state_dict(), "param_groups.0.lr": -1.0}
    fresh = Adam([Param(x) for x in initial()], lr=0.01)
    with pytest.raises(ValueError, match="lr"):
        fresh.load_state_dict(bad)
    assert fresh.state == {} and fresh.param_groups[0]["lr"] == 0.01  # nothing changed


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
