"""A primitive is a pair (F, G): a forward function and its adjoint, defined side by side.

``F(*arrays, **params) -> (out, ctx)`` computes the output from NumPy arrays and returns
``ctx``, what the adjoint needs. ``G(g, ctx) -> (g_1, ..., g_n)`` maps the error ``g`` at the
output to one gradient per input (``None`` where an input has none): the vector-Jacobian
product ``g_i = (dF/dz_i)^T g``. The adjoint may return gradients of the broadcast shape;
``backward()`` sums them back to each input's shape.

Calling a :class:`Primitive` on tensors (or numbers) runs F and records a graph node when a
gradient is needed. Every primitive is listed in :data:`PRIMITIVES`; the test suite runs a
forward check, a float64 gradient check and, for linear ops, the adjoint (dot-product) test
for each of them, and fails when a primitive has no test sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from convprop.tensor import FLOAT_DTYPES, Node, Tensor, is_grad_enabled

PRIMITIVES: dict[str, Primitive] = {}
LAYOUTS = ("any", "keeps")  # what a primitive's output layout may be declared as


class Primitive:
    """A forward function F and its adjoint G, callable on Tensors.

    Args:
        name: unique name, the key in :data:`PRIMITIVES`.
        forward: ``F(*arrays, **params) -> (out, ctx)``.
        adjoint: ``G(g, ctx) -> tuple`` of one gradient per input, or with
            ``needs_mask=True``, ``G(g, ctx, needs)`` where ``needs[i]`` says whether input
            ``i`` wants a gradient (so costly gradients nobody uses are skipped).
        linear: F is linear in every input together (add, reshape, ...) or in each
            separately (``bilinear``: mul, matmul, conv2d); such ops also get the adjoint test.
        layout: the memory layout of the output, one of :data:`LAYOUTS`: ``"any"`` (no
            promise) or ``"keeps"`` (the output, and the gradient of the first input, have the
            first input's memory layout, e.g. batch-last; see :mod:`convprop.ops.layout`).
            Every primitive accepts inputs and gradients of any layout.
    """

    __slots__ = ("name", "forward", "adjoint", "linear", "bilinear", "needs_mask", "layout")

    def __init__(
        self,
        name: str,
        forward: Callable[..., tuple[np.ndarray, Any]],
        adjoint: Callable[..., tuple[np.ndarray | None, ...]],
        *,
        linear: bool = False,
        bilinear: bool = False,
        needs_mask: bool = False,
        layout: str = "any",
    ) -> None:
        if name in PRIMITIVES:
            raise ValueError(f"a primitive named {name!r} already exists")
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.name = name
        self.forward = forward
        self.adjoint = adjoint
        self.linear = linear
        self.bilinear = bilinear
        self.needs_mask = needs_mask
        self.layout = layout
        PRIMITIVES[name] = self

    def __repr__(self) -> str:
        return f"Primitive({self.name!r})"

    def __call__(self, *inputs: Any, **params: Any) -> Tensor:
        tensors = _as_tensors(inputs)
        out, ctx = self.forward(*(t.data for t in tensors), **params)
        record = is_grad_enabled() and any(t.requires_grad for t in tensors)
        return Tensor.from_op(out, Node(self, tensors, ctx) if record else None)

    def vjp(self, g: np.ndarray, node: Node) -> tuple[np.ndarray | None, ...]:
        """Apply G to the error ``g`` at ``node``'s output."""
        if self.needs_mask:
            return self.adjoint(g, node.ctx, node.needs)
        return self.adjoint(g, node.ctx)


def _as_tensors(inputs: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """Tensors stay as they are; numbers and arrays become constants of the float tensors'
    dtype (float32 beside only masks and indices: ``mask * 0.5`` is float)."""
    dtype = None
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype in FLOAT_DTYPES:
            dtype = x.dtype if dtype is None else np.promote_types(dtype, x.dtype)
    return tuple(x if isinstance(x, Tensor) else Tensor(x, dtype=dtype) for x in inputs)


def describe_shapes(*arrays: np.ndarray) -> str:
    """``(2, 3) and (4,)``: for error messages."""
    return " and ".join(str(tuple(a.shape)) for a in arrays)


def elementwise(name: str, fn: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
    """Apply a broadcasting NumPy function, turning a shape mismatch into a clear error."""
    try:
        return fn(*arrays)
    except ValueError as error:
        if "broadcast" not in str(error):
            raise
        raise ValueError(
            f"{name}: shapes {describe_shapes(*arrays)} cannot be broadcast together "
            f"(NumPy rules: trailing dimensions must be equal or 1)"
        ) from None
