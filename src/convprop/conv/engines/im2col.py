"""Engine "im2col": the patch matrix of a block of images, one GEMM per block.

A block of ``nb`` whole images (image-major, positions as in :mod:`._layout`: ``M`` per image,
the junk included) is one patch matrix, rows ``(c, a, b)`` and columns ``(n, q)``::

    patch[(c, a, b), (n, q)] = zp[n, c, q + off(a, b)]              (K = C*kh*kw rows)
    F:        X (O, nb*M)      = w (O, K) @ patch (K, nb*M)
    G_gw:     g_w (O, K)      += E (O, nb*M) @ patch^T               (E: eps, zero at junk)
    G_delta:  stride 1 and O <= C: F of eps (after ``lead`` zeros) with flip(w)^T, whose patch
              is then no larger than z's; otherwise dcol = w^T E, added back tap by tap (col2im)

The patch is built by one copy per block, tap window by tap window: every ``(c, a, b, n)`` row
of it is one contiguous run of the padded input (wide positions) or ``Ho`` runs (stride > 1).
Two GEMM shapes (:func:`one_gemm`): one GEMM over the block, columns ``(n, q)``, when an
image's product is large enough for the BLAS to split among its threads (the resnet row's
16x144x838 products: 1.9x faster over 8 images than 8 calls, 2 threads); else a GEMM per
image (NumPy's stacked matmul, the patch ``(nb, K, M)``), which OpenBLAS runs unpacked on one
thread when it is small (LeNet's). Blocks hold about :data:`BLOCK_BYTES` of patch, so that
the copy and the GEMM meet in cache (the wide layer's patch is 2.4 MB an image: one image a
block; the resnet row's 0.5 MB: two). With one GEMM, X and E are ``(O, nb, M)`` and
go to and from NCHW by one strided copy per block. Any geometry.
"""

from __future__ import annotations

from math import prod

import numpy as np

from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import crop, full_positions, padded, placed_eps, positions, windows

BLOCK_BYTES = 1 << 20  # patch bytes per block of images: half of one core's L2
ONE_GEMM_MACS = 1 << 20  # per-image products of more multiply-adds go one GEMM per block


def one_gemm(g: ConvGeometry, rows: int) -> bool:
    """Whether a block is one GEMM (columns ``(n, q)``) rather than one per image.

    OpenBLAS runs a small product (LeNet's, about 10^5 multiply-adds an image) on one thread
    without packing, fastest image by image; a larger one it packs and splits among its
    threads, and then a call per image pays for that each time (the resnet row's 16x144x840
    products, 2 threads: one GEMM over 8 images 1.9x faster than 8 calls, over 2 1.4x).
    """
    return g.o * rows * prod(full_positions(g)) >= ONE_GEMM_MACS


