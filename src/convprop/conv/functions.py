"""F and G on NumPy arrays: the functions a student calls, and the autodiff op calls too.

Each resolves its options into a :class:`~convprop.conv.geometry.ConvGeometry` (or takes the
one F computed, ``geometry=``), picks one engine from :data:`~convprop.conv.engines.ENGINES`
and runs it in the correlation form (true convolution flips the kernel here, and g_w back).
"""

from __future__ import annotations

import numpy as np

from ._arguments import (
    check_eps,
    finish,
    infer_input_shape,
    infer_kernel_shape,
    oriented,
    prepare,
)
from .engines import auto_method, engine_for
from .geometry import ConvGeometry, conv_geometry, geometry_of

Pair = int | tuple[int, int]


def conv2d(
    z: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    *,
    stride: Pair = 1,
    padding: int | tuple | str = "valid",
    dilation: Pair = 1,
    kind: str = "convolution",
    method: str = "auto",
    geometry: ConvGeometry | None = None,
    contiguous: bool = True,
) -> np.ndarray:
    """F: ``x = z * w + b``, true convolution (kernel flipped) by default, correlation on request.

    ``x[n, o, i, j] = b[o] + sum_{c, a, b} w'[o, c, a, b] zp[n, c, s*i + d*a, s*j + d*b]`` with
    ``zp`` the zero-padded ``z`` and ``w' = w`` for ``kind="correlation"``
    (``torch.nn.functional.conv2d``) or ``w`` flipped on both spatial axes for
    ``kind="convolution"`` (``scipy.signal.convolve2d``). ``b`` (optional, batches only) is one
    number per output channel.

    ``geometry``: the result of :func:`conv_geometry` for these shapes and options (which are
    then ignored); pass the same object to G to skip re-deriving it and let G reuse what F's
    engine kept for this very z (so do not change z in place in between). ``contiguous=False``
    returns x in the engine's memory layout (``batch_last``: a view of ``(O, Ho, Wo, N)``
    memory) instead of a C-contiguous copy.

    Shape: ``(H, W), (kh, kw) -> (Ho, Wo)`` or ``(N, C, H, W), (O, C, kh, kw), (O,) ->
    (N, O, Ho, Wo)``, ``Ho = (H + pt + pb - d*(kh - 1) - 1) // s + 1``; valid, stride 1:
    ``Ho = H - kh + 1``.
    """
    (z, w), dtypes, single = prepare(z=z, w=w)
    g = _geometry(geometry, z.shape, w.shape, stride, padding, dilation, kind)
    if b is not None:
        b = np.asarray(b)
        if single or b.shape != (g.o,):
            raise ValueError(
                f"bias of shape {b.shape} needs a 4-D kernel with as many output channels, "
                f"got kernel {w.shape[-4:] if not single else w.shape[2:]}"
            )
    # with the caller's geometry, G may follow with it: the engine may keep work for G_gw
    x = engine_for(method, g).forward(z, oriented(w, g.kind), g, b, keep=geometry is not None)
    return finish(x, dtypes, single, contiguous)


def conv2d_adjoint_input(
    eps: np.ndarray,
    w: np.ndarray,
    *,
    input_shape: tuple[int, ...] | None = None,
    stride: Pair = 1,
    padding: int | tuple | str = "valid",
    dilation: Pair = 1,
    kind: str = "convolution",
    method: str = "auto",
    geometry: ConvGeometry | None = None,
    contiguous: bool = True,
) -> np.ndarray:
    """G_delta: ``delta = dL/dz``, the adjoint of ``z -> F(z, w)`` applied to ``eps``.

    Valid, stride 1: ``delta = pad(eps, k - 1) (star) w``, i.e. eps zero-padded by ``k - 1`` on
    each side and correlated with ``w`` (kind="convolution") or convolved with it
    (kind="correlation"). In general ``delta[n, c, s*i + d*a - pt, s*j + d*b - pl] +=
    w'[o, c, a, b] eps[n, o, i, j]``, ``w'`` as in :func:`conv2d`.

    With stride > 1 several input sizes give the same output size; ``input_shape`` (``(H, W)``
    or ``(N, C, H, W)``) picks one. The default is the smallest,
    ``H = (Ho - 1)*s + d*(kh - 1) + 1 - pt - pb``. ``geometry`` (F's) replaces all of these;
    ``contiguous`` as in :func:`conv2d`.

    Shape: ``(Ho, Wo), (kh, kw) -> (H, W)`` or ``(N, O, Ho, Wo), (O, C, kh, kw) -> (N, C, H, W)``.
    """
    (eps, w), dtypes, single = prepare(eps=eps, w=w)
    if geometry is None:
        if eps.shape[1] != w.shape[0]:
            raise ValueError(
                f"channel mismatch: eps has {eps.shape[1]} channels, w has C_out={w.shape[0]}"
            )
        options = (stride, padding, dilation, kind)
        zs = infer_input_shape(input_shape, eps.shape, w.shape, *options, single)
        geometry = geometry_of(zs, w.shape, *options)
    elif w.shape != geometry.kernel_shape:
        raise ValueError(f"w has shape {w.shape}, the geometry {geometry.kernel_shape}")
    check_eps(eps, geometry)
    g = geometry
    delta = engine_for(method, g).adjoint_input(eps, oriented(w, g.kind), g)
    return finish(delta, dtypes, single, contiguous)


