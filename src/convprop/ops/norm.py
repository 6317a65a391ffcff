"""Normalisation: batch_norm (a fused primitive), normalize (over the last axis, a primitive),
and layer_norm and group_norm, composites of normalize, reshape, mul and add.

Notation: input z, output x, error g (eps in the seed; ``eps`` here is the small constant added
to the variance). With ``mu`` and ``sigma^2`` the mean and biased variance over the normalised
entries and ``s = sqrt(sigma^2 + eps)``, ``xhat = (z - mu) / s``, and the adjoint of the
standardisation is the well-known

    delta = (1 / s) (g - mean(g) - xhat mean(g xhat))      (means over the same entries).

Why batch_norm is fused: forward + backward (with the Tensor's backward()) on 64x16x28x28
float32 measured 2.4 ms fused, on C-order and on batch-last input alike, against 7.8 ms
(C-order) and 10.0 ms (batch-last) for the composite that moves the channel axis last, calls
``normalize`` and then mul and add, and about 10 ms for one of mean, sub, mul, sqrt and div
(a shared 2-core machine under load; PyTorch about 1.2 ms there on two threads). The fused
one never moves the channel axis. A pass costs about 0.1 ms per 3.2 MB array it reads or
writes (an update in place counts once), so it keeps that count low: F 5 (``z - mu`` into
the output, ``sum (z - mu)^2``, the affine map in place in two), G 9 (``z - mu`` again, as
keeping F's copy cost F one more and 3.2 MB, ``sum g (z - mu)``, ``delta`` in four), and the plain
per-channel sums as BLAS matrix-vector products with ones (0.03-0.07 ms each on 2 threads,
0.1 ms as ``vecdot``). On batch-last input it makes them all over one run of channels of
about 1 MB before the next, so that most hit the core's cache. Forward + backward then measured
1.73 ms (2.1 ms in one run, 2.4-2.5 ms before), PyTorch 1.0-1.1 ms, on an idle machine; PyTorch
fuses its passes and uses both cores. It keeps its input's layout (``layout="keeps"``): after
a convolution it runs on the batch-last view, where each channel is one contiguous run (see
:mod:`convprop.ops.layout`).
Where Numba is installed, F and G run compiled (:mod:`convprop.ops.compiled.batch_norm`: the
same passes channel by channel, on Numba's threads): 0.70 ms against PyTorch's 1.0-1.3 ms in
one loaded run (``docs/performance.md``); this NumPy form is the reference and the fallback.
``normalize`` is a primitive for the same reason: layer_norm over 4096x256 measured 4.3 ms
with it, 11.4 ms as mean, sub, mul, sqrt and div.
"""

from __future__ import annotations

import math

import numpy as np

from convprop.ops import compiled as kernels
from convprop.ops.arith import add, mul
from convprop.ops.compiled import batch_norm as compiled_bn
from convprop.ops.primitive import Primitive
from convprop.ops.shape import reshape
from convprop.tensor import Tensor, no_grad


def channel_view(a: np.ndarray):
    """``a`` (N, C, *) as a C-contiguous ``(P, C, Q)`` view, and the map back to a's shape.

    C-order gives ``(N, C, prod(*))``; a batch-last 4-D view (``(C, H, W, N)`` memory) gives
    ``(1, C, H W N)``; any other layout is copied to C-order first.
    """
    if a.ndim == 4 and not a.flags.c_contiguous and a.transpose(1, 2, 3, 0).flags.c_contiguous:
        n, c, h, w = a.shape
        return a.transpose(1, 2, 3, 0).reshape(1, c, -1), lambda v: v.reshape(
            c, h, w, n
        ).transpose(3, 0, 1, 2)
    a = np.ascontiguousarray(a)
    shape = a.shape
    return a.reshape(shape[0], shape[1], -1), lambda v: v.reshape(shape)


