"""Engine "numba_tiled": the seed's formulas as compiled loops over register tiles (Numba).

The seed writes F as ``x(j) = sum_k w(k) z(j + 2 - k)``. With stride 1 an output position
``(i, j)`` is the flat offset ``q = i*Wp + j`` into a padded plane and tap ``(a, b)`` reads the
plane at ``q + off(a, b)``, ``off(a, b) = a*d*Wp + b*d`` (the wide positions of
:mod:`._layout`), so in the correlation form::

    F:        x[n, o, q]      = sum_{c, a, b} w[o, c, a, b] zp[n, c, q + off(a, b)]
    G_delta:  delta[n, c, p]  = sum_{o, a, b} w[o, c, kh-1-a, kw-1-b] el[n, o, p + off(a, b)]
    G_gw:     g_w[o, c, a, b] = sum_{n, q} e[n, o, q] zp[n, c, q + off(a, b)]

with ``el`` and ``e`` eps placed on the padded grid as in ``numba_direct``: G_delta is F again,
on eps with the flipped kernel transposed, and one loop, :func:`correlate`, computes both.

What makes it fast is where the sums live. F and G_delta sum into two *tiles* of :data:`OB`
output channels by :data:`VW` consecutive positions, constant-size arrays on the stack
(:func:`convprop.jit.stack_array`): every tap of every input channel reads one run of
:data:`RUN` inputs and an ``OB``-vector of the kernel and adds their outer product into the
tiles, so each input read feeds ``OB`` products, and the tiles stay in 8 vector registers for
the ``C*kh*kw`` steps of their sums (LLVM's SLP vectoriser, switched on for this loop, turns the
unrolled tile loops into AVX-512 FMAs). A sum into memory (``numba_direct``, one output plane
at a time) does a load and a store per product and runs at a third of the speed. G_gw sums
along the positions, the contiguous axis, eight sums at once (4 output by 2 input channels),
which the compiler keeps in registers (a vectorised reduction). No patch matrix, no BLAS;
compiled :func:`place` and :func:`take` move the images onto the padded grid and back. Stride 1,
any channel count (tiles completed with zeros); ``auto`` picks it for 8 to 16 channels.

Measured (the resnet row, 64x16x28x28 -> 16, 3x3 p1, float32, one thread, CPU time): F 3.2 ms,
G_delta 3.2, G_gw 3.6, against im2col's 5.0, 4.7, 5.1 and PyTorch's (2 threads) 1.3, 1.2, 1.1;
the F kernel alone 2.4-2.6 ms (about 95 GFLOP/s), :func:`place` and :func:`take` 0.25 ms each.
On 2 threads 1.7, 1.7, 1.8 (a quiet machine; it helps alone, not in a training step, see
:mod:`convprop.jit`). The first call compiles for about 4 s (cached on disk: 0.4 s after).
"""

from __future__ import annotations

import numpy as np

from convprop import jit
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import eps_lead, positions

OB = 4  # output channels per tile (F, G_delta) and per group of running sums (G_gw)
VW = 16  # positions per tile: one vector of 16 float32 (AVX-512)
TILE = OB * VW  # sums per tile: 4 vector registers
RUN = 2 * VW  # positions per step: two tiles, 8 registers of sums, enough to keep FMAs busy

tiles = jit.compiled(parallel=True, slp=True, fastmath={"contract"})  # sums in the loop's order
sums = jit.compiled(parallel=True, fastmath={"reassoc", "contract"})  # sums in any order
copies = jit.compiled(parallel=True)


