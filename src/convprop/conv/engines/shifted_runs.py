"""Engine "shifted_runs": one channel in and out, stride 1 (the seed's layer).

The padded planes of the whole batch are laid end to end as one 1-D run (plane n's junk rows
and columns keep it apart from plane n + 1), and every tap ``(a, b)`` of the kernel is that
run shifted by ``off(a, b) = a*d*Wp + b*d``::

    F:        x[q]      = sum_{a,b} w[a, b] zp[q + off(a, b)]          patch @ w, one GEMV
    G_delta:  delta[q]  = sum_{a,b} w[kh-1-a, kw-1-b] el[q + off(a, b)] the same, on eps
    G_gw:     g_w[a, b] = sum_q e[q] zp[q + off(a, b)]                 kh*kw dot products

For F and G_delta the kh*kw shifted runs are copied into a patch ``(kh*kw, m)`` and multiplied
by the kernel in one BLAS matrix-vector product, which uses every core (3-5% faster than a
scalar multiply-add per tap for F, 8-11% for G_delta, in interleaved rounds at one and two
threads); G_gw is one dot product per tap (25% faster than the patch). ``el`` is eps after
``lead = off(kh-1, kw-1)`` zeros, ``e`` eps zero at the junk positions.
"""

from __future__ import annotations

import numpy as np

from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import padded


def supports(g: ConvGeometry) -> bool:
    """One channel in and out, stride 1."""
    return g.c == g.o == 1 and g.wide


def _runs(g: ConvGeometry) -> tuple[int, list[int]]:
    """Positions m of the batch-long run, and the offset of every tap (row-major)."""
    wp, dh, dw = g.wp, g.dh, g.dw
    m = g.n * g.hp * wp - ((g.eh - 1) * wp + g.ew - 1)  # reads stay inside the planes
    return m, [a * dh * wp + b * dw for a in range(g.kh) for b in range(g.kw)]


def _patch(run: np.ndarray, g: ConvGeometry, m: int) -> np.ndarray:
    """The patch ``(kh*kw, m)``: row (a, b) is ``run[off(a, b) : off(a, b) + m]``.

    One copy from the windows view ``(kh, kw, m)``. The rows are 16 numbers longer than ``m``:
    rows a power of two apart (the seed's G_delta: 128*128 positions, 64 KiB) land in the same
    cache sets, and the matrix-vector product then ran at half speed (158 us, 86-116 us apart).
    """
    item = run.itemsize
    taps = np.ndarray(
        (g.kh, g.kw, m), run.dtype, buffer=run, strides=(g.dh * g.wp * item, g.dw * item, item)
    )
    patch = scratch("patch", (g.kh * g.kw, m + 16), run.dtype)[:, :m]
    np.copyto(patch.reshape(g.kh, g.kw, m), taps)
    return patch


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """F: ``x[q] = sum_{a, b} w[a, b] zp[q + off(a, b)]``."""
    run = padded(z, g).reshape(-1)
    m, _ = _runs(g)
    out = scratch("out", (g.n, g.hp, g.wp), z.dtype)
    kernel = np.ascontiguousarray(w[0, 0]).reshape(-1)
    np.matmul(kernel, _patch(run, g, m), out=out.reshape(-1)[:m])
    return out[:, None, : g.ho, : g.wo].copy()


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_delta: ``delta[q] = sum_{a, b} w[kh-1-a, kw-1-b] el[q + off(a, b)]``."""
    m, offsets = _runs(g)
    lead = offsets[-1]
    el = scratch("eps_lead", (lead + g.n * g.hp * g.wp,), eps.dtype)
    el[:lead] = 0
    rows = el[lead:].reshape(g.n, g.hp, g.wp)
    rows[:, : g.ho, g.wo :] = 0
    rows[:, g.ho :] = 0
    rows[:, : g.ho, : g.wo] = eps[:, 0]
    out = scratch("out", (g.n, g.hp, g.wp), eps.dtype)
    kernel = np.ascontiguousarray(w[0, 0, ::-1, ::-1]).reshape(-1)
    np.matmul(kernel, _patch(el, g, g.n * g.hp * g.wp), out=out.reshape(-1))
    return out[:, None, g.pt : g.pt + g.h, g.pl : g.pl + g.w].copy()


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """G_gw: ``g_w[a, b] = sum_q e[q] zp[q + off(a, b)]``: kh*kw dot products."""
    run = padded(z, g).reshape(-1)
    m, offsets = _runs(g)
    e = scratch("eps", (g.n, g.hp, g.wp), eps.dtype)
    e[:, : g.ho, g.wo :] = 0
    e[:, g.ho :] = 0
    e[:, : g.ho, : g.wo] = eps[:, 0]
    e = e.reshape(-1)[:m]
    dots = [np.dot(e, run[off : off + m]) for off in offsets]
    return np.array(dots, eps.dtype).reshape(1, 1, g.kh, g.kw)
