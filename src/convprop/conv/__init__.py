"""The seed's 2-D convolution layer: forward F and back-propagation G on plain NumPy arrays.

Notation (midterm II, question 2): input ``z``, kernel ``w``, output ``x = F(z, w)``, error
``eps = dL/dx``, and ``(delta, g_w) = G(eps, z, w)`` with ``delta = G_delta(eps, w) = dL/dz`` (the
adjoint of F in ``z``) and ``g_w = G_gw(eps, z) = dL/dw`` (the adjoint of F in ``w``). Both are
defined by the dot-product identity ``<F(z, w), eps> = <z, G_delta(eps, w)> = <w, G_gw(eps, z)>``.

Two kinds of convolution; every function takes ``kind=``:

* ``"convolution"`` (the default, the seed's choice): true convolution, kernel flipped. For the
  seed's 3x3 kernel, "valid", stride 1 (so ``k - 1 = 2``), and eps zero outside its 126x126 range::

      F:        x(j1, j2)     = sum_{k1,k2} w(k1, k2) z(j1 + 2 - k1, j2 + 2 - k2)
      G_delta:  delta(n1, n2) = sum_{k1,k2} w(k1, k2) eps(n1 - 2 + k1, n2 - 2 + k2)
      G_gw:     g_w(k1, k2)   = sum_{j1,j2} eps(j1, j2) z(j1 + 2 - k1, j2 + 2 - k2)

  ``F`` is ``scipy.signal.convolve2d(z, w, "valid")``; ``delta`` is eps zero-padded by ``k - 1``
  on each side and correlated with w, ``correlate2d(eps, w, "full")``; ``g_w`` is
  ``correlate2d(z, eps, "valid")`` flipped on both axes.
* ``"correlation"``: what ``torch.nn.functional.conv2d`` computes (cross-correlation)::

      F:        x(j1, j2)     = sum_{k1,k2} w(k1, k2) z(j1 + k1, j2 + k2)
      G_delta:  delta(n1, n2) = sum_{k1,k2} w(k1, k2) eps(n1 - k1, n2 - k2)
      G_gw:     g_w(k1, k2)   = sum_{j1,j2} eps(j1, j2) z(j1 + k1, j2 + k2)

The seed's written solution differs in two places. Its Q2.4 writes ``eps(j1 + k1, j2 + k2)`` and
so drops the ``k - 1 = 2`` offset. Its Q2.5 is the correlation gradient above, which is the flip
``g_w(2 - k1, 2 - k2)`` of the gradient for the convolution it set out to differentiate. The
functions here implement the formulas above, which the tests check against the dot-product
identity, central differences and torch autograd.

In general, with stride ``s``, dilation ``d`` and the zero-padded input ``zp``, the correlation is
``x[n, o, i, j] = sum_{c, a, b} w[o, c, a, b] zp[n, c, s*i + d*a, s*j + d*b]``. True convolution
is that correlation with the kernel flipped on both spatial axes, and ``g_w`` is flipped back.

Arrays are one image ``(H, W)`` with a kernel ``(kh, kw)``, or a batch ``(N, C_in, H, W)`` with
kernels ``(C_out, C_in, kh, kw)`` (PyTorch's NCHW / OIHW). Three engines give the same numbers
(``method=``): ``"direct"`` loops over the kh*kw kernel taps (a shifted multiply-add or a
channel matmul each), ``"im2col"`` builds the patch matrix and makes one BLAS product per image,
``"fft"`` multiplies spectra from ``numpy.fft``. ``"auto"`` picks one per function from the
shapes (:func:`choose_method`). The engines live in ``_gemm.py`` (direct and im2col),
``_batchlast.py`` (im2col on small images) and ``_fft.py``, their shared memory layout in
``_layout.py``, the shape rule and the checks in ``_shape.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np

from . import _batchlast, _fft, _gemm
from ._shape import (
    KINDS,
    METHODS,
    PADDINGS,
    _check_eps,
    _finish,
    _Geometry,
    _geometry,
    _input_shape,
    _kernel_shape,
    _oriented,
    _prepare,
    conv2d_output_shape,
    conv2d_padding,
)

__all__ = [
    "KINDS",
    "METHODS",
    "PADDINGS",
    "choose_method",
    "conv2d",
    "conv2d_adjoint_input",
    "conv2d_adjoint_weight",
    "conv2d_backward",
    "conv2d_output_shape",
    "conv2d_padding",
]

# ------------------------------------------------------------------ F and G


def conv2d(
    z: np.ndarray,
    w: np.ndarray,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple | str = "valid",
    dilation: int | tuple[int, int] = 1,
    kind: str = "convolution",
    method: str = "auto",
) -> np.ndarray:
    """F: ``x = z * w``, true convolution (kernel flipped) by default, correlation on request.

    ``x[n, o, i, j] = sum_{c, a, b} w'[o, c, a, b] zp[n, c, s*i + d*a, s*j + d*b]`` with ``zp`` the
    zero-padded ``z`` and ``w' = w`` for ``kind="correlation"`` (``torch.nn.functional.conv2d``) or
    ``w`` flipped on both spatial axes for ``kind="convolution"`` (``scipy.signal.convolve2d``).

    Shape: ``(H, W), (kh, kw) -> (Ho, Wo)`` or ``(N, C, H, W), (O, C, kh, kw) -> (N, O, Ho, Wo)``,
    with ``Ho = (H + pt + pb - d*(kh - 1) - 1) // s + 1``; valid, stride 1: ``Ho = H - kh + 1``.
    """
    (z, w), dtypes, single = _prepare(z=z, w=w)
    g = _geometry(z.shape, w.shape, stride, padding, dilation, kind)
    engine = _ENGINES[_choose_method(method, g, "forward")]
    x = engine.forward(z, _oriented(w, kind), g)
    return _finish(x, dtypes, single)


def conv2d_adjoint_input(
    eps: np.ndarray,
    w: np.ndarray,
    *,
    input_shape: tuple[int, ...] | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple | str = "valid",
    dilation: int | tuple[int, int] = 1,
    kind: str = "convolution",
    method: str = "auto",
) -> np.ndarray:
    """G_delta: ``delta = dL/dz``, the adjoint of ``z -> F(z, w)`` applied to ``eps``.

    Valid, stride 1: ``delta = pad(eps, k - 1) (star) w``, i.e. eps zero-padded by ``k - 1`` on
    each side and correlated with ``w`` (kind="convolution") or convolved with it
    (kind="correlation"). In general ``delta[n, c, s*i + d*a - pt, s*j + d*b - pl] +=
    w'[o, c, a, b] eps[n, o, i, j]``, ``w'`` as in :func:`conv2d`.

    With stride > 1 several input sizes give the same output size; ``input_shape`` (``(H, W)``
    or ``(N, C, H, W)``) picks one. The default is the smallest,
    ``H = (Ho - 1)*s + d*(kh - 1) + 1 - pt - pb``.

    Shape: ``(Ho, Wo), (kh, kw) -> (H, W)`` or ``(N, O, Ho, Wo), (O, C, kh, kw) -> (N, C, H, W)``.
    """
    (eps, w), dtypes, single = _prepare(eps=eps, w=w)
    if eps.shape[1] != w.shape[0]:
        raise ValueError(
            f"channel mismatch: eps has {eps.shape[1]} channels, w has C_out={w.shape[0]}"
        )
    zs = _input_shape(input_shape, eps.shape, w.shape, stride, padding, dilation, kind, single)
    g = _geometry(zs, w.shape, stride, padding, dilation, kind)
    _check_eps(eps, g)
    delta = _ENGINES[_choose_method(method, g, "input")].adjoint_input(eps, _oriented(w, kind), g)
    return _finish(delta, dtypes, single)


def conv2d_adjoint_weight(
    eps: np.ndarray,
    z: np.ndarray,
    *,
    kernel_shape: tuple[int, ...] | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple | str = "valid",
    dilation: int | tuple[int, int] = 1,
    kind: str = "convolution",
    method: str = "auto",
) -> np.ndarray:
    """G_gw: ``g_w = dL/dw``, the adjoint of ``w -> F(z, w)`` applied to ``eps``.

    Correlation: ``g_w[o, c, a, b] = sum_{n,i,j} eps[n, o, i, j] zp[n, c, s*i + d*a, s*j + d*b]``,
    i.e. ``g_w = zp (star) eps``; convolution: that array flipped on both spatial axes.

    ``kernel_shape`` (``(kh, kw)`` or ``(O, C, kh, kw)``) is inferred when eps and z determine it
    (e.g. stride 1 with an int or "valid"/"full" padding) and required otherwise.

    Shape: ``(Ho, Wo), (H, W) -> (kh, kw)`` or ``(N, O, Ho, Wo), (N, C, H, W) -> (O, C, kh, kw)``.
    """
    (eps, z), dtypes, single = _prepare(eps=eps, z=z)
    if eps.shape[0] != z.shape[0]:
        raise ValueError(f"batch mismatch: eps has N={eps.shape[0]}, z has N={z.shape[0]}")
    ws = _kernel_shape(kernel_shape, eps.shape, z.shape, stride, padding, dilation, single)
    g = _geometry(z.shape, ws, stride, padding, dilation, kind)
    _check_eps(eps, g)
    g_w = _ENGINES[_choose_method(method, g, "weight")].adjoint_weight(eps, z, g)
    return _finish(_oriented(g_w, kind), dtypes, single)


def conv2d_backward(
    eps: np.ndarray,
    z: np.ndarray,
    w: np.ndarray,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple | str = "valid",
    dilation: int | tuple[int, int] = 1,
    kind: str = "convolution",
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """G: ``(delta, g_w) = (G_delta(eps, w), G_gw(eps, z))`` for ``x = F(z, w)``.

    The same numbers as :func:`conv2d_adjoint_input` and :func:`conv2d_adjoint_weight`, sharing
    the checks (and, for fft, the spectrum of eps). Shape: ``eps`` as ``F(z, w)``, ``delta`` as
    ``z``, ``g_w`` as ``w``; dtypes as the two functions give them.
    """
    (eps, z, w), (de, dz, dw), single = _prepare(eps=eps, z=z, w=w)
    if eps.shape[0] != z.shape[0]:
        raise ValueError(f"batch mismatch: eps has N={eps.shape[0]}, z has N={z.shape[0]}")
    g = _geometry(z.shape, w.shape, stride, padding, dilation, kind)
    _check_eps(eps, g)
    wk = _oriented(w, kind)
    m_input, m_weight = _choose_method(method, g, "input"), _choose_method(method, g, "weight")
    if m_input == m_weight == "fft":
        delta, g_w = _fft.backward(eps, z, wk, g)
    else:
        delta = _ENGINES[m_input].adjoint_input(eps, wk, g)
        g_w = _ENGINES[m_weight].adjoint_weight(eps, z, g)
    return _finish(delta, (de, dw), single), _finish(_oriented(g_w, kind), (de, dz), single)


# ------------------------------------------------------------------ for the autodiff op
# ops.conv2d calls these three instead of the functions above, for the same numbers from the
# same engines with less work: F adds the bias, and where the engine allows (im2col on small
# images) folds it into its GEMM and keeps the patch matrices of z for G_gw, whose GEMM then
# also gives the bias gradient. F's x and G_delta's delta keep the engine's memory layout
# (batch-last views from _batchlast), which the next layers read without a transposing copy.


def _op_geometry(z_shape: tuple[int, ...], w_shape: tuple[int, ...], options: dict) -> _Geometry:
    """The geometry of the op's convolution, from its options."""
    geometry = (options["stride"], options["padding"], options["dilation"], options["kind"])
    return _geometry(tuple(z_shape), tuple(w_shape), *geometry)


