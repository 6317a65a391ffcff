"""Engine "numba_batch_direct": the seed's formula as compiled loops on batch-last memory.

The batch-last layout of :mod:`.batch_last` (``zt`` ``(C, H, W, N)``, the batch innermost)
without its patch matrix: for a layer with few patch rows (LeNet's first, one channel in and
25 taps) the patch is five times the input and its GEMM has six rows, so building and reading
it costs more than the multiply-adds. Here each formula is a loop whose innermost run is
contiguous, ``(j, n)`` along a row of the image and the batch (stride 1), and is vectorised::

    F:        x[o, i, j, n]     = b[o] + sum_{c, a, b} w[o, c, a, b] zp[c, i + d*a, j + d*b, n]
    G_gw:     g_w[o, c, a, b]   = sum_{i, j, n} eps[o, i, j, n] zp[c, i + d*a, j + d*b, n]
    G_delta:  delta[c, y, x, n] = sum_{o, a, b} w[o, c, a, b] ep[o, y + pt - d*a, x + pl - d*b, n]

with ``zp`` the input padded (``zp[c, y, x] = zt[c, y - pt, x - pl]``, zero off the image)
and ``ep`` eps with zeros around it (the padding is never built: each tap's run is cut to the
columns that land on the image). G_delta is F's loop again, on eps with the kernel flipped
and transposed. That loop sums in register tiles where the result has 4 or more channels and
there are 32 or more images (:func:`correlate_tiles`, the tiles of :mod:`.numba_tiled` along
the batch: LeNet's first layer's F 0.44 -> 0.31 ms, one thread), else in memory
(:func:`correlate`).
F's result and G_delta's are NCHW views of batch-last memory, as ``batch_last`` hands them
on; inputs in that layout are read without a copy. Parallel over the rows of the result
(Numba's threads, one by default: :mod:`convprop.jit`). Stride 1.
"""

from __future__ import annotations

import numpy as np

from convprop import jit
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

# the tiles of numba_tiled, with their sizes written here: Numba's disk cache keys on this
# file, so constants imported from another would stay compiled in after a change there
OB = 4  # output channels per tile
VW = 16  # images per tile: one vector of 16 float32 (AVX-512)
TILE = OB * VW  # sums per tile
RUN = 2 * VW  # images per step: two tiles

compiled = jit.compiled(parallel=True, fastmath={"reassoc", "contract"})  # sums in any order
tiles = jit.compiled(parallel=True, slp=True, fastmath={"contract"})  # register tiles


@tiles
def correlate_tiles(zt, wt, b, dh, dw, pt, pl, out):
    """:func:`correlate` summed in two register tiles of :data:`OB` output channels by
    :data:`VW` images each (``wt`` the kernel with its output channels last, ``O >= OB``,
    ``N >= RUN``), as :func:`numba_tiled.correlate` does along positions: every tap reads a
    run of :data:`RUN` images of one input position and adds its outer product with ``OB``
    weights into the tiles, which stay in vector registers for the ``C*kh*kw`` taps. The last
    group of channels, and of images, is shifted back to end at ``O`` and ``N``."""
    o_, ho, wo, nb = out.shape
    c_, h, wi = zt.shape[0], zt.shape[1], zt.shape[2]
    kh, kw = wt.shape[1], wt.shape[2]
    groups = (o_ + OB - 1) // OB
    for r in jit.prange(ho * groups):
        i, o0 = r // groups, min(r % groups * OB, o_ - OB)
        left = jit.stack_array(out, TILE)  # left[o*VW + v]: x[o0 + o, i, j, n0 + v]
        right = jit.stack_array(out, TILE)  # right[o*VW + v]: x[o0 + o, i, j, n0 + VW + v]
        for j in range(wo):
            for step in range(0, nb, RUN):
                n0 = min(step, nb - RUN)
                for o in range(OB):
                    for v in range(VW):
                        left[o * VW + v] = b[o0 + o]
                for o in range(OB):
                    for v in range(VW):
                        right[o * VW + v] = b[o0 + o]
                for c in range(c_):
                    for a in range(kh):
                        y = i + dh * a - pt
                        if y < 0 or y >= h:
                            continue
                        for t in range(kw):
                            x = j + dw * t - pl
                            if x < 0 or x >= wi:
                                continue
                            run, wv = zt[c, y, x, n0 : n0 + RUN], wt[c, a, t, o0 : o0 + OB]
                            for o in range(OB):
                                for v in range(VW):
                                    left[o * VW + v] += wv[o] * run[v]
                            for o in range(OB):
                                for v in range(VW):
                                    right[o * VW + v] += wv[o] * run[VW + v]
                for o in range(OB):
                    for v in range(VW):
                        out[o0 + o, i, j, n0 + v] = left[o * VW + v]
                for o in range(OB):
                    for v in range(VW):
                        out[o0 + o, i, j, n0 + VW + v] = right[o * VW + v]


