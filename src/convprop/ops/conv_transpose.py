"""The transposed convolution as an autodiff primitive: the seed's G_delta made into a layer.

For the convolution ``F(u, w)`` of :mod:`convprop.conv` (u of shape ``(N, C_out, Hx, Wx)``,
kernel ``w`` of shape ``(C_in, C_out/groups, kh, kw)``, output ``(N, C_in, H, W)``), the
transposed convolution of ``z`` ``(N, C_in, H, W)`` is that convolution's adjoint in its input::

    F:  x = G_delta(z, w) + b
    G:  delta = F(eps, w),   g_w = G_gw(z, eps),   g_b = sum_{n,i,j} eps

``delta`` is the convolution's F because the adjoint of an adjoint is the map itself; ``g_w``
is its G_gw with the roles swapped (z in the place of the error, eps in the place of the
input), since ``<G_delta(z, w), eps> = <z, F(eps, w)> = <w, G_gw(z, eps)>``. All three are the
public functions :func:`convprop.conv.conv2d_adjoint_input`, :func:`~convprop.conv.conv2d` and
:func:`~convprop.conv.conv2d_adjoint_weight`, on one geometry
(:func:`convprop.conv.conv_transpose_geometry`). ``kind="correlation"`` is
``torch.nn.functional.conv_transpose2d``; ``"convolution"`` (the default) flips the kernel.

Shape: ``(N, C_in, H, W), (C_in, C_out/groups, kh, kw), (C_out,) -> (N, C_out, Hx, Wx)``,
``Hx = (H - 1) s - 2 p + d (kh - 1) + output_padding + 1``.
"""

from __future__ import annotations

import numpy as np

from convprop import conv
from convprop.ops.primitive import Primitive
from convprop.tensor import Tensor


# conv_transpose2d  F: x = G_delta(z, w) + b    G: delta = F(eps, w), g_w = G_gw(z, eps), g_b
def _conv_transpose2d(z, w, b=None, *, method, **options):
    g = conv.conv_transpose_geometry(z.shape, w.shape, **options)
    x = conv.conv2d_adjoint_input(z, w, method=method, geometry=g, contiguous=False)
    if b is not None:  # in place: the engines hand on fresh arrays, never their workspace
        x += b.reshape(-1, 1, 1).astype(x.dtype, copy=False)
    return x, (z, w, g, method)


def _conv_transpose2d_adjoint(eps, ctx, needs):
    z, w, g, method = ctx
    delta = g_w = g_b = None
    if needs[0]:
        delta = conv.conv2d(eps, w, method=method, geometry=g, contiguous=False)
    if needs[1]:  # the convolution's G_gw, z as its error and eps as its input
        g_w = conv.conv2d_adjoint_weight(z, eps, method=method, geometry=g)
    if len(needs) > 2 and needs[2]:
        g_b = np.einsum("nohw->o", eps)  # sum_{n,i,j} eps (einsum: 3x NumPy's sum here)
    return (delta, g_w, g_b)[: len(needs)]


_conv_transpose2d_prim = Primitive(
    "conv_transpose2d",
    _conv_transpose2d,
    _conv_transpose2d_adjoint,
    bilinear=True,
    needs_mask=True,
)


def conv_transpose2d(
    z,
    w,
    b=None,
    *,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
    kind: str = "convolution",
    method: str = "auto",
) -> Tensor:
    """``x = G_delta(z, w) + b``: the transposed convolution, the adjoint in its input of the
    convolution with kernel ``w`` (``kind="convolution"``: kernel flipped, the seed's default;
    ``kind="correlation"``: PyTorch's ``conv_transpose2d``). Its gradients are that
    convolution's F (``delta = F(eps, w)``) and G_gw (``g_w = G_gw(z, eps)``).

    ``output_padding`` (smaller than ``stride``) picks which of the input sizes that the
    convolution maps to ``(H, W)`` is the output's. Shape: ``(N, C_in, H, W),
    (C_in, C_out/groups, kh, kw), (C_out,) -> (N, C_out, Hx, Wx)``,
    ``Hx = (H - 1) s - 2 p + d (kh - 1) + output_padding + 1``.
    """
    options = dict(
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
        kind=kind,
        method=method,
    )
    if b is None:
        return _conv_transpose2d_prim(z, w, **options)
    return _conv_transpose2d_prim(z, w, b, **options)
