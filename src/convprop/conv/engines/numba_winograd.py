"""Engine "numba_winograd": :mod:`.winograd`'s F(4x4, 3x3) with its tile transforms compiled.

The same 36 GEMMs as :mod:`.winograd`, block by block of images, between the same four
transforms, each written here as loops with the fixed matrices spelled out (a row of ``B^T``
is one line below)::

    input:          V[xi, p, c] = (B^T d B)[xi]     d: the 6x6 tile p of zp
    input adjoint:  dp         += B v B^T           each tile's 6x6 added onto its place
    output:         x tile p    = A^T m A           4x4
    output adjoint: E[xi, p, o] = (A e A^T)[xi]     e: eps's 4x4 tile p, zero off the image

``B^T d B`` is computed as ``B^T (d B)``: the tile is copied onto the stack (36 x :data:`CB`
numbers, :func:`convprop.jit.stack_array`), its rows are multiplied by ``B``, then its columns
by ``B^T``, in place, each step one vector of :data:`CB` channels; one loop writes the 1-D
transform once and runs it over the rows (numbers ``CB`` apart) and then the columns (``6*CB``
apart), and the other three transforms alike.

The images are read and written channels-last, and padded to whole tiles, so that the loops
have no bounds to test and each step loads one contiguous vector: each block is moved into
that layout and back by :func:`channels_last` and :func:`channels_first` (in cache: a block's
arrays hold about :data:`._layout.BLOCK_BYTES`), which also add the padding and crop it. On
planes of 32x32 float32 the channels of a pixel lie 4 KiB apart, one cache set: the tiles
written straight into NCHW ran at half the speed (measured, the wide row's output transform
9.9 ms against 6.0). The loops are serial and release the GIL (``nogil``): the blocks of
images are split over the engines' threads, each with its GEMMs on one BLAS thread
(:func:`.winograd.forward`). Numba's parallel loops between the BLAS's GEMMs were slower
(the wide row 55-58 ms on 2 threads against 44-47 on one, the threads spinning against each
other; with the blocks split, 27).
"""

from __future__ import annotations

import numpy as np

from convprop import jit
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from . import winograd
from .winograd import ALPHA, M_OUT, supports, tiles

__all__ = ["supports", "forward", "adjoint_input", "adjoint_weight"]

CB = 16  # channels per step: one vector of 16 float32 (AVX-512), the tile's innermost axis
TILE = ALPHA * ALPHA * CB  # a 6x6 tile of CB channels, on the stack

compiled = jit.compiled(nogil=True)  # nogil: blocks on the engines' threads


@compiled
def input_tiles(zq, th, tw, v):
    """``v[xi, p, c] = (B^T d B)[xi]``, ``d[i, j] = zq[n, 4*ty + i, 4*tx + j, c]`` for tile
    ``p = (n*th + ty)*tw + tx`` (``zq``: zp channels-last, extended to whole tiles)."""
    k2, k4, k5 = v.dtype.type(2), v.dtype.type(4), v.dtype.type(5)  # typed: sums in v's dtype
    s = ALPHA * CB  # t[(i*6 + j)*CB + cc]: from one row of the tile to the next
    for r in jit.prange(zq.shape[0] * th):
        n, ty = r // th, r % th
        t = jit.stack_array(v, TILE)
        for tx in range(tw):
            p = r * tw + tx
            for c0 in range(0, zq.shape[3], CB):
                for i in range(ALPHA):  # the tile d
                    for j in range(ALPHA):
                        for cc in range(CB):
                            t[i * s + j * CB + cc] = zq[n, 4 * ty + i, 4 * tx + j, c0 + cc]
                # B^T d B: each row times B, (d B)[i, b] = sum_j d[i, j] BT[b, j], then B^T
                # times each column; one line of 6 numbers ``step`` apart, lines ``line`` apart
                for line, step in ((s, CB), (CB, s)):
                    for m in range(ALPHA):
                        for cc in range(CB):
                            k = m * line + cc
                            d0, d1, d2 = t[k], t[k + step], t[k + 2 * step]
                            d3, d4, d5 = t[k + 3 * step], t[k + 4 * step], t[k + 5 * step]
                            t[k] = k4 * d0 - k5 * d2 + d4
                            t[k + step] = -k4 * d1 - k4 * d2 + d3 + d4
                            t[k + 2 * step] = k4 * d1 - k4 * d2 - d3 + d4
                            t[k + 3 * step] = -k2 * d1 - d2 + k2 * d3 + d4
                            t[k + 4 * step] = k2 * d1 - d2 - k2 * d3 + d4
                            t[k + 5 * step] = k4 * d1 - k5 * d3 + d5
                for xi in range(ALPHA * ALPHA):
                    for cc in range(CB):
                        v[xi, p, c0 + cc] = t[xi * CB + cc]