def conv2d_adjoint_weight(
    eps: np.ndarray,
    z: np.ndarray,
    *,
    kernel_shape: tuple[int, ...] | None = None,
    stride: Pair = 1,
    padding: int | tuple | str = "valid",
    dilation: Pair = 1,
    kind: str = "convolution",
    method: str = "auto",
    geometry: ConvGeometry | None = None,
    with_bias: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """G_gw: ``g_w = dL/dw``, the adjoint of ``w -> F(z, w)`` applied to ``eps``.

    Correlation: ``g_w[o, c, a, b] = sum_{n,i,j} eps[n, o, i, j] zp[n, c, s*i + d*a, s*j + d*b]``,
    i.e. ``g_w = zp (star) eps``; convolution: that array flipped on both spatial axes.

    ``kernel_shape`` (``(kh, kw)`` or ``(O, C, kh, kw)``) is inferred when eps and z determine it
    (e.g. stride 1 with an int or "valid"/"full" padding) and required otherwise; ``geometry``
    (F's) replaces it and the options. ``with_bias=True`` returns ``(g_w, g_b)`` with the bias
    gradient ``g_b = sum_{n,i,j} eps`` (batches only).

    Shape: ``(Ho, Wo), (H, W) -> (kh, kw)`` or ``(N, O, Ho, Wo), (N, C, H, W) -> (O, C, kh, kw)``
    (and ``(O,)``).
    """
    (eps, z), dtypes, single = prepare(eps=eps, z=z)
    if geometry is None:
        if eps.shape[0] != z.shape[0]:
            raise ValueError(f"batch mismatch: eps has N={eps.shape[0]}, z has N={z.shape[0]}")
        options = (stride, padding, dilation)
        ws = infer_kernel_shape(kernel_shape, eps.shape, z.shape, *options, single)
        geometry = geometry_of(z.shape, ws, *options, kind)
    elif z.shape != geometry.input_shape:
        raise ValueError(f"z has shape {z.shape}, the geometry {geometry.input_shape}")
    check_eps(eps, geometry)
    g = geometry
    g_w, g_b = engine_for(method, g).adjoint_weight(eps, z, g, with_bias)
    g_w = finish(oriented(g_w, g.kind), dtypes, single)
    return (g_w, g_b) if with_bias else g_w


def conv2d_backward(
    eps: np.ndarray,
    z: np.ndarray,
    w: np.ndarray,
    *,
    stride: Pair = 1,
    padding: int | tuple | str = "valid",
    dilation: Pair = 1,
    kind: str = "convolution",
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """G: ``(delta, g_w) = (G_delta(eps, w), G_gw(eps, z))`` for ``x = F(z, w)``.

    :func:`conv2d_adjoint_input` and :func:`conv2d_adjoint_weight` on one geometry. Shape:
    ``eps`` as ``F(z, w)``, ``delta`` as ``z``, ``g_w`` as ``w``.
    """
    (eps4, z4, w4), _, _ = prepare(eps=eps, z=z, w=w)  # checks; the dtypes come below
    if eps4.shape[0] != z4.shape[0]:
        raise ValueError(f"batch mismatch: eps has N={eps4.shape[0]}, z has N={z4.shape[0]}")
    g = geometry_of(z4.shape, w4.shape, stride, padding, dilation, kind)
    delta = conv2d_adjoint_input(eps, w, method=method, geometry=g)
    g_w = conv2d_adjoint_weight(eps, z, method=method, geometry=g)
    return delta, g_w


def choose_method(
    input_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    *,
    stride: Pair = 1,
    padding: int | tuple | str = "valid",
    dilation: Pair = 1,
    role: str = "forward",
) -> str:
    """The engine ``method="auto"`` uses on these shapes, a name from :data:`ENGINES`.

    ``role`` (``"forward"``, ``"input"`` or ``"weight"``: F, G_delta or G_gw) is accepted for
    callers that ask per role; every role gets the same engine.
    """
    if role not in ("forward", "input", "weight"):
        raise ValueError(f"role must be 'forward', 'input' or 'weight', got {role!r}")
    g = conv_geometry(input_shape, kernel_shape, stride=stride, padding=padding, dilation=dilation)
    return auto_method(g)


def _geometry(geometry, zs, ws, stride, padding, dilation, kind) -> ConvGeometry:
    if geometry is None:
        return geometry_of(zs, ws, stride, padding, dilation, kind)
    if zs != geometry.input_shape or ws != geometry.kernel_shape:
        raise ValueError(
            f"z {zs} and w {ws} do not match the geometry's {geometry.input_shape} and "
            f"{geometry.kernel_shape}"
        )
    return geometry
