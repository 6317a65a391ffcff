r"""Gradient descent with momentum on an ill-conditioned quadratic, for many step sizes at once.

The problem, in its eigenbasis, with condition number ``kappa``::

    f(theta) = 1/2 sum_i lambda_i theta_i^2,   lambda = (1, kappa),   grad f = lambda * theta

The standard heavy ball (Polyak, 1964; the classical form of :mod:`convprop.optim.sgd`)::

    d <- -grad f(theta);   v <- gamma v + alpha d;   theta <- theta + v

The seed's Q5 pseudo-code ends instead with ``theta <- theta + alpha v``: with ``u = alpha v``
it is ``u <- gamma u + alpha^2 d; theta <- theta + u``, the heavy ball with step ``alpha^2``.

Known rates, for the distance to the minimum (the loss falls as their square): gradient
descent at its best step ``alpha = 2 / (1 + kappa)`` contracts by ``(kappa - 1) / (kappa + 1)``
per iteration; the heavy ball with momentum ``gamma`` contracts by ``sqrt(gamma)`` for every
step in ``[(1 - sqrt(gamma))^2, (1 + sqrt(gamma))^2 / kappa]`` (when that range is not empty),
and best, by ``(sqrt(kappa) - 1) / (sqrt(kappa) + 1)`` at ``gamma = that^2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convprop.optim import seed_momentum_step


def eigenvalues(kappa: float) -> np.ndarray:
    return np.array([1.0, float(kappa)])


def loss(lam: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``f(theta) = 1/2 sum_i lambda_i theta_i^2`` over the last axis."""
    return 0.5 * np.sum(lam * theta**2, axis=-1)


def heavy_ball(
    lam: np.ndarray,
    theta0: np.ndarray,
    alphas: np.ndarray,
    gamma: float,
    iterations: int,
    *,
    seed_form: bool = False,
    keep_path: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run one momentum method from ``theta0`` for every step size in ``alphas`` at once.

    Returns the losses ``(len(alphas), iterations + 1)`` (index 0 is ``f(theta0)``) and, if
    ``keep_path``, the iterates ``(len(alphas), iterations + 1, 2)``. With ``seed_form`` each
    step is :func:`convprop.optim.seed_momentum_step`, the seed's pseudo-code as written.
    """
    alpha = np.asarray(alphas, dtype=np.float64)[:, None]  # (n, 1)
    theta = np.tile(np.asarray(theta0, dtype=np.float64), (len(alpha), 1))  # (n, 2)
    v = np.zeros_like(theta)
    losses = np.empty((len(alpha), iterations + 1))
    path = np.empty((len(alpha), iterations + 1, theta.shape[1])) if keep_path else None
    losses[:, 0] = loss(lam, theta)
    if path is not None:
        path[:, 0] = theta
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, iterations + 1):
            grad = lam * theta
            if seed_form:
                seed_momentum_step(theta, grad, v, gamma=gamma, alpha=alpha)
            else:
                v *= gamma
                v -= alpha * grad  # v <- gamma v + alpha d,  d = -grad
                theta += v
            losses[:, t] = loss(lam, theta)
            if path is not None:
                path[:, t] = theta
    return losses, path


def iterations_to_tolerance(losses: np.ndarray, tol: float) -> np.ndarray:
    """Per row, the first iteration ``t`` after which ``f <= tol * f(theta0)`` holds to the end
    of the run; -1 where the run ends above it (too slow, or diverged)."""
    above = ~(losses <= tol * losses[:, :1])  # NaN and inf count as above
    last = losses.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1)  # last iteration above
    return np.where(last == losses.shape[1] - 1, -1, last + 1)


@dataclass
class Tuned:
    """One method at its best step size on the grid."""

    gamma: float
    alphas: np.ndarray  # the grid, coarse then refined, sorted
    iterations: np.ndarray  # to tolerance, per grid step (-1: not reached)
    best_alpha: float
    best_iterations: int  # -1 if no step size reached the tolerance


def tune(
    lam: np.ndarray,
    theta0: np.ndarray,
    gamma: float,
    *,
    tol: float,
    iterations: int,
    grid: np.ndarray,
    seed_form: bool = False,
) -> Tuned:
    """Fewest iterations to ``tol`` over the step sizes ``grid``, then over a grid 20 times
    finer between the best one's neighbours (ties go to the smaller step)."""
    counts = iterations_to_tolerance(
        heavy_ball(lam, theta0, grid, gamma, iterations, seed_form=seed_form)[0], tol
    )
    alphas, found = grid, counts
    if np.any(counts > 0):
        i = int(np.argmin(np.where(counts > 0, counts, np.iinfo(np.int64).max)))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        fine = np.geomspace(lo, hi, 41)
        fine_counts = iterations_to_tolerance(
            heavy_ball(lam, theta0, fine, gamma, iterations, seed_form=seed_form)[0], tol
        )
        alphas = np.concatenate([grid, fine])
        found = np.concatenate([counts, fine_counts])
        order = np.argsort(alphas, kind="stable")
        alphas, found = alphas[order], found[order]
    reached = found > 0
    if not np.any(reached):
        return Tuned(gamma, alphas, found, float("nan"), -1)
    best = int(np.argmin(np.where(reached, found, np.iinfo(np.int64).max)))
    return Tuned(gamma, alphas, found, float(alphas[best]), int(found[best]))


def theory_rate(kappa: float, gamma: float, alpha: float) -> float:
    """The contraction factor per iteration of the distance to the minimum: the spectral
    radius of the heavy ball's 2x2 iteration matrix, worst over the two eigenvalues."""
    worst = 0.0
    for lam in (1.0, float(kappa)):
        # [theta', v'] = [[1 - alpha lam, gamma], [-alpha lam, gamma]] [theta, v]
        T = np.array([[1 - alpha * lam, gamma], [-alpha * lam, gamma]])
        worst = max(worst, float(np.max(np.abs(np.linalg.eigvals(T)))))
    return worst


def predicted_iterations(rate: float, tol: float) -> float:
    """``ln(1/tol) / (2 ln(1/rate))``: iterations for the loss (rate squared) to fall by tol."""
    return math.log(1 / tol) / (2 * math.log(1 / rate)) if 0 < rate < 1 else math.inf
