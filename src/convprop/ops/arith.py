"""Arithmetic primitives: add, sub, mul, div, neg, pow, matmul.

Each block is one primitive: ``F`` returns the output and what ``G`` needs; ``G`` maps the
output error ``g`` to one gradient per input. Broadcasting follows NumPy; ``backward()``
sums each gradient back to its input's shape.
"""

from __future__ import annotations

import numpy as np

from convprop.ops.primitive import Primitive, describe_shapes, elementwise


# add  F: x = a + b                    G: (g, g)
def _add(a, b):
    return elementwise("add", np.add, a, b), None


def _add_adjoint(g, ctx):
    return g, g


add = Primitive("add", _add, _add_adjoint, linear=True)


# sub  F: x = a - b                    G: (g, -g)
def _sub(a, b):
    return elementwise("sub", np.subtract, a, b), None


def _sub_adjoint(g, ctx):
    return g, -g


sub = Primitive("sub", _sub, _sub_adjoint, linear=True)


# neg  F: x = -a                       G: -g
def _neg(a):
    return -a, None


def _neg_adjoint(g, ctx):
    return (-g,)


neg = Primitive("neg", _neg, _neg_adjoint, linear=True)


# mul  F: x = a * b (elementwise)      G: (g * b, g * a)
def _mul(a, b):
    return elementwise("mul", np.multiply, a, b), (a, b)


def _mul_adjoint(g, ctx):
    a, b = ctx
    return g * b, g * a


mul = Primitive("mul", _mul, _mul_adjoint, bilinear=True)


# div  F: x = a / b                    G: (g / b, -g a / b^2)
def _div(a, b):
    return elementwise("div", np.divide, a, b), (a, b)


def _div_adjoint(g, ctx):
    a, b = ctx
    ga = g / b
    return ga, -ga * a / b


div = Primitive("div", _div, _div_adjoint)


# pow  F: x = a ** b                   G: (g b a^(b-1), g x log a)
def _pow(a, b):
    out = elementwise("pow", np.power, a, b)
    return out, (a, b, out)


def _pow_adjoint(g, ctx, needs):
    a, b, out = ctx
    ga = g * b * a ** (b - 1) if needs[0] else None
    gb = None
    if needs[1]:
        with np.errstate(divide="ignore", invalid="ignore"):
            gb = g * out * np.log(a)
    return ga, gb


pow = Primitive("pow", _pow, _pow_adjoint, needs_mask=True)  # noqa: A001 (operator name)


# matmul  F: x = a @ b (NumPy's batched matmul)    G: (g @ b^T, a^T @ g)
def _matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: needs arrays of at least one dimension, got shapes "
            f"{describe_shapes(a, b)}; use mul for scalars"
        )
    k_a, k_b = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(
            f"matmul: shapes {describe_shapes(a, b)} do not align: the last "
            f"axis of the first ({k_a}) must equal the "
            f"{'only' if b.ndim == 1 else 'second-to-last'} axis of the second "
            f"({k_b})"
        )
    return elementwise("matmul", np.matmul, a, b), (a, b)


def _matmul_adjoint(g, ctx, needs):
    a, b = ctx
    if a.ndim == 1 and b.ndim == 1:  # inner product: g is a scalar
        return g * b if needs[0] else None, g * a if needs[1] else None
    a2 = a[None, :] if a.ndim == 1 else a  # (..., m, k)
    b2 = b[:, None] if b.ndim == 1 else b  # (..., k, n)
    g2 = g[..., None, :] if a.ndim == 1 else g
    g2 = g2[..., None] if b.ndim == 1 else g2  # (..., m, n)
    ga = gb = None
    if needs[0]:
        ga = g2 @ np.swapaxes(b2, -1, -2)  # (..., m, k)
        ga = ga[..., 0, :] if a.ndim == 1 else ga
    if needs[1]:
        gb = np.swapaxes(a2, -1, -2) @ g2  # (..., k, n)
        gb = gb[..., 0] if b.ndim == 1 else gb
    return ga, gb


matmul = Primitive("matmul", _matmul, _matmul_adjoint, bilinear=True, needs_mask=True)


# linear  F: x = z w^T + b  (z: (N, in), w: (out, in), b: (out,))
#         G: (g w, g^T z, sum_n g)      -- PyTorch's nn.Linear layout, fused in one op
def _linear(z, w, b=None):
    if z.ndim != 2 or w.ndim != 2 or z.shape[1] != w.shape[1]:
        raise ValueError(
            f"linear: expects input (N, in) and weight (out, in) with the same "
            f"'in', got {describe_shapes(z, w)}"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"linear: bias of shape {b.shape} does not fit weight {w.shape}")
    out = z @ w.T
    if b is not None:
        out += b
    return out, (z, w)


def _linear_adjoint(g, ctx, needs):
    z, w = ctx
    gz = g @ w if needs[0] else None
    gw = g.T @ z if needs[1] else None
    gb = g.sum(axis=0) if len(needs) > 2 and needs[2] else None
    return (gz, gw, gb)[: len(needs)]


linear = Primitive("linear", _linear, _linear_adjoint, needs_mask=True)
