"""Engine "numba_tiled": the seed's formulas as compiled loops over register tiles (Numba).

The seed writes F as ``x(j) = sum_k w(k) z(j + 2 - k)``. With stride 1 an output position
``(i, j)`` is the flat offset ``q = i*Wp + j`` into a padded plane and tap ``(a, b)`` reads the
plane at ``q + off(a, b)``, ``off(a, b) = a*d*Wp + b*d`` (the wide positions of
:mod:`._layout`), so in the correlation form::

    F:        x[n, o, q]      = sum_{c, a, b} w[o, c, a, b] zp[n, c, q + off(a, b)]
    G_delta:  delta[n, c, p]  = sum_{o, a, b} w[o, c, kh-1-a, kw-1-b] el[n, o, p + off(a, b)]
    G_gw:     g_w[o, c, a, b] = sum_{n, q} e[n, o, q] zp[n, c, q + off(a, b)]

with ``el`` and ``e`` eps placed on the padded grid as in ``numba_direct``: G_delta is F again,
on eps with the flipped kernel transposed, and one loop, :func:`correlate_kernel`'s, computes
both.

What makes it fast is where the sums live: in register tiles of vectors
(:mod:`convprop.simd`). F and G_delta sum a tile of ``rows`` output channels by :data:`COLS`
vectors of consecutive positions (the resnet row's 16 channels: two tiles of 8 by 3 vectors of
16 float32, 24 of AVX-512's 32 registers): each tap of each input channel adds the outer
product of ``rows`` kernel weights and ``COLS`` vectors of the plane, so a load feeds ``rows``
FMAs, and the sums stay in registers for the ``C*kh*kw`` taps. G_gw sums along the positions,
the contiguous axis: a tile of ``rows`` output channels by ``taps`` kernel columns, each step
the products of ``rows`` vectors of e with ``taps`` vectors of zp, the lanes added at the end of
each block of positions. No patch matrix, no BLAS. Each thread takes a run of images and
places one image at a time on its own padded planes (zeroed once: only the image's rows are
copied in, by whole vectors), so the padding costs no pass over memory and the planes are hot
in the cache when the tiles read them.

Measured (the resnet row, 64x16x28x28 -> 16, 3x3 p1, float32, at the public functions, best
of 40, a quiet machine): one thread F 1.5 ms, G_delta 1.6, G_gw 2.0 (F about 155 GFLOP/s);
2 threads 0.72, 0.78, 1.10, against 1.4, 1.4, 1.7 for the earlier tiles of 4 channels by 32
positions that LLVM's SLP vectoriser made of stack arrays (8 registers; larger ones spilled),
with separate passes that placed the images on the padded grid and took the results out. The
first call compiles for about 2.8 s (cached on disk: 0.45 s after).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from convprop import jit, simd
from convprop.conv.geometry import ConvGeometry
from convprop.simd import fill, move, outer, products, rows_for, store, totals, zeros
from convprop.transpose import contiguous

from ._layout import eps_lead

COLS = 3  # vectors of positions per F and G_delta tile
SUMS = 3 / 4  # share of the vector registers (32 with AVX-512) for a tile's sums
MAX_TAPS = 3  # kernel columns per G_gw tile
GRAM_BYTES = 1 << 15  # of e's rows per G_gw block of positions: in the L1 cache (48 KiB)


@functools.cache
def correlate_kernel(rows: int, cols: int, lanes: int) -> Callable:
    """The compiled :func:`correlate` for tiles of ``rows`` channels by ``cols`` vectors of
    ``lanes`` positions (one compile, cached on disk, per tile shape and dtype)."""
    run = cols * lanes

    @jit.compiled(parallel=True)
    def correlate(src, wt, wp, lead, start, skip, dh, dw, zero, chunks, out):
        """``out[n, o, i, j] = sum_{c, a, b} wt[c, a, b, o] P[c, start + i*wp + skip + j +
        a*dh*wp + b*dw]``, where ``P[c]`` is a plane of rows of ``wp`` holding
        ``src[n, c, y, x]`` at ``lead + y*wp + x`` and zero elsewhere: ``src`` ``(N, C, h,
        w)``, ``wt`` ``(C, kh, kw, O)``, ``out`` ``(N, O, ho, wo)``, all C-contiguous, ``O >=
        rows``. Each of ``chunks`` threads takes a run of images and, per image, places it in
        its plane, sums the wide positions ``q = i*wp + j`` (junk columns and all) in tiles of
        ``rows`` channels by ``cols*lanes`` positions into ``wide``, and takes the result's
        rows out of it; the last group of channels is shifted back to end at ``O``."""
        n_, o_, ho, wo = out.shape
        c_, h, w = src.shape[1], src.shape[2], src.shape[3]
        kh, kw = wt.shape[1], wt.shape[2]
        mm = (ho * wp + run - 1) // run * run  # wide positions, whole runs
        length = max(lead + h * wp, start + mm + (kh - 1) * dh * wp + (kw - 1) * dw)
        lines = (length * src.itemsize + 63) // 64  # cache lines per plane, made odd: the
        length = (lines + 1 - lines % 2) * 64 // src.itemsize  # planes in different L1 sets
        s, k, x = src.reshape(-1), wt.reshape(-1), out.reshape(-1)
        groups = (o_ + rows - 1) // rows
        for t in jit.prange(chunks):
            plane = zeros(c_ * length, src)  # P, the zeros around the image kept
            wide = zeros(o_ * mm, src)  # wide[o*mm + q], aligned like the tiles' stores
            for n in range(t * n_ // chunks, (t + 1) * n_ // chunks):
                for c in range(c_):
                    for y in range(h):
                        move(plane, c * length + lead + y * wp, s, ((n * c_ + c) * h + y) * w, w)
                for r in range(groups):
                    o0 = min(r * rows, o_ - rows)
                    for q0 in range(0, mm, run):
                        acc = fill(zero, 0, rows, cols)  # acc[o, v]: wide[o0 + o, q0 + v]
                        for c in range(c_):
                            at = c * length + start + q0  # P[c, start + q0]
                            for a in range(kh):
                                for b in range(kw):
                                    tap = ((c * kh + a) * kw + b) * o_ + o0  # wt[c, a, b, o0]
                                    acc = outer(acc, k, tap, plane, at + a * dh * wp + b * dw)
                        store(acc, wide, o0 * mm + q0, mm)
                for o in range(o_):
                    for i in range(ho):
                        move(x, ((n * o_ + o) * ho + i) * wo, wide, o * mm + i * wp + skip, wo)

    return correlate


@functools.cache
def gram_kernel(rows: int, taps: int, lanes: int) -> Callable:
    """The compiled :func:`gram` for tiles of ``rows`` output channels by ``taps`` kernel
    columns, vectors of ``lanes`` positions."""

    @jit.compiled(parallel=True)
    def gram(eps, z, wp, lead, dh, dw, most, zero, parts):
        """``parts[t, o, c, a, b] = sum_{n, q} e[o, q] P[c, q + a*dh*wp + b*dw]`` over the
        images ``n`` of chunk ``t``, where ``e[o]`` holds ``eps[n, o, i, j]`` at ``i*wp + j``
        and ``P[c]`` holds ``z[n, c, y, x]`` at ``lead + y*wp + x``, both zero elsewhere
        (``O >= rows``, ``kw >= taps``); g_w is the sum of the parts. Per image and block of
        at most ``most`` positions (``rows`` rows of e in a block stay in the L1 cache), one
        tile per ``(o0, c, a, b0)`` along the block, its lanes added at the end; the last
        group of channels or of kernel columns is shifted back to end at the edge, and only
        the sums not already made are added."""
        n_, o_, ho, wo = eps.shape
        c_, h, w = z.shape[1], z.shape[2], z.shape[3]
        chunks, kh, kw = parts.shape[0], parts.shape[3], parts.shape[4]
        me = (ho * wp + lanes - 1) // lanes * lanes  # positions, whole vectors
        length = max(lead + h * wp, me + (kh - 1) * dh * wp + (kw - 1) * dw)
        lines = (length * z.itemsize + 63) // 64  # an odd number of cache lines, as F's
        length = (lines + 1 - lines % 2) * 64 // z.itemsize
        blocks = (me + most - 1) // most
        block = ((me + blocks - 1) // blocks + lanes - 1) // lanes * lanes
        ef, zf = eps.reshape(-1), z.reshape(-1)
        groups, columns = (o_ + rows - 1) // rows, (kw + taps - 1) // taps
        for t in jit.prange(chunks):
            part = parts[t]
            part[:] = 0
            sums = np.empty(rows * taps, eps.dtype)
            plane = zeros(c_ * length, z)
            e = zeros(o_ * me, eps)  # aligned: its vectors are loads of whole cache lines
            for n in range(t * n_ // chunks, (t + 1) * n_ // chunks):
                for c in range(c_):
                    for y in range(h):
                        move(plane, c * length + lead + y * wp, zf, ((n * c_ + c) * h + y) * w, w)
                for o in range(o_):
                    for i in range(ho):
                        move(e, o * me + i * wp, ef, ((n * o_ + o) * ho + i) * wo, wo)
                for q0 in range(0, me, block):
                    for r in range(groups):
                        o0 = min(r * rows, o_ - rows)
                        for c in range(c_):
                            for a in range(kh):
                                for col in range(columns):
                                    b0 = min(col * taps, kw - taps)
                                    acc = fill(zero, 0, rows, taps)  # g_w[o0 + o, c, a, b0 + b]
                                    at = c * length + a * dh * wp + b0 * dw  # P[c, off(a, b0)]
                                    for q in range(q0, min(q0 + block, me), lanes):
                                        acc = products(acc, e, o0 * me + q, me, plane, at + q, dw)
                                    totals(acc, sums, 0, taps, 1)
                                    for o in range(r * rows - o0, rows):  # not made already
                                        for b in range(col * taps - b0, taps):
                                            part[o0 + o, c, a, b0 + b] += sums[o * taps + b]

    return gram


def supports(g: ConvGeometry) -> bool:
    """Stride 1 (any padding and dilation)."""
    return g.wide


def _correlate(src, wt, g: ConvGeometry, lead: int, start: int, skip: int, out) -> np.ndarray:
    """:func:`correlate_kernel`'s loop with the largest tile of :data:`COLS` vectors that fits
    :data:`SUMS`, on convprop's threads."""
    simd.register()
    rows = rows_for(wt.shape[-1], COLS, int(SUMS * simd.registers()[1]))
    correlate = correlate_kernel(rows, COLS, simd.lanes(src.dtype))
    zero = np.zeros(rows, src.dtype)
    chunks = max(1, min(jit.threads(), src.shape[0]))
    correlate(src, wt, g.wp, lead, start, skip, g.dh, g.dw, zero, chunks, out)
    return out


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``x[n, o, q] = sum_{c, a, b} w[o, c, a, b] zp[n, c, q + off(a, b)]``, ``zp`` z at
    ``pt*Wp + pl`` on the padded grid."""
    wt = np.ascontiguousarray(w.transpose(1, 2, 3, 0))  # (C, kh, kw, O)
    x = np.empty((g.n, g.o, g.ho, g.wo), z.dtype)
    return _correlate(contiguous(z), wt, g, g.pt * g.wp + g.pl, 0, 0, x)


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: ``delta[n, c, p] = sum_{o, a, b} w[o, c, kh-1-a, kw-1-b] el[n, o, p + off]``,
    ``el`` eps after ``off(kh-1, kw-1)`` zeros, on the rows ``pt .. pt + H`` of the padded
    grid from its column ``pl``."""
    wf = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(0, 2, 3, 1))  # (O, kh, kw, C)
    delta = np.empty((g.n, g.c, g.h, g.w), eps.dtype)
    return _correlate(contiguous(eps), wf, g, eps_lead(g), g.pt * g.wp, g.pl, delta)


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w[o, c, a, b] = sum_{n, q} e[n, o, q] zp[n, c, q + off(a, b)]``."""
    simd.register()
    taps = min(MAX_TAPS, g.kw)
    rows = rows_for(g.o, taps, int(SUMS * simd.registers()[1]))
    chunks = max(1, min(jit.threads(), g.n))
    parts = np.empty((chunks, g.o, g.c, g.kh, g.kw), eps.dtype)
    gram = gram_kernel(rows, taps, simd.lanes(eps.dtype))
    eps, z = contiguous(eps), contiguous(z)
    most = GRAM_BYTES // (rows * eps.itemsize)
    gram(eps, z, g.wp, g.pt * g.wp + g.pl, g.dh, g.dw, most, np.zeros(rows, eps.dtype), parts)
    return parts.sum(axis=0) if chunks > 1 else parts[0]
