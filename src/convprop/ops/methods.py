"""A Tensor's operators and methods, bound to the primitives: one table, one line per name.

:mod:`convprop.tensor` holds the data, the grad mode and ``backward()`` and imports no op; this
module gives :class:`~convprop.tensor.Tensor` its arithmetic (``a + b`` is ``add(a, b)``,
``2 - a`` is ``sub(2, a)``) and its PyTorch-style methods (``t.sum(axis)`` is
``sum(t, axis=axis)``). ``convprop.ops`` loads it, and ``import convprop`` loads
``convprop.ops``, so every Tensor has them whatever a user imports first. A new method is one
line in :data:`METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from convprop.ops import compare
from convprop.ops.arith import add, div, matmul, mul, neg, pow, sub
from convprop.ops.dtype import clone, to
from convprop.ops.pointwise import exp, log, relu, sigmoid, sqrt, tanh
from convprop.ops.reduce import max, mean, min, sum
from convprop.ops.shape import (
    flatten,
    flip,
    getitem,
    permute,
    reshape,
    squeeze,
    transpose,
    unsqueeze,
)
from convprop.tensor import Tensor


def _unary(op: Callable[..., Tensor]) -> Callable[[Tensor], Tensor]:
    """``t.op()`` and ``-t``: ``op(t)``."""
    return lambda self: op(self)


def _binary(op: Callable[..., Tensor]) -> Callable[[Tensor, Any], Tensor]:
    """``t (op) other``: ``op(t, other)``."""
    return lambda self, other: op(self, other)


def _reflected(op: Callable[..., Tensor]) -> Callable[[Tensor, Any], Tensor]:
    """``other (op) t`` when ``other`` is not a Tensor: ``op(other, t)``."""
    return lambda self, other: op(other, self)


def _reduction(op: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``t.op(axis=None, keepdims=False)``: ``op(t, axis=axis, keepdims=keepdims)``; PyTorch's
    keywords ``dim`` and ``keepdim`` are accepted too (``t.sum(dim=1)``)."""

    def method(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
        if dim is not None and axis is not None:
            raise TypeError("give dim or axis, not both")
        keep = keepdims if keepdim is None else keepdim
        return op(self, axis=axis if dim is None else dim, keepdims=keep)

    return method


def _arg(op: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``t.argmax(dim=None, keepdim=False)``: ``op(t, dim, keepdim)``, PyTorch's signature."""
    return lambda self, dim=None, keepdim=False: op(self, dim, keepdim)


def _to(self: Tensor, *args: Any, dtype: Any = None) -> Tensor:
    """``t.to(np.float64)``, ``t.to(dtype=...)``, ``t.to("cpu")`` (the only device) or
    ``t.to(other)`` (other's dtype), as ``torch.Tensor.to``."""
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda", "mps"):
            if arg.split(":")[0] != "cpu":
                raise ValueError(f"to({arg!r}): convprop runs on the CPU only")
        else:
            dtype = arg
    return self if dtype is None else to(self, dtype)


def _reshape(self: Tensor, *shape: Any) -> Tensor:
    """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``."""
    return reshape(self, shape[0] if len(shape) == 1 else shape)


def _transpose(self: Tensor, *axes: Any) -> Tensor:
    """``t.transpose()``, ``t.transpose(1, 0)`` or ``t.transpose((1, 0))``."""
    return transpose(self, (axes[0] if len(axes) == 1 else axes) or None)


METHODS: dict[str, Any] = {
    "__add__": _binary(add),
    "__radd__": _reflected(add),
    "__sub__": _binary(sub),
    "__rsub__": _reflected(sub),
    "__mul__": _binary(mul),
    "__rmul__": _reflected(mul),
    "__truediv__": _binary(div),
    "__rtruediv__": _reflected(div),
    "__neg__": _unary(neg),
    "__pow__": _binary(pow),
    "__rpow__": _reflected(pow),
    "__matmul__": _binary(matmul),
    "__rmatmul__": _reflected(matmul),
    "__getitem__": _binary(getitem),
    "__eq__": _binary(compare.eq),
    "__ne__": _binary(compare.ne),
    "__lt__": _binary(compare.lt),
    "__le__": _binary(compare.le),
    "__gt__": _binary(compare.gt),
    "__ge__": _binary(compare.ge),
    "sum": _reduction(sum),
    "mean": _reduction(mean),
    "max": _reduction(max),
    "min": _reduction(min),
    "argmax": _arg(compare.argmax),
    "argmin": _arg(compare.argmin),
    "any": _arg(compare.any),
    "all": _arg(compare.all),
    "reshape": _reshape,
    "view": _reshape,
    "transpose": _transpose,
    "permute": permute,
    "squeeze": lambda self, dim=None: squeeze(self, dim),
    "unsqueeze": unsqueeze,
    "flatten": flatten,
    "clone": _unary(clone),
    "to": _to,
    "float": lambda self: to(self, np.float32),
    "double": lambda self: to(self, np.float64),
    "T": property(_unary(transpose)),
    "flip": lambda self, axis=None: flip(self, axis),
    "exp": _unary(exp),
    "log": _unary(log),
    "sqrt": _unary(sqrt),
    "relu": _unary(relu),
    "tanh": _unary(tanh),
    "sigmoid": _unary(sigmoid),
}

for _name, _method in METHODS.items():
    setattr(Tensor, _name, _method)
