"""Engine "numba_direct": the seed's index formulas as compiled loops (Numba), few channels.

The seed writes F as ``x(j) = sum_k w(k) z(j + 2 - k)``. With stride 1 an output position
``(i, j)`` is the flat offset ``q = i*Wp + j`` into a padded plane and tap ``(a, b)`` reads the
plane at ``q + off(a, b)``, ``off(a, b) = a*d*Wp + b*d`` (the wide positions of
:mod:`._layout`), so in the correlation form::

    F:        x[n, o, q]      = sum_{c, a, b} w[o, c, a, b] zp[n, c, q + off(a, b)]
    G_delta:  delta[n, c, p]  = sum_{o, a, b} w[o, c, kh-1-a, kw-1-b] el[n, o, p + off(a, b)]
    G_gw:     g_w[o, c, a, b] = sum_{n, q} e[n, o, q] zp[n, c, q + off(a, b)]

``el`` is eps placed on the padded grid after ``off(kh-1, kw-1)`` zeros, ``e`` eps zero at the
``kw - 1`` junk columns of each row: G_delta is F again, on eps with the flipped kernel
transposed (JAX's transpose rule), and one compiled loop, :func:`correlate`, computes both.

Each formula is written below as plain loops, compiled by :func:`convprop.jit.compiled` on
first use and cached on disk. The loop order is the one that runs fast: the innermost loop
runs along a run of positions ``q``, contiguous (the compiler vectorises it; row by row, the
short rows' loop tails measured 1.8x slower on the seed's layer), for one block of about
:data:`BLOCK` positions at a time, which stays in the L1 cache while every tap of every channel
is added into it. The outer loop is Numba's parallel range, over the blocks of every plane of
the result for F and G_delta, and over chunks of the positions for G_gw (a partial g_w per
chunk, summed at the end). No patch matrix, no BLAS: the engine for one or a few channels
(the seed's layer, LeNet's first), where each tap is too little work for a GEMM. Stride 1.
"""

from __future__ import annotations

import numpy as np

from convprop import jit
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import padded, positions

BLOCK = 1024  # positions per step of the parallel loop: 4 KiB of float32, in L1 with the taps

compiled = jit.compiled(parallel=True, fastmath={"reassoc", "contract"})  # sums in any order


@compiled
def correlate(src, w, start, m, wp, dh, dw, out):
    """``out[n, o, q] = sum_{c, a, b} w[o, c, a, b] src[n, c, start + q + a*dh*wp + b*dw]``
    for the positions ``q < m`` of ``out`` ``(N, O, >= m)`` (``src`` is ``(N, C, L)``), one
    block of positions of one plane per step."""
    n_, o_ = out.shape[0], out.shape[1]
    c_, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    blocks = (m + BLOCK - 1) // BLOCK
    for r in jit.prange(n_ * o_ * blocks):
        n, o, q0 = r // (o_ * blocks), r // blocks % o_, r % blocks * BLOCK
        seg = out[n, o, q0 : min(q0 + BLOCK, m)]
        seg[:] = 0
        for c in range(c_):
            for a in range(kh):
                for b in range(kw):
                    wv, tap = w[o, c, a, b], src[n, c, start + q0 + a * dh * wp + b * dw :]
                    for q in range(seg.size):
                        seg[q] += wv * tap[q]


@compiled
def gram(e, zp, m, wp, dh, dw, parts):
    """``parts[t, o, c, a, b] = sum e[n, o, q] zp[n, c, q + a*dh*wp + b*dw]`` over the blocks
    ``(n, q)``, ``q < m``, of chunk ``t``; g_w is the sum of the parts."""
    n_, o_ = e.shape[0], e.shape[1]
    chunks, c_, kh, kw = parts.shape[0], parts.shape[2], parts.shape[3], parts.shape[4]
    blocks = (m + BLOCK - 1) // BLOCK
    for t in jit.prange(chunks):
        part = parts[t]
        part[:] = 0
        for r in range(t * n_ * blocks // chunks, (t + 1) * n_ * blocks // chunks):
            n, q0 = r // blocks, r % blocks * BLOCK
            size = min(BLOCK, m - q0)
            for o in range(o_):
                eps = e[n, o, q0:]
                for c in range(c_):
                    for a in range(kh):
                        for b in range(kw):
                            acc, tap = part[o, c, a, b], zp[n, c, q0 + a * dh * wp + b * dw :]
                            for q in range(size):
                                acc += eps[q] * tap[q]
                            part[o, c, a, b] = acc


def supports(g: ConvGeometry) -> bool:
    """Stride 1 (any padding and dilation)."""
    return g.wide


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``x[n, o, q] = sum_{c, a, b} w[o, c, a, b] zp[n, c, q + off(a, b)]``."""
    zp = padded(z, g).reshape(g.n, g.c, -1)
    out = scratch("out", (g.n, g.o, g.ho, g.wp), z.dtype)
    m = positions(g)[0]
    correlate(zp, np.ascontiguousarray(w), 0, m, g.wp, g.dh, g.dw, out.reshape(g.n, g.o, -1))
    return out[..., : g.wo].copy()


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: ``delta[n, c, p] = sum_{o, a, b} w[o, c, kh-1-a, kw-1-b] el[n, o, p + off]``
    on the rows ``pt .. pt + H`` of the padded grid."""
    lead = (g.kh - 1) * g.dh * g.wp + (g.kw - 1) * g.dw
    el = scratch("eps_lead", (g.n, g.o, lead + g.hp * g.wp), eps.dtype)
    el.fill(0)
    rows = el[:, :, lead : lead + g.ho * g.wp].reshape(g.n, g.o, g.ho, g.wp)
    rows[..., : g.wo] = eps
    wf = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C, O, kh, kw)
    out = scratch("out", (g.n, g.c, g.h, g.wp), eps.dtype)
    correlate(el, wf, g.pt * g.wp, g.h * g.wp, g.wp, g.dh, g.dw, out.reshape(g.n, g.c, -1))
    return out[..., g.pl : g.pl + g.w].copy()


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w[o, c, a, b] = sum_{n, q} e[n, o, q] zp[n, c, q + off(a, b)]``."""
    zp = padded(z, g).reshape(g.n, g.c, -1)
    e = scratch("eps", (g.n, g.o, g.ho, g.wp), eps.dtype)  # zero at the junk columns
    e[..., g.wo :] = 0
    e[..., : g.wo] = eps
    m = positions(g)[0]
    chunks = max(1, min(jit.threads(), g.n * -(-m // BLOCK)))
    parts = np.empty((chunks, g.o, g.c, g.kh, g.kw), eps.dtype)
    gram(e.reshape(g.n, g.o, -1), zp, m, g.wp, g.dh, g.dw, parts)
    return parts.sum(axis=0) if chunks > 1 else parts[0]
