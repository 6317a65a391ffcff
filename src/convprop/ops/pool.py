"""Pooling primitives on NCHW tensors: max_pool2d, avg_pool2d and adaptive_avg_pool2d.

The first two are computed as a loop over the ``kh * kw`` taps of the window (never over
pixels, images or channels): tap ``(a, b)`` sees the strided view ``z[:, :, a::s, b::s]``.

Shape: ``(N, C, H, W) -> (N, C, Ho, Wo)`` with ``Ho = (H + 2 p - kh) // s + 1``. The output
and the gradient keep z's memory layout (``layout="keeps"``; batch-last after a convolution:
the window views are then runs of N contiguous numbers; see :mod:`convprop.ops.layout`).
max_pool2d on a batch-last input of at least 8 images runs compiled where Numba is installed
(:mod:`convprop.ops.compiled.pool`; F+G on LeNet-5's first pool 0.26 ms against 0.47 ms).
The adaptive pool is two small matrix products (its windows differ in size) and returns
C-contiguous arrays.
"""

from __future__ import annotations

import numpy as np

from convprop.ops import compiled as kernels
from convprop.ops.compiled import pool as compiled_pool
from convprop.ops.layout import as_layout
from convprop.ops.primitive import Primitive
from convprop.tensor import Tensor


def pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``, ``(3, 5) -> (3, 5)``; anything else is a ValueError naming ``name``."""
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int | np.integer) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def pool_geometry(
    shape: tuple[int, ...],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, ...]]:
    """Check a pooling configuration; return ``(k, s, p, (Ho, Wo))`` as pairs."""
    if len(shape) != 4:
        raise ValueError(f"pooling expects an (N, C, H, W) tensor, got shape {tuple(shape)}")
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None else pair(stride, "stride")
    p = pair(padding, "padding")
    if min(k) < 1 or min(s) < 1:
        raise ValueError(f"kernel_size {k} and stride {s} must be positive")
    if min(p) < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"padding {p} must be between 0 and half the kernel size {k}")
    out = tuple(
        (n + 2 * pi - ki) // si + 1 for n, ki, si, pi in zip(shape[2:], k, s, p, strict=True)
    )
    if min(out) < 1:
        raise ValueError(
            f"pooling window {k} is larger than the padded input "
            f"{tuple(n + 2 * pi for n, pi in zip(shape[2:], p, strict=True))}"
        )
    return k, s, p, out


def _taps(k, s, out):
    """For each tap (a, b) of the window: its index and the strided slices it reads."""
    for a in range(k[0]):
        for b in range(k[1]):
            yield (
                a * k[1] + b,
                (
                    slice(None),
                    slice(None),
                    slice(a, a + s[0] * (out[0] - 1) + 1, s[0]),
                    slice(b, b + s[1] * (out[1] - 1) + 1, s[1]),
                ),
            )


def _padded(z, p, value):
    """z with ``p`` rows and columns of ``value`` around each image, in z's memory layout."""
    if p == (0, 0):
        return z
    n, c, h, w = z.shape
    zp = np.full_like(z, value, shape=(n, c, h + 2 * p[0], w + 2 * p[1]))
    zp[:, :, p[0] : p[0] + h, p[1] : p[1] + w] = z
    return zp


def _crop(gz, p):
    """The inside of padded ``gz``: gz itself without padding, else a copy in gz's layout."""
    if p == (0, 0):
        return gz
    return gz[:, :, p[0] : gz.shape[2] - p[0], p[1] : gz.shape[3] - p[1]].copy(order="K")


