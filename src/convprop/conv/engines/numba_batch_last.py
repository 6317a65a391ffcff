"""Engine "numba_batch_last": the batch-last engine with its two loops compiled (Numba).

The same GEMMs as :mod:`.batch_last` (the batch innermost, a block of images one operand); the
patch packing and col2im around them are its index formulas written as loops, each number of
the result written once::

    pack:    P[c, a, b, i, j, n] = zt[c, s*i + d*a - pt, s*j + d*b - pl, n]   (0 off the image)
    col2im:  delta[c, y, x, n]   = sum_{a, b} dcol[c, a, b, i, j, n]
             over the taps with  s*i + d*a = y + pt,  s*j + d*b = x + pl,  0 <= i < Ho, 0 <= j < Wo

col2im is written as the gather above rather than NumPy's scatter (a strided addition per
tap into a zeroed padded block, then a crop): one pass that reads dcol once and writes delta
once, with the padding never materialised (LeNet's second layer, 25 taps: 0.8 ms of NumPy
additions; the transposed convolution's k4 s2 layer: 16). The innermost loop runs along the
batch, contiguous, and is vectorised. Parallel over the rows of the result (Numba's threads,
one by default: :mod:`convprop.jit`). Any geometry.
"""

from __future__ import annotations

import functools

import numpy as np

from convprop import jit
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from . import batch_last

compiled = jit.compiled()  # serial: the loops run between the BLAS's GEMMs (convprop.cores)


@compiled
def pack_rows(zt, sh, sw, dh, dw, pt, pl, rows):
    """``rows[c, a, b, i, j, :] = zt[c, s*i + d*a - pt, s*j + d*b - pl, :]``, zero off the
    image; one row ``(c, a, b)`` of the patch per step."""
    c_, kh, kw, ho, wo, nb = rows.shape
    h, w = zt.shape[1], zt.shape[2]
    for r in jit.prange(c_ * kh * kw):
        c, a, b = r // (kh * kw), r // kw % kh, r % kw
        # the positions j whose column x = s*j + d*b - pl is on the image: j0 <= j < j1
        j0 = min(wo, max(0, (pl - dw * b + sw - 1) // sw))
        j1 = max(j0, min(wo, (w - 1 + pl - dw * b) // sw + 1))
        for i in range(ho):
            y = sh * i + dh * a - pt
            if y < 0 or y >= h:
                rows[c, a, b, i] = 0
                continue
            rows[c, a, b, i, :j0] = 0
            rows[c, a, b, i, j1:] = 0
            for j in range(j0, j1):
                x = sw * j + dw * b - pl
                for n in range(nb):
                    rows[c, a, b, i, j, n] = zt[c, y, x, n]


@compiled
def gather(dcol, ry, rx, out):
    """``out[c, y, x, :] = sum dcol[c, a, b, i, j, :]`` over the taps ``(a, b)`` that reach
    ``(y, x)`` from a position ``(i, j)`` (:func:`reach`: ``ry[y]`` lists the ``(a, i)``,
    ``rx[x]`` the ``(b, j)``); one row ``(c, y)`` of the result per step."""
    c_, nb = dcol.shape[0], dcol.shape[5]
    h, w = out.shape[1], out.shape[2]
    for r in jit.prange(c_ * h):
        c, y = r // h, r % h
        for x in range(w):
            for n in range(nb):
                out[c, y, x, n] = 0
            for ta in range(ry.shape[1]):
                a, i = ry[y, ta, 0], ry[y, ta, 1]
                if a < 0:
                    break
                for tb in range(rx.shape[1]):
                    b, j = rx[x, tb, 0], rx[x, tb, 1]
                    if b < 0:
                        break
                    for n in range(nb):
                        out[c, y, x, n] += dcol[c, a, b, i, j, n]


@functools.lru_cache(maxsize=64)
def reach(size: int, pad: int, s: int, d: int, k: int, positions: int) -> np.ndarray:
    """``(size, k, 2)``: for each input index ``y``, the pairs ``(a, i)`` with
    ``s*i + d*a = y + pad``, ``0 <= a < k``, ``0 <= i < positions``, then ``-1`` rows
    (read-only, computed once per geometry)."""
    y, a = np.arange(size)[:, None], np.arange(k)[None, :]
    t = y + pad - d * a
    ok = (t >= 0) & (t % s == 0) & (t // s < positions)
    order = np.argsort(~ok, axis=1, kind="stable")  # the reaching taps first, in order
    pairs = np.stack(np.broadcast_arrays(a, t // s), axis=-1)
    pairs = np.where(ok[..., None], pairs, -1)
    table = np.ascontiguousarray(np.take_along_axis(pairs, order[..., None], axis=1))
    table.flags.writeable = False
    return table


def pack(zt: np.ndarray, g: ConvGeometry, rows: np.ndarray) -> None:
    """:func:`batch_last.pack` by :func:`pack_rows` for strides above 1, zt made batch-last
    memory first if it is not (one transposing copy; the padding is never built). With
    stride 1 every row of a tap is a run of ``Wo*nb`` numbers and NumPy's copy is the faster
    (LeNet's second layer: 0.15 ms, at the copy bandwidth, against 0.18 compiled; the
    transposed convolution's k4 s2: 0.17 ms compiled against 0.23)."""
    if g.sh == g.sw == 1:
        batch_last.pack(zt, g, rows)
        return
    if not zt.flags.c_contiguous:
        copy = scratch("batch_last", zt.shape, zt.dtype)
        copy[...] = zt
        zt = copy
    pack_rows(zt, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, rows)


def col2im(dcol: np.ndarray, g: ConvGeometry, out: np.ndarray) -> None:
    """:func:`batch_last.col2im` by :func:`gather`."""
    ry = reach(g.h, g.pt, g.sh, g.dh, g.kh, g.ho)
    rx = reach(g.w, g.pl, g.sw, g.dw, g.kw, g.wo)
    gather(dcol, ry, rx, out)


KERNELS = batch_last.Kernels(pack, col2im)
supports = batch_last.supports


def forward(z, w, g, b=None, keep=False):
    """F of :func:`batch_last.forward` with the compiled packing."""
    return batch_last.forward(z, w, g, b, keep, KERNELS)


def adjoint_input(eps, w, g):
    """G_delta of :func:`batch_last.adjoint_input` with the compiled col2im."""
    return batch_last.adjoint_input(eps, w, g, KERNELS)


def adjoint_weight(eps, z, g, with_bias=False):
    """G_gw of :func:`batch_last.adjoint_weight` (the patch packed by the compiled loop when
    F kept none)."""
    return batch_last.adjoint_weight(eps, z, g, with_bias, KERNELS)