@compiled
def correlate(zt, w, b, dh, dw, pt, pl, out):
    """``out[o, i, j, n] = b[o] + sum_{c, a, b} w[o, c, a, b] zt[c, i + dh*a - pt,
    j + dw*b - pl, n]`` (zero off the image), one row ``(o, i)`` per step."""
    o_, ho, wo, nb = out.shape
    c_, h, wi = zt.shape[0], zt.shape[1], zt.shape[2]
    kh, kw = w.shape[2], w.shape[3]
    flat_in = zt.reshape(c_, h, wi * nb)
    for r in jit.prange(o_ * ho):
        o, i = r // ho, r % ho
        row = out[o, i].reshape(wo * nb)
        row[:] = b[o]
        for c in range(c_):
            for a in range(kh):
                y = i + dh * a - pt
                if y < 0 or y >= h:
                    continue
                src = flat_in[c, y]
                for t in range(kw):
                    shift = dw * t - pl  # output column j reads input column j + shift
                    j0 = min(wo, max(0, -shift))
                    j1 = max(j0, min(wo, wi - shift))
                    wv = w[o, c, a, t]
                    dst, run = row[j0 * nb : j1 * nb], src[(j0 + shift) * nb :]
                    for k in range(dst.size):
                        dst[k] += wv * run[k]


@compiled
def gram(eps, zt, dh, dw, pt, pl, g_w):
    """``g_w[o, c, a, b] = sum_{i, j, n} eps[o, i, j, n] zt[c, i + dh*a - pt, j + dw*b - pl, n]``,
    one pair ``(o, c)`` per step."""
    o_, ho, wo, nb = eps.shape
    c_, h, wi = zt.shape[0], zt.shape[1], zt.shape[2]
    kh, kw = g_w.shape[2], g_w.shape[3]
    flat_in = zt.reshape(c_, h, wi * nb)
    flat_eps = eps.reshape(o_, ho, wo * nb)
    for r in jit.prange(o_ * c_):
        o, c = r // c_, r % c_
        acc = np.zeros((kh, kw), g_w.dtype)  # each row of eps is read once, for every tap
        zero = acc[0, 0]  # the sums below stay in eps's dtype (a literal 0.0 is float64)
        for i in range(ho):
            row = flat_eps[o, i]  # in the L1 cache for every tap that reads it
            for a in range(kh):
                y = i + dh * a - pt
                if y < 0 or y >= h:
                    continue
                src = flat_in[c, y]
                for t in range(kw):
                    shift = dw * t - pl
                    j0 = min(wo, max(0, -shift))
                    j1 = max(j0, min(wo, wi - shift))
                    e, run = row[j0 * nb : j1 * nb], src[(j0 + shift) * nb :]
                    q = e.size // 4
                    p0 = p1 = p2 = p3 = zero  # four independent sums
                    for k in range(q):
                        p0 += e[k] * run[k]
                        p1 += e[q + k] * run[q + k]
                        p2 += e[2 * q + k] * run[2 * q + k]
                        p3 += e[3 * q + k] * run[3 * q + k]
                    for k in range(4 * q, e.size):
                        p0 += e[k] * run[k]
                    acc[a, t] += (p0 + p1) + (p2 + p3)
        for a in range(kh):
            for t in range(kw):
                g_w[o, c, a, t] = acc[a, t]


