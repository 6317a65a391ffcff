"""Grouped convolution over any engine: the engine runs once per group on channel slices.

With ``q`` groups, ``C = q Cg`` input and ``O = q Og`` output channels, the kernel is
``(O, Cg, kh, kw)`` and group ``j`` is an ordinary convolution of its own slices::

    x[:, j Og:(j+1) Og]        = F(z[:, j Cg:(j+1) Cg], w[j Og:(j+1) Og])
    delta[:, j Cg:(j+1) Cg]    = G_delta(eps[:, j Og:(j+1) Og], w[j Og:(j+1) Og])
    g_w[j Og:(j+1) Og]         = G_gw(eps[:, j Og:(j+1) Og], z[:, j Cg:(j+1) Cg])

so F, G_delta and G_gw of the whole are those of the groups side by side, each computed by the
engine on :meth:`ConvGeometry.one_group` and written into its slice of the result. One group
is a single engine call on the whole arrays, the path convolutions took before groups existed.
"""

from __future__ import annotations

import numpy as np

from .engines import Engine
from .geometry import ConvGeometry


def forward(
    engine: Engine,
    z: np.ndarray,
    w: np.ndarray,
    g: ConvGeometry,
    b: np.ndarray | None = None,
    keep: bool = False,
) -> np.ndarray:
    """F of every group: ``(N, C, H, W), (O, C/q, kh, kw), (O,) -> (N, O, Ho, Wo)``.

    ``keep``: G_gw follows with this z and g (one group only: the engine may keep its work)."""
    if g.groups == 1:
        return engine.forward(z, w, g, b, keep=keep)
    one, cg, og = g.one_group(), g.c // g.groups, g.o // g.groups
    x = np.empty(g.output_shape, np.result_type(z, w))
    for j in range(g.groups):
        bj = None if b is None else b[j * og : (j + 1) * og]
        zj, wj = z[:, j * cg : (j + 1) * cg], w[j * og : (j + 1) * og]
        x[:, j * og : (j + 1) * og] = engine.forward(zj, wj, one, bj)
    return x


def adjoint_input(
    engine: Engine, eps: np.ndarray, w: np.ndarray, g: ConvGeometry, keep: bool = False
):
    """G_delta of every group: ``(N, O, Ho, Wo), (O, C/q, kh, kw) -> (N, C, H, W)``;
    ``keep``: G_gw follows with this eps and g (one group only: the engine may keep its
    work)."""
    if g.groups == 1:
        return engine.adjoint_input(eps, w, g, keep=keep)
    one, cg, og = g.one_group(), g.c // g.groups, g.o // g.groups
    delta = np.empty(g.input_shape, np.result_type(eps, w))
    for j in range(g.groups):
        ej, wj = eps[:, j * og : (j + 1) * og], w[j * og : (j + 1) * og]
        delta[:, j * cg : (j + 1) * cg] = engine.adjoint_input(ej, wj, one)
    return delta


def adjoint_weight(engine: Engine, eps: np.ndarray, z: np.ndarray, g: ConvGeometry, with_bias):
    """G_gw (and g_b) of every group: ``(N, O, Ho, Wo), (N, C, H, W) -> (O, C/q, kh, kw)``."""
    if g.groups == 1:
        return engine.adjoint_weight(eps, z, g, with_bias)
    one, cg, og = g.one_group(), g.c // g.groups, g.o // g.groups
    g_w = np.empty(g.kernel_shape, np.result_type(eps, z))
    g_b = np.empty(g.o, g_w.dtype) if with_bias else None
    for j in range(g.groups):
        ej, zj = eps[:, j * og : (j + 1) * og], z[:, j * cg : (j + 1) * cg]
        g_w[j * og : (j + 1) * og], bj = engine.adjoint_weight(ej, zj, one, with_bias)
        if with_bias:
            g_b[j * og : (j + 1) * og] = bj
    return g_w, g_b
