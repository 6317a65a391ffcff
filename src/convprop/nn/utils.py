"""Gradient clipping, as ``torch.nn.utils``: rescale or clamp ``.grad`` in place.

With ``g_1, ..., g_n`` the gradients of the parameters that have one::

    clip_grad_norm_    N = || (||g_1||_p, ..., ||g_n||_p) ||_p      (the norm of all of them)
                       g_i <- g_i * min(1, max_norm / (N + 1e-6))
    clip_grad_value_   g_i <- clamp(g_i, -clip_value, clip_value)

For ``p = inf``, ``||g||_inf = max |g|``. Call them between ``loss.backward()`` and
``optimizer.step()``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from convprop.tensor import Tensor


def _grads(parameters: Tensor | Iterable[Any]) -> list[np.ndarray]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def _norm(g: np.ndarray, p: float) -> np.ndarray:
    a = np.abs(g.ravel())
    if math.isinf(p):
        return a.max(initial=0)
    if p == 2.0:
        return np.sqrt(np.dot(a, a))
    return np.sum(a**p) ** (1.0 / p)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Any],
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> np.ndarray:
    """Scale every gradient by ``min(1, max_norm / (N + 1e-6))``, ``N`` the ``norm_type``-norm
    of all the gradients together (``inf``: the largest entry); returns ``N``.

    Args:
        parameters: a Tensor or an iterable of them (those without ``.grad`` are skipped).
        max_norm: the largest norm the gradients keep.
        norm_type: ``p > 0``, or ``inf`` (also as the string ``"inf"``).
        error_if_nonfinite: raise RuntimeError when ``N`` is NaN or infinite (otherwise the
            gradients are scaled by NaN or 0, as PyTorch does).
        foreach: accepted for PyTorch compatibility; ignored.

    Returns:
        ``N`` as a 0-d NumPy array in the gradients' dtype (PyTorch returns a 0-d tensor);
        ``float(N)`` or ``N.item()`` gives the number. 0.0 when no parameter has a gradient.
    """
    p = float(norm_type)
    if not (p > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type!r}")
    grads = _grads(parameters)
    if not grads:
        return np.asarray(0.0)
    dtype = np.result_type(*grads)
    norms = np.array([_norm(g, p) for g in grads], dtype=dtype)
    total = np.asarray(_norm(norms, p), dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total {norm_type}-norm of the gradients is {float(total)}; "
            f"pass error_if_nonfinite=False to scale them anyway"
        )
    coef = np.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    for g in grads:
        np.multiply(g, coef.astype(g.dtype), out=g)
    return total


def clip_grad_value_(
    parameters: Tensor | Iterable[Any], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]``, in place.

    ``foreach`` is accepted for PyTorch compatibility and ignored.
    """
    clip_value = float(clip_value)
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
