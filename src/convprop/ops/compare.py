"""Functions without a gradient: comparisons, ``argmax``/``argmin``, ``any``/``all``.

Their outputs are piecewise constant in the inputs (the derivative is zero almost everywhere),
so they are plain functions, not primitives: they record no graph node and return tensors of
NumPy ``bool`` data (comparisons, ``any``, ``all``) or ``int64`` data (``argmax``, ``argmin``)
that never require a gradient, as PyTorch's. ``mask.float()`` turns a mask into numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from convprop.ops.primitive import elementwise
from convprop.tensor import Tensor


def _plain(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _comparison(name: str, fn: Callable[..., np.ndarray], sign: str) -> Callable:
    def compare(a: Any, b: Any) -> Tensor:
        return Tensor(elementwise(name, fn, _plain(a), _plain(b)), dtype=np.bool_)

    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"``a {sign} b`` elementwise (NumPy broadcasting): a bool tensor, no grad."
    return compare


eq = _comparison("eq", np.equal, "==")
ne = _comparison("ne", np.not_equal, "!=")
lt = _comparison("lt", np.less, "<")
le = _comparison("le", np.less_equal, "<=")
gt = _comparison("gt", np.greater, ">")
ge = _comparison("ge", np.greater_equal, ">=")


def _arg(name: str, fn: Callable[..., np.ndarray], z: Any, dim: int | None, keepdim: bool):
    z = _plain(z)
    if z.size == 0:
        raise ValueError(f"{name} of an empty tensor of shape {z.shape}")
    if dim is not None and not -max(z.ndim, 1) <= dim < max(z.ndim, 1):
        raise ValueError(f"{name}: dim {dim} is out of range for a tensor of {z.ndim} dimensions")
    if z.ndim == 0:
        return Tensor(np.zeros((), dtype=np.int64), dtype=np.int64)
    return Tensor(fn(z, axis=dim, keepdims=keepdim).astype(np.int64), dtype=np.int64)


def argmax(z: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest entry along ``dim`` (of the flattened tensor when None); the first
    one on ties, as ``torch.argmax``. An int64 tensor without gradient.

    Shape: ``(*)`` with ``dim`` removed (kept as 1 if ``keepdim``); ``()`` for ``dim=None``.
    """
    return _arg("argmax", np.argmax, z, dim, keepdim)


def argmin(z: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest entry along ``dim``, as :func:`argmax` (``torch.argmin``)."""
    return _arg("argmin", np.argmin, z, dim, keepdim)


def any(z: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where some entry along ``dim`` (anywhere, when None) is nonzero: a bool tensor."""
    return Tensor(np.any(_plain(z), axis=dim, keepdims=keepdim), dtype=np.bool_)


def all(z: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where every entry along ``dim`` (everywhere, when None) is nonzero: a bool tensor."""
    return Tensor(np.all(_plain(z), axis=dim, keepdims=keepdim), dtype=np.bool_)
