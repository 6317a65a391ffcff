"""Engine "numba_batch_direct": the seed's formula as compiled loops on batch-last memory.

The batch-last layout of :mod:`.batch_last` (``zt`` ``(C, H, W, N)``, the batch innermost)
without its patch matrix: for LeNet's layers the patch is 25 times the input and its GEMMs
have 6 or 16 rows, so building and reading it costs more than the multiply-adds. Here each
formula is a loop over register tiles (:mod:`convprop.simd`) whose vectors run along the
batch, contiguous::

    F:        x[o, i, j, n]   = b[o] + sum_{c,a,b} w[o, c, a, b] zp[c, s*i + d*a, s*j + d*b, n]
    G_gw:     g_w[o, c, a, b] = sum_{i,j,n} eps[o, i, j, n] zp[c, s*i + d*a, s*j + d*b, n]
    G_delta:  delta[c, y, x, n]
                  = sum_{o,a,b} w[o, c, a, b] ep[o, (y + pt - d*a)/s, (x + pl - d*b)/s, n]

with ``zp`` the input padded (``zp[c, y, x] = zt[c, y - pt, x - pl]``, zero off the image),
``ep`` eps with zeros around it and G_delta's sum over the terms whose indices are whole (with
stride ``s``, eps's row ``i`` came from F's input rows ``s*i + d*a``). G_delta is F's loop
again (:func:`correlate_kernel`), on eps with the kernel flipped and transposed; neither builds
the padding (a tap that lands off the image is skipped). F and G_delta sum a tile of ``rows``
output channels by ``cols`` vectors of images (LeNet's second layer: 4 x 4 vectors of 16
images, 16 of the 32 registers; its G_delta 6 x 4): each tap adds the outer product of ``rows``
weights and ``cols`` input vectors, so a load feeds ``rows`` FMAs and the sums stay in
registers for all ``C*kh*kw`` taps; F adds the bias as the tile's start. G_gw
(:func:`gram_kernel`) sums a tile of ``rows`` output channels by ``taps`` kernel columns along
the positions and the batch, then adds the lanes: it reads the padded input, built once (only
where there is padding).

Measured (LeNet's layers, float32, one thread, each kernel alone): LeNet-2 (64x6x14x14 -> 16,
5x5) F 0.22 ms (about 135 GFLOP/s, against 0.56 for the earlier 4-channel tiles of
``jit.stack_array`` and 0.75 for numba_batch_last's patch and GEMM), G_delta 0.23, G_gw 0.29;
LeNet-1 (64x1x28x28 -> 6, 5x5 p2) F 0.11 ms, G_gw 0.13. A batch that is not a multiple of
the vector's lanes (16 float32, 8 float64) is copied into one that is, zero-padded (zeros add
nothing); the last run of images, and the last group of channels or kernel columns, is
shifted back to end at the edge (a few sums computed twice, the same values written).
F's result and G_delta's are NCHW views of batch-last memory, as ``batch_last`` hands them
on; inputs in that layout are read without a copy. Parallel over the rows of the result
(Numba's threads, one by default: :mod:`convprop.jit`). Any stride, each a compile of its
own (the transposed convolution's k4 s2 layer, F+G 1.02 ms against numba_batch_last's 1.78).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from convprop import jit, simd
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch
from convprop.simd import fill, outer, products, rows_for, store, totals

Pair = tuple[int, int]

SUMS = 3 / 4  # share of the vector registers (32 with AVX-512) for F's and G_delta's tile
GRAM_SUMS = 5 / 8  # for G_gw's (each step also loads rows + taps vectors)
MAX_COLS = 4  # vectors of images per tile (64 float32 images)
MAX_TAPS = 5  # kernel columns per G_gw tile


@functools.cache
def correlate_kernel(rows: int, cols: int, lanes: int, step: Pair, spread: Pair) -> Callable:
    """The compiled :func:`correlate` for tiles of ``rows`` channels by ``cols`` vectors of
    ``lanes`` images, with ``step`` ``(sh, sw)`` and ``spread`` ``(uh, uw)`` built in (one
    compile, cached on disk, per tile shape, strides and dtype: at stride 1 the divisions by
    them fold away; as arguments, they cost the LeNet-5 step 0.3 ms)."""
    run = cols * lanes
    (sh, sw), (uh, uw) = step, spread

    @jit.compiled(parallel=True)
    def correlate(zt, wt, b, dh, dw, pt, pl, out):
        """``out[p, i, j, n] = b[p] + sum_{r, a, t} wt[r, a, t, p] zt[r, (sh*i + dh*a - pt)/uh,
        (sw*j + dw*t - pl)/uw, n]``, the terms whose indices are whole and on the image:
        ``sh, sw`` F's stride, ``uh, uw`` G_delta's (eps read as if spread out by the stride,
        zeros between); ``zt`` ``(R, H, W, Nb)``, ``wt`` ``(R, kh, kw, P)``, ``out`` ``(P,
        Ho, Wo, Nb)``, all C-contiguous, ``P >= rows``, ``Nb >= cols*lanes`` a multiple of
        ``lanes``; one tile of ``rows`` channels per row ``(p0, i)`` and step ``(j, n0)``."""
        p_, ho, wo, nb = out.shape
        r_, h, wi = zt.shape[0], zt.shape[1], zt.shape[2]
        kh, kw = wt.shape[1], wt.shape[2]
        z, w, x = zt.reshape(-1), wt.reshape(-1), out.reshape(-1)
        groups = (p_ + rows - 1) // rows
        for q in jit.prange(ho * groups):
            i, p0 = q // groups, min(q % groups * rows, p_ - rows)
            for j in range(wo):
                for step in range(0, nb, run):
                    n0 = min(step, nb - run)
                    acc = fill(b, p0, rows, cols)  # acc[p, n]: out[p0 + p, i, j, n0 + n]
                    for r in range(r_):
                        for a in range(kh):
                            y = sh * i + dh * a - pt
                            if y < 0 or y % uh or y // uh >= h:
                                continue
                            for t in range(kw):
                                xx = sw * j + dw * t - pl
                                if xx < 0 or xx % uw or xx // uw >= wi:
                                    continue
                                tap = ((r * kh + a) * kw + t) * p_ + p0  # wt[r, a, t, p0]
                                at = ((r * h + y // uh) * wi + xx // uw) * nb + n0
                                acc = outer(acc, w, tap, z, at)
                    store(acc, x, ((p0 * ho + i) * wo + j) * nb + n0, ho * wo * nb)

    return correlate


@functools.cache
def gram_kernel(rows: int, taps: int, lanes: int, step: Pair) -> Callable:
    """The compiled :func:`gram` for tiles of ``rows`` output channels by ``taps`` kernel
    columns, vectors of ``lanes`` images, with ``step`` ``(sh, sw)`` built in."""
    sh, sw = step

    @jit.compiled(parallel=True)
    def gram(et, zp, dh, dw, g_w):
        """``g_w[o, c, a, t] = sum_{i, j, n} et[o, i, j, n] zp[c, sh*i + dh*a, sw*j + dw*t,
        n]``: ``et`` ``(O, Ho, Wo, Nb)``, ``zp`` ``(C, Hp, Wp, Nb)`` (padded), ``O >= rows``,
        ``kw >= taps``, ``Nb`` a multiple of ``lanes``; one tile per ``(o0, c, a, t0)``."""
        o_, ho, wo, nb = et.shape
        c_, hp, wp = zp.shape[0], zp.shape[1], zp.shape[2]
        kh, kw = g_w.shape[2], g_w.shape[3]
        e, z, gw = et.reshape(-1), zp.reshape(-1), g_w.reshape(-1)
        groups, columns = (o_ + rows - 1) // rows, (kw + taps - 1) // taps
        runs, run = (1, wo * nb) if sw == 1 else (wo, nb)  # stride 1: a row (j, n) is one run
        zero = np.zeros(rows, et.dtype)
        for q in jit.prange(groups * c_ * kh * columns):
            o0 = min(q // (c_ * kh * columns) * rows, o_ - rows)
            c, a = q // (kh * columns) % c_, q // columns % kh
            t0 = min(q % columns * taps, kw - taps)
            acc = fill(zero, 0, rows, taps)  # acc[o, t]: lanes of g_w[o0 + o, c, a, t0 + t]
            for i in range(ho):
                ei = (o0 * ho + i) * wo * nb  # et[o0, i, 0, 0]
                zi = ((c * hp + sh * i + dh * a) * wp + dw * t0) * nb  # zp[c, sh*i + dh*a, dw*t0]
                for j in range(runs):
                    for k in range(0, run, lanes):
                        ek, zk = ei + j * nb + k, zi + sw * j * nb + k
                        acc = products(acc, e, ek, ho * wo * nb, z, zk, dw * nb)
            totals(acc, gw, ((o0 * c_ + c) * kh + a) * kw + t0, c_ * kh * kw, 1)

    return gram


def supports(g: ConvGeometry) -> bool:
    """Any stride, padding and dilation."""
    return True


def _batch_last(a: np.ndarray, name: str, nb: int) -> np.ndarray:
    """``a`` ``(N, C, H, W)`` as C-contiguous ``(C, H, W, nb)``, images ``N..nb`` zero: a view
    if it is that memory already."""
    t = a.transpose(1, 2, 3, 0)
    if t.flags.c_contiguous and nb == a.shape[0]:
        return t
    copy = scratch(name, (*t.shape[:3], nb), a.dtype)
    copy[..., : a.shape[0]] = t
    copy[..., a.shape[0] :] = 0
    return copy


def _padded_batch(g: ConvGeometry, dtype) -> int:
    """The batch rounded up to whole vectors."""
    lanes = simd.lanes(dtype)
    return -(-g.n // lanes) * lanes


def _correlate(zt, wt, bias, step, spread, dh, dw, pt, pl, out) -> None:
    """:func:`correlate_kernel`'s loop with the largest tile that fits :data:`SUMS`: ``step``
    its ``(sh, sw)``, ``spread`` its ``(uh, uw)``."""
    simd.register()
    lanes = simd.lanes(zt.dtype)
    cols = min(MAX_COLS, zt.shape[3] // lanes)
    rows = rows_for(out.shape[0], cols, int(SUMS * simd.registers()[1]))
    correlate_kernel(rows, cols, lanes, step, spread)(zt, wt, bias, dh, dw, pt, pl, out)


def _result(xt: np.ndarray, n: int) -> np.ndarray:
    """The NCHW view of batch-last ``xt``, cut to ``n`` images (a fresh array if cut)."""
    if xt.shape[3] != n:
        xt = xt[..., :n].copy()
    return xt.transpose(3, 0, 1, 2)


def forward(
    z: np.ndarray, w: np.ndarray, g: ConvGeometry, b: np.ndarray | None = None, keep=False
) -> np.ndarray:
    """F into batch-last ``xt`` ``(O, Ho, Wo, N)``, the bias its tiles' start; returns the
    NCHW view of it."""
    nb = _padded_batch(g, z.dtype)
    if nb == g.n:
        xt = np.empty((g.o, g.ho, g.wo, g.n), z.dtype)
    else:
        xt = scratch("batch_out", (g.o, g.ho, g.wo, nb), z.dtype)
    bias = np.zeros(g.o, z.dtype) if b is None else np.ascontiguousarray(b, z.dtype)
    wt = np.ascontiguousarray(w.transpose(1, 2, 3, 0))  # (C, kh, kw, O)
    zt = _batch_last(z, "batch_last", nb)
    _correlate(zt, wt, bias, (g.sh, g.sw), (1, 1), g.dh, g.dw, g.pt, g.pl, xt)
    return _result(xt, g.n)


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry, with_bias: bool = False):
    """G_gw, and ``g_b = sum_{n, i, j} eps`` if ``with_bias``: ``(g_w, g_b or None)``."""
    simd.register()
    nb = _padded_batch(g, eps.dtype)
    et = _batch_last(eps, "eps", nb)
    if g.padded:
        zp = scratch("padded", (g.c, g.hp, g.wp, nb), z.dtype)
        zp.fill(0)
        zp[:, g.pt : g.pt + g.h, g.pl : g.pl + g.w, : g.n] = z.transpose(1, 2, 3, 0)
    else:
        zp = _batch_last(z, "batch_last", nb)
    g_w = np.empty((g.o, g.c, g.kh, g.kw), eps.dtype)
    lanes, taps = simd.lanes(eps.dtype), min(MAX_TAPS, g.kw)
    most = int(GRAM_SUMS * simd.registers()[1])
    gram = gram_kernel(rows_for(g.o, taps, most), taps, lanes, (g.sh, g.sw))
    gram(et, zp, g.dh, g.dw, g_w)
    # g_b by einsum, as the table adds it to the engines without a bias of their own: 16 us
    # on LeNet's first layer's eps, against 55 for ndarray.sum's pairwise sums along a row
    return g_w, (np.einsum("ok->o", et.reshape(g.o, -1)) if with_bias else None)


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta, F's loop on eps, into batch-last ``(C, H, W, N)``; returns the NCHW view.

    ``delta[c, y, x] = sum_{o, a, b} flip(w)[c, o, a, b] eps[o, (y + d*a - pt')/s, (x + d*b -
    pl')/s]`` over the terms whose indices are whole, with ``flip(w)[c, o, a, b] = w[o, c,
    kh-1-a, kw-1-b]`` and ``pt' = d*(kh-1) - pt`` (the adjoint's formula with ``a`` for
    ``kh-1-a``; as ``numba_tiled`` does on its padded grid): with stride ``s``, the position
    ``s*i`` of F's input that eps's row ``i`` came from."""
    nb = _padded_batch(g, eps.dtype)
    if nb == g.n:
        dt = np.empty((g.c, g.h, g.w, g.n), eps.dtype)
    else:
        dt = scratch("batch_delta", (g.c, g.h, g.w, nb), eps.dtype)
    wf = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(0, 2, 3, 1))  # (O, kh, kw, C)
    pt, pl = g.dh * (g.kh - 1) - g.pt, g.dw * (g.kw - 1) - g.pl
    zeros = np.zeros(g.c, eps.dtype)
    et = _batch_last(eps, "eps", nb)
    _correlate(et, wf, zeros, (1, 1), (g.sh, g.sw), g.dh, g.dw, pt, pl, dt)
    return _result(dt, g.n)
