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
transposed (JAX's transpose rule), and one compiled loop computes both.

Each formula is written below as plain loops, compiled by :func:`convprop.jit.compiled` on
first use and cached on disk, in two forms:

* **small** (:func:`small_kernels`, kernel sizes :data:`SPECIALISED`, run on one thread: where
  Numba has one, or the work is below :data:`SERIAL_WORK`, where waking threads costs more):
  the kernel size is a constant of the compiled code, so the tap loops unroll and each output
  position sums its taps in a register (one store per position, not one per tap); x and delta
  are written row by row straight into the result (no junk columns, no copy); G_gw places a
  block of eps rows at a time on wide positions in an L1 buffer (no scratch ``e``). The loops
  index the arrays directly, with no view made inside them (each view costs Numba a reference
  count), and offsets are unsigned ints (no test for negative indices in the inner loop, which
  then vectorises). No parallel launch: a plain compiled call. The seed's layer (2 cores, one
  thread, the compiled calls alone): F 5.8 us, G_delta 2.2 (placing eps) + 5.3, G_gw 6.5,
  against 10.7, 2 + 9 + 2 (copies) and 8 for the general form; at the public functions F
  9-10 us, G_delta 12, G_gw 11 (were 19-22, 23-28, 20-23). LeNet-1 forced here (64x1x28x28
  -> 6, 5x5 p2): F+G 2.16 ms against 2.17 (its rows of 28 leave loop tails; G_gw gains what
  F and G_delta lose).
