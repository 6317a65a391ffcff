"""Engines "direct" and "im2col": the convolution as matrix products on the BLAS.

In the correlation form, with ``off(a, b) = a*d*Wp + b*d`` the offset of tap ``(a, b)`` and ``q``
the output positions of :mod:`._layout` (per image of a block)::

    F:        x[n, o, q]      = sum_{c, a, b} w[o, c, a, b] zp[n, c, q + off(a, b)]
    G_gw:     g_w[o, c, a, b] = sum_{n, q} eps[n, o, q] zp[n, c, q + off(a, b)]
    G_delta:  dzp[n, c, q + off(a, b)] += sum_o w[o, c, a, b] eps[n, o, q]

``"direct"`` makes one matrix product per tap on the windows view, ``(O, C) @ (C, positions)``,
and adds them up (for one channel in and out, a scalar multiply-add per tap). ``"im2col"``
copies the windows into the patch matrix ``(C*kh*kw, positions)`` and makes one product.

G_delta, stride 1, is itself a correlation (JAX's transpose rule): eps placed on the padded
grid after ``lead = off(kh-1, kw-1)`` zeros, correlated with the flipped kernel transposed,
``w[o, c, kh-1-a, kw-1-b]`` as ``(C, O, kh, kw)``. im2col uses it when ``O <= C`` (the patch of
eps is then no larger than the one of z); otherwise, and for stride > 1, G_delta scatters
``w^T eps`` back through the windows (col2im).
"""

from __future__ import annotations

from math import prod

import numpy as np

from ._layout import (
    blocks,
    crop,
    full_positions,
    narrow,
    padded,
    positions,
    scratch,
    wide_eps,
    windows,
)
from ._shape import _Geometry

# ------------------------------------------------------------------ the three contractions


def _correlate(v: np.ndarray, w: np.ndarray, out: np.ndarray, im2col: bool) -> None:
    """out[n, p, m] = sum_{r, a, b} w[p, r, a, b] v[n, r, a, b, m] for windows v."""
    nb, r, kh, kw = v.shape[:4]
    p = w.shape[0]
    if im2col:
        patch = scratch("patch", v.shape, v.dtype)
        np.copyto(patch, v)
        np.matmul(w.reshape(p, -1), patch.reshape(nb, r * kh * kw, -1), out=out)
        return
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


def _gram(e: np.ndarray, v: np.ndarray, im2col: bool) -> np.ndarray:
    """sum_{n, m} e[n, p, m] v[n, r, a, b, m] -> (P, R, kh, kw); e (nb, P, m)."""
    nb, r, kh, kw = v.shape[:4]
    p = e.shape[1]
    if im2col:
        patch = scratch("patch", v.shape, v.dtype)
        np.copyto(patch, v)
        # (patch @ e^T)^T: the BLAS runs this orientation 10-20% faster (measured, wide layer)
        part = np.matmul(patch.reshape(nb, r * kh * kw, -1), e.transpose(0, 2, 1))
        return part.sum(axis=0).T.reshape(p, r, kh, kw)
    g_w = np.empty((p, r, kh, kw), e.dtype)
    for a in range(kh):
        for b in range(kw):
            s = v[:, :, a, b].reshape(nb, r, -1)
            if nb == p == r == 1:
                g_w[0, 0, a, b] = np.dot(e[0, 0], s[0, 0])
            else:
                g_w[:, :, a, b] = np.matmul(e, s.transpose(0, 2, 1)).sum(axis=0)
    return g_w


def _scatter(e: np.ndarray, w: np.ndarray, dv: np.ndarray, im2col: bool) -> None:
    """dv[n, r, a, b, m] += sum_p w[p, r, a, b] e[n, p, m] (col2im); dv windows of dzp."""
    nb, r, kh, kw = dv.shape[:4]
    p = w.shape[0]
    if im2col:
        dcol = np.matmul(w.reshape(p, -1).T, e).reshape(dv.shape)  # (R*kh*kw, P) @ (P, m)
    else:
        taps = np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # (kh, kw, R, P)
    for a in range(kh):
        for b in range(kw):
            tap = dv[:, :, a, b]
            tap += dcol[:, :, a, b] if im2col else np.matmul(taps[a, b], e).reshape(tap.shape)


