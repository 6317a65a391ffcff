"""One test sample per primitive: inputs, parameters and an independent NumPy reference.

``test_ops.py`` runs, for every entry of ``convprop.ops.PRIMITIVES``, the forward against
``ref``, a float64 gradient check, and the adjoint test for linear and bilinear ops. Adding a
primitive without adding its sample here makes the suite fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.signal

import convprop as cp
from convprop import ops


@dataclass
class Sample:
    """How to exercise one primitive."""

    make: Callable[[np.random.Generator], list[np.ndarray]]  # float64 inputs
    ref: Callable[..., np.ndarray]  # independent reference on float64 arrays
    call: Callable[..., cp.Tensor]  # applies the primitive to Tensors
    wrt: tuple[int, ...] | None = None  # inputs to differentiate (default: all)
    tol: dict[str, float] = field(default_factory=dict)  # gradcheck tolerances


def _n(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda rng: rng.standard_normal(shape)


def _pos(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def _distinct(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Entries far from each other (max has a unique argmax; kinks are avoided)."""
    size = int(np.prod(shape))
    return lambda rng: rng.permutation(size).reshape(shape) * 0.1 - 0.05 * size + 0.05


def _inputs(*makers: Callable) -> Callable[[np.random.Generator], list[np.ndarray]]:
    return lambda rng: [m(rng) for m in makers]