@compiled
def input_tiles_adjoint(v, th, tw, dq):
    """The adjoint of :func:`input_tiles`: ``dq[n, 4*ty + i, 4*tx + j, c] += (B v[:, p, c]
    B^T)[i, j]`` (``dq`` zeroed by the caller); parallel over the images (the tiles of one
    image overlap)."""
    k2, k4, k5 = v.dtype.type(2), v.dtype.type(4), v.dtype.type(5)  # typed: sums in v's dtype
    s = ALPHA * CB
    for n in jit.prange(dq.shape[0]):
        t = jit.stack_array(v, TILE)
        for ty in range(th):
            for tx in range(tw):
                p = (n * th + ty) * tw + tx
                for c0 in range(0, dq.shape[3], CB):
                    for xi in range(ALPHA * ALPHA):
                        for cc in range(CB):
                            t[xi * CB + cc] = v[xi, p, c0 + cc]
                    # B v B^T: B times each column, (B v)[i, b] = sum_a BT[a, i] v[a, b],
                    # then each row times B^T
                    for line, step in ((CB, s), (s, CB)):
                        for m in range(ALPHA):
                            for cc in range(CB):
                                k = m * line + cc
                                r0, r1, r2 = t[k], t[k + step], t[k + 2 * step]
                                r3, r4, r5 = t[k + 3 * step], t[k + 4 * step], t[k + 5 * step]
                                t[k] = k4 * r0
                                t[k + step] = -k4 * r1 + k4 * r2 - k2 * r3 + k2 * r4 + k4 * r5
                                t[k + 2 * step] = -k5 * r0 - k4 * r1 - k4 * r2 - r3 - r4
                                t[k + 3 * step] = r1 - r2 + k2 * r3 - k2 * r4 - k5 * r5
                                t[k + 4 * step] = r0 + r1 + r2 + r3 + r4
                                t[k + 5 * step] = r5
                    for i in range(ALPHA):  # added onto the tile's place
                        for j in range(ALPHA):
                            for cc in range(CB):
                                dq[n, 4 * ty + i, 4 * tx + j, c0 + cc] += t[i * s + j * CB + cc]


@compiled
def output_tiles(m, th, tw, xq):
    """``xq[n, 4*ty + u, 4*tx + v, o] = (A^T m[:, p, o] A)[u, v]`` (``xq``: x channels-last,
    extended to whole tiles)."""
    k2, k4, k8 = m.dtype.type(2), m.dtype.type(4), m.dtype.type(8)  # typed: sums in m's dtype
    s = ALPHA * CB
    for r in jit.prange(xq.shape[0] * th):
        n, ty = r // th, r % th
        t = jit.stack_array(m, TILE)
        for tx in range(tw):
            p = r * tw + tx
            for o0 in range(0, xq.shape[3], CB):
                for xi in range(ALPHA * ALPHA):
                    for cc in range(CB):
                        t[xi * CB + cc] = m[xi, p, o0 + cc]
                # A^T m A: A^T times each of the 6 columns (into rows 0-3 of t), then each
                # of those 4 rows times A (into columns 0-3)
                for line, step, lines in ((CB, s, ALPHA), (s, CB, M_OUT)):
                    for u in range(lines):
                        for cc in range(CB):
                            k = u * line + cc
                            m0, m1, m2 = t[k], t[k + step], t[k + 2 * step]
                            m3, m4, m5 = t[k + 3 * step], t[k + 4 * step], t[k + 5 * step]
                            t[k] = m0 + m1 + m2 + m3 + m4
                            t[k + step] = m1 - m2 + k2 * (m3 - m4)
                            t[k + 2 * step] = m1 + m2 + k4 * (m3 + m4)
                            t[k + 3 * step] = m1 - m2 + k8 * (m3 - m4) + m5
                for u in range(M_OUT):
                    for v in range(M_OUT):
                        for cc in range(CB):
                            xq[n, 4 * ty + u, 4 * tx + v, o0 + cc] = t[u * s + v * CB + cc]


@compiled
def output_tiles_adjoint(eq, th, tw, e):
    """The adjoint of :func:`output_tiles`: ``e[xi, p, o] = (A q A^T)[xi]``, ``q`` the 4x4
    tile ``p`` of ``eq[n, :, :, o]`` (eps channels-last, extended with zeros to whole tiles)."""
    k2, k4, k8 = e.dtype.type(2), e.dtype.type(4), e.dtype.type(8)  # typed: sums in e's dtype
    s = ALPHA * CB
    for r in jit.prange(eq.shape[0] * th):
        n, ty = r // th, r % th
        t = jit.stack_array(e, TILE)
        for tx in range(tw):
            p = r * tw + tx
            for o0 in range(0, eq.shape[3], CB):
                for u in range(M_OUT):  # the tile q, in t's corner
                    for v in range(M_OUT):
                        for cc in range(CB):
                            t[u * s + v * CB + cc] = eq[n, 4 * ty + u, 4 * tx + v, o0 + cc]
                # A q A^T: each of the 4 rows times A^T, sum_v q[u, v] AT[v, a] (into 6
                # columns), then A times each of the 6 columns (into 6 rows)
                for line, step, lines in ((s, CB, M_OUT), (CB, s, ALPHA)):
                    for u in range(lines):
                        for cc in range(CB):
                            k = u * line + cc
                            y0, y1, y2, y3 = t[k], t[k + step], t[k + 2 * step], t[k + 3 * step]
                            t[k] = y0
                            t[k + step] = y0 + y1 + y2 + y3
                            t[k + 2 * step] = y0 - y1 + y2 - y3
                            t[k + 3 * step] = y0 + k2 * y1 + k4 * y2 + k8 * y3
                            t[k + 4 * step] = y0 - k2 * y1 + k4 * y2 - k8 * y3
                            t[k + 5 * step] = y3
                for xi in range(ALPHA * ALPHA):
                    for cc in range(CB):
                        e[xi, p, o0 + cc] = t[xi * CB + cc]