# ------------------------------------------------------------------ F, G_delta, G_gw


def forward(z: np.ndarray, w: np.ndarray, g: _Geometry, im2col: bool) -> np.ndarray:
    """F: ``x = zp (star) w``, block by block: ``x[n] = w (O, C*kh*kw) @ patch[n]``."""
    zp = padded(z, g)
    x = np.empty((g.n, g.o, g.ho, g.wo), z.dtype)
    m = prod(positions(g))
    per_image = (g.c * g.kh * g.kw if im2col else g.o) * m * z.itemsize
    for n0, nb in blocks(g.n, per_image):
        out = scratch("out", (nb, g.o, *full_positions(g)), z.dtype)
        _correlate(windows(zp, g, n0, nb), w, out.reshape(nb, g.o, -1)[..., :m], im2col)
        x[n0 : n0 + nb] = narrow(out, g)
    return x


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: _Geometry, im2col: bool) -> np.ndarray:
    """G_delta: ``delta = pad(eps) (star) flip(w)^T`` (stride 1) or col2im of ``w^T eps``."""
    if g.wide and (not im2col or g.o <= g.c):
        return _adjoint_input_correlate(eps, w, g, im2col)
    dzp = scratch("delta", (g.n, g.c, g.hp, g.wp), eps.dtype)
    dzp.fill(0)
    m = prod(positions(g))
    per_image = (g.c * g.kh * g.kw if im2col else g.c) * m * eps.itemsize
    for n0, nb in blocks(g.n, per_image):
        e = wide_eps(eps, g, n0, nb).reshape(nb, g.o, -1)
        _scatter(e, w, windows(dzp, g, n0, nb), im2col)
    return crop(dzp, g)


def _adjoint_input_correlate(eps, w, g, im2col):
    """delta[n, c, y, x] = sum_{o, a, b} flip(w)[c, o, a, b] el[n, o, y*Wp + x + off(a, b)].

    ``el`` is eps after ``lead`` zeros, rows of ``Wp`` with zeros at the junk columns, so that
    no position reads across a row or an image. Positions: the rows ``pt .. pt + H`` of the
    padded grid, all ``Wp`` columns; the padding columns are dropped.
    """
    lead = (g.kh - 1) * g.dh * g.wp + (g.kw - 1) * g.dw
    plane = lead + g.hp * g.wp
    wf = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, kh, kw)
    delta = np.empty((g.n, g.c, g.h, g.w), eps.dtype)
    m = g.h * g.wp
    per_image = (g.o * g.kh * g.kw if im2col else g.c) * m * eps.itemsize
    for n0, nb in blocks(g.n, per_image):
        el = scratch("eps_lead", (nb, g.o, plane), eps.dtype)
        el.fill(0)
        rows = el[:, :, lead : lead + g.ho * g.wp].reshape(nb, g.o, g.ho, g.wp)
        rows[..., : g.wo] = eps[n0 : n0 + nb]
        out = scratch("out", (nb, g.c, m), eps.dtype)
        _correlate(windows(el, g, 0, nb, start=g.pt * g.wp, count=m), wf, out, im2col)
        delta[n0 : n0 + nb] = out.reshape(nb, g.c, g.h, g.wp)[..., g.pl : g.pl + g.w]
    return delta


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: _Geometry, im2col: bool) -> np.ndarray:
    """G_gw: ``g_w = zp (star) eps``, summed over blocks: ``eps[n] @ patch[n]^T``."""
    zp = padded(z, g)
    g_w = np.zeros((g.o, g.c, g.kh, g.kw), eps.dtype)
    m = prod(positions(g))
    per_image = (g.c * g.kh * g.kw if im2col else g.o) * m * eps.itemsize
    for n0, nb in blocks(g.n, per_image):
        e = wide_eps(eps, g, n0, nb).reshape(nb, g.o, -1)
        g_w += _gram(e, windows(zp, g, n0, nb), im2col)
    return g_w