def _log_softmax_ref(z: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _conv_ref(z: np.ndarray, w: np.ndarray, *, pad: int = 0) -> np.ndarray:
    """Batched true convolution (kernel flipped), valid after zero padding, via scipy."""
    z = np.pad(z, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c = z.shape[:2]
    o = w.shape[0]
    return np.array(
        [
            [
                sum(scipy.signal.convolve2d(z[i, k], w[j, k], "valid") for k in range(c))
                for j in range(o)
            ]
            for i in range(n)
        ]
    )


def _pool_loops(z: np.ndarray, k: int, s: int, p: int, reduce, fill: float) -> np.ndarray:
    """Pooling by a loop over output positions, windows of the input padded with ``fill``."""
    zp = np.pad(z, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    ho, wo = (zp.shape[2] - k) // s + 1, (zp.shape[3] - k) // s + 1
    out = np.empty((*z.shape[:2], ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = reduce(zp[:, :, s * i : s * i + k, s * j : s * j + k], axis=(2, 3))
    return out


def _gelu_ref(z: np.ndarray) -> np.ndarray:
    return z * 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


def _adaptive_avg_ref(z: np.ndarray, out: tuple[int, int]) -> np.ndarray:
    """A plain loop over PyTorch's windows: rows floor(i H / Ho) to ceil((i + 1) H / Ho)."""
    (h, w), x = z.shape[-2:], np.empty(z.shape[:-2] + out)
    for i in range(out[0]):
        for j in range(out[1]):
            r0, r1 = i * h // out[0], -(-(i + 1) * h // out[0])
            c0, c1 = j * w // out[1], -(-(j + 1) * w // out[1])
            x[..., i, j] = z[..., r0:r1, c0:c1].mean(axis=(-2, -1))
    return x


def _bce_ref(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """-w (p t log sigma + (1 - t) log(1 - sigma)), averaged, with BCE_W and BCE_P."""
    sigma = 1 / (1 + np.exp(-z))
    return np.mean(-BCE_W * (BCE_P * t * np.log(sigma) + (1 - t) * np.log(1 - sigma)))


def _conv_transpose_ref(z, w, *, stride, padding, output_padding, groups):
    """Transposed true convolution by scattering: every z[n, c, i, j] adds itself times the
    flipped kernel w[c, o] into x at (s i + a - p, s j + b - p), group by group."""
    n, c, h, wd = z.shape
    og, (kh, kw) = w.shape[1], w.shape[2:]
    hx = (h - 1) * stride - 2 * padding + kh + output_padding
    wx = (wd - 1) * stride - 2 * padding + kw + output_padding
    full = np.zeros((n, og * groups, hx + 2 * padding, wx + 2 * padding))
    flipped = w[:, :, ::-1, ::-1]
    for ci in range(c):
        j = ci // (c // groups)  # its group
        for i in range(h):
            for jj in range(wd):
                patch = np.einsum("n,oab->noab", z[:, ci, i, jj], flipped[ci])
                r, q = i * stride, jj * stride
                full[:, j * og : (j + 1) * og, r : r + kh, q : q + kw] += patch
    return full[:, :, padding : padding + hx, padding : padding + wx]


LABELS = np.array([2, 0, 1, 2])
BCE_W, BCE_P = np.array([0.5, 2.0, 1.0]), np.array([3.0, 0.5, 1.0])

SAMPLES: dict[str, Sample] = {
    # arithmetic
    "add": Sample(_inputs(_n(3, 4), _n(4)), np.add, ops.add),
    "sub": Sample(_inputs(_n(3, 1), _n(1, 4)), np.subtract, ops.sub),
    "neg": Sample(_inputs(_n(2, 3)), np.negative, ops.neg),
    "mul": Sample(_inputs(_n(2, 3, 4), _n(3, 1)), np.multiply, ops.mul),
    "div": Sample(_inputs(_n(3, 4), _pos(4)), np.divide, ops.div),
    "pow": Sample(_inputs(_pos(3, 4), _n(3, 4)), np.power, ops.pow),
    "matmul": Sample(_inputs(_n(2, 3, 4), _n(4, 5)), np.matmul, ops.matmul),
    "linear": Sample(_inputs(_n(3, 4), _n(5, 4), _n(5)), lambda z, w, b: z @ w.T + b, ops.linear),
    # pointwise
    "exp": Sample(_inputs(_n(3, 4)), np.exp, ops.exp),
    "log": Sample(_inputs(_pos(3, 4)), np.log, ops.log),
    "sqrt": Sample(_inputs(_pos(3, 4)), np.sqrt, ops.sqrt),
    # (4-D: these keep an activation's memory layout, which test_ops.py checks on 4-D inputs)
    "relu": Sample(_inputs(_distinct(2, 3, 2, 2)), lambda z: np.maximum(z, 0), ops.relu),
    "tanh": Sample(_inputs(_n(2, 3, 2, 2)), np.tanh, ops.tanh),
    "sigmoid": Sample(_inputs(_n(2, 3, 2, 2)), lambda z: 1 / (1 + np.exp(-z)), ops.sigmoid),
    # reductions
    "sum": Sample(
        _inputs(_n(2, 3, 4)), lambda z: z.sum(axis=(0, 2)), lambda z: ops.sum(z, axis=(0, 2))
    ),
    "mean": Sample(
        _inputs(_n(2, 3, 4)),
        lambda z: z.mean(axis=1, keepdims=True),
        lambda z: ops.mean(z, axis=1, keepdims=True),
    ),
    "max": Sample(
        _inputs(_distinct(2, 3, 4)), lambda z: z.max(axis=-1), lambda z: ops.max(z, axis=-1)
    ),
    # shape
    "reshape": Sample(
        _inputs(_n(2, 3, 4)), lambda z: z.reshape(6, 4), lambda z: ops.reshape(z, (6, -1))
    ),
    "transpose": Sample(
        _inputs(_n(2, 3, 4)), lambda z: z.transpose(2, 0, 1), lambda z: ops.transpose(z, (2, 0, 1))
    ),
    "getitem": Sample(
        _inputs(_n(4, 5)),
        lambda z: z[[0, 2, 0], 1:4],
        lambda z: ops.getitem(z, (np.array([0, 2, 0]), slice(1, 4))),
    ),
    "concatenate": Sample(
        _inputs(_n(2, 3), _n(4, 3)),
        lambda a, b: np.concatenate([a, b]),
        lambda a, b: ops.concatenate([a, b]),
    ),
    "pad": Sample(
        _inputs(_n(2, 3)),
        lambda z: np.pad(z, ((1, 0), (2, 1))),
        lambda z: ops.pad(z, ((1, 0), (2, 1))),
    ),
    "flip": Sample(_inputs(_n(3, 4)), lambda z: z[::-1, ::-1], lambda z: ops.flip(z)),
    # softmax and the loss
    "log_softmax": Sample(_inputs(_n(4, 3)), _log_softmax_ref, ops.log_softmax),
    "softmax": Sample(_inputs(_n(4, 3)), lambda z: np.exp(_log_softmax_ref(z)), ops.softmax),
    "cross_entropy": Sample(
        _inputs(_n(4, 3)),
        lambda z: -np.mean(_log_softmax_ref(z)[np.arange(4), LABELS]),
        lambda z: ops.cross_entropy(z, LABELS),
    ),
    # convolution (the seed's layer): true convolution with bias, padding 1
    "conv2d": Sample(
        _inputs(_n(2, 3, 6, 5), _n(4, 3, 3, 2), _n(4)),
        lambda z, w, b: _conv_ref(z, w, pad=1) + b[:, None, None],
        lambda z, w, b: ops.conv2d(z, w, b, padding=1),
    ),
    # pooling
    # (padded and overlapping windows: the layout test then covers the padded copies)
    "max_pool2d": Sample(
        _inputs(_distinct(2, 3, 5, 6)),
        lambda z: _pool_loops(z, 3, 2, 1, np.max, -np.inf),
        lambda z: ops.max_pool2d(z, 3, 2, 1),
    ),
    "avg_pool2d": Sample(
        _inputs(_n(2, 3, 5, 6)),
        lambda z: _pool_loops(z, 3, 2, 1, np.mean, 0.0),
        lambda z: ops.avg_pool2d(z, 3, 2, 1),
    ),
    # activations, adaptive pooling, binary cross-entropy (issue 15; 4-D: they keep a layout)
    "leaky_relu": Sample(
        _inputs(_distinct(2, 3, 2, 2)),
        lambda z: np.where(z > 0, z, 0.2 * z),
        lambda z: ops.leaky_relu(z, 0.2),
    ),
    "elu": Sample(
        _inputs(_distinct(2, 3, 2, 2)),
        lambda z: np.where(z > 0, z, 0.7 * (np.exp(z) - 1)),
        lambda z: ops.elu(z, alpha=0.7),
    ),
    "gelu": Sample(_inputs(_n(2, 3, 2, 2)), _gelu_ref, ops.gelu),
    "silu": Sample(_inputs(_n(2, 3, 2, 2)), lambda z: z / (1 + np.exp(-z)), ops.silu),
    "adaptive_avg_pool2d": Sample(
        _inputs(_n(2, 3, 7, 5)),
        lambda z: _adaptive_avg_ref(z, (3, 5)),
        lambda z: ops.adaptive_avg_pool2d(z, (3, None)),
    ),
    "binary_cross_entropy_with_logits": Sample(
        _inputs(_n(4, 3), lambda rng: rng.uniform(0, 1, (4, 3))),
        _bce_ref,
        lambda z, t: ops.binary_cross_entropy_with_logits(z, t, BCE_W, pos_weight=BCE_P),
    ),
    # issue 15, Tensor conveniences: the cast; float32 goes to float64 and back (F keeps
    # float32), float64 (the gradient checks) is cloned, a cast to its own dtype
    "cast": Sample(
        _inputs(_n(2, 3, 2, 2)),
        lambda z: z,
        lambda z: (
            ops.clone(z) if z.dtype == np.float64 else ops.to(ops.to(z, np.float64), z.dtype)
        ),
    ),
    # normalisation (ops/norm.py): batch_norm in training form, normalize over the last axis
    "batch_norm": Sample(
        _inputs(_n(4, 3, 2, 5), _n(3), _n(3)),
        lambda z, w, b: (
            (z - z.mean(axis=(0, 2, 3), keepdims=True))
            / np.sqrt(z.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
            * w[:, None, None]
            + b[:, None, None]
        ),
        lambda z, w, b: ops.batch_norm(z, None, None, w, b, training=True),
    ),
    "normalize": Sample(
        _inputs(_n(3, 2, 6)),
        lambda z: (
            (z - z.mean(axis=-1, keepdims=True)) / np.sqrt(z.var(axis=-1, keepdims=True) + 1e-5)
        ),
        ops.normalize,
    ),
    # transposed convolution (issue 15): true convolution, stride 2, padding 1, groups 2
    "conv_transpose2d": Sample(
        _inputs(_n(2, 4, 3, 4), _n(4, 3, 3, 2), _n(6)),
        lambda z, w, b: (
            _conv_transpose_ref(z, w, stride=2, padding=1, output_padding=1, groups=2)
            + b[:, None, None]
        ),
        lambda z, w, b: ops.conv_transpose2d(
            z, w, b, stride=2, padding=1, output_padding=1, groups=2
        ),
    ),
}
