"""The image-major walk shared by ``direct`` and ``im2col``: F, G_delta and G_gw block by block.

In the correlation form, with ``off(a, b) = a*d*Wp + b*d`` the offset of tap ``(a, b)`` and ``q``
the output positions of :mod:`._layout` (per image of a block)::

    F:        x[n, o, q]      = sum_{c, a, b} w[o, c, a, b] zp[n, c, q + off(a, b)]
    G_gw:     g_w[o, c, a, b] = sum_{n, q} eps[n, o, q] zp[n, c, q + off(a, b)]
    G_delta:  dzp[n, c, q + off(a, b)] += sum_o w[o, c, a, b] eps[n, o, q]

Each engine supplies the three contractions on a block's windows view (:class:`Contractions`);
the walk here pads, places eps, cuts the batch into cache-sized blocks and crops.

G_delta, stride 1, is itself a correlation (JAX's transpose rule): eps placed on the padded
grid after ``lead = off(kh-1, kw-1)`` zeros, correlated with the flipped kernel transposed,
``w[o, c, kh-1-a, kw-1-b]`` as ``(C, O, kh, kw)``. It is used when the engine says so
(:attr:`Contractions.adjoint_by_correlation`); otherwise, and for stride > 1, G_delta scatters
``w^T eps`` back through the windows (col2im).
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import NamedTuple

import numpy as np

from convprop.conv.geometry import ConvGeometry
from convprop.conv.workspace import scratch

from ._layout import (
    blocks,
    crop,
    full_positions,
    narrow,
    padded,
    placed_eps,
    positions,
    wide_eps,
    windows,
)


class Contractions(NamedTuple):
    """An engine's three contractions on windows ``v`` ``(nb, R, kh, kw, *positions)``."""

    correlate: Callable[..., None]  # (v, w, out): out[n, p, m] = sum_{r,a,b} w[p,r,a,b] v[...]
    gram: Callable[..., np.ndarray]  # (e, v): sum_{n, m} e[n, p, m] v[n, r, a, b, m]
    scatter: Callable[..., None]  # (e, w, dv): dv[n, r, a, b, m] += sum_p w[p,r,a,b] e[n,p,m]
    copies_patch: bool  # whether the work arrays hold kh*kw rows per channel (block sizes)
    adjoint_by_correlation: Callable[[ConvGeometry], bool]  # G_delta as a correlation here


def forward(z: np.ndarray, w: np.ndarray, g: ConvGeometry, k: Contractions) -> np.ndarray:
    """F: ``x = zp (star) w``, block by block."""
    zp = padded(z, g)
    x = np.empty((g.n, g.o, g.ho, g.wo), z.dtype)
    m = prod(positions(g))
    per_image = (g.c * g.kh * g.kw if k.copies_patch else g.o) * m * z.itemsize
    for n0, nb in blocks(g.n, per_image):
        out = scratch("out", (nb, g.o, *full_positions(g)), z.dtype)
        k.correlate(windows(zp, g, n0, nb), w, out.reshape(nb, g.o, -1)[..., :m])
        x[n0 : n0 + nb] = narrow(out, g)
    return x


def adjoint_input(eps: np.ndarray, w: np.ndarray, g: ConvGeometry, k: Contractions):
    """G_delta: ``delta = pad(eps) (star) flip(w)^T`` (stride 1) or col2im of ``w^T eps``."""
    if g.wide and k.adjoint_by_correlation(g):
        return _adjoint_input_correlate(eps, w, g, k)
    dzp = scratch("delta", (g.n, g.c, g.hp, g.wp), eps.dtype)
    dzp.fill(0)
    m = prod(positions(g))
    per_image = (g.c * g.kh * g.kw if k.copies_patch else g.c) * m * eps.itemsize
    for n0, nb in blocks(g.n, per_image):
        e = wide_eps(eps, g, n0, nb).reshape(nb, g.o, -1)
        k.scatter(e, w, windows(dzp, g, n0, nb))
    return crop(dzp, g)


def _adjoint_input_correlate(eps, w, g, k):
    """delta[n, c, y, x] = sum_{o, a, b} flip(w)[c, o, a, b] el[n, o, y*Wp + x + off(a, b)].

    ``el`` is eps after ``lead`` zeros, rows of ``Wp`` with zeros at the junk columns, so that
    no position reads across a row or an image. Positions: the rows ``pt .. pt + H`` of the
    padded grid, all ``Wp`` columns; the padding columns are dropped.
    """
    wf = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, kh, kw)
    delta = np.empty((g.n, g.c, g.h, g.w), eps.dtype)
    m = g.h * g.wp
    per_image = (g.o * g.kh * g.kw if k.copies_patch else g.c) * m * eps.itemsize
    for n0, nb in blocks(g.n, per_image):
        el = placed_eps(eps, g, n0, nb)
        out = scratch("out", (nb, g.c, m), eps.dtype)
        k.correlate(windows(el, g, 0, nb, start=g.pt * g.wp, count=m), wf, out)
        delta[n0 : n0 + nb] = out.reshape(nb, g.c, g.h, g.wp)[..., g.pl : g.pl + g.w]
    return delta


def adjoint_weight(eps: np.ndarray, z: np.ndarray, g: ConvGeometry, k: Contractions):
    """G_gw: ``g_w = zp (star) eps``, summed over blocks."""
    zp = padded(z, g)
    g_w = np.zeros((g.o, g.c, g.kh, g.kw), eps.dtype)
    m = prod(positions(g))
    per_image = (g.c * g.kh * g.kw if k.copies_patch else g.o) * m * eps.itemsize
    for n0, nb in blocks(g.n, per_image):
        e = wide_eps(eps, g, n0, nb).reshape(nb, g.o, -1)
        g_w += k.gram(e, windows(zp, g, n0, nb))
    return g_w
