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

from convprop.ops.arith import add, div, matmul, mul, neg, pow, sub
from convprop.ops.pointwise import exp, log, relu, sigmoid, sqrt, tanh
from convprop.ops.reduce import max, mean, sum
from convprop.ops.shape import flip, getitem, reshape, transpose
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
    """``t.op(axis=None, keepdims=False)``: ``op(t, axis=axis, keepdims=keepdims)``."""
    return lambda self, axis=None, keepdims=False: op(self, axis=axis, keepdims=keepdims)


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
    "sum": _reduction(sum),
    "mean": _reduction(mean),
    "max": _reduction(max),
    "reshape": _reshape,
    "transpose": _transpose,
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
