"""Engine "numba_im2col": the patch matrix packed by compiled loops (Numba), one BLAS GEMM per
block of images, and col2im compiled too.

The patch matrix of a block of images has a row per tap ``(c, a, b)`` and a column per output
position ``(n, i, j)``::

    P[(c, a, b), (n, i, j)] = zp[n, c, s*i + d*a, s*j + d*b]

so that, with ``X`` and ``E`` the output and eps with the channel axis first, ``(O, (n, i, j))``::

    F:        X     = w (O, C*kh*kw) @ P
    G_gw:     g_w   = sum over blocks of E @ P^T
    G_delta:  dcol  = w^T @ E,  then  dzp[n, c, s*i + d*a, s*j + d*b] += dcol[(c, a, b), (n, i, j)]

Packing (:func:`pack`) and the scatter back (:func:`col2im`) are the index formula above as
loops, parallel over rows of the patch and over planes of dzp: each reads and writes every
number once, at memory speed, where the NumPy engines copy tap by tap. The GEMMs are NumPy's
(the BLAS, all its threads); one GEMM per block of images whose patch fits in
:data:`BLOCK_BYTES`, so the patch is packed into the cache the GEMM then reads it from.
F returns x as a view of ``(O, N, Ho, Wo)`` memory (the GEMM writes it, nothing is
transposed; the public functions make the contiguous copy unless asked not to), and G takes
eps in that layout without a copy when it comes so. Any geometry.
"""

from __future__ import annotations

import numpy as np

from convprop import jit
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import padded

BLOCK_BYTES = 4 << 20  # patch bytes per block of images

compiled = jit.compiled()  # serial: the loops run between the BLAS's GEMMs (convprop.cores)


@compiled
def pack(zp, n0, sh, sw, dh, dw, p):
    """``p[c, a, b, n, i, j] = zp[n0 + n, c, sh*i + dh*a, sw*j + dw*b]``: the patch of images
    ``n0 .. n0 + nb``, one row ``(c, a, b)`` of one image per step."""
    c_, kh, kw, nb, ho, wo = p.shape
    for r in jit.prange(c_ * kh * kw * nb):
        c, a, b, n = r // (kh * kw * nb), r // (kw * nb) % kh, r // nb % kw, r % nb
        for i in range(ho):
            dst, src = p[c, a, b, n, i], zp[n0 + n, c, sh * i + dh * a, dw * b :]
            if sw == 1:
                for j in range(wo):
                    dst[j] = src[j]
            else:
                for j in range(wo):
                    dst[j] = src[sw * j]


@compiled
def col2im(dcol, n0, sh, sw, dh, dw, dzp):
    """``dzp[n0 + n, c, sh*i + dh*a, sw*j + dw*b] += dcol[c, a, b, n, i, j]``, one plane
    ``(n, c)`` of dzp per step (so no two threads add into one number)."""
    c_, kh, kw, nb, ho, wo = dcol.shape
    for r in jit.prange(nb * c_):
        n, c = r // c_, r % c_
        for a in range(kh):
            for b in range(kw):
                for i in range(ho):
                    dst, src = dzp[n0 + n, c, sh * i + dh * a, dw * b :], dcol[c, a, b, n, i]
                    if sw == 1:
                        for j in range(wo):
                            dst[j] += src[j]
                    else:
                        for j in range(wo):
                            dst[sw * j] += src[j]


def supports(g: ConvGeometry) -> bool:
    """Any geometry."""
    return True


def _blocks(g: ConvGeometry, itemsize: int):
    per_image = g.c * g.kh * g.kw * g.ho * g.wo * itemsize
    nb = max(1, min(g.n, BLOCK_BYTES // max(1, per_image)))
    for n0 in range(0, g.n, nb):
        yield n0, min(nb, g.n - n0)


def _patch(zp: np.ndarray, g: ConvGeometry, n0: int, nb: int) -> np.ndarray:
    """The patch of images ``n0 .. n0 + nb``, ``(C*kh*kw, nb*Ho*Wo)``."""
    p = scratch("patch", (g.c, g.kh, g.kw, nb, g.ho, g.wo), zp.dtype)
    pack(zp, n0, g.sh, g.sw, g.dh, g.dw, p)
    return p.reshape(g.c * g.kh * g.kw, nb * g.ho * g.wo)


def _channels_first(eps: np.ndarray) -> np.ndarray:
    """eps as ``(O, N*Ho*Wo)``: a view when it is already ``(O, N, Ho, Wo)`` memory."""
    e = eps.transpose(1, 0, 2, 3)
    return (e if e.flags.c_contiguous else np.ascontiguousarray(e)).reshape(e.shape[0], -1)


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``X = w (O, C*kh*kw) @ P``, block by block; x a view of ``(O, N, Ho, Wo)``."""
    zp = padded(z, g)
    w2 = w.reshape(g.o, -1) if w.flags.c_contiguous else np.ascontiguousarray(w).reshape(g.o, -1)
    xt = np.empty((g.o, g.n, g.ho, g.wo), z.dtype)
    cols = xt.reshape(g.o, -1)
    m = g.ho * g.wo
    for n0, nb in _blocks(g, z.itemsize):
        np.matmul(w2, _patch(zp, g, n0, nb), out=cols[:, n0 * m : (n0 + nb) * m])
    return xt.transpose(1, 0, 2, 3)


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: ``dcol = w^T @ E``, then col2im, block by block."""
    e = _channels_first(eps)
    wt = np.ascontiguousarray(w.reshape(g.o, -1).T)  # (C*kh*kw, O)
    dzp = np.zeros((g.n, g.c, g.hp, g.wp), eps.dtype)
    m = g.ho * g.wo
    for n0, nb in _blocks(g, eps.itemsize):
        dcol = scratch("dcol", (g.c, g.kh, g.kw, nb, g.ho, g.wo), eps.dtype)
        np.matmul(wt, e[:, n0 * m : (n0 + nb) * m], out=dcol.reshape(wt.shape[0], -1))
        col2im(dcol, n0, g.sh, g.sw, g.dh, g.dw, dzp)
    if not g.padded:
        return dzp
    return dzp[:, :, g.pt : g.pt + g.h, g.pl : g.pl + g.w].copy()


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w = sum over blocks of E @ P^T``."""
    zp, e = padded(z, g), _channels_first(eps)
    g_w = np.zeros((g.o, g.c * g.kh * g.kw), eps.dtype)
    m = g.ho * g.wo
    for n0, nb in _blocks(g, eps.itemsize):
        g_w += e[:, n0 * m : (n0 + nb) * m] @ _patch(zp, g, n0, nb).T
    return g_w.reshape(g.o, g.c, g.kh, g.kw)