def _op_forward(z, w, b, options: dict) -> tuple[np.ndarray, dict]:
    """``x = F(z, w) + b`` (b may be None), and what :func:`_op_adjoint_weight` can reuse."""
    kind = options["kind"]
    (z, w), dtypes, single = _prepare(z=z, w=w)
    g = _op_geometry(z.shape, w.shape, options)
    chosen = _choose_method(options["method"], g, "forward")
    keep: dict = {}
    if chosen == "im2col" and _small(g) and not _single(g) and dtypes[0] == dtypes[1]:
        x = _batchlast.forward(z, _oriented(w, kind), g, bias=b, keep=keep)
        return _finish(x, dtypes, single, contiguous=False), keep
    x = _finish(_ENGINES[chosen].forward(z, _oriented(w, kind), g), dtypes, single)
    if b is not None:
        x += b[:, None, None]
    return x, keep


def _op_adjoint_input(eps, w, z_shape: tuple[int, ...], options: dict) -> np.ndarray:
    """``delta = G_delta(eps, w)`` as :func:`conv2d_adjoint_input` computes it, left in the
    engine's memory layout (batch-last from im2col on small images; the engines return fresh
    arrays, never scratch, so nothing needs copying)."""
    (eps, w), dtypes, single = _prepare(eps=eps, w=w)
    g = _op_geometry((1, 1, *z_shape) if single else z_shape, w.shape, options)
    _check_eps(eps, g)
    engine = _ENGINES[_choose_method(options["method"], g, "input")]
    delta = engine.adjoint_input(eps, _oriented(w, options["kind"]), g)
    return _finish(delta, dtypes, single, contiguous=False)