# ------------------------------------------------------------------ one channel in and out
# One channel in and out, stride 1 (the seed's layer): every tap of the whole batch is one
# shifted 1-D run of the padded planes laid end to end (plane n's junk rows and columns keep it
# apart from plane n + 1). "direct" multiplies each run by its scalar weight and adds it up;
# "im2col" copies the kh*kw runs into a patch, one slice each, and makes one matrix-vector
# product with the BLAS (which then uses every core).


def _single_runs(g: _Geometry) -> tuple[int, list[tuple[int, int, int]]]:
    """Positions m of the batch-long run, and (a, b, offset) of every tap."""
    wp, dh, dw = g.wp, g.dh, g.dw
    m = g.n * g.hp * wp - ((g.eh - 1) * wp + g.ew - 1)  # reads stay inside the planes
    return m, [(a, b, a * dh * wp + b * dw) for a in range(g.kh) for b in range(g.kw)]


def _single_patch(run: np.ndarray, g: _Geometry, m: int) -> np.ndarray:
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


def _single_correlate(run, w, out, g, taps, im2col):
    """out[q] = sum_{a, b} w[a, b] run[q + off(a, b)] for the len(out) positions q."""
    m = len(out)
    if im2col:
        np.matmul(np.ascontiguousarray(w).reshape(-1), _single_patch(run, g, m), out=out)
        return
    tmp = scratch("tap", (m,), out.dtype)
    k = w.tolist()
    for a, b, off in taps:
        if a == b == 0:
            np.multiply(run[off : off + m], k[0][0], out=out)
        else:
            out += np.multiply(run[off : off + m], k[a][b], out=tmp)


def single_forward(z: np.ndarray, w: np.ndarray, g: _Geometry, im2col: bool) -> np.ndarray:
    """F: ``x[q] = sum_{a, b} w[a, b] zp[q + off(a, b)]``."""
    run = padded(z, g).reshape(-1)
    m, taps = _single_runs(g)
    out = scratch("out", (g.n, g.hp, g.wp), z.dtype)
    _single_correlate(run, w[0, 0], out.reshape(-1)[:m], g, taps, im2col)
    return out[:, None, : g.ho, : g.wo].copy()


def single_adjoint_input(eps: np.ndarray, w: np.ndarray, g: _Geometry, im2col: bool):
    """G_delta: ``delta[q] = sum_{a, b} w[kh-1-a, kw-1-b] el[q + off(a, b)]``, eps after lead."""
    m, taps = _single_runs(g)
    lead = taps[-1][2]
    el = scratch("eps_lead", (lead + g.n * g.hp * g.wp,), eps.dtype)
    el[:lead] = 0
    rows = el[lead:].reshape(g.n, g.hp, g.wp)
    rows[:, : g.ho, g.wo :] = 0
    rows[:, g.ho :] = 0
    rows[:, : g.ho, : g.wo] = eps[:, 0]
    out = scratch("out", (g.n, g.hp, g.wp), eps.dtype)
    _single_correlate(el, w[0, 0, ::-1, ::-1], out.reshape(-1), g, taps, im2col)
    return out[:, None, g.pt : g.pt + g.h, g.pl : g.pl + g.w].copy()


def single_adjoint_weight(eps: np.ndarray, z: np.ndarray, g: _Geometry, im2col: bool):
    """G_gw: ``g_w[a, b] = sum_q e[q] zp[q + off(a, b)]``, e eps zero at junk: kh*kw dots."""
    run = padded(z, g).reshape(-1)
    m, taps = _single_runs(g)
    e = scratch("eps", (g.n, g.hp, g.wp), eps.dtype)
    e[:, : g.ho, g.wo :] = 0
    e[:, g.ho :] = 0
    e[:, : g.ho, : g.wo] = eps[:, 0]
    e = e.reshape(-1)[:m]
    if im2col:
        return np.matmul(_single_patch(run, g, m), e).reshape(1, 1, g.kh, g.kw)
    dots = [np.dot(e, run[off : off + m]) for _, _, off in taps]
    return np.array(dots, eps.dtype).reshape(1, 1, g.kh, g.kw)
