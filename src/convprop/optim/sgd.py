r"""Stochastic gradient descent with momentum, in PyTorch's form and in the classical one.

PyTorch's form (``form="pytorch"``, the default), with gradient ``g``, learning rate ``lr``,
momentum ``mu``, dampening ``tau`` and weight decay ``wd``::

    g <- g + wd * theta
    b <- mu * b + (1 - tau) * g          (on the first step, b <- g)
    g <- g + mu * b  if nesterov  else  g <- b
    theta <- theta - lr * g

The classical (heavy-ball) form (``form="classical"``), the algorithm of the seed's Q5 with
its step applied once (see below), with ``gamma = mu`` and step ``alpha = lr``::

    d <- -(g + wd * theta)
    v <- gamma * v + alpha * d           (v starts at 0)
    theta <- theta + v                   (theta + gamma * v + alpha * d  if nesterov)

The two conventions, ``b <- mu b + g; theta <- theta - lr b`` versus ``v <- mu v - lr g;
theta <- theta + v``, are the ones PyTorch's own SGD note contrasts (Sutskever et al., 2013,
write the second). With a constant learning rate they coincide: ``v = -lr * b`` at every step,
so the iterates are identical up to rounding. They differ once the learning rate changes
during training (a schedule): PyTorch's buffer holds gradients alone and the new lr applies to
all of it, while the classical velocity still carries steps taken with the old lr.

The seed's written pseudo-code ends with ``theta <- theta + alpha v``, which applies ``alpha``
a second time. With ``u = alpha v`` it reads ``u <- gamma u + alpha**2 d; theta <- theta + u``:
the classical heavy ball with step ``alpha**2`` and the same ``gamma``. convprop implements
the standard form above; :func:`seed_momentum_step` keeps the written one for comparison.

What the tests check: :class:`SGD` follows ``torch.optim.SGD``'s trajectory over 100 steps
(every option, and the classical form where the two coincide) to a relative error of 1e-6 in
float32 and 1e-12 in float64. It is not bit for bit: PyTorch's CPU kernels fuse
``y + a * x`` into one rounding, plain NumPy rounds twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

import numpy as np

from convprop.optim.optimizer import Optimizer, check_nonnegative, check_unit_interval

FORMS = ("pytorch", "classical")
OPTIONS = ("lr", "momentum", "nesterov", "weight_decay", "maximize")  # both forms take these


def sgd_step(
    param: np.ndarray,
    grad: np.ndarray,
    buf: np.ndarray | None,
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> np.ndarray | None:
    """One SGD step in PyTorch's form, updating ``param`` (``theta``) and ``buf`` in place::

        g <- g + wd * theta
        b <- mu * b + (1 - tau) * g          (b <- g on the first step)
        theta <- theta - lr * (g + mu * b  if nesterov  else  b)

    ``buf`` is the momentum buffer ``b`` (None before the first step); returns the buffer to
    pass next time (None when ``momentum == 0``). ``grad`` is left unchanged.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum != 0:
        if buf is None:
            buf = g.copy()  # b <- g on the first step
        else:
            buf *= momentum
            buf += (1 - dampening) * g  # b <- mu * b + (1 - tau) * g
        g = g + momentum * buf if nesterov else buf
    param -= lr * g
    return buf


def classical_momentum_step(
    param: np.ndarray,
    grad: np.ndarray,
    velocity: np.ndarray | None,
    *,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> np.ndarray | None:
    """One classical heavy-ball step, updating ``param`` (``theta``) and ``velocity`` in place::

        d <- -(g + wd * theta)
        v <- gamma * v + alpha * d
        theta <- theta + (gamma * v + alpha * d  if nesterov  else  v)

    ``gamma = momentum``, ``alpha = lr``; ``velocity`` is ``v`` (None means 0). Returns the
    velocity to pass next time (None when momentum is 0).
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    d = -g
    if momentum == 0:
        param += lr * d
        return None
    if velocity is None:
        velocity = np.zeros_like(param)
    velocity *= momentum
    velocity += lr * d  # v <- gamma * v + alpha * d
    param += momentum * velocity + lr * d if nesterov else velocity
    return velocity


def seed_momentum_step(
    theta: np.ndarray, grad: np.ndarray, v: np.ndarray, *, gamma: float, alpha: float
) -> np.ndarray:
    """The seed's written form, for comparison only: not what :class:`SGD` does.

    Implements the midterm's Q5 pseudo-code literally, updating ``theta`` and ``v`` in place::

        d <- -grad;  v <- gamma v + alpha d;  theta <- theta + alpha v

    ``alpha`` enters twice, so this is the heavy ball with step ``alpha**2``: ``u = alpha v``
    obeys ``u <- gamma u + alpha**2 d; theta <- theta + u``. Start with ``v`` zero; returns it.
    """
    d = -grad
    v *= gamma
    v += alpha * d
    theta += alpha * v
    return v


class SGD(Optimizer):
    """Stochastic gradient descent with momentum; the update equations are the module's.

    Args:
        params: parameters, or dicts of per-group options (see :class:`Optimizer`).
        lr: learning rate ``lr`` (``alpha``), finite and >= 0.
        momentum: ``mu`` (``gamma``) in [0, 1).
        dampening: ``tau`` in [0, 1]; PyTorch's form only.
        weight_decay: L2 penalty ``wd`` >= 0, added to the gradient.
        nesterov: Nesterov momentum; needs momentum > 0 and dampening 0 (PyTorch's rule).
        maximize: ascend instead of descend.
        form: ``"pytorch"`` (state ``momentum_buffer``, ``b``) or ``"classical"`` (state
            ``velocity``, ``v = -lr * b`` under a constant lr).
        foreach: PyTorch's switch between a per-parameter and a multi-tensor update, accepted
            (None, True or False) so that PyTorch code ports unchanged; convprop has one code
            path, the plain update one parameter at a time, which measured faster than laying
            the parameters end to end (docs/performance.md).

    The positional order is ``torch.optim.SGD``'s.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        form: str = "pytorch",
    ) -> None:
        if foreach not in (None, True, False):
            raise ValueError(f"invalid foreach: {foreach!r} (expected None, True or False)")
        if form not in FORMS:
            raise ValueError(f"invalid form: {form!r} (expected one of {FORMS})")
        self.form = form
        self._buffer = "momentum_buffer" if form == "pytorch" else "velocity"
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults, state_keys=[self._buffer])

    def _validate_group(self, group: dict[str, Any]) -> None:
        group["lr"] = check_nonnegative("lr", group["lr"])
        group["momentum"] = check_unit_interval("momentum", group["momentum"])
        group["dampening"] = check_unit_interval("dampening", group["dampening"], closed=True)
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
        group["nesterov"] = bool(group["nesterov"])
        group["maximize"] = bool(group["maximize"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("invalid nesterov: it requires momentum > 0 and dampening == 0")
        if self.form == "classical" and group["dampening"] != 0:
            raise ValueError("invalid dampening: form='classical' has none (use 0)")

    def step(self) -> None:
        """Take one step for every parameter with a gradient (see the module's equations)."""
        for group in self.param_groups:
            options = {k: group[k] for k in OPTIONS}
            if self.form == "pytorch":
                update = partial(sgd_step, dampening=group["dampening"], **options)
            else:
                update = partial(classical_momentum_step, **options)
            for state, data, grad in self._with_grad(group):
                buf = update(data, grad, state.get(self._buffer))
                if buf is not None:
                    state[self._buffer] = buf