def _op_adjoint_weight(eps, z, w_shape, keep: dict, options: dict, bias: bool):
    """``(g_w, g_b)``: from the kept patch when there is one, else the functions above
    (``g_b = sum_{n, i, j} eps``, None unless ``bias``)."""
    patch = _batchlast.kept_patch(keep)
    if patch is not None:
        (eps, z), dtypes, _ = _prepare(eps=eps, z=z)
        g = _op_geometry(z.shape, w_shape, options)
        _check_eps(eps, g)
        g_w, g_b = _batchlast.adjoint_weight(eps, z, g, patch=patch)
        return _finish(_oriented(g_w, options["kind"]), dtypes, False), g_b
    g_w = conv2d_adjoint_weight(eps, z, kernel_shape=w_shape, **options)
    return g_w, np.einsum("nohw->o", eps) if bias else None


# ------------------------------------------------------------------ choosing an engine


def choose_method(
    input_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple | str = "valid",
    dilation: int | tuple[int, int] = 1,
    role: str = "forward",
) -> str:
    """The engine ``method="auto"`` uses for F (``role="forward"``), G_delta (``"input"``) or
    G_gw (``"weight"``) on these shapes: ``"direct"``, ``"im2col"`` or ``"fft"``."""
    four = len(input_shape) == 4
    zs = tuple(input_shape) if four else (1, 1, *input_shape)
    ws = tuple(kernel_shape) if four else (1, 1, *kernel_shape)
    g = _geometry(zs, ws, stride, padding, dilation, "correlation")
    return _choose_method("auto", g, role)


