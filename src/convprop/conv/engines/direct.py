"""Engine "direct": a loop over the kh*kw kernel taps, one product per tap, no patch matrix.

For a block of images (image-major, see :mod:`._blocked`), tap ``(a, b)`` is a strided view
``v[:, :, a, b]`` of the padded input::

    F:        x      = sum_{a,b} w[:, :, a, b] (O, C) @ v[:, :, a, b] (C, positions)
    G_gw:     g_w[:, :, a, b] = sum_n eps[n] (O, positions) @ v[n, :, a, b]^T
    G_delta:  stride 1: the correlation of eps with flip(w)^T, tap by tap; otherwise
              v[:, :, a, b] += w[:, :, a, b]^T @ eps (col2im without the patch)

With one channel in and out each tap is a scalar multiply-add. Any geometry.
"""

from __future__ import annotations

import numpy as np

from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from . import _blocked


def _correlate(v: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """out[n, p, m] = sum_{r, a, b} w[p, r, a, b] v[n, r, a, b, m], tap by tap."""
    nb, r, kh, kw = v.shape[:4]
    p = w.shape[0]
    o = out.reshape(nb, p, *v.shape[4:])
    tmp = scratch("tap", o.shape, o.dtype)
    if p == r == 1:  # one channel in and out: a scalar multiply-add per tap
        for a in range(kh):
            for b in range(kw):
                if a == b == 0:
                    np.multiply(v[:, :, 0, 0], w[0, 0, 0, 0], out=o)
                else:
                    o += np.multiply(v[:, :, a, b], w[0, 0, a, b], out=tmp)
        return
    taps = np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (kh, kw, P, R), BLAS-ready
    o, tmp = o.reshape(nb, p, -1), tmp.reshape(nb, p, -1)
    for a in range(kh):
        for b in range(kw):
            s = v[:, :, a, b].reshape(nb, r, -1)  # (nb, R, m); a copy for exact positions
            if a == b == 0:
                np.matmul(taps[0, 0], s, out=o)
            else:
                o += np.matmul(taps[a, b], s, out=tmp)


def _gram(e: np.ndarray, v: np.ndarray) -> np.ndarray:
    """sum_{n, m} e[n, p, m] v[n, r, a, b, m] -> (P, R, kh, kw), one product per tap."""
    nb, r, kh, kw = v.shape[:4]
    p = e.shape[1]
    g_w = np.empty((p, r, kh, kw), e.dtype)
    for a in range(kh):
        for b in range(kw):
            s = v[:, :, a, b].reshape(nb, r, -1)
            if nb == p == r == 1:
                g_w[0, 0, a, b] = np.dot(e[0, 0], s[0, 0])
            else:
                g_w[:, :, a, b] = np.matmul(e, s.transpose(0, 2, 1)).sum(axis=0)
    return g_w


def _scatter(e: np.ndarray, w: np.ndarray, dv: np.ndarray) -> None:
    """dv[n, r, a, b, m] += sum_p w[p, r, a, b] e[n, p, m], tap by tap."""
    kh, kw = dv.shape[2:4]
    taps = np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # (kh, kw, R, P)
    for a in range(kh):
        for b in range(kw):
            tap = dv[:, :, a, b]
            tap += np.matmul(taps[a, b], e).reshape(tap.shape)


CONTRACTIONS = _blocked.Contractions(
    _correlate, _gram, _scatter, copies_patch=False, adjoint_by_correlation=lambda g: True
)


def supports(g: ConvGeometry) -> bool:
    """Any geometry."""
    return True


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``x = sum_{a,b} w[:, :, a, b] @ tap(a, b)``."""
    return _blocked.forward(z, w, g, CONTRACTIONS)


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: the correlation of eps with flip(w)^T (stride 1), else tap-wise col2im."""
    return _blocked.adjoint_input(eps, w, g, CONTRACTIONS)


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w[:, :, a, b] = sum_n eps[n] @ tap(a, b)^T``."""
    return _blocked.adjoint_weight(eps, z, g, CONTRACTIONS)