def _per_channel(coef: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``coef`` (C,) broadcastable against ``v`` (P, C, Q): a ``(C, Q)`` copy when P > 1 (NumPy
    then runs one contiguous loop; a ``(C, 1)`` operand measured 1.5x slower there)."""
    if v.shape[0] == 1:
        return coef[:, None]
    return np.repeat(coef, v.shape[2]).reshape(coef.size, v.shape[2])


def _channel_sum(v: np.ndarray) -> np.ndarray:
    """``sum_{p,q} v[p, c, q]`` (C,): a matrix-vector product with ones, which BLAS runs on its
    threads (0.02-0.05 ms on 64x16x28x28 on 2 idle cores, 0.1 ms on one, as ``vecdot`` with
    ones). The ones are one cached read-only vector per dtype (``np.ones`` took 0.02 ms)."""
    ones = _ONES.get(v.dtype)
    if ones is None or ones.size < v.shape[2]:
        ones = _ONES[v.dtype] = np.ones(v.shape[2], v.dtype)
        ones.flags.writeable = False
    p, c, q = v.shape
    if p == 1:
        return np.matmul(v[0], ones[:q])
    return np.matmul(v.reshape(p * c, q), ones[:q]).reshape(p, c).sum(axis=0)  # (P C, Q) view


_ONES: dict[np.dtype, np.ndarray] = {}


def _channel_dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``sum_{p,q} u[p, c, q] v[p, c, q]`` (C,)."""
    return np.vecdot(u, v).sum(axis=0)


def _channel_blocks(v: np.ndarray) -> list[slice]:
    """Runs of channels of ``v`` (P, C, Q), as even as they can be, of at most about
    :data:`BLOCK_BYTES` each (or one channel), when P = 1 (batch-last): batch_norm makes all its
    passes over one run before the next, so that all but the first read it from the core's
    cache. On 64x16x28x28 F+G measured 2.11 ms in one run, 1.73 ms in 4 runs of 4 channels
    (0.8 MB), 1.81-1.84 ms in runs of 2, 3 or 5 (uneven), 2.02 ms in 16 (about 0.02 ms of
    Python per run). With P > 1 one run: runs of strided channels measured 1.7-2x slower."""
    p, c, q = v.shape
    runs = min(c, -(-c * q * v.itemsize // BLOCK_BYTES)) if p == 1 else 1
    return [slice(c * i // runs, c * (i + 1) // runs) for i in range(runs)]


BLOCK_BYTES = 1 << 20  # a run of z, g and delta (3 x 0.8-1 MB) about fills a 2 MB cache


# batch_norm  F: x = gamma (z - mu) / sigma + beta, mu and sigma^2 over all axes but 1
#             G: delta = gamma / sigma (g - mean(g) - xhat mean(g xhat)),
#                g_gamma = sum g xhat, g_beta = sum g
def _batch_norm(z, gamma, beta, *, eps, running=None):
    if z.ndim < 2 or gamma.shape != (z.shape[1],) or beta.shape != (z.shape[1],):
        raise ValueError(
            f"batch_norm expects z (N, C, *) with weight and bias (C,), got shapes "
            f"{z.shape}, {gamma.shape} and {beta.shape}"
        )
    v, back = channel_view(z)  # (P, C, Q)
    m = v.shape[0] * v.shape[2]
    if m < 2:
        raise ValueError(f"batch_norm needs more than 1 value per channel, got shape {z.shape}")
    x = np.empty_like(v)
    mu, shift, var = (np.empty(v.shape[1], v.dtype) for _ in range(3))
    if kernels.usable(v, gamma, beta):  # the same passes, compiled (ops/compiled/batch_norm.py)
        compiled_bn.forward(v, x, gamma, beta, eps, mu, shift, var)
    else:
        for b in _channel_blocks(v):
            mu[b], shift[b], var[b] = _standardise(v[:, b], x[:, b], gamma[b], beta[b], eps, m)
    if running is not None:  # PyTorch's rule, with the unbiased variance
        running_mean, running_var, momentum = running
        running_mean *= 1 - momentum
        running_mean += momentum * (mu + shift)
        running_var *= 1 - momentum
        running_var += momentum * var * (m / (m - 1))
    return back(x), (z, mu, shift, 1 / np.sqrt(var + eps), gamma, m)


def _standardise(v, x, gamma, beta, eps, m):
    """F on the channels of ``v`` (P, C, Q), into ``x``: ``mu`` (a float rounding of the
    mean), ``shift`` (its rounding error: the corrected two-pass method) and the variance."""
    mu = _channel_sum(v) / m
    np.subtract(v, _per_channel(mu, v), out=x)  # z - mu; G recomputes it (no copy kept)
    shift = _channel_sum(x) / m
    var = _channel_dot(x, x) / m - shift * shift
    scale = gamma / np.sqrt(var + eps)  # x = scale (z - mu - shift) + beta, in place
    np.multiply(x, _per_channel(scale, v), out=x)
    np.add(x, _per_channel(beta - shift * scale, v), out=x)
    return mu, shift, var


def _batch_norm_adjoint(g, ctx, needs):
    z, mu, shift, inv_sigma, gamma, m = ctx
    v, _ = channel_view(z)
    gv, back = channel_view(_as_layout_of(g, z))  # (P, C, Q) as v
    d = np.empty_like(gv)
    g_xhat, sum_g = np.empty_like(mu), np.empty_like(mu)
    if kernels.usable(gv, v, gamma):
        compiled_bn.adjoint(gv, v, d, mu, shift, inv_sigma, gamma, needs[0], g_xhat, sum_g)
    else:
        for b in _channel_blocks(v):
            g_xhat[b], sum_g[b] = _adjoint(
                gv[:, b], v[:, b], d[:, b], mu[b], shift[b], inv_sigma[b], gamma[b], m, needs[0]
            )
    delta = back(d) if needs[0] else None
    return delta, g_xhat if needs[1] else None, sum_g if needs[2] else None


def _adjoint(g, v, d, mu, shift, inv_sigma, gamma, m, needs_delta):
    """G on the channels of ``g`` and ``v`` (P, C, Q): ``sum g xhat`` and ``sum g``, and with
    ``needs_delta`` delta into ``d``."""
    sum_g = _channel_sum(g)
    np.subtract(v, _per_channel(mu, v), out=d)  # z - mu, the same values as in F
    g_xhat = (_channel_dot(g, d) - shift * sum_g) * inv_sigma  # sum g xhat
    if needs_delta:  # delta = gamma / sigma (g - mean(g) + k (z - mu)), k = -mean(g xhat) / sigma
        k = -g_xhat * inv_sigma / m
        np.multiply(d, _per_channel(k, g), out=d)
        np.add(d, g, out=d)
        np.subtract(d, _per_channel(sum_g / m + k * shift, g), out=d)
        np.multiply(d, _per_channel(gamma * inv_sigma, g), out=d)
    return g_xhat, sum_g


def _as_layout_of(g: np.ndarray, z: np.ndarray) -> np.ndarray:
    """g in z's layout when z is C-order or batch-last (what :func:`channel_view` keeps)."""
    if z.flags.c_contiguous:
        return np.ascontiguousarray(g)
    if z.ndim == 4 and z.transpose(1, 2, 3, 0).flags.c_contiguous:
        if g.transpose(1, 2, 3, 0).flags.c_contiguous:
            return g
        return np.ascontiguousarray(g.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    return np.ascontiguousarray(g)


_batch_norm_prim = Primitive(
    "batch_norm", _batch_norm, _batch_norm_adjoint, needs_mask=True, layout="keeps"
)


def batch_norm(
    z,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation, as ``torch.nn.functional.batch_norm``.

    Training (or no running statistics): ``x = gamma (z - mu) / sqrt(sigma^2 + eps) + beta``
    with the batch's mean ``mu`` and biased variance ``sigma^2`` per channel (over every axis
    but 1), a fused primitive with
    ``G: delta = gamma / sigma (g - mean(g) - xhat mean(g xhat))``, ``g_gamma = sum g xhat``,
    ``g_beta = sum g`` (sums and means over every axis but 1). In training the running
    statistics, when given, are updated in place:
    ``running = (1 - momentum) running + momentum batch_stat`` (the unbiased variance).
    Evaluation: the affine map ``x = gamma (z - running_mean) / sqrt(running_var + eps) +
    beta``, a composite of mul and add. ``weight`` (gamma) and ``bias`` (beta) default to 1
    and 0.

    Shape: ``(N, C, *) -> (N, C, *)``, weight, bias and running statistics ``(C,)``.
    """
    z = z if isinstance(z, Tensor) else Tensor(z)
    c = z.shape[1] if z.ndim >= 2 else 0
    gamma = weight if weight is not None else Tensor(np.ones(c), dtype=z.dtype)
    beta = bias if bias is not None else Tensor(np.zeros(c), dtype=z.dtype)
    if training or running_mean is None or running_var is None:
        running = None
        if training and running_mean is not None and running_var is not None:
            running = (running_mean, running_var, momentum)
        return _batch_norm_prim(z, gamma, beta, eps=eps, running=running)
    if running_mean.shape != (c,) or running_var.shape != (c,):
        raise ValueError(
            f"batch_norm: running statistics of shape {running_mean.shape} and "
            f"{running_var.shape} do not fit input of shape {z.shape}"
        )
    with no_grad():
        inv_sigma = Tensor(1 / np.sqrt(running_var + eps), dtype=z.dtype)
    scale = mul(gamma, inv_sigma)
    shift = add(beta, mul(scale, Tensor(-running_mean, dtype=z.dtype)))
    per_channel = (c,) + (1,) * (z.ndim - 2)
    return add(mul(z, reshape(scale, per_channel)), reshape(shift, per_channel))


# normalize  F: xhat = (z - mu) / sigma, mu and sigma^2 over the last axis
#            G: delta = (1 / sigma) (g - mean(g) - xhat mean(g xhat))
def _normalize(z, *, eps):
    mu = z.mean(axis=-1, keepdims=True)
    x = z - mu
    inv_sigma = 1 / np.sqrt(np.vecdot(x, x)[..., None] / z.shape[-1] + eps)
    x *= inv_sigma
    return x, (x, inv_sigma)


def _normalize_adjoint(g, ctx):
    x, inv_sigma = ctx
    mean_g = g.mean(axis=-1, keepdims=True)
    mean_gx = np.vecdot(g, x)[..., None] / x.shape[-1]
    return (inv_sigma * (g - mean_g - x * mean_gx),)


_normalize_prim = Primitive("normalize", _normalize, _normalize_adjoint)


def normalize(z, eps: float = 1e-5) -> Tensor:
    """``xhat = (z - mu) / sqrt(sigma^2 + eps)`` over the last axis (biased variance).

    ``G: delta = (1 / sigma) (g - mean(g) - xhat mean(g xhat))``, means over the last axis.

    Shape: ``(*, M) -> (*, M)``.
    """
    return _normalize_prim(z, eps=eps)


def layer_norm(z, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the trailing ``normalized_shape`` axes, as
    ``torch.nn.functional.layer_norm``: ``x = gamma xhat + beta`` with ``xhat`` the
    standardised z over those axes (biased variance), gamma and beta elementwise of
    ``normalized_shape``. A composite: reshape, :func:`normalize`, reshape, mul, add.

    Shape: ``(*, *normalized_shape) -> (*, *normalized_shape)``.
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(z.shape[z.ndim - k :]) != shape or z.ndim < k:
        raise ValueError(
            f"layer_norm over normalized_shape {shape} expects input of shape (*, "
            f"{', '.join(map(str, shape))}), got {tuple(z.shape)}"
        )
    lead = tuple(z.shape[: z.ndim - k])
    x = reshape(normalize(reshape(z, (*lead, math.prod(shape))), eps), z.shape)
    if weight is not None:
        x = mul(x, weight)
    if bias is not None:
        x = add(x, bias)
    return x


def group_norm(z, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Group normalisation, as ``torch.nn.functional.group_norm``: the C channels split into
    ``num_groups`` groups of consecutive channels, each sample standardised over its group's
    channels and all spatial positions (biased variance), then ``x = gamma xhat + beta`` per
    channel. A composite: reshape, :func:`normalize`, reshape, mul, add.

    Shape: ``(N, C, *) -> (N, C, *)``, weight and bias ``(C,)``.
    """
    if z.ndim < 2 or num_groups < 1 or z.shape[1] % num_groups:
        raise ValueError(
            f"group_norm expects input (N, C, *) with C divisible by num_groups={num_groups}, "
            f"got shape {tuple(z.shape)}"
        )
    n, c = z.shape[:2]
    x = reshape(normalize(reshape(z, (n, num_groups, -1)), eps), z.shape)
    per_channel = (c,) + (1,) * (z.ndim - 2)
    if weight is not None:
        x = mul(x, reshape(weight, per_channel))
    if bias is not None:
        x = add(x, reshape(bias, per_channel))
    return x
