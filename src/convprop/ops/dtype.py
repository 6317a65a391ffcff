"""The cast primitive, and the functions on it: ``to(z, dtype)`` and ``clone(z)``.

A cast changes how each entry is stored, not what it is, so it is linear with the identity as
its Jacobian (up to rounding): the adjoint casts the error back to the input's dtype. ``clone``
is a cast to the same dtype, i.e. a copy that stays in the graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convprop.ops.primitive import Primitive
from convprop.tensor import FLOAT_DTYPES, INDEX_DTYPES, Tensor, no_grad


# cast  F: x = z stored as dtype (a copy)   G: g stored as z's dtype
def _cast(z, dtype):
    return z.astype(dtype, copy=True), z.dtype


def _cast_adjoint(g, dtype):
    return (g.astype(dtype, copy=False),)


_cast_prim = Primitive("cast", _cast, _cast_adjoint, linear=True)


def to(z: Tensor, dtype: Any) -> Tensor:
    """``x = z`` as ``dtype``, in the graph: ``G: delta = eps`` cast back to ``z``'s dtype.

    Returns ``z`` itself when it already has ``dtype``, as ``torch.Tensor.to``. A float dtype
    keeps the gradient; ``bool`` or ``np.int64`` gives a mask or index tensor without one.

    Shape: ``(*) -> (*)``.
    """
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES + INDEX_DTYPES:
        raise ValueError(
            f"to: unsupported dtype {dtype}; use float32, float64 (or bool, int64 without grad)"
        )
    if dtype == z.dtype:
        return z
    if dtype in INDEX_DTYPES:
        with no_grad():
            return _cast_prim(z, dtype=dtype)
    return _cast_prim(z, dtype=dtype)


def clone(z: Tensor) -> Tensor:
    """``x = z``, a copy of the data that stays in the graph (``G: delta = eps``).

    Shape: ``(*) -> (*)``.
    """
    return _cast_prim(z, dtype=z.dtype)
