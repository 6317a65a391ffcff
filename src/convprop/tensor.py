"""Tensor and reverse-mode autodiff.

A :class:`Tensor` wraps a NumPy array. When a primitive ``F`` (see :mod:`convprop.ops`) maps
input tensors to an output, the output remembers a :class:`Node`: the primitive, its inputs,
and ``ctx``, whatever the primitive's adjoint ``G`` needs. ``backward()`` is the seed's back
propagation: it sorts the graph topologically (iteratively, so deep graphs hit no recursion
limit) and, from the output back to the leaves, applies each node's adjoint to the incoming
error ``eps`` and sums the gradients that reach the same tensor::

    x = F(z)          forward inference
    delta = G(eps)    back propagation: delta = (dF/dz)^T eps, a vector-Jacobian product

Float32 is the default dtype. Python numbers, lists and integer arrays become float32;
float64 is kept only when asked for (``dtype=np.float64``), which is what gradient checks do.
Comparisons (``a < b``, ``a == b``) and ``argmax``/``argmin`` give tensors of NumPy ``bool`` or
``int64`` data (:data:`INDEX_DTYPES`), which never require a gradient; ``Tensor(data,
dtype=bool)`` makes one explicitly, and ``mask.float()`` turns one into numbers.

This module imports no op: a Tensor's operators (``a + b``, ``a @ b``, ``t[i]``) and methods
(``t.sum()``, ``t.relu()``, ...) are bound to the primitives by :mod:`convprop.ops.methods`, which
``import convprop`` loads, so they are there whatever a user imports first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

DEFAULT_DTYPE = np.dtype(np.float32)
FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
INDEX_DTYPES = (np.dtype(np.bool_), np.dtype(np.int64))  # masks and indices: no gradient

_grad_enabled = True


@contextmanager
def no_grad() -> Iterator[None]:
    """Context manager (or decorator, ``@no_grad()``) in which ops record no graph."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    """True when ops record the graph that ``backward()`` needs."""
    return _grad_enabled


def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert ``data`` to a NumPy array: ``dtype`` if given, else float32.

    ``dtype`` is a float dtype, or ``bool``/``int64`` (:data:`INDEX_DTYPES`) when asked for
    explicitly. Raises ValueError for what cannot be a real tensor (complex, object, strings).
    """
    if isinstance(data, Tensor):
        data = data.data
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"unsupported dtype {array.dtype}: convprop tensors hold real numbers "
            f"(float32 by default, float64 for gradient checks)"
        )
    target = DEFAULT_DTYPE if dtype is None else np.dtype(dtype)
    if target not in FLOAT_DTYPES + INDEX_DTYPES:
        raise ValueError(
            f"unsupported dtype {target}: use float32 (default) or float64 (bool and int64 "
            f"for masks and indices)"
        )
    return array.astype(target, copy=False)


class Node:
    """Where a tensor came from: ``prim`` applied to ``inputs``; ``ctx`` is what G needs."""

    __slots__ = ("prim", "inputs", "ctx", "needs")

    def __init__(self, prim: Any, inputs: tuple[Tensor, ...], ctx: Any) -> None:
        self.prim = prim
        self.inputs = inputs
        self.ctx = ctx
        self.needs = tuple(t.requires_grad for t in inputs)


_FREED = object()  # ctx of a node whose graph backward() has already released


