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

from ._layout import padded

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
    wa = [np.ascontiguousarray(w[:, :, a, :]).reshape(p_, -1) for a in range(g.kh)]
    cols = slice(first_col, first_col + out.shape[3])
    for n0, nb in _images(n_, w.shape[1] * g.kw * length * src.itemsize):
        q = _column_taps(src, n0, nb, start, length, g.kw, g.dw, shift)
        width = nb * length
        y = scratch("out", (p_, width), out.dtype)
        np.matmul(wa[0], q[:, :width], out=y)
        if g.kh > 1:
            term = scratch("term", (p_, width), out.dtype)
            for a in range(1, g.kh):
                at = a * g.dh * g.wp
                np.matmul(wa[a], q[:, at : at + width], out=term)
                y += term
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
    lead = (g.kh - 1) * g.dh * g.wp + (g.kw - 1) * g.dw
    el = scratch("eps_lead", (g.n, g.o, lead + g.hp * g.wp), eps.dtype)
    el[..., :lead] = 0
    el[..., lead + g.ho * g.wp :] = 0
    rows = el[..., lead : lead + g.ho * g.wp].reshape(g.n, g.o, g.ho, g.wp)
    rows[..., g.wo :] = 0
    rows[..., : g.wo] = eps
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
    g_w = np.zeros((g.kh, g.c * g.kw, g.o), eps.dtype)
    for n0, nb in _images(g.n, g.c * g.kw * length * z.itemsize):
        q = _column_taps(zp, n0, nb, 0, length, g.kw, g.dw, (g.kh - 1) * shift)
        cols = nb * length
        e = scratch("eps", (g.o, nb, length), eps.dtype)
        e[..., count:] = 0
        rows = e[..., :count].reshape(g.o, nb, g.ho, g.wp)
        rows[..., g.wo :] = 0
        rows[..., : g.wo] = eps[n0 : n0 + nb].transpose(1, 0, 2, 3)
        et = e.reshape(g.o, cols).T
        for a in range(g.kh):
            g_w[a] += q[:, a * shift : a * shift + cols] @ et
    # g_w[a, (c, b), o] -> (o, c, a, b)
    return np.ascontiguousarray(g_w.reshape(g.kh, g.c, g.kw, g.o).transpose(3, 1, 0, 2)).reshape(
        g.o, g.c, g.kh, g.kw
    )