@compiled
def channels_last(a, top, left, out):
    """``out[n, top + y, left + x, c] = a[n, c, y, x]``, zero elsewhere in ``out`` (its
    padding, its overhang to whole tiles, its channels past ``a``'s)."""
    n_, c_, h, w = a.shape
    for n in jit.prange(n_):
        out[n] = 0
        for y in range(h):
            row = out[n, top + y, left : left + w]
            for c in range(c_):
                for x in range(w):
                    row[x, c] = a[n, c, y, x]


@compiled
def channels_first(a, top, left, out):
    """``out[n, c, y, x] = a[n, top + y, left + x, c]``: the inverse of :func:`channels_last`,
    the rest of ``a`` dropped."""
    n_, c_, h, w = out.shape
    for r in jit.prange(n_ * h):
        n, y = r // h, r % h
        row = a[n, top + y, left : left + w]
        for c in range(c_):
            for x in range(w):
                out[n, c, y, x] = row[x, c]


def width(channels: int) -> int:
    """The channels of the tiles' arrays: rounded up to whole steps of :data:`CB`."""
    return -(-channels // CB) * CB


def _whole(g: ConvGeometry, nb: int, channels: int, extra: int) -> tuple[int, ...]:
    """A block's shape channels-last, extended to whole tiles (``extra``: 2 for zp) and to
    whole steps of channels."""
    th, tw = tiles(g)
    return (nb, M_OUT * th + extra, M_OUT * tw + extra, width(channels))


def _input(z: np.ndarray, g: ConvGeometry, v: np.ndarray | None = None) -> np.ndarray:
    th, tw = tiles(g)
    zq = scratch("winograd_zq", _whole(g, z.shape[0], g.c, 2), z.dtype)
    channels_last(z, g.pt, g.pl, zq)
    if v is None:
        v = scratch("winograd_v", (ALPHA * ALPHA, z.shape[0] * th * tw, width(g.c)), z.dtype)
    input_tiles(zq, th, tw, v)
    return v


def _input_adjoint(v: np.ndarray, g: ConvGeometry, delta: np.ndarray) -> None:
    dq = scratch("winograd_zq", _whole(g, delta.shape[0], g.c, 2), v.dtype)
    dq.fill(0)
    input_tiles_adjoint(v, *tiles(g), dq)
    channels_first(dq, g.pt, g.pl, delta)


def _output(m: np.ndarray, g: ConvGeometry, x: np.ndarray) -> None:
    xq = scratch("winograd_xq", _whole(g, x.shape[0], g.o, 0), m.dtype)
    output_tiles(m, *tiles(g), xq)
    channels_first(xq, 0, 0, x)


def _output_adjoint(eps: np.ndarray, g: ConvGeometry, e: np.ndarray | None = None) -> np.ndarray:
    th, tw = tiles(g)
    eq = scratch("winograd_xq", _whole(g, eps.shape[0], g.o, 0), eps.dtype)
    channels_last(eps, 0, 0, eq)
    if e is None:
        e = scratch("winograd_e", (ALPHA * ALPHA, eps.shape[0] * th * tw, width(g.o)), eps.dtype)
    output_tiles_adjoint(eq, th, tw, e)
    return e


COMPILED = winograd.Transforms(_input, _input_adjoint, _output, _output_adjoint, width)


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry, keep: bool = False) -> np.ndarray:
    """F as :func:`.winograd.forward`, the tile transforms compiled."""
    return winograd.forward(z, w, g, COMPILED, keep)


def adjoint_input(
    eps: np.ndarray, w: np.ndarray, g: ConvGeometry, keep: bool = False
) -> np.ndarray:
    """G_delta as :func:`.winograd.adjoint_input`, the tile transforms compiled."""
    return winograd.adjoint_input(eps, w, g, COMPILED, keep)


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw as :func:`.winograd.adjoint_weight`, the tile transforms compiled."""
    return winograd.adjoint_weight(eps, z, g, COMPILED)
