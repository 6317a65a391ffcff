"""Engine "column_patch": a patch of the kernel's column taps only; its row taps are shifts.

With stride 1 and the wide positions of :mod:`._layout` (``q = i*Wp + j`` in a padded plane),
tap ``(a, b)`` reads the plane at ``q + a*d*Wp + b*d``. im2col copies all ``kh*kw`` taps into
its patch; here the patch holds only the ``kw`` column taps, over ``(kh - 1)*d`` more rows::

    Q[(c, b), t] = zp[c, t + b*d]                         (C*kw rows, t < Ho*Wp + (kh-1)*d*Wp)
    F:     X (O, t)        = sum_a  w[:, :, a, :] (O, C*kw) @ Q[:, t + a*d*Wp]
    G_gw:  g_w[:, :, a, :] = E (O, t) @ Q[:, t + a*d*Wp]^T          (E: eps, zero at junk)

so row tap ``a`` is the same patch read ``a*d*Wp`` columns further on: ``kh`` GEMMs of
``K = C*kw`` over one patch a ``kh``-th of im2col's size, which is built by ``kw`` copies
(3x3 kernels, F+G against im2col, 2 threads: the resnet row 15.5 -> 13.0 ms, the wide row
60.9 -> 59.5, whose GEMMs are most of its time). A
block of ``nb`` images is one patch, each image's columns ``L = Ho*Wp + (kh-1)*d*Wp`` long,
so that the shifted columns of a valid position stay in its own image (the last ``(kh-1)*d*Wp``
columns of each image, and the junk columns ``j >= Wo``, are computed and dropped). G_delta is
F again on eps placed on the padded grid with the flipped kernel transposed (as for
``im2col``, JAX's transpose rule). Stride 1.
"""

from __future__ import annotations

import numpy as np

from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import padded, placed_eps

BLOCK_BYTES = 1 << 20  # patch bytes per block of images: about one core's L2


def supports(g: ConvGeometry) -> bool:
    """Stride 1 (any padding and dilation)."""
    return g.wide


def _images(n: int, per_image: int):
    """``(n0, nb)``: blocks of whole images whose patch holds about :data:`BLOCK_BYTES`."""
    nb = max(1, min(n, BLOCK_BYTES // max(1, per_image)))
    for n0 in range(0, n, nb):
        yield n0, min(nb, n - n0)


def _column_taps(src, n0, nb, start, length, kw, dw, spare):
    """``Q[r, b, n, t] = src[n0 + n, r, start + t + b*dw]`` for ``t < length``, zero past the
    end of a plane; returned as ``(R*kw, nb*length + spare)``, the last ``spare`` columns
    zero (the row shifts of the last image read them)."""
    r_, plane = src.shape[1], src.shape[2]
    q = scratch("patch", (r_ * kw, nb * length + spare), src.dtype)
    q[:, nb * length :] = 0
    view = q[:, : nb * length].reshape(r_, kw, nb, length)
    for b in range(kw):
        lo = start + b * dw
        run = min(length, plane - lo)
        view[:, b, :, :run] = src[n0 : n0 + nb, :, lo : lo + run].transpose(1, 0, 2)
        if run < length:
            view[:, b, :, run:] = 0
    return q


def correlate(src, w, g, start, count, out, rows, first_col):
    """``y[n, p, t] = sum_{r, a, b} w[p, r, a, b] src[n, r, start + t + a*dh*Wp + b*dw]``
    for ``t < count`` (``src`` ``(N, R, plane)``), written into ``out`` ``(N, P, rows, cols)``
    as ``out[n, p, i, j] = y[n, p, i*Wp + first_col + j]``."""
    n_, p_ = src.shape[0], w.shape[0]
    shift = (g.kh - 1) * g.dh * g.wp
    length = count + shift
    w_rows = np.ascontiguousarray(w.transpose(2, 0, 1, 3)).reshape(g.kh * p_, -1)  # (a, p)
    cols = slice(first_col, first_col + out.shape[3])
    for n0, nb in _images(n_, w.shape[1] * g.kw * length * src.itemsize):
        q = _column_taps(src, n0, nb, start, length, g.kw, g.dw, shift)
        width = nb * length
        y_all = scratch("out", (g.kh * p_, q.shape[1]), out.dtype)
        np.matmul(w_rows, q, out=y_all)  # every row tap at every column: one GEMM
        y = y_all[:p_, :width]
        for a in range(1, g.kh):  # row tap a: its rows of y_all, a*d*Wp columns on
            at = a * g.dh * g.wp
            y += y_all[a * p_ : (a + 1) * p_, at : at + width]
        y = y.reshape(p_, nb, length)[:, :, : rows * g.wp].reshape(p_, nb, rows, g.wp)
        out[n0 : n0 + nb] = y[..., cols].transpose(1, 0, 2, 3)


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``X = sum_a w[:, :, a, :] @ Q shifted by a*d*Wp``, per block of images."""
    x = np.empty((g.n, g.o, g.ho, g.wo), z.dtype)
    correlate(padded(z, g).reshape(g.n, g.c, -1), w, g, 0, g.ho * g.wp, x, g.ho, 0)
    return x


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: ``delta[n, c, y, x] = sum_{o, a, b} flip(w)[c, o, a, b] el[n, o, p + off]``,
    ``el`` eps after ``off(kh-1, kw-1)`` zeros on rows of ``Wp``, positions ``p`` the rows
    ``pt .. pt + H`` of the padded grid."""
    el = placed_eps(eps, g, 0, g.n)
    wf = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, kh, kw)
    delta = np.empty((g.n, g.c, g.h, g.w), eps.dtype)
    correlate(el, wf, g, g.pt * g.wp, g.h * g.wp, delta, g.h, g.pl)
    return delta


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w[:, :, a, :] = sum over blocks of (Q shifted by a*d*Wp) @ E^T``, E eps on
    each image's ``L`` columns, zero at the junk."""
    zp = padded(z, g).reshape(g.n, g.c, -1)
    shift = g.dh * g.wp
    count = g.ho * g.wp
    length = count + (g.kh - 1) * shift
    g_w = np.zeros((g.c * g.kw, g.kh * g.o), eps.dtype)
    for n0, nb in _images(g.n, g.c * g.kw * length * z.itemsize):
        q = _column_taps(zp, n0, nb, 0, length, g.kw, g.dw, (g.kh - 1) * shift)
        cols = nb * length
        # e_all[a, o, t] = E[o, t - a*d*Wp]: eps on each image's L columns (zero at the
        # junk), shifted on by each row tap, so that one GEMM gives every row tap's g_w
        e_all = scratch("eps", (g.kh, g.o, q.shape[1]), eps.dtype)
        e_all.fill(0)
        rows = e_all[0, :, :cols].reshape(g.o, nb, length)[..., :count]
        rows.reshape(g.o, nb, g.ho, g.wp)[..., : g.wo] = eps[n0 : n0 + nb].transpose(1, 0, 2, 3)
        for a in range(1, g.kh):
            e_all[a, :, a * shift : a * shift + cols] = e_all[0, :, :cols]
        g_w += q @ e_all.reshape(g.kh * g.o, -1).T
    # g_w[(c, b), (a, o)] -> (o, c, a, b)
    g_w = g_w.reshape(g.c, g.kw, g.kh, g.o).transpose(3, 0, 2, 1)
    return np.ascontiguousarray(g_w)