class Tensor:
    """An n-dimensional array that records the ops applied to it, for ``backward()``.

    Args:
        data: array-like; converted to float32 unless ``dtype`` says otherwise.
        requires_grad: accumulate d(output)/d(self) into ``.grad`` on ``backward()``.
        dtype: ``np.float32`` (default) or ``np.float64``; ``bool`` or ``np.int64`` for a
            mask or index tensor, which cannot require a gradient.

    Operators and PyTorch-style methods (``+ - * / ** @``, comparisons, indexing, ``sum``,
    ``mean``, ``max``, ``min``, ``argmax``, ``reshape``/``view``, ``squeeze``, ``permute``,
    ``flatten``, ``clone``, ``to``/``float``/``double``, ``exp``, ``relu``, ...) call the
    functions of :mod:`convprop.ops`; the table that binds them is
    :data:`convprop.ops.methods.METHODS`. Since ``==`` gives a tensor, a Tensor hashes by
    identity (``__hash__ = object.__hash__``), and its truth value is that of its one element.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "__weakref__")
    __array_priority__ = 1000  # NumPy defers to Tensor's operators: ndarray * Tensor -> Tensor

    def __init__(self, data: Any, *, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = as_array(data, dtype)
        self.grad: np.ndarray | None = None
        if requires_grad and self.data.dtype not in FLOAT_DTYPES:
            raise ValueError(
                f"only floating tensors can require gradients, not one of dtype {self.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        self._node: Node | None = None

    __hash__ = object.__hash__  # ``==`` is elementwise, so hash by identity, as PyTorch

    @classmethod
    def from_op(cls, data: np.ndarray, node: Node | None) -> Tensor:
        """The output ``data`` of a primitive (no copy, no dtype conversion), made by ``node``
        (None when no gradient is recorded). Used by :class:`convprop.ops.Primitive`."""
        out = cls.__new__(cls)
        out.data, out.grad, out._node = data, None, node
        out.requires_grad = node is not None
        return out

    # -- array facts ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20)
        return f"Tensor({body}, dtype={self.dtype.name}{grad})"

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python float (int or bool for an index or
        mask tensor)."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def __bool__(self) -> bool:
        """The truth of a one-element tensor; ambiguous (an error) for more, as in PyTorch."""
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous: "
                f"use (t == u).all() or .any(), or compare .item()"
            )
        return bool(self.data.reshape(()))

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor(self.data, dtype=self.dtype)

    # -- back propagation ----------------------------------------------------------------
    def backward(self, grad: Any = None, *, retain_graph: bool = False) -> None:
        """Back-propagate ``grad`` (the error ``eps`` at this tensor) to every leaf.

        Leaves with ``requires_grad`` accumulate ``d<self, grad>/d leaf`` into ``.grad``.
        ``grad`` may be omitted only for a one-element tensor (a loss), where it is 1.
        The graph's saved arrays are freed afterwards unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the ops "
                "that made it has requires_grad=True (or it was computed under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() on a non-scalar tensor of shape {self.shape} needs the error "
                    f"at the output: call t.backward(eps) with eps of shape {self.shape}"
                )
            grad = np.ones_like(self.data)
        else:
            grad = as_array(grad, self.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward(): gradient of shape {grad.shape} does not match the tensor's "
                    f"shape {self.shape}"
                )
        grads: dict[int, np.ndarray] = {id(self): grad}
        for t in _topological_order(self):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            node = t._node
            if node is None:
                t.grad = np.array(g, dtype=t.dtype) if t.grad is None else t.grad + g
                continue
            if node.ctx is _FREED:
                raise RuntimeError(
                    f"backward() through the graph a second time: the arrays saved by "
                    f"'{node.prim.name}' were freed after the first backward(); pass "
                    f"retain_graph=True to the first call if you need to back-propagate twice"
                )
            for inp, need, gi in zip(node.inputs, node.needs, node.prim.vjp(g, node), strict=True):
                if not need or gi is None:
                    continue
                gi = unbroadcast(gi, inp.shape).astype(inp.dtype, copy=False)
                previous = grads.get(id(inp))
                grads[id(inp)] = gi if previous is None else previous + gi
            if not retain_graph:
                node.ctx = _FREED


def tensor(data: Any, *, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a Tensor (float32 unless ``dtype`` says otherwise), as ``torch.tensor``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient back to ``shape``: the adjoint of NumPy broadcasting ``shape -> g.shape``."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, (n, m) in enumerate(zip(shape, g.shape, strict=True)) if n == 1 != m)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors that need a gradient, each after every tensor computed from it (root first)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, children_done = stack.pop()
        if children_done:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t._node is not None:
            stack.extend((inp, False) for inp in t._node.inputs if inp.requires_grad)
    order.reverse()
    return order