# max_pool2d  F: x[n,c,i,j] = max_{a,b} z[n,c, s i + a, s j + b]
#             G: g goes to the first maximal entry of each window (PyTorch's convention)
# F also records, per window, which tap (a*kw + b) held that first maximum (a later tap takes
# over only if strictly greater), so G is one comparison and one product per tap. (A NaN
# propagates to x; its gradient goes to the first maximum seen before it.)
def _max_pool2d(z, kernel_size, stride=None, padding=0):
    k, s, p, out = pool_geometry(z.shape, kernel_size, stride, padding)
    if kernels.usable(z):  # the same rule compiled (ops/compiled/pool.py), on z's layout
        result = compiled_pool.max_pool2d(z, k, s, p, out)
        if result is not None:
            return result[0], (z.shape, k, s, p, None, result[1])
    zp = _padded(z, p, -np.inf)
    taps = list(_taps(k, s, out))
    best = zp[taps[0][1]].copy(order="K")  # in z's memory layout, as the arrays below
    index = np.uint8 if len(taps) <= 256 else np.intp
    first = np.zeros_like(best, index)  # the tap of the first maximum, window by window
    greater, later = np.empty_like(best, bool), np.empty_like(best, index)
    for t, window in taps[1:]:
        np.greater(zp[window], best, out=greater)
        # first = t where greater: taps come in increasing order, so first < t and
        # max(first, t * greater) is that choice (np.copyto with where= measured 100x slower)
        np.maximum(first, np.multiply(greater, index(t), out=later), out=first)
        np.maximum(best, zp[window], out=best)
    return best, (zp.shape, k, s, p, out, first)


def _max_pool2d_adjoint(g, ctx):
    padded_shape, k, s, p, out, first = ctx
    if out is None:  # F was compiled: padded_shape is z's shape
        return (compiled_pool.max_pool2d_adjoint(g, first, padded_shape, k, s, p),)
    overlap = s[0] < k[0] or s[1] < k[1]
    tiled = s == k and all(o * ki == n for o, ki, n in zip(out, k, padded_shape[2:], strict=True))
    # in the layout of z (as first is): tiled windows write every entry
    gz = (np.empty_like if tiled else np.zeros_like)(first, g.dtype, shape=padded_shape)
    hit = np.empty_like(first, bool)
    g = as_layout(g, first)
    for t, window in _taps(k, s, out):
        np.equal(first, t, out=hit)
        if overlap:
            gz[window] += g * hit
        else:  # windows are disjoint: each entry is written once
            np.multiply(g, hit, out=gz[window])
    return (_crop(gz, p),)


_max_pool2d_prim = Primitive("max_pool2d", _max_pool2d, _max_pool2d_adjoint, layout="keeps")


