"""sgd_momentum: the update over several steps, in either convention.

The classical (heavy-ball) step, the seed's Q5 with its step size applied once::

    v <- gamma * v - alpha * g          (v starts at 0)
    theta <- theta + v

(PyTorch's ``b <- mu b + g; theta <- theta - lr b`` gives the same iterates.)

- ``seed``: ``momentum_step(theta, g, v, alpha, gamma) -> (theta, v)``; the grader passes the
  returned ``v`` back at the next step (zeros at the first);
- ``cs231n``: ``sgd_momentum(w, dw, config) -> (next_w, config)`` with
  ``config["learning_rate"]``, ``config["momentum"]`` and ``config["velocity"]`` (zeros at the
  first step); the grader passes the returned config back at the next step.

The part ``update`` is the whole trajectory, ``(steps, *shape)``: its first wrong index starts
with the step. Setting: ``shape``, ``steps`` (default 5), ``learning_rate`` (default 0.01),
``momentum`` (default 0.9); a fresh random gradient at every step.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from convprop.grading.layers.common import Calls, PartResult, Setting, Slip, verdict
from convprop.grading.submission import Submission
from convprop.optim.sgd import classical_momentum_step, seed_momentum_step


def judge(
    sub: Submission, convention: str, setting: dict, options: dict, names: dict
) -> dict[str, PartResult]:
    """The update of a momentum step over ``steps`` steps."""
    s = Setting("sgd_momentum", setting)
    shape = s.shape("shape", range(1, 9))
    steps = s.integer("steps", 5, low=1)
    lr = s.number("learning_rate", 0.01)
    mu = s.number("momentum", 0.9)
    s.done()
    rng = np.random.default_rng(int(options.get("seed") or 0))
    w0 = rng.standard_normal(shape)
    grads = rng.standard_normal((steps, *shape))
    calls = Calls(sub, options.get("timeout"), 10 * w0.size)
    got = _trajectory(calls, convention, names["function"], w0, grads, lr, mu)
    ref = _steps(w0, grads, partial(classical_momentum_step, lr=lr, momentum=mu))
    slips = [
        Slip(
            "step_applied_twice",
            "theta moves by alpha * v: the step size applied twice (the seed's Q5 as written)",
            "theta <- theta + v: v already holds the step size",
            _steps(w0, grads, partial(seed_momentum_step, gamma=mu, alpha=lr), zeros=True),
        ),
        Slip(
            "momentum_sign",
            "the update goes uphill: v <- gamma v + alpha g with theta + v",
            "v <- gamma v - alpha g; theta <- theta + v",
            _run(w0, grads, lambda v, g: mu * v + lr * g, lambda w, v: w + v),
        ),
        Slip(
            "momentum_sign",
            "the update goes uphill: theta - v with v <- gamma v - alpha g",
            "v <- gamma v - alpha g; theta <- theta + v",
            _run(w0, grads, lambda v, g: mu * v - lr * g, lambda w, v: w - v),
        ),
        Slip(
            "velocity_not_kept",
            "each step is plain SGD: the velocity is not kept between steps",
            "return (or store in config['velocity']) the new v, used at the next step",
            _run(w0, grads, lambda v, g: -lr * g, lambda w, v: w + v),
        ),
    ]
    fix = "v = momentum * v - learning_rate * dw; next_w = w + v (v kept for the next step)"
    return {"update": verdict(calls, "update", got, ref, slips, fix, "the trajectory")}


def _steps(w, grads, step, zeros: bool = False) -> np.ndarray:
    """The iterates of convprop's own step function (it updates theta and v in place)."""
    out, w, v = [], w.copy(), np.zeros_like(w) if zeros else None
    for g in grads:
        v = step(w, g, v)
        out.append(w.copy())
    return np.stack(out)


def _run(w, grads, velocity, position) -> np.ndarray:
    out, v = [], np.zeros_like(w)
    for g in grads:
        v = velocity(v, g)
        w = position(w, v)
        out.append(w)
    return np.stack(out)


def _trajectory(calls: Calls, convention, name, w, grads, lr, mu) -> np.ndarray | None:
    """The submission's iterates, or None when a step fails (its finding is in the notes)."""
    out = []
    if convention == "cs231n":
        state = {"learning_rate": lr, "momentum": mu, "velocity": np.zeros_like(w)}
        returns = ["next_w", "config:any"]
    else:
        state, returns = np.zeros_like(w), ["theta", "v:any"]
    for g in grads:
        args = (w, g, state) if convention == "cs231n" else (w, g, state, lr, mu)
        result = calls(("update",), name, *args, returns=returns)
        if result is None:
            return None
        w, state = result
        if w.shape != g.shape:
            return np.asarray(w)
        out.append(w)
    return np.stack(out)