@tiles
def correlate(src, wt, start, m, wp, dh, dw, out):
    """``out[n, o, q] = sum_{c, a, b} wt[c, a, b, o] src[n, c, start + q + a*dh*wp + b*dw]``
    for the positions ``q < m`` of ``out`` ``(N, O, >= m)`` (``src`` is ``(N, C, L)``, ``wt``
    the kernel with its output channels last, ``O >= OB``), :data:`RUN` positions of
    :data:`OB` channels at a time, in two tiles (left and right half); the last run of a
    plane, and the last group of channels, are shifted back to end at ``m`` and at ``O`` (a
    few sums computed twice, the same values written)."""
    n_, o_ = out.shape[0], out.shape[1]
    c_, kh, kw = wt.shape[0], wt.shape[1], wt.shape[2]
    groups = (o_ + OB - 1) // OB
    for r in jit.prange(n_ * groups):
        n, o0 = r // groups, min(r % groups * OB, o_ - OB)
        left = jit.stack_array(out, TILE)  # left[o*VW + v]: x[n, o0 + o, q0 + v]
        right = jit.stack_array(out, TILE)  # right[o*VW + v]: x[n, o0 + o, q0 + VW + v]
        for step in range(0, m, RUN):
            q0 = min(step, m - RUN)
            for t in range(TILE):
                left[t] = 0
            for t in range(TILE):
                right[t] = 0
            for c in range(c_):
                for a in range(kh):
                    for b in range(kw):
                        s = start + q0 + a * dh * wp + b * dw
                        run, wv = src[n, c, s : s + RUN], wt[c, a, b, o0 : o0 + OB]
                        for o in range(OB):  # two loop nests LLVM unrolls whole, one per tile
                            for v in range(VW):
                                left[o * VW + v] += wv[o] * run[v]
                        for o in range(OB):
                            for v in range(VW):
                                right[o * VW + v] += wv[o] * run[VW + v]
            for o in range(OB):  # constant indices: the tiles stay in registers until here
                for v in range(VW):
                    out[n, o0 + o, q0 + v] = left[o * VW + v]
            for o in range(OB):
                for v in range(VW):
                    out[n, o0 + o, q0 + VW + v] = right[o * VW + v]


@copies
def place(src, dst, start, wp):
    """``dst[n, c, start + i*wp + j] = src[n, c, i, j]``, every other element of ``dst``
    ``(N, >= C, L)`` zero: images on the padded grid (``zp``, ``el``, ``e``) in one pass."""
    n_, c_, h, w = src.shape
    for r in jit.prange(n_ * dst.shape[1]):
        n, c = r // dst.shape[1], r % dst.shape[1]
        plane = dst[n, c]
        plane[:] = 0
        if c < c_:
            for i in range(h):
                row = plane[start + i * wp : start + i * wp + w]
                for j in range(w):
                    row[j] = src[n, c, i, j]