def supports(g: ConvGeometry) -> bool:
    """Stride 1 (any padding and dilation)."""
    return g.wide


def _batch_last(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` ``(N, C, H, W)`` as C-contiguous ``(C, H, W, N)``: a view if it is that memory."""
    t = a.transpose(1, 2, 3, 0)
    if t.flags.c_contiguous:
        return t
    copy = scratch(name, t.shape, a.dtype)
    copy[...] = t
    return copy


def _correlate(zt, w_oc, bias, dh, dw, pt, pl, out):
    """``out[p, i, j, n] = bias[p] + sum_{r, a, b} w_oc[p, r, a, b] zt[r, i + dh*a - pt,
    j + dw*b - pl, n]`` (``w_oc`` ``(P, R, kh, kw)``, ``out`` ``(P, Ho, Wo, N)``): in register
    tiles (:func:`correlate_tiles`) for 4 or more channels out and 32 or more images, else in
    memory (:func:`correlate`)."""
    if out.shape[0] >= OB and out.shape[3] >= RUN:
        wt = np.ascontiguousarray(w_oc.transpose(1, 2, 3, 0))  # (R, kh, kw, P)
        correlate_tiles(zt, wt, bias, dh, dw, pt, pl, out)
    else:
        correlate(zt, np.ascontiguousarray(w_oc), bias, dh, dw, pt, pl, out)


def forward(
    z: np.ndarray, w: np.ndarray, g: ConvGeometry, b: np.ndarray | None = None, keep=False
) -> np.ndarray:
    """F into batch-last ``xt`` ``(O, Ho, Wo, N)``; returns the NCHW view of it."""
    xt = np.empty((g.o, g.ho, g.wo, g.n), z.dtype)
    bias = np.zeros(g.o, z.dtype) if b is None else b.astype(z.dtype, copy=False)
    _correlate(_batch_last(z, "batch_last"), w, bias, g.dh, g.dw, g.pt, g.pl, xt)
    return xt.transpose(3, 0, 1, 2)


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry, with_bias: bool = False):
    """G_gw, and ``g_b = sum_{n, i, j} eps`` if ``with_bias``: ``(g_w, g_b or None)``."""
    et = _batch_last(eps, "eps")
    g_w = np.empty((g.o, g.c, g.kh, g.kw), eps.dtype)
    gram(et, _batch_last(z, "batch_last"), g.dh, g.dw, g.pt, g.pl, g_w)
    return g_w, (et.reshape(g.o, -1).sum(axis=1) if with_bias else None)


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta, F's loop on eps, into batch-last ``(C, H, W, N)``; returns the NCHW view.

    ``delta[c, y, x] = sum_{o, a, b} flip(w)[c, o, a, b] eps[o, y + d*a - pt', x + d*b - pl']``
    with ``flip(w)[c, o, a, b] = w[o, c, kh-1-a, kw-1-b]`` and ``pt' = d*(kh-1) - pt`` (the
    adjoint's formula with ``a`` for ``kh-1-a``; as ``numba_tiled`` does on its padded grid)."""
    dt = np.empty((g.c, g.h, g.w, g.n), eps.dtype)
    wf = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, kh, kw)
    pt, pl = g.dh * (g.kh - 1) - g.pt, g.dw * (g.kw - 1) - g.pl
    _correlate(_batch_last(eps, "eps"), wf, np.zeros(g.c, eps.dtype), g.dh, g.dw, pt, pl, dt)
    return dt.transpose(3, 0, 1, 2)