def max_pool2d(
    z: Tensor | np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> Tensor:
    """Max pooling, ``(N, C, H, W) -> (N, C, Ho, Wo)``; ``stride`` defaults to the kernel size.

    ``x[n,c,i,j] = max_{a,b} z[n, c, s i + a - p, s j + b - p]`` (padding counts as -inf);
    G sends ``g`` to the first maximal entry of each window.

    Shape: ``(N, C, H, W) -> (N, C, Ho, Wo)``, ``Ho = (H + 2 p - kh) // s + 1``.
    """
    return _max_pool2d_prim(z, kernel_size=kernel_size, stride=stride, padding=padding)


# avg_pool2d  F: x[n,c,i,j] = (1 / (kh kw)) sum_{a,b} z[n,c, s i + a, s j + b]
#             G: each window entry receives g / (kh kw)  (zero padding counts, as in PyTorch)
def _avg_pool2d(z, kernel_size, stride=None, padding=0):
    k, s, p, out = pool_geometry(z.shape, kernel_size, stride, padding)
    zp = _padded(z, p, 0)
    total = None
    for _, window in _taps(k, s, out):
        if total is None:
            total = zp[window].copy(order="K")  # in z's memory layout
        else:
            np.add(total, zp[window], out=total)
    x = np.divide(total, k[0] * k[1], out=total)
    return x, (zp.shape, k, s, p, out, x)


def _avg_pool2d_adjoint(g, ctx):
    padded_shape, k, s, p, out, x = ctx
    gz = np.zeros_like(x, g.dtype, shape=padded_shape)  # in the layout of z (as x is)
    share = as_layout(g, x) / (k[0] * k[1])
    for _, window in _taps(k, s, out):
        gz[window] += share
    return (_crop(gz, p),)


_avg_pool2d_prim = Primitive(
    "avg_pool2d", _avg_pool2d, _avg_pool2d_adjoint, linear=True, layout="keeps"
)


def avg_pool2d(
    z: Tensor | np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> Tensor:
    """Average pooling, ``(N, C, H, W) -> (N, C, Ho, Wo)``; ``stride`` defaults to the kernel.

    ``x[n,c,i,j] = (1 / (kh kw)) sum_{a,b} z[n, c, s i + a - p, s j + b - p]`` (zero padding
    included in the average, PyTorch's default ``count_include_pad=True``); G spreads ``g /
    (kh kw)`` over each window.

    Shape: ``(N, C, H, W) -> (N, C, Ho, Wo)``, ``Ho = (H + 2 p - kh) // s + 1``.
    """
    return _avg_pool2d_prim(z, kernel_size=kernel_size, stride=stride, padding=padding)


def adaptive_windows(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows along one axis: output ``i`` averages the inputs
    ``floor(i n_in / n_out) <= h < ceil((i + 1) n_in / n_out)``."""
    i = np.arange(n_out)
    return i * n_in // n_out, -(-(i + 1) * n_in // n_out)


def _averaging(n_in, n_out, dtype):
    """The ``(n_out, n_in)`` matrix ``A`` with ``A[i, h] = 1 / |window i|`` on window i."""
    start, end = adaptive_windows(n_in, n_out)
    h = np.arange(n_in)
    inside = (h >= start[:, None]) & (h < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_output_size(shape, output_size) -> tuple[int, int]:
    """``output_size`` (an int, or a pair whose ``None`` entries keep the input's size)
    checked against an ``(N, C, H, W)`` or ``(C, H, W)`` shape."""
    if len(shape) not in (3, 4):
        raise ValueError(
            f"adaptive_avg_pool2d expects an (N, C, H, W) or (C, H, W) tensor, got shape "
            f"{tuple(shape)}"
        )
    size = (output_size, output_size) if not isinstance(output_size, tuple | list) else output_size
    if len(size) != 2 or not all(s is None or isinstance(s, int | np.integer) for s in size):
        raise ValueError(
            f"output_size must be an int or a pair of ints or None, got {output_size!r}"
        )
    out = tuple(int(n if s is None else s) for s, n in zip(size, shape[-2:], strict=True))
    if min(out) < 1:
        raise ValueError(f"output_size must be positive, got {output_size!r}")
    return out


# adaptive_avg_pool2d  F: x[.., i, j] = mean of z[.., h, w] over window i (rows) x window j
#                        = (A_h z A_w^T)[i, j], A the averaging matrices of the windows
#                      G: delta = A_h^T g A_w  (linear: the transposed matrices)
def _adaptive_avg_pool2d(z, output_size):
    ho, wo = adaptive_output_size(z.shape, output_size)
    a_h, a_w = _averaging(z.shape[-2], ho, z.dtype), _averaging(z.shape[-1], wo, z.dtype)
    rows = np.tensordot(z, a_w, axes=([-1], [1]))  # (N, C, H, Wo)
    x = np.tensordot(rows, a_h, axes=([-2], [1]))  # (N, C, Wo, Ho)
    return np.ascontiguousarray(np.swapaxes(x, -1, -2)), (a_h, a_w)


def _adaptive_avg_pool2d_adjoint(g, ctx):
    a_h, a_w = ctx
    rows = np.tensordot(g, a_w, axes=([-1], [0]))  # (N, C, Ho, W)
    gz = np.tensordot(rows, a_h, axes=([-2], [0]))  # (N, C, W, H)
    return (np.ascontiguousarray(np.swapaxes(gz, -1, -2)),)


_adaptive_avg_pool2d_prim = Primitive(
    "adaptive_avg_pool2d", _adaptive_avg_pool2d, _adaptive_avg_pool2d_adjoint, linear=True
)


def adaptive_avg_pool2d(z, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average pooling to a given output size, with PyTorch's windows.

    Output row ``i`` of ``Ho`` averages input rows ``floor(i H / Ho) <= h < ceil((i + 1) H /
    Ho)`` (columns alike), so windows may differ in size by one and overlap; ``(1, 1)`` is
    global average pooling. ``F: x = A_h z A_w^T`` per image and channel, ``A`` the averaging
    matrices of the windows; ``G: delta = A_h^T eps A_w``. ``output_size``: an int, or a pair
    with ``None`` for "as the input".

    Shape: ``(N, C, H, W) -> (N, C, Ho, Wo)`` (or ``(C, H, W) -> (C, Ho, Wo)``).
    """
    return _adaptive_avg_pool2d_prim(z, output_size=output_size)
