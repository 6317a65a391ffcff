"""im2col on small images: within a block of images, the batch as the innermost axis.

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

**Batch-last results.** F and G_delta return their NCHW arrays as views of batch-last memory,
``x = xt.transpose(3, 0, 1, 2)`` with ``xt`` C-contiguous ``(O, Ho, Wo, N)``: the GEMM writes
``xt`` and nothing is transposed. Inputs in that layout (the autodiff graph passes them on
through max-pool and ReLU, which keep a layout) are read without a transposing copy either.
Converting between the layouts costs a pass over the array at strided addresses (LeNet-5's
first layer: 0.4 ms for F's output, 0.2 ms for eps; a whole step is 10-13 ms). The public
functions of :mod:`convprop.conv` still return C-contiguous arrays.
"""

from __future__ import annotations

import numpy as np

from ._layout import keepsake, scratch, still_kept
from ._shape import _Geometry

BATCH_BYTES = 8 << 20  # patch bytes per block of images


def _blocks(g: _Geometry, itemsize: int):
    """``(n0, n1)``: blocks of images whose patch holds at most BATCH_BYTES."""
    per_image = g.c * g.kh * g.kw * g.ho * g.wo * itemsize
    nb = max(1, min(g.n, BATCH_BYTES // max(1, per_image)))
    for n0 in range(0, g.n, nb):
        yield n0, min(g.n, n0 + nb)


def _patch(z, g, n0, n1, rows=None) -> np.ndarray:
    """The patch matrix of images n0..n1, ``(C*kh*kw, Ho*Wo*nb)``, via ``(C, Hp, Wp, nb)``.

    ``rows``: an array of ``C*kh*kw + 1`` rows to fill instead of the scratch patch; its last
    row is set to ones, so that one GEMM also adds a bias (F) or sums eps for it (G_gw).
    """
    nb = n1 - n0
    zt = z[n0:n1].transpose(1, 2, 3, 0)  # a batch-last input of a single block: no copy
    if g.padded or not zt.flags.c_contiguous:
        zt = scratch("padded", (g.c, g.hp, g.wp, nb), z.dtype)
        if g.padded:
            zt.fill(0)
        zt[:, g.pt : g.pt + g.h, g.pl : g.pl + g.w] = z[n0:n1].transpose(1, 2, 3, 0)
    sc, sy, sx, sn = zt.strides
    view = np.ndarray(
        (g.c, g.kh, g.kw, g.ho, g.wo, nb),
        zt.dtype,
        buffer=zt.reshape(-1),
        strides=(sc, g.dh * sy, g.dw * sx, g.sh * sy, g.sw * sx, sn),
    )
    k = g.c * g.kh * g.kw
    if rows is None:
        patch = scratch("patch", view.shape, zt.dtype)
        np.copyto(patch, view)
        return patch.reshape(k, -1)
    np.copyto(rows[:k].reshape(view.shape), view)  # rows may be a column slice: still a view
    rows[k] = 1
    return rows


def _eps_block(eps: np.ndarray, g: _Geometry, n0: int, n1: int) -> np.ndarray:
    """eps of images n0..n1 as ``(O, Ho*Wo*nb)`` (a view if eps is batch-last, one block)."""
    et = eps[n0:n1].transpose(1, 2, 3, 0)
    if not et.flags.c_contiguous:
        et = scratch("eps", (g.o, g.ho, g.wo, n1 - n0), eps.dtype)
        et[...] = eps[n0:n1].transpose(1, 2, 3, 0)
    return et.reshape(g.o, -1)


def forward(z: np.ndarray, w: np.ndarray, g: _Geometry, bias=None, keep=None) -> np.ndarray:
    """F: ``X = w @ patch`` per block, into ``xt`` ``(O, Ho, Wo, N)``; returns the view
    ``xt.transpose(3, 0, 1, 2)``, ``(N, O, Ho, Wo)``.

    ``bias`` (O,): added through a row of ones in the patch, ``[w | b] @ [patch; 1]``.
    ``keep``: a dict; the patches of all blocks (with their ones rows) are left in
    ``keep["patch"]``, ``(blocks, C*kh*kw + 1, Ho*Wo*nb)``, for :func:`adjoint_weight`, which
    then needs neither z nor a copy.
    """
    w2 = w.reshape(g.o, -1)
    blocks = list(_blocks(g, z.itemsize))
    fused = bias is not None or keep is not None
    if fused:
        b = np.zeros(g.o, w.dtype) if bias is None else bias
        w2 = np.concatenate([w2, b.astype(w.dtype, copy=False)[:, None]], axis=1)
    w2 = np.ascontiguousarray(w2)
    k, width = w2.shape[1], g.ho * g.wo * (blocks[0][1] - blocks[0][0])
    kept = keepsake((len(blocks), k, width), z.dtype) if keep is not None else None
    if kept is not None:
        keep["patch"], keep["token"] = kept
    xt = np.empty((g.o, g.ho, g.wo, g.n), z.dtype)
    for i, (n0, n1) in enumerate(blocks):
        cols = g.ho * g.wo * (n1 - n0)
        rows = None
        if kept is not None:
            rows = kept[0][i, :, :cols]
        elif fused:
            rows = scratch("patch", (k, cols), z.dtype)
        out = xt if len(blocks) == 1 else scratch("out", (g.o, g.ho, g.wo, n1 - n0), z.dtype)
        np.matmul(w2, _patch(z, g, n0, n1, rows), out=out.reshape(g.o, -1))
        if out is not xt:
            xt[..., n0:n1] = out
    return xt.transpose(3, 0, 1, 2)


def kept_patch(keep: dict) -> np.ndarray | None:
    """The patches :func:`forward` left in ``keep``, if nothing has reused them since."""
    patch = keep.get("patch")
    return patch if patch is not None and still_kept(patch, keep["token"]) else None


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: _Geometry, patch=None):
    """G_gw: ``g_w = E @ patch^T``, summed over the blocks.

    With the patches that :func:`forward` kept (ones row last, see :func:`kept_patch`),
    returns ``(g_w, g_b)``: the same product's last column is ``g_b = sum_{n, i, j} eps``.
    """
    if patch is not None:
        ext = np.zeros((g.o, patch.shape[1]), eps.dtype)  # (O, C*kh*kw + 1)
        for i, (n0, n1) in enumerate(_blocks(g, z.itemsize)):
            ext += _gram(patch[i, :, : g.ho * g.wo * (n1 - n0)], _eps_block(eps, g, n0, n1))
        return ext[:, :-1].reshape(g.o, g.c, g.kh, g.kw), ext[:, -1].copy()
    g_w = np.zeros((g.o, g.c * g.kh * g.kw), eps.dtype)
    for n0, n1 in _blocks(g, z.itemsize):
        g_w += _gram(_patch(z, g, n0, n1), _eps_block(eps, g, n0, n1))
    return g_w.reshape(g.o, g.c, g.kh, g.kw)


def _gram(patch: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``E @ patch^T``, computed as ``(patch @ E^T)^T``: the BLAS runs this orientation 20-30%
    faster on LeNet's layers (K = 26 or 151 rows against 50,176 or 6,400 columns)."""
    return (patch @ e.T).T


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: _Geometry) -> np.ndarray:
    """G_delta: ``dcol = w^T @ E``, added back through the windows tap by tap (col2im).

    Returns ``delta`` ``(N, C, H, W)`` as a view of batch-last ``(C, H, W, N)`` memory."""
    wt = np.ascontiguousarray(w.reshape(g.o, -1).T)  # (C*kh*kw, O)
    blocks = list(_blocks(g, eps.itemsize))
    into_result = len(blocks) == 1 and not g.padded  # col2im straight into the result
    dt = None if into_result else np.empty((g.c, g.h, g.w, g.n), eps.dtype)
    rows = [slice(a * g.dh, a * g.dh + (g.ho - 1) * g.sh + 1, g.sh) for a in range(g.kh)]
    cols = [slice(b * g.dw, b * g.dw + (g.wo - 1) * g.sw + 1, g.sw) for b in range(g.kw)]
    for n0, n1 in blocks:
        nb = n1 - n0
        dcol = scratch("patch", (g.c * g.kh * g.kw, g.ho * g.wo * nb), eps.dtype)
        np.matmul(wt, _eps_block(eps, g, n0, n1), out=dcol)
        dcol = dcol.reshape(g.c, g.kh, g.kw, g.ho, g.wo, nb)
        if into_result:
            dzt = np.zeros((g.c, g.hp, g.wp, nb), eps.dtype)
        else:
            dzt = scratch("delta", (g.c, g.hp, g.wp, nb), eps.dtype)
            dzt.fill(0)
        for a in range(g.kh):
            for b in range(g.kw):
                dzt[:, rows[a], cols[b]] += dcol[:, a, b]
        if into_result:
            return dzt.transpose(3, 0, 1, 2)
        dt[..., n0:n1] = dzt[:, g.pt : g.pt + g.h, g.pl : g.pl + g.w]
    return dt.transpose(3, 0, 1, 2)