@sums
def gram(e, zp, m, wp, dh, dw, parts):
    """``parts[t, o, c, a, b] = sum e[n, o, q] zp[n, c, q + a*dh*wp + b*dw]`` over the images
    ``n`` of chunk ``t`` and the positions ``q < m``; g_w is the sum of the parts. Eight sums
    at once, four output channels (``e`` has a multiple of :data:`OB`) by two input
    channels: each step reads six values and does eight products."""
    n_, o_ = e.shape[0], e.shape[1]
    chunks, c_, kh, kw = parts.shape[0], parts.shape[2], parts.shape[3], parts.shape[4]
    for t in jit.prange(chunks):
        part = parts[t]
        part[:] = 0
        for n in range(t * n_ // chunks, (t + 1) * n_ // chunks):
            for o in range(0, o_, OB):
                e0, e1, e2, e3 = e[n, o, :m], e[n, o + 1, :m], e[n, o + 2, :m], e[n, o + 3, :m]
                for c in range(0, c_, 2):
                    d = min(c + 1, c_ - 1)  # the second channel (the first again if C is odd)
                    for a in range(kh):
                        for b in range(kw):
                            s = a * dh * wp + b * dw
                            zc, zd = zp[n, c, s : s + m], zp[n, d, s : s + m]
                            c0 = c1 = c2 = c3 = d0 = d1 = d2 = d3 = e.dtype.type(0)
                            for q in range(m):
                                c0 += e0[q] * zc[q]
                                c1 += e1[q] * zc[q]
                                c2 += e2[q] * zc[q]
                                c3 += e3[q] * zc[q]
                                d0 += e0[q] * zd[q]
                                d1 += e1[q] * zd[q]
                                d2 += e2[q] * zd[q]
                                d3 += e3[q] * zd[q]
                            part[o, c, a, b] += c0
                            part[o + 1, c, a, b] += c1
                            part[o + 2, c, a, b] += c2
                            part[o + 3, c, a, b] += c3
                            if d > c:
                                part[o, d, a, b] += d0
                                part[o + 1, d, a, b] += d1
                                part[o + 2, d, a, b] += d2
                                part[o + 3, d, a, b] += d3


@copies
def take(src, start, wp, dst):
    """``dst[n, c, i, j] = src[n, c, start + i*wp + j]`` for the channels of ``dst``: the
    result's rows out of the planes of wide positions (the junk columns dropped)."""
    n_, c_, h, w = dst.shape
    for r in jit.prange(n_ * c_):
        n, c = r // c_, r % c_
        for i in range(h):
            row = src[n, c, start + i * wp : start + i * wp + w]
            for j in range(w):
                dst[n, c, i, j] = row[j]


def supports(g: ConvGeometry) -> bool:
    """Stride 1 (any padding and dilation)."""
    return g.wide


def tiled(src, wt, start: int, m: int, g: ConvGeometry) -> np.ndarray:
    """:func:`correlate` into scratch ``(N, O, max(m, RUN))`` (``O >= OB``): where a plane has
    fewer than :data:`RUN` positions, or the kernel fewer than :data:`OB` output channels,
    the tile is completed with zeros (the planes extended, the kernel given zero channels)
    and the extra sums are left for the caller to drop."""
    n, c, length = src.shape
    if m < RUN:  # one step reads RUN positions past start, plus the kernel's reach
        reach = (g.kh - 1) * g.dh * g.wp + (g.kw - 1) * g.dw
        wider = scratch("tiled_src", (n, c, max(length, start + RUN + reach)), src.dtype)
        wider[..., length:] = 0
        wider[..., :length] = src
        src, m = wider, RUN
    if wt.shape[-1] < OB:
        wt = np.concatenate([wt, np.zeros((*wt.shape[:-1], OB - wt.shape[-1]), wt.dtype)], -1)
    out = scratch("out", (n, wt.shape[-1], m), src.dtype)
    correlate(src, wt, start, m, g.wp, g.dh, g.dw, out)
    return out


def on_grid(a: np.ndarray, g: ConvGeometry, name: str, start: int, size: int, channels: int):
    """``a`` ``(N, C, h, w)`` placed at ``start`` on planes of ``size`` elements of rows of
    ``Wp`` (:func:`place`), ``channels >= C`` planes, zero around it: scratch ``name``."""
    dst = scratch(name, (a.shape[0], channels, size), a.dtype)
    place(a, dst, start, g.wp)
    return dst


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``x[n, o, q] = sum_{c, a, b} w[o, c, a, b] zp[n, c, q + off(a, b)]``."""
    zp = on_grid(z, g, "padded", g.pt * g.wp + g.pl, g.hp * g.wp, g.c)
    wt = np.ascontiguousarray(w.transpose(1, 2, 3, 0))  # (C, kh, kw, O)
    x = np.empty((g.n, g.o, g.ho, g.wo), z.dtype)
    take(tiled(zp, wt, 0, positions(g)[0], g), 0, g.wp, x)
    return x


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: ``delta[n, c, p] = sum_{o, a, b} w[o, c, kh-1-a, kw-1-b] el[n, o, p + off]``
    on the rows ``pt .. pt + H`` of the padded grid."""
    lead = eps_lead(g)
    el = on_grid(eps, g, "eps_lead", lead, lead + g.hp * g.wp, g.o)
    wf = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(0, 2, 3, 1))  # (O, kh, kw, C)
    delta = np.empty((g.n, g.c, g.h, g.w), eps.dtype)
    take(tiled(el, wf, g.pt * g.wp, g.h * g.wp, g), g.pl, g.wp, delta)
    return delta


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w[o, c, a, b] = sum_{n, q} e[n, o, q] zp[n, c, q + off(a, b)]``."""
    zp = on_grid(z, g, "padded", g.pt * g.wp + g.pl, g.hp * g.wp, g.c)
    o = -(-g.o // OB) * OB  # a multiple of OB, the extra channels of eps zero
    e = on_grid(eps, g, "eps", 0, g.ho * g.wp, o)  # zero at the junk columns
    chunks = max(1, min(jit.threads(), g.n))
    parts = np.empty((chunks, o, g.c, g.kh, g.kw), eps.dtype)
    gram(e, zp, positions(g)[0], g.wp, g.dh, g.dw, parts)
    return (parts.sum(axis=0) if chunks > 1 else parts[0])[: g.o]
