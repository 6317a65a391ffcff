"""The seed's convolution layer as an autodiff primitive, built on :mod:`convprop.conv`.

F: ``x = z * w + b`` (true convolution by default; ``kind="correlation"`` for PyTorch's),
G: ``(delta, g_w, g_b) = (G_delta(eps, w), G_gw(eps, z), sum_{n,i,j} eps)``.

The NumPy functions in :mod:`convprop.conv` are the only implementation: this module only
connects them to the graph, so the op and the functions a student calls are the same code
(through ``conv._op_forward``, ``conv._op_adjoint_input`` and ``conv._op_adjoint_weight``,
which share work between F and G_gw: the bias folded into F's GEMM, the patch matrix of z kept
for G_gw; and which leave x and delta in the engine's memory layout).

Shape: ``(N, C, H, W), (O, C, kh, kw), (O,) -> (N, O, Ho, Wo)`` (or 2-D ``(H, W), (kh, kw)``).
"""

from __future__ import annotations

from convprop import conv as _conv
from convprop.ops.primitive import Primitive
from convprop.tensor import Tensor


def _conv2d(z, w, b=None, **options):
    if b is not None and (z.ndim != 4 or b.shape != (w.shape[0],)):
        raise ValueError(
            f"conv2d: bias of shape {b.shape} needs a 4-D kernel with "
            f"{b.shape[0] if b.ndim else '?'} output channels, got {w.shape}"
        )
    x, keep = _conv._op_forward(z, w, b, options)  # x = F(z, w) + b
    return x, (z.shape, z, w, options, keep)


def _conv2d_adjoint(eps, ctx, needs):
    z_shape, z, w, options, keep = ctx
    delta = _conv._op_adjoint_input(eps, w, z_shape, options) if needs[0] else None
    bias = len(needs) > 2 and needs[2]
    g_w = g_b = None
    if needs[1] or bias:
        g_w, g_b = _conv._op_adjoint_weight(eps, z, w.shape, keep, options, bias)
    return (delta, g_w, g_b)[: len(needs)]


_conv2d_prim = Primitive("conv2d", _conv2d, _conv2d_adjoint, bilinear=True, needs_mask=True)


def conv2d(
    z,
    w,
    b=None,
    *,
    stride=1,
    padding="valid",
    dilation=1,
    kind: str = "convolution",
    method: str = "auto",
) -> Tensor:
    """``x = F(z, w) + b``: 2-D convolution (``kind="convolution"``: kernel flipped, the
    seed's default) or correlation (``kind="correlation"``: PyTorch's ``conv2d``).

    Options as :func:`convprop.conv.conv2d`. Shape: ``(N, C, H, W), (O, C, kh, kw), (O,)
    -> (N, O, Ho, Wo)`` with ``Ho = (H + p_top + p_bottom - d (kh - 1) - 1) // s + 1``.
    """
    options = dict(stride=stride, padding=padding, dilation=dilation, kind=kind, method=method)
    if b is None:
        return _conv2d_prim(z, w, **options)
    return _conv2d_prim(z, w, b, **options)