def _choose_method(method: str, g: _Geometry, role: str) -> str:
    """The engine for F (role "forward"), G_delta ("input") or G_gw ("weight").

    The "auto" rule, calibrated on the engine table of ``convprop bench`` (float32, 2 cores,
    each engine forced in turn on each row; the kernel sweep of ``convprop.bench.scaling``):

    * stride 1 and a kernel of 64 taps or more (8x8 and up): fft, whose cost grows with the
      image and not with the kernel (11x11 on 8x3x64x64: F and G_gw about even with im2col,
      G_delta half of it; 15x15: about half of im2col throughout);
    * one channel in and out, stride 1 (the seed's layer): for F and G_delta im2col, the kh*kw
      shifted runs copied into a patch and one BLAS matrix-vector product (3-5% faster than
      direct's scalar multiply-add per tap for F, 8-11% for G_delta, in interleaved rounds at
      one and two threads); for G_gw direct, a dot product per tap (25% faster than im2col);
    * otherwise im2col: one GEMM per image, or per block of small images.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method != "auto":
        return method
    if g.wide and g.kh * g.kw >= 64:
        return "fft"
    if _single(g):
        return "direct" if role == "weight" else "im2col"
    return "im2col"


# ------------------------------------------------------------------ registration


class _Engine(NamedTuple):
    forward: Callable[..., np.ndarray]  # (z, w, g) -> x
    adjoint_input: Callable[..., np.ndarray]  # (eps, w, g) -> delta
    adjoint_weight: Callable[..., np.ndarray]  # (eps, z, g) -> g_w


def _single(g: _Geometry) -> bool:
    """One channel in and out, stride 1: taps as shifted 1-D runs (``_gemm.single_*``)."""
    return g.c == g.o == 1 and g.wide


def _small(g: _Geometry) -> bool:
    """Small images in a batch: im2col with the batch innermost (``_batchlast``)."""
    return g.n >= 4 and g.ho * g.wp <= 1024


def _by_shape(role: str, im2col: bool) -> Callable[..., np.ndarray]:
    """The engine's function for ``role``, with its special layouts for some shapes."""
    general = partial(getattr(_gemm, role), im2col=im2col)
    single = partial(getattr(_gemm, "single_" + role), im2col=im2col)
    small = getattr(_batchlast, role)

    def engine(a: np.ndarray, b: np.ndarray, g: _Geometry) -> np.ndarray:
        if _single(g):
            return single(a, b, g)
        if im2col and _small(g):
            return small(a, b, g)
        return general(a, b, g)

    return engine


_ROLES = ("forward", "adjoint_input", "adjoint_weight")
_ENGINES = {
    "direct": _Engine(*(_by_shape(role, False) for role in _ROLES)),
    "im2col": _Engine(*(_by_shape(role, True) for role in _ROLES)),
    "fft": _Engine(_fft.forward, _fft.adjoint_input, _fft.adjoint_weight),
}