* **general** (:func:`correlate`, :func:`gram`, any kernel, Numba's threads): the innermost
  loop runs along a run of positions ``q``, contiguous, for one block of about :data:`BLOCK`
  positions at a time, which stays in the L1 cache while every tap of every channel is added
  into it; the outer loop is Numba's parallel range, over the blocks of every plane of the
  result for F and G_delta, and over chunks of the positions for G_gw (a partial g_w per
  chunk, summed at the end).

No patch matrix, no BLAS: the engine for one or a few channels (the seed's layer, LeNet's
first), where each tap is too little work for a GEMM. Stride 1.
"""

from __future__ import annotations

import functools
from math import prod
from typing import NamedTuple

import numpy as np

from convprop import jit
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import eps_lead, padded, positions

BLOCK = 1024  # positions per step of the parallel loop: 4 KiB of float32, in L1 with the taps
SMALL_BLOCK = 2048  # positions per block of the small G_gw (measured: 1024 8 us, 2048 6-7)
SPECIALISED = ((3, 3), (5, 5))  # kernel sizes with a small form: the seed's, LeNet's
SMALL_ITEMS = 1 << 15  # work arrays up to 128 KiB of float32 (glibc's mmap threshold)
SERIAL_WORK = 1 << 20  # multiply-adds below which no thread is worth waking (seed: 0.15 M)

fastmath = {"reassoc", "contract"}  # sums in any order
compiled = jit.compiled(parallel=True, fastmath=fastmath)
serial = jit.compiled(fastmath=fastmath)
u = np.uint64  # an index that is never negative: no wraparound test in the loop


# ------------------------------------------------------------------ the small form


class SmallKernels(NamedTuple):
    correlate: object  # (src, w, start, wp, dh, dw, x): src (N, C, ...) C-contiguous planes,
    # x (N, O, Ho, Wo) itself (no junk columns)
    gram: object  # (eps, zp, wp, dh, dw, g_w): from eps itself, g_w itself


@functools.cache
def small_kernels(kh: int, kw: int) -> SmallKernels:
    """The small form's F/G_delta and G_gw loops with the kernel size ``kh x kw`` built in
    (``kw <= 5``)."""
    if kw > 5:
        raise ValueError(f"the small form's G_gw sums at most 5 taps per row, got kw={kw}")

    @serial
    def correlate_small(src, w, start, wp, dh, dw, x):
        """``x[n, o, i, j] = sum_{c, a, b} w[o, c, a, b] src[n, c, start + i*wp + j + off(a, b)]``,
        ``off(a, b) = a*dh*wp + b*dw``, each position's sum in a register."""
        src = src.reshape(src.shape[0], src.shape[1], -1)  # planes as flat runs
        zero = x.dtype.type(0)
        for n in range(x.shape[0]):
            for o in range(x.shape[1]):
                for c in range(w.shape[1]):
                    for i in range(x.shape[2]):
                        for j in range(x.shape[3]):
                            acc = x[n, o, i, j] if c else zero
                            for a in range(kh):
                                for b in range(kw):
                                    tap = src[n, c, u(start + i * wp + j + a * dh * wp + b * dw)]
                                    acc += w[o, c, a, b] * tap
                            x[n, o, i, j] = acc

    @serial
    def gram_small(eps, zp, wp, dh, dw, g_w):
        """``g_w[o, c, a, b] = sum_{n, i, j} eps[n, o, i, j] zp[n, c, i*wp + j + off(a, b)]``:
        a block of eps rows at a time placed on wide positions ``q = i*wp + j`` (zero at the
        junk columns) in a buffer that stays in L1 with zp's rows while every tap reads it;
        the taps of one kernel row share each load of the buffer (measured 7.0 us against
        8.1 tap by tap on the seed's layer)."""
        n_, o_, ho, wo = eps.shape
        zp = zp.reshape(zp.shape[0], zp.shape[1], -1)  # planes as flat runs
        rows = max(1, SMALL_BLOCK // wp)
        e = np.empty(rows * wp, eps.dtype)
        last = ho * wp - (kw - 1) * dw  # the positions of a plane that read inside it
        zero = g_w.dtype.type(0)
        g_w[:] = 0
        for n in range(n_):
            for o in range(o_):
                for i0 in range(0, ho, rows):
                    for r in range(min(rows, ho - i0)):
                        for j in range(wo):
                            e[u(r * wp + j)] = eps[n, o, i0 + r, j]
                        for j in range(wo, wp):
                            e[u(r * wp + j)] = 0
                    q0 = i0 * wp
                    for c in range(zp.shape[1]):
                        for a in range(kh):  # the row's taps in one pass: e[q] read once
                            s0 = s1 = s2 = s3 = s4 = zero  # one sum per tap b < kw <= 5
                            for q in range(min(rows * wp, last - q0)):
                                ev, p = e[q], u(q0 + q + a * dh * wp)
                                s0 += ev * zp[n, c, p]
                                if kw > 1:
                                    s1 += ev * zp[n, c, p + u(dw)]
                                if kw > 2:
                                    s2 += ev * zp[n, c, p + u(2 * dw)]
                                if kw > 3:
                                    s3 += ev * zp[n, c, p + u(3 * dw)]
                                if kw > 4:
                                    s4 += ev * zp[n, c, p + u(4 * dw)]
                            for b, s in enumerate((s0, s1, s2, s3, s4)[:kw]):
                                g_w[o, c, a, b] += s

    return SmallKernels(correlate_small, gram_small)


@serial
def place(eps, lead, wp, el):
    """``el[n, o, lead + i*wp + j] = eps[n, o, i, j]`` for ``j < Wo``, zero everywhere else:
    eps on the wide positions of a padded grid of rows of ``wp``."""
    n_, o_, ho, wo = eps.shape
    for n in range(n_):
        for o in range(o_):
            for p in range(lead):
                el[n, o, p] = 0
            for i in range(ho):
                for j in range(wo):
                    el[n, o, u(lead + i * wp + j)] = eps[n, o, i, j]
                for j in range(wo, wp):
                    el[n, o, u(lead + i * wp + j)] = 0
            for p in range(lead + ho * wp, el.shape[2]):
                el[n, o, p] = 0


@serial
def narrow(out, wp, left, x):
    """``x[n, o, i, j] = out[n, o, i*wp + left + j]``: rows of ``wp`` cut to ``x``'s width."""
    n_, o_, h, w = x.shape
    for n in range(n_):
        for o in range(o_):
            for i in range(h):
                for j in range(w):
                    x[n, o, i, j] = out[n, o, u(i * wp + left + j)]


def _small(g: ConvGeometry) -> SmallKernels | None:
    """The small form for ``g`` when its kernel size has one and one thread would run it."""
    if (g.kh, g.kw) not in SPECIALISED:
        return None
    work = g.n * g.o * g.c * g.kh * g.kw * g.ho * g.wp
    if work > SERIAL_WORK and jit.threads() > 1:
        return None
    return small_kernels(g.kh, g.kw)


def _work(name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A work array: a fresh one when small (malloc reuses a freed block at once, cheaper than
    the workspace's bookkeeping), else the workspace's scratch (no page faults anew)."""
    if prod(shape) <= SMALL_ITEMS:
        return np.empty(shape, dtype)
    return scratch(name, shape, dtype)


# ------------------------------------------------------------------ the general form


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


# ------------------------------------------------------------------ the engine


def supports(g: ConvGeometry) -> bool:
    """Stride 1 (any padding and dilation)."""
    return g.wide


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``x[n, o, q] = sum_{c, a, b} w[o, c, a, b] zp[n, c, q + off(a, b)]``."""
    zp = padded(z, g)
    x = np.empty((g.n, g.o, g.ho, g.wo), z.dtype)
    small = _small(g)
    if small:  # w as it comes (flipped for convolution: a strided view, read once per tap)
        small.correlate(zp, w, 0, g.wp, g.dh, g.dw, x)
        return x
    zp = zp.reshape(g.n, g.c, -1)
    out = scratch("out", (g.n, g.o, g.ho, g.wp), z.dtype)
    w = np.ascontiguousarray(w)
    correlate(zp, w, 0, positions(g)[0], g.wp, g.dh, g.dw, out.reshape(g.n, g.o, -1))
    narrow(out.reshape(g.n, g.o, -1), g.wp, 0, x)
    return x


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: ``delta[n, c, p] = sum_{o, a, b} w[o, c, kh-1-a, kw-1-b] el[n, o, p + off]``
    on the rows ``pt .. pt + H`` of the padded grid."""
    lead = eps_lead(g)
    el = _work("eps_lead", (g.n, g.o, lead + g.hp * g.wp), eps.dtype)
    place(eps, lead, g.wp, el)
    wf = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, kh, kw)
    delta = np.empty((g.n, g.c, g.h, g.w), eps.dtype)
    small = _small(g)
    if small:
        small.correlate(el, wf, g.pt * g.wp + g.pl, g.wp, g.dh, g.dw, delta)
        return delta
    out = scratch("out", (g.n, g.c, g.h, g.wp), eps.dtype)
    wf = np.ascontiguousarray(wf)
    correlate(el, wf, g.pt * g.wp, g.h * g.wp, g.wp, g.dh, g.dw, out.reshape(g.n, g.c, -1))
    narrow(out.reshape(g.n, g.c, -1), g.wp, g.pl, delta)
    return delta


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w[o, c, a, b] = sum_{n, q} e[n, o, q] zp[n, c, q + off(a, b)]``."""
    zp = padded(z, g)
    small = _small(g)
    if small:
        g_w = np.empty((g.o, g.c, g.kh, g.kw), eps.dtype)
        small.gram(eps, zp, g.wp, g.dh, g.dw, g_w)
        return g_w
    zp = zp.reshape(g.n, g.c, -1)
    e = scratch("eps", (g.n, g.o, g.ho * g.wp), eps.dtype)  # zero at the junk columns
    place(eps, 0, g.wp, e)
    m = positions(g)[0]
    chunks = max(1, min(jit.threads(), g.n * -(-m // BLOCK)))
    parts = np.empty((chunks, g.o, g.c, g.kh, g.kw), eps.dtype)
    gram(e, zp, m, g.wp, g.dh, g.dw, parts)
    return parts.sum(axis=0) if chunks > 1 else parts[0]
