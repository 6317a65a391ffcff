"""Engine "im2col": the tap windows copied into a patch matrix, one BLAS product per block.

For a block of images (image-major, see :mod:`._blocked`)::

    F:        x[n]  = w (O, C*kh*kw) @ patch[n] (C*kh*kw, positions)
    G_gw:     g_w   = sum_n eps[n] (O, positions) @ patch[n]^T
    G_delta:  stride 1 and O <= C: the correlation of eps with flip(w)^T (its patch is then no
              larger than the one of z); otherwise dcol = w^T eps added back tap by tap (col2im)

Blocks of whole images hold about ``BLOCK_BYTES`` of patch, so the copy into the patch and the
GEMM that reads it meet in cache. Any geometry.
"""

from __future__ import annotations

import numpy as np

from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from . import _blocked


def _correlate(v: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """out[n, p, m] = sum_{r, a, b} w[p, r, a, b] v[n, r, a, b, m]: patch, then one GEMM."""
    nb, r, kh, kw = v.shape[:4]
    patch = scratch("patch", v.shape, v.dtype)
    np.copyto(patch, v)
    np.matmul(w.reshape(w.shape[0], -1), patch.reshape(nb, r * kh * kw, -1), out=out)


def _gram(e: np.ndarray, v: np.ndarray) -> np.ndarray:
    """sum_{n, m} e[n, p, m] v[n, r, a, b, m] -> (P, R, kh, kw); e (nb, P, m)."""
    nb, r, kh, kw = v.shape[:4]
    patch = scratch("patch", v.shape, v.dtype)
    np.copyto(patch, v)
    # (patch @ e^T)^T: the BLAS runs this orientation 10-20% faster (measured, wide layer)
    part = np.matmul(patch.reshape(nb, r * kh * kw, -1), e.transpose(0, 2, 1))
    return part.sum(axis=0).T.reshape(e.shape[1], r, kh, kw)


def _scatter(e: np.ndarray, w: np.ndarray, dv: np.ndarray) -> None:
    """dv[n, r, a, b, m] += sum_p w[p, r, a, b] e[n, p, m]: dcol = w^T e, then col2im."""
    kh, kw = dv.shape[2:4]
    dcol = np.matmul(w.reshape(w.shape[0], -1).T, e).reshape(dv.shape)  # (R*kh*kw, P) @ (P, m)
    for a in range(kh):
        for b in range(kw):
            dv[:, :, a, b] += dcol[:, :, a, b]


CONTRACTIONS = _blocked.Contractions(
    _correlate, _gram, _scatter, copies_patch=True, adjoint_by_correlation=lambda g: g.o <= g.c
)


def supports(g: ConvGeometry) -> bool:
    """Any geometry."""
    return True


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``x[n] = w (O, C*kh*kw) @ patch[n]``."""
    return _blocked.forward(z, w, g, CONTRACTIONS)


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: the correlation of eps with flip(w)^T (stride 1, O <= C), else col2im."""
    return _blocked.adjoint_input(eps, w, g, CONTRACTIONS)


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w = sum_n eps[n] @ patch[n]^T``."""
    return _blocked.adjoint_weight(eps, z, g, CONTRACTIONS)
