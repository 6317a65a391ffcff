"""Reductions: sum, mean, max, min over ``axis`` (None, an int or a tuple), with ``keepdims``.

The adjoint of a reduction spreads ``g`` back over the reduced axes: ``sum`` copies it,
``mean`` copies ``g / n``, ``max`` sends it to the maximal entries (split evenly on ties).
``min`` is the composite ``-max(-z)``.
"""

from __future__ import annotations

import numpy as np

from convprop.ops.arith import neg
from convprop.ops.primitive import Primitive
from convprop.tensor import Tensor


def _axes(axis, ndim: int) -> tuple[int, ...]:
    """Normalise ``axis`` to a sorted tuple of non-negative axes, with a clear error."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
    normal = tuple(sorted(int(a) % ndim for a in axes))
    if len(set(normal)) != len(normal):
        raise ValueError(f"axis {axis} repeats an axis")
    return normal


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Reinsert the reduced axes of ``g`` as size-1 axes."""
    return g if keepdims else np.expand_dims(g, axes)


# sum  F: x = sum_{axes} z             G: broadcast g over the axes
def _sum(z, axis=None, keepdims=False):
    axes = _axes(axis, z.ndim)
    return np.sum(z, axis=axes, keepdims=keepdims), (z.shape, axes, keepdims)


def _sum_adjoint(g, ctx):
    shape, axes, keepdims = ctx
    return (np.broadcast_to(_expand(g, axes, keepdims), shape),)


sum = Primitive("sum", _sum, _sum_adjoint, linear=True)  # noqa: A001 (NumPy's name)


# mean  F: x = (1/n) sum_{axes} z      G: broadcast g / n over the axes
def _mean(z, axis=None, keepdims=False):
    axes = _axes(axis, z.ndim)
    n = int(np.prod([z.shape[a] for a in axes]))
    return np.mean(z, axis=axes, keepdims=keepdims), (z.shape, axes, keepdims, n)


def _mean_adjoint(g, ctx):
    shape, axes, keepdims, n = ctx
    return (np.broadcast_to(_expand(g, axes, keepdims) / n, shape),)


mean = Primitive("mean", _mean, _mean_adjoint, linear=True)


# max  F: x = max_{axes} z             G: g at the argmax entries, split evenly on ties
def _max(z, axis=None, keepdims=False):
    axes = _axes(axis, z.ndim)
    if z.size == 0:
        raise ValueError(f"max of an empty tensor of shape {z.shape}")
    top = np.max(z, axis=axes, keepdims=True)
    out = top if keepdims else np.squeeze(top, axes)
    return out, (z, top, axes, keepdims)


def _max_adjoint(g, ctx):
    z, top, axes, keepdims = ctx
    hit = z == top
    count = np.sum(hit, axis=axes, keepdims=True).astype(g.dtype)
    return (hit * (_expand(g, axes, keepdims) / count),)


max = Primitive("max", _max, _max_adjoint)  # noqa: A001 (NumPy's name)


def min(  # noqa: A001 (NumPy's name)
    z: Tensor | np.ndarray, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
) -> Tensor:
    """``x = min_{axes} z = -max_{axes}(-z)``: a composite, so its gradient is max's (``g`` at
    the minimal entries, split evenly on ties) and it needs no adjoint of its own.

    Shape: ``(*)`` with the reduced axes removed (kept as 1 if ``keepdims``).
    """
    return neg(max(neg(z), axis=axis, keepdims=keepdims))
