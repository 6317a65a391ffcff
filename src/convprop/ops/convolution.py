"""The seed's convolution layer as an autodiff primitive, built on :mod:`convprop.conv`.

F: ``x = z * w + b`` (true convolution by default; ``kind="correlation"`` for PyTorch's),
G: ``(delta, g_w, g_b) = (G_delta(eps, w), G_gw(eps, z), sum_{n,i,j} eps)``.

The op calls the public functions a student calls, :func:`convprop.conv.conv2d`,
:func:`~convprop.conv.conv2d_adjoint_input` and :func:`~convprop.conv.conv2d_adjoint_weight`:
F computes the geometry once and G reuses it (``geometry=``), which also lets the engine reuse
in G what it kept from F. x and delta stay in the engine's memory layout
(``contiguous=False``: batch-last views for small images), which the next ops keep
(``layout="keeps"``, :mod:`convprop.ops.layout`).

Shape: ``(N, C, H, W), (O, C/groups, kh, kw), (O,) -> (N, O, Ho, Wo)`` (or 2-D ``(H, W),
(kh, kw)``).
"""

from __future__ import annotations

import numpy as np

from convprop import conv
from convprop.ops.primitive import Primitive
from convprop.tensor import Tensor


# conv2d  F: x = z * w + b      G: delta = G_delta(eps, w), g_w = G_gw(eps, z), g_b = sum eps
def _conv2d(z, w, b=None, *, method, **options):
    g = conv.conv_geometry(z.shape, w.shape, **options)
    x = conv.conv2d(z, w, b, method=method, geometry=g, contiguous=False)
    return x, (z, w, g, method)


def _conv2d_adjoint(eps, ctx, needs):
    z, w, g, method = ctx
    delta = g_w = g_b = None
    if needs[0]:
        delta = conv.conv2d_adjoint_input(eps, w, method=method, geometry=g, contiguous=False)
    if len(needs) > 2 and needs[2]:  # g_w with g_b: batch_last gets both from one GEMM
        g_w, g_b = conv.conv2d_adjoint_weight(eps, z, method=method, geometry=g, with_bias=True)
    elif needs[1]:
        g_w = conv.conv2d_adjoint_weight(eps, z, method=method, geometry=g)
    return (delta, g_w, g_b)[: len(needs)]


_conv2d_prim = Primitive(
    "conv2d", _conv2d, _conv2d_adjoint, bilinear=True, needs_mask=True, layout="any"
)


def conv2d(
    z: Tensor | np.ndarray,
    w: Tensor | np.ndarray,
    b: Tensor | np.ndarray | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple | str = "valid",
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    kind: str = "convolution",
    method: str = "auto",
) -> Tensor:
    """``x = F(z, w) + b``: 2-D convolution (``kind="convolution"``: kernel flipped, the
    seed's default) or correlation (``kind="correlation"``: PyTorch's ``conv2d``).

    Options as :func:`convprop.conv.conv2d` (``groups``: kernels ``(O, C/groups, kh, kw)``,
    each group of outputs sees only its group of inputs). Shape: ``(N, C, H, W),
    (O, C/groups, kh, kw), (O,) -> (N, O, Ho, Wo)`` with
    ``Ho = (H + p_top + p_bottom - d (kh - 1) - 1) // s + 1``.
    """
    options = dict(
        stride=stride, padding=padding, dilation=dilation, groups=groups, kind=kind, method=method
    )
    if b is None:
        return _conv2d_prim(z, w, **options)
    return _conv2d_prim(z, w, b, **options)
