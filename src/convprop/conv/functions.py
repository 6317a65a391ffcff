"""F and G on NumPy arrays: the functions a student calls, and the autodiff op calls too.

Each resolves its options into a :class:`~convprop.conv.geometry.ConvGeometry` (or takes the
one F computed, ``geometry=``), picks one engine from :data:`~convprop.conv.engines.ENGINES`
and runs it in the correlation form (true convolution flips the kernel here, and g_w back).
With ``groups > 1`` the engine runs once per group on that group's channel slices (see
:mod:`.grouped`); with one group it runs once on the whole arrays, as before groups existed.
"""

from __future__ import annotations

import numpy as np

from . import grouped
from ._arguments import (
    INTEGER,
    check_eps,
    check_exact,
    finish,
    input_geometry,
    oriented,
    prepare,
    resolve,
    weight_geometry,
)
from .engines import ENGINES, Engine, auto_method, engine_for
from .geometry import ConvGeometry, conv_geometry

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
    groups: int = 1,
    method: str = "auto",
    geometry: ConvGeometry | None = None,
    contiguous: bool = True,
) -> np.ndarray:
    """F: ``x = z * w + b``, true convolution (kernel flipped) by default, correlation on request.

    ``x[n, o, i, j] = b[o] + sum_{c, a, b} w'[o, c, a, b] zp[n, c, s*i + d*a, s*j + d*b]`` with
    ``zp`` the zero-padded ``z`` and ``w' = w`` for ``kind="correlation"``
    (``torch.nn.functional.conv2d``) or ``w`` flipped on both spatial axes for
    ``kind="convolution"`` (``scipy.signal.convolve2d``). ``b`` (optional, batches only) is one
    number per output channel. ``groups=q`` splits the channels into q groups, as PyTorch:
    kernels ``(O, C/q, kh, kw)``, and output channels ``j*O/q .. (j+1)*O/q - 1`` see only
    input channels ``j*C/q .. (j+1)*C/q - 1``.

    ``geometry``: the result of :func:`conv_geometry` for these shapes and options (which are
    then ignored); pass the same object to G to skip re-deriving it and let G reuse what F's
    engine kept for this very z (so do not change z in place in between). ``contiguous=False``
    returns x in the engine's memory layout (``batch_last``: a view of ``(O, Ho, Wo, N)``
    memory) instead of a C-contiguous copy.

    Shape: ``(H, W), (kh, kw) -> (Ho, Wo)`` or ``(N, C, H, W), (O, C/groups, kh, kw), (O,) ->
    (N, O, Ho, Wo)``, ``Ho = (H + pt + pb - d*(kh - 1) - 1) // s + 1``; valid, stride 1:
    ``Ho = H - kh + 1``.
    """
    (z, w), dtypes, single = prepare(("z", "w"), z, w)
    g = _geometry(geometry, z.shape, w.shape, stride, padding, dilation, kind, groups)
    exact = dtypes[0] == INTEGER
    if b is not None:
        b = np.asarray(b)
        if single or b.shape != (g.o,):
            raise ValueError(
                f"bias of shape {b.shape} needs a 4-D kernel with as many output channels, "
                f"got kernel {w.shape[-4:] if not single else w.shape[2:]}"
            )
        if b.dtype.kind in "biu":
            b = b.astype(z.dtype)
        elif exact:  # a float bias: a float result, as NumPy's promotion
            exact, dtypes = False, [np.result_type(b.dtype, np.float64)] * 2
    if exact:
        extra = 0.0 if b is None else float(np.abs(b).max())
        check_exact(z, w, (g.c // g.groups) * g.kh * g.kw, "convolution", extra)
    # with the caller's geometry, G may follow with it: the engine may keep work for G_gw
    engine = _engine(method, g, exact)
    x = grouped.forward(engine, z, oriented(w, g.kind), g, b, keep=geometry is not None)
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
    groups: int = 1,
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
    with it, as the autodiff passes it, the engine may keep work on this eps for G_gw (the
    Winograd and fft engines), so do not change eps in place before G_gw on it; ``contiguous``
    as in :func:`conv2d`.

    Shape: ``(Ho, Wo), (kh, kw) -> (H, W)`` or ``(N, O, Ho, Wo), (O, C/groups, kh, kw) ->
    (N, C, H, W)``.
    """
    (eps, w), dtypes, single = prepare(("eps", "w"), eps, w)
    keep = geometry is not None  # F's geometry: G_gw may follow with it, and with this eps
    if geometry is None:
        options = (stride, padding, dilation, kind, groups)
        geometry = input_geometry(eps.shape, w.shape, input_shape, single, *options)
    elif w.shape != geometry.kernel_shape:
        raise ValueError(f"w has shape {w.shape}, the geometry {geometry.kernel_shape}")
    else:
        check_eps(eps.shape, geometry)
    g = geometry
    exact = dtypes[0] == INTEGER
    if exact:
        check_exact(eps, w, (g.o // g.groups) * g.kh * g.kw, "G_delta")
    engine = _engine(method, g, exact)
    delta = grouped.adjoint_input(engine, eps, oriented(w, g.kind), g, keep=keep)
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
    groups: int = 1,
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

    Shape: ``(Ho, Wo), (H, W) -> (kh, kw)`` or ``(N, O, Ho, Wo), (N, C, H, W) ->
    (O, C/groups, kh, kw)`` (and ``(O,)``).
    """
    (eps, z), dtypes, single = prepare(("eps", "z"), eps, z)
    if geometry is None:
        options = (stride, padding, dilation, kind, groups)
        geometry = weight_geometry(eps.shape, z.shape, kernel_shape, single, *options)
    elif z.shape != geometry.input_shape:
        raise ValueError(f"z has shape {z.shape}, the geometry {geometry.input_shape}")
    else:
        check_eps(eps.shape, geometry)
    g = geometry
    exact = dtypes[0] == INTEGER
    if exact:
        check_exact(eps, np.maximum(np.abs(z).max(), 1.0), g.n * g.ho * g.wo, "G_gw")
    engine = _engine(method, g, exact)
    g_w, g_b = grouped.adjoint_weight(engine, eps, z, g, with_bias)
    g_w = finish(oriented(g_w, g.kind), dtypes, single)
    if with_bias and exact:
        g_b = g_b.astype(INTEGER)
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
    groups: int = 1,
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """G: ``(delta, g_w) = (G_delta(eps, w), G_gw(eps, z))`` for ``x = F(z, w)``.

    :func:`conv2d_adjoint_input` and :func:`conv2d_adjoint_weight` on one geometry. Shape:
    ``eps`` as ``F(z, w)``, ``delta`` as ``z``, ``g_w`` as ``w``.
    """
    (eps4, z4, w4), _, _ = prepare(("eps", "z", "w"), eps, z, w)  # checks; the dtypes come below
    if eps4.shape[0] != z4.shape[0]:
        raise ValueError(f"batch mismatch: eps has N={eps4.shape[0]}, z has N={z4.shape[0]}")
    g = resolve(z4.shape, w4.shape, stride, padding, dilation, kind, groups)
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
    groups: int = 1,
    role: str = "forward",
) -> str:
    """The engine ``method="auto"`` uses on these shapes, a name from :data:`ENGINES`.

    ``role`` (``"forward"``, ``"input"`` or ``"weight"``: F, G_delta or G_gw) is accepted for
    callers that ask per role; every role gets the same engine. With groups, the engine that
    runs each group.
    """
    if role not in ("forward", "input", "weight"):
        raise ValueError(f"role must be 'forward', 'input' or 'weight', got {role!r}")
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = conv_geometry(input_shape, kernel_shape, **options)
    return auto_method(g.one_group())


def _engine(method: str, g: ConvGeometry, exact: bool) -> Engine:
    """The engine for one group of ``g``; on integers (``exact``) never one whose rounding
    errors would not be exact (``Engine.exact``: fft, the Winograd engines): "auto" takes
    im2col instead, naming one is refused."""
    one = g.one_group()
    named = ENGINES.get(method)
    if exact and named is not None and not named.exact:
        raise ValueError(
            f"method {method!r} is not exact on integer arrays: pass floats or another"
        )
    if exact and method == "auto" and not ENGINES[auto_method(one)].exact:
        return ENGINES["im2col"]
    return engine_for(method, one)


def _geometry(geometry, zs, ws, stride, padding, dilation, kind, groups) -> ConvGeometry:
    if geometry is None:
        return resolve(zs, ws, stride, padding, dilation, kind, groups)
    if zs != geometry.input_shape or ws != geometry.kernel_shape:
        raise ValueError(
            f"z {zs} and w {ws} do not match the geometry's {geometry.input_shape} and "
            f"{geometry.kernel_shape}"
        )
    return geometry
