"""Engine "batch_last": im2col with the batch as the innermost axis, for small images.

For small images (LeNet's: 64 images of 28x28 or 14x14) a GEMM per image is too small to run
the BLAS well, and the wide positions of :mod:`._layout` waste ``kw - 1`` of every ``Wp``
columns. Here a block of ``nb`` images is laid out ``(C, Hp, Wp, nb)``, so the position
``(i, j, n)`` of tap ``(a, b)`` reads ``zt[c, s*i + d*a, s*j + d*b, n]``: with stride 1 each row
of a tap is one contiguous run of ``Wo*nb`` numbers, there is no junk, and the block is one
GEMM operand::

    F:        X[o, (i, j, n)]  = w (O, C*kh*kw) @ patch (C*kh*kw, (i, j, n))
    G_gw:     g_w (O, C*kh*kw) = sum over blocks of E (O, (i, j, n)) @ patch^T
    G_delta:  dzt[c, s*i + d*a, s*j + d*b, n] += (w^T E)[(c, a, b), (i, j, n)]   (col2im)

The batch goes in blocks of whole images holding at most :data:`BATCH_BYTES` of patch, which
bounds the work memory. LeNet's batch of 64 is one block: smaller ones (a loop over blocks of
images, to keep the patch in cache) measured no faster in a training step, whose other layers
flush the caches anyway, and up to twice as slow for G_delta in a loop over one layer.

**Shared work between F and G_gw.** F adds a bias through a row of ones in the patch,
``[w | b] @ [patch; 1]``, and, when its caller will call G_gw with the same z and geometry
(``keep``: the public functions say so when the caller passed ``geometry=``, as the autodiff
op does), leaves the patches of all blocks in the workspace
(:func:`convprop.conv.workspace.keep`) marked ``(z, geometry)``. G_gw called with that same z
and geometry object (the autodiff op passes F's geometry on) multiplies eps by the kept patch
instead of rebuilding it from z, and the ones row then also gives ``g_b = sum_{n,i,j} eps``.
Any other call, or a patch taken over by a later F of the same geometry, rebuilds it from z.

**Batch-last results.** F and G_delta return their NCHW arrays as views of batch-last memory,
``x = xt.transpose(3, 0, 1, 2)`` with ``xt`` C-contiguous ``(O, Ho, Wo, N)``: the GEMM writes
``xt`` and nothing is transposed. Inputs in that layout (the autodiff graph passes them on
through max-pool and ReLU, which keep a layout) are read without a transposing copy either.
Converting between the layouts costs a pass over the array at strided addresses (LeNet-5's
first layer: 0.4 ms for F's output, 0.2 ms for eps; a whole step is 10-13 ms). The public
functions of :mod:`convprop.conv` return C-contiguous copies unless asked
(``contiguous=False``). Any geometry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from convprop.conv import workspace
from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

BATCH_BYTES = 8 << 20  # patch bytes per block of images


def _blocks(g: ConvGeometry, itemsize: int):
    """``(n0, n1)``: blocks of images whose patch holds at most BATCH_BYTES."""
    per_image = g.c * g.kh * g.kw * g.ho * g.wo * itemsize
    nb = max(1, min(g.n, BATCH_BYTES // max(1, per_image)))
    for n0 in range(0, g.n, nb):
        yield n0, min(g.n, n0 + nb)


def pack(zt: np.ndarray, g: ConvGeometry, rows: np.ndarray) -> None:
    """``rows[c, a, b, i, j, n] = zp[c, s*i + d*a, s*j + d*b, n]``: the patch of a block
    from its input ``zt`` ``(C, H, W, nb)`` (a view of any strides; zp: zt zero-padded), into
    ``rows`` ``(C, kh, kw, Ho, Wo, nb)`` (any strides): a strided copy of zp, made batch-last
    and padded by one copy unless zt is batch-last memory already and unpadded."""
    if g.padded or not zt.flags.c_contiguous:
        zp = scratch("padded", (g.c, g.hp, g.wp, zt.shape[3]), zt.dtype)
        if g.padded:
            zp.fill(0)
        zp[:, g.pt : g.pt + g.h, g.pl : g.pl + g.w] = zt
        zt = zp
    sc, sy, sx, sn = zt.strides
    view = np.ndarray(
        rows.shape,
        zt.dtype,
        buffer=zt.reshape(-1),
        strides=(sc, g.dh * sy, g.dw * sx, g.sh * sy, g.sw * sx, sn),
    )
    np.copyto(rows, view)


def col2im(dcol: np.ndarray, g: ConvGeometry, out: np.ndarray) -> None:
    """``out[c, y, x, n] = sum dcol[c, a, b, i, j, n]`` over the taps and positions with
    ``(s*i + d*a, s*j + d*b) = (y + pt, x + pl)``: ``dcol`` ``(C, kh, kw, Ho, Wo, nb)`` added
    back onto a zeroed padded block tap by tap (a strided addition each), then cropped into
    ``out`` ``(C, H, W, nb)``."""
    if g.padded or not out.flags.c_contiguous:
        dzt = scratch("delta", (g.c, g.hp, g.wp, dcol.shape[-1]), dcol.dtype)
    else:
        dzt = out
    dzt.fill(0)
    for a in range(g.kh):
        rows = slice(a * g.dh, a * g.dh + (g.ho - 1) * g.sh + 1, g.sh)
        for b in range(g.kw):
            dzt[:, rows, b * g.dw : b * g.dw + (g.wo - 1) * g.sw + 1 : g.sw] += dcol[:, a, b]
    if dzt is not out:
        out[...] = dzt[:, g.pt : g.pt + g.h, g.pl : g.pl + g.w]


class Kernels(NamedTuple):
    """The two loops around the GEMMs: :func:`pack` and :func:`col2im` here, compiled ones in
    :mod:`.numba_batch_last` (the same formulas)."""

    pack: Callable[[np.ndarray, ConvGeometry, np.ndarray], None]
    col2im: Callable[[np.ndarray, ConvGeometry, np.ndarray], None]


NUMPY = Kernels(pack, col2im)


def _patch(z, g, n0, n1, rows=None, ones=False, kernels: Kernels = NUMPY) -> np.ndarray:
    """The patch matrix of images n0..n1, ``(C*kh*kw, Ho*Wo*nb)``, via ``(C, H, W, nb)``.

    ``rows``: an array to fill instead of the scratch patch; with ``ones``, it has one more
    row, set to ones, so that one GEMM also adds a bias (F) or sums eps for it (G_gw).
    """
    nb = n1 - n0
    zt = z[n0:n1].transpose(1, 2, 3, 0)  # batch-last memory (a view) if z is, else strided
    k = g.c * g.kh * g.kw
    if rows is None:
        rows = scratch("patch", (k, g.ho * g.wo * nb), zt.dtype)
    # rows may be a column slice: the reshape is still a view
    kernels.pack(zt, g, rows[:k].reshape(g.c, g.kh, g.kw, g.ho, g.wo, nb))
    if ones:
        rows[k] = 1
    return rows


def _eps_block(eps: np.ndarray, g: ConvGeometry, n0: int, n1: int) -> np.ndarray:
    """eps of images n0..n1 as ``(O, Ho*Wo*nb)`` (a view if eps is batch-last, one block)."""
    et = eps[n0:n1].transpose(1, 2, 3, 0)
    if not et.flags.c_contiguous:
        et = scratch("eps", (g.o, g.ho, g.wo, n1 - n0), eps.dtype)
        et[...] = eps[n0:n1].transpose(1, 2, 3, 0)
    return et.reshape(g.o, -1)


def supports(g: ConvGeometry) -> bool:
    """Any geometry (fastest for small images in a batch)."""
    return True


def forward(
    z: np.ndarray,
    w: np.ndarray,
    g: ConvGeometry,
    b: np.ndarray | None = None,
    keep: bool = False,
    kernels: Kernels = NUMPY,
) -> np.ndarray:
    """F: ``X = [w | b] @ [patch; 1]`` per block (no ones row without b), into ``xt``
    ``(O, Ho, Wo, N)``; returns the view ``xt.transpose(3, 0, 1, 2)``, ``(N, O, Ho, Wo)``.

    With ``keep`` (the caller will pass this z and g to G_gw), the patches of all blocks stay
    in the workspace, ``(blocks, C*kh*kw [+ 1], Ho*Wo*nb)``, marked ``(z, g)`` once filled, for
    :func:`adjoint_weight`; otherwise the patch is scratch, reused by the next call.
    """
    w2 = w.reshape(g.o, -1)
    if b is not None:
        w2 = np.concatenate([w2, b.astype(w.dtype, copy=False)[:, None]], axis=1)
    w2 = np.ascontiguousarray(w2)
    blocks = list(_blocks(g, z.itemsize))
    k, width = w2.shape[1], g.ho * g.wo * (blocks[0][1] - blocks[0][0])
    key = ("batch_last", g)
    patches = workspace.keep(key, (len(blocks), k, width), z.dtype) if keep else None
    xt = np.empty((g.o, g.ho, g.wo, g.n), z.dtype)
    for i, (n0, n1) in enumerate(blocks):
        cols = g.ho * g.wo * (n1 - n0)
        if patches is not None:
            rows = patches[i, :, :cols]
        else:
            rows = scratch("patch", (k, cols), z.dtype)
        out = xt if len(blocks) == 1 else scratch("out", (g.o, g.ho, g.wo, n1 - n0), z.dtype)
        patch = _patch(z, g, n0, n1, rows, b is not None, kernels)
        np.matmul(w2, patch, out=out.reshape(g.o, -1))
        if out is not xt:
            xt[..., n0:n1] = out
    if patches is not None:
        workspace.mark(key, (z, g))  # filled: G_gw may reuse it for this z and g
    return xt.transpose(3, 0, 1, 2)


def adjoint_weight(
    eps: np.ndarray,
    z: np.ndarray,
    g: ConvGeometry,
    with_bias: bool = False,
    kernels: Kernels = NUMPY,
):
    """G_gw: ``g_w = E @ patch^T``, summed over the blocks; returns ``(g_w, g_b)``, ``g_b =
    sum_{n, i, j} eps`` if ``with_bias`` (else None).

    With the patches F kept for this z and g: no patch is rebuilt, and if F had a bias their
    ones row gives ``g_b`` as the last column of the same product.
    """
    k = g.c * g.kh * g.kw
    patches = workspace.kept(("batch_last", g), (z, g))
    ext = np.zeros((g.o, k if patches is None else patches.shape[1]), eps.dtype)
    for i, (n0, n1) in enumerate(_blocks(g, z.itemsize)):
        e = _eps_block(eps, g, n0, n1)
        if patches is None:
            ext += _gram(_patch(z, g, n0, n1, kernels=kernels), e)
        else:
            ext += _gram(patches[i, :, : g.ho * g.wo * (n1 - n0)], e)
    g_w = ext[:, :k].reshape(g.o, g.c, g.kh, g.kw)
    if not with_bias:
        return g_w, None
    if ext.shape[1] > k:
        return g_w, ext[:, k].copy()
    return g_w, np.einsum("nohw->o", eps)


def _gram(patch: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``E @ patch^T``, computed as ``(patch @ E^T)^T``: the BLAS runs this orientation 20-30%
    faster on LeNet's layers (K = 26 or 151 rows against 50,176 or 6,400 columns)."""
    return (patch @ e.T).T


def adjoint_input(
    eps: np.ndarray, w: np.ndarray, g: ConvGeometry, kernels: Kernels = NUMPY
) -> np.ndarray:
    """G_delta: ``dcol = w^T @ E``, added back through the windows (:func:`col2im`).

    Returns ``delta`` ``(N, C, H, W)`` as a view of batch-last ``(C, H, W, N)`` memory."""
    wt = np.ascontiguousarray(w.reshape(g.o, -1).T)  # (C*kh*kw, O)
    dt = np.empty((g.c, g.h, g.w, g.n), eps.dtype)
    for n0, n1 in _blocks(g, eps.itemsize):
        nb = n1 - n0
        dcol = scratch("patch", (g.c * g.kh * g.kw, g.ho * g.wo * nb), eps.dtype)
        np.matmul(wt, _eps_block(eps, g, n0, n1), out=dcol)
        kernels.col2im(dcol.reshape(g.c, g.kh, g.kw, g.ho, g.wo, nb), g, dt[..., n0:n1])
    return dt.transpose(3, 0, 1, 2)