def _blocks(g: ConvGeometry, rows: int, itemsize: int):
    """``(n0, nb)``: blocks of whole images whose patch of ``rows`` rows holds about
    :data:`BLOCK_BYTES` (2 MB blocks for one GEMM: the resnet row 19% slower, one thread)."""
    per_image = rows * prod(full_positions(g)) * itemsize
    nb = max(1, min(g.n, BLOCK_BYTES // max(1, per_image)))
    for n0 in range(0, g.n, nb):
        yield n0, min(nb, g.n - n0)


def _pitch(cols: int) -> int:
    """A row length of at least ``cols`` numbers whose rows fall on every cache set: 16 times
    an odd number (the large row's 3,456-number rows, 13.5 KB apart, used 8 of the 64 sets,
    and its F then ran 1.3x slower, one thread)."""
    p = -(-cols // 16) * 16
    return p if (p // 16) % 2 else p + 16


def _columns(name: str, lead: tuple[int, ...], nb: int, width: int, one: bool, dtype):
    """A work array of ``nb`` images' columns: ``(operand, view)``. The operand is
    ``(prod(lead), nb * width)`` for one GEMM, else ``(nb, prod(lead), width)``, its rows
    :func:`_pitch` apart; the view is the same memory as ``(nb, *lead, width)``."""
    k = prod(lead)
    if one:
        a = scratch(name, (k, _pitch(nb * width)), dtype)[:, : nb * width]
        j = len(lead)
        return a, a.reshape(*lead, nb, width).transpose(j, *range(j), j + 1)
    a = scratch(name, (nb, k, _pitch(width)), dtype)[..., :width]
    return a, a.reshape(nb, *lead, width)


def _patch(src: np.ndarray, g: ConvGeometry, n0: int, nb: int, one: bool, start=0, count=None):
    """The patch of images ``n0 .. n0 + nb`` of padded planes ``src``, ready for the GEMM:
    ``(K, nb * M)`` for one GEMM, else ``(nb, K, M)``.

    Wide positions: ``count`` (default :func:`positions`) from ``start`` in each plane, in
    columns of ``M`` (whole rows of ``Wp``), the rest zero so that a product over positions
    sees no junk there. Exact positions (stride > 1): ``M = Ho*Wo``.
    """
    v = windows(src, g, n0, nb, start=start, count=count)  # (nb, R, kh, kw, *positions)
    lead = (src.shape[1], g.kh, g.kw)
    if g.wide:
        m = v.shape[-1]
        a, view = _columns("patch", lead, nb, -(-m // g.wp) * g.wp, one, src.dtype)
        np.copyto(view[..., :m], v)
        view[..., m:] = 0
    else:
        a, view = _columns("patch", lead, nb, g.ho * g.wo, one, src.dtype)
        np.copyto(view.reshape(v.shape), v)
    return a


def _gemm(w2: np.ndarray, patch: np.ndarray, nb: int, name: str = "out") -> np.ndarray:
    """``w2 (P, K) @ patch`` in the patch's layout, as ``(nb, P, M)`` (a view for one GEMM)."""
    if patch.ndim == 2:
        out = scratch(name, (w2.shape[0], patch.shape[1]), patch.dtype)
        np.matmul(w2, patch, out=out)
        return out.reshape(w2.shape[0], nb, -1).transpose(1, 0, 2)
    out = scratch(name, (patch.shape[0], w2.shape[0], patch.shape[2]), patch.dtype)
    return np.matmul(w2, patch, out=out)


def _eps_columns(eps: np.ndarray, g: ConvGeometry, n0: int, nb: int, one: bool) -> np.ndarray:
    """eps of images n0.. as GEMM columns, ``(O, nb * M)`` or ``(nb, O, M)``, zero at junk."""
    width = g.wp if g.wide else g.wo
    a, view = _columns("eps", (g.o,), nb, g.ho * width, one, eps.dtype)
    view = view.reshape(nb, g.o, g.ho, width)
    if g.wide:
        view[..., g.wo :] = 0
    view[..., : g.wo] = eps[n0 : n0 + nb]
    return a


def supports(g: ConvGeometry) -> bool:
    """Any geometry."""
    return True


def _nchw(out: np.ndarray, g: ConvGeometry, rows: int) -> np.ndarray:
    """The GEMM result ``(nb, P, M)`` as ``(nb, P, rows, cols)`` without the junk columns."""
    return out.reshape(*out.shape[:2], rows, -1)[..., : g.wo]


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``X = w (O, C*kh*kw) @ patch`` per block of images."""
    zp = padded(z, g)
    w2 = w.reshape(g.o, -1)
    one = one_gemm(g, w2.shape[1])
    x = np.empty((g.n, g.o, g.ho, g.wo), z.dtype)
    for n0, nb in _blocks(g, w2.shape[1], z.itemsize):
        x[n0 : n0 + nb] = _nchw(_gemm(w2, _patch(zp, g, n0, nb, one), nb), g, g.ho)
    return x


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w = sum over blocks of E @ patch^T``, computed as ``(patch @ E^T)^T``: the
    BLAS runs this orientation faster (the long reduction over positions inside)."""
    zp = padded(z, g)
    k = g.c * g.kh * g.kw
    one = one_gemm(g, k)
    g_w = np.zeros((k, g.o), eps.dtype)
    for n0, nb in _blocks(g, k, z.itemsize):
        patch, e = _patch(zp, g, n0, nb, one), _eps_columns(eps, g, n0, nb, one)
        if one:
            g_w += patch @ e.T
        else:
            g_w += np.matmul(patch, e.transpose(0, 2, 1)).sum(axis=0)
    return np.ascontiguousarray(g_w.T).reshape(g.o, g.c, g.kh, g.kw)


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: F of eps with flip(w)^T (stride 1, O <= C), else ``w^T E`` and col2im."""
    if g.wide and g.o <= g.c:
        return _adjoint_input_correlate(eps, w, g)
    wt = np.ascontiguousarray(w.reshape(g.o, -1).T)  # (C*kh*kw, O)
    one = one_gemm(g, wt.shape[0])
    dzp = scratch("delta", (g.n, g.c, g.hp, g.wp), eps.dtype)
    dzp.fill(0)
    pos = positions(g)
    for n0, nb in _blocks(g, wt.shape[0], eps.itemsize):
        dcol = _gemm(wt, _eps_columns(eps, g, n0, nb, one), nb, "dcol")  # (nb, K, M)
        dcol = dcol.reshape(nb, g.c, g.kh, g.kw, -1)
        dcol = dcol[..., : pos[0]] if g.wide else dcol.reshape(*dcol.shape[:4], *pos)
        dv = windows(dzp, g, n0, nb)
        for a in range(g.kh):
            for b in range(g.kw):
                dv[:, :, a, b] += dcol[:, :, a, b]
    return crop(dzp, g)


def _adjoint_input_correlate(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """delta[n, c, y, x] = sum_{o, a, b} flip(w)[c, o, a, b] el[n, o, y*Wp + x + off(a, b)].

    ``el`` is eps after ``lead = off(kh-1, kw-1)`` zeros, rows of ``Wp`` with zeros at the junk
    columns, so that no position reads across a row or an image (JAX's transpose rule).
    Positions: the rows ``pt .. pt + H`` of the padded grid, all ``Wp`` columns.
    """
    wf = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(g.c, -1)
    one = one_gemm(g, wf.shape[1])
    delta = np.empty((g.n, g.c, g.h, g.w), eps.dtype)
    for n0, nb in _blocks(g, wf.shape[1], eps.itemsize):
        el = placed_eps(eps, g, n0, nb)
        patch = _patch(el, g, 0, nb, one, start=g.pt * g.wp, count=g.h * g.wp)
        out = _gemm(wf, patch, nb).reshape(nb, g.c, g.h, g.wp)
        delta[n0 : n0 + nb] = out[..., g.pl : g.pl + g.w]
    return delta
