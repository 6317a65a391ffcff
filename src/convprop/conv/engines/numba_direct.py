"""Engine "numba_direct": the seed's index formulas as compiled loops (Numba), few channels.

In the correlation form, with ``zp`` the zero-padded input, stride ``s`` and dilation ``d``
(``sh``, ``dh`` down the columns, ``dw`` along the rows in the code; stride 1 along the rows)::

    F:        x[n, o, i, j]   = sum_{c, a, b} w[o, c, a, b] zp[n, c, s*i + d*a, s*j + d*b]
    G_delta:  dzp[n, c, s*i + d*a, s*j + d*b] += w[o, c, a, b] eps[n, o, i, j]
    G_gw:     g_w[o, c, a, b] = sum_{n, i, j} eps[n, o, i, j] zp[n, c, s*i + d*a, s*j + d*b]

Each formula is written below as plain loops, compiled by :func:`convprop.jit.compiled` on
first use and cached on disk. The loop order is the one that runs fast, not a different
formula: the innermost loop runs along a row ``j``, contiguous (stride 1 along the rows: with a
stride there, not known when the loop is compiled, it measured 6x slower; and the row of tap
``b`` is a slice from ``d*b`` on, an index ``j + d*b`` measured 3x slower), so the compiler
vectorises it, and one row of the result stays in the L1 cache while every tap of every
channel is added into it. The outer loop is Numba's parallel range over the rows of the
result, ``(n, o, i)`` for F and ``(n, c, y)`` for G_delta (each row of dzp gathers the rows
``i`` of eps that reach it, so no two threads write one row), and over chunks of the rows of
eps for G_gw (a partial g_w per chunk, summed at the end). No patch matrix, no BLAS: this is
the engine for one or a few channels (the seed's layer, LeNet's first), where each tap is too
little work for a GEMM. Stride 1 along the rows; any other geometry.
"""

from __future__ import annotations

import numpy as np

from convprop import jit
from convprop.conv.geometry import ConvGeometry

from ._layout import padded

compiled = jit.compiled(parallel=True, fastmath={"reassoc", "contract"})  # sums in any order


@compiled
def correlate(zp, w, sh, dh, dw, x):
    """F: ``x[n, o, i, j] = sum_{c, a, b} w[o, c, a, b] zp[n, c, s*i + d*a, s*j + d*b]``."""
    n_, o_, ho, wo = x.shape
    c_, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    for r in jit.prange(n_ * o_ * ho):  # one row (n, o, i) of x per step
        n, o, i = r // (o_ * ho), r // ho % o_, r % ho
        row = x[n, o, i]
        row[:] = 0
        for c in range(c_):
            for a in range(kh):
                for b in range(kw):
                    wv, zrow = w[o, c, a, b], zp[n, c, sh * i + dh * a, dw * b :]
                    for j in range(wo):
                        row[j] += wv * zrow[j]


@compiled
def scatter(eps, w, sh, dh, dw, pt, dzp):
    """G_delta: ``dzp[n, c, s*i + d*a, s*j + d*b] += w[o, c, a, b] eps[n, o, i, j]``.

    Only the rows ``pt .. pt + H`` of the padded dzp are computed (the rest is cropped
    away): ``dzp`` holds those rows, full width ``Wp``. Row ``y`` gathers the taps ``a``
    with ``s*i + d*a = pt + y`` for a row ``i`` of eps."""
    n_, o_, ho, wo = eps.shape
    c_, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    h = dzp.shape[2]
    for r in jit.prange(n_ * c_ * h):  # one row (n, c, y) of dzp per step
        n, c, y = r // (c_ * h), r // h % c_, r % h
        row = dzp[n, c, y]
        row[:] = 0
        for a in range(kh):
            t = pt + y - dh * a
            if t < 0 or t % sh != 0 or t // sh >= ho:
                continue
            i = t // sh
            for o in range(o_):
                erow = eps[n, o, i]
                for b in range(kw):
                    wv, drow = w[o, c, a, b], row[dw * b :]
                    for j in range(wo):
                        drow[j] += wv * erow[j]


@compiled
def gram(eps, zp, sh, dh, dw, parts):
    """G_gw: ``parts[t, o, c, a, b] = sum eps[n, o, i, j] zp[n, c, s*i + d*a, s*j + d*b]``
    over the rows ``(n, i)`` of chunk ``t``; g_w is the sum of the parts."""
    n_, o_, ho, wo = eps.shape
    chunks, c_, kh, kw = parts.shape[0], parts.shape[2], parts.shape[3], parts.shape[4]
    rows = n_ * ho
    for t in jit.prange(chunks):
        part = parts[t]
        part[:] = 0
        for r in range(t * rows // chunks, (t + 1) * rows // chunks):  # rows (n, i) of eps
            n, i = r // ho, r % ho
            for o in range(o_):
                erow = eps[n, o, i]
                for c in range(c_):
                    for a in range(kh):
                        for b in range(kw):
                            acc, zrow = part[o, c, a, b], zp[n, c, sh * i + dh * a, dw * b :]
                            for j in range(wo):
                                acc += erow[j] * zrow[j]
                            part[o, c, a, b] = acc


def supports(g: ConvGeometry) -> bool:
    """Stride 1 along the rows (any row stride, dilation and padding)."""
    return g.sw == 1


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``x[n, o, i, j] = sum_{c, a, b} w[o, c, a, b] zp[n, c, s*i + d*a, s*j + d*b]``."""
    x = np.empty(g.output_shape, z.dtype)
    correlate(padded(z, g), np.ascontiguousarray(w), g.sh, g.dh, g.dw, x)
    return x


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: ``dzp[n, c, s*i + d*a, s*j + d*b] += w[o, c, a, b] eps[n, o, i, j]``."""
    dzp = np.empty((g.n, g.c, g.h, g.wp), eps.dtype)  # the rows of z, padded columns
    e, wc = np.ascontiguousarray(eps), np.ascontiguousarray(w)
    scatter(e, wc, g.sh, g.dh, g.dw, g.pt, dzp)
    return dzp if g.wp == g.w else dzp[..., g.pl : g.pl + g.w].copy()


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w[o, c, a, b] = sum_{n, i, j} eps[n, o, i, j] zp[n, c, s*i + d*a, s*j + d*b]``."""
    chunks = max(1, min(jit.threads(), g.n * g.ho))
    parts = np.empty((chunks, g.o, g.c, g.kh, g.kw), eps.dtype)
    gram(np.ascontiguousarray(eps), padded(z, g), g.sh, g.dh, g.dw, parts)
    return parts.sum(axis=0) if chunks > 1 else parts[0]
