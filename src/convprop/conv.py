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
kernels ``(C_out, C_in, kh, kw)`` (PyTorch's NCHW / OIHW). Three engines give the same numbers:
``"direct"`` loops over the kh*kw kernel taps (a shifted multiply-add or a channel matmul each),
``"im2col"`` builds one patch matrix and makes one BLAS product, ``"fft"`` multiplies spectra
from ``numpy.fft.rfft2``. ``"auto"`` picks one per function from the shapes (``_choose_method``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np

__all__ = [
    "conv2d",
    "conv2d_adjoint_input",
    "conv2d_adjoint_weight",
    "conv2d_backward",
    "conv2d_output_shape",
    "conv2d_padding",
]

KINDS = ("convolution", "correlation")
METHODS = ("auto", "direct", "im2col", "fft")
PADDINGS = ("valid", "same", "full")

Pads = tuple[tuple[int, int], tuple[int, int]]


# ------------------------------------------------------------------ the shape rule


def conv2d_padding(
    padding: int | tuple | str,
    kernel_shape: tuple[int, ...],
    *,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    kind: str = "convolution",
) -> Pads:
    """Resolve ``padding`` to ``((top, bottom), (left, right))`` zero rows and columns.

    ``padding`` is an int, a symmetric pair ``(ph, pw)``, a pair of pairs, or a string: ``"valid"``
    (none), ``"full"`` (``d*(k-1)`` on each side) or ``"same"`` (stride 1 only; total ``d*(k-1)``,
    so the output has the input's size). For an even total, "same" puts the extra row/column where
    scipy does: after (bottom/right) for ``kind="correlation"`` (as PyTorch), before (top/left)
    for ``kind="convolution"``; either way the kernel's centre is its element ``k // 2``.
    """
    kh, kw = _kernel_hw(kernel_shape)
    _check_kind(kind)
    strides, dilations = _pair(stride, "stride"), _pair(dilation, "dilation")
    return _resolve_padding(padding, kh, kw, strides, dilations, kind)


def _resolve_padding(padding, kh: int, kw: int, stride, dilation, kind: str) -> Pads:
    (sh, sw), (dh, dw) = stride, dilation
    if not isinstance(padding, str):
        return _explicit_pads(padding)
    if padding not in PADDINGS:
        raise ValueError(
            f"padding must be an int, a pair, a pair of pairs or one of {PADDINGS}, "
            f"got {padding!r}"
        )
    th, tw = dh * (kh - 1), dw * (kw - 1)
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "full":
        return (th, th), (tw, tw)
    if (sh, sw) != (1, 1):
        raise ValueError(f"padding='same' needs stride 1, got stride {(sh, sw)}")
    if kind == "correlation":
        return (th // 2, th - th // 2), (tw // 2, tw - tw // 2)
    return (th - th // 2, th // 2), (tw - tw // 2, tw // 2)


def conv2d_output_shape(
    input_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple | str = "valid",
    dilation: int | tuple[int, int] = 1,
) -> tuple[int, ...]:
    """Shape of ``x = F(z, w)``, per axis ``Ho = (H + pt + pb - d*(kh - 1) - 1) // s + 1``.

    Shape: ``(H, W), (kh, kw) -> (Ho, Wo)`` or ``(N, C, H, W), (O, C, kh, kw) -> (N, O, Ho, Wo)``.
    """
    if len(input_shape) != len(kernel_shape) or len(input_shape) not in (2, 4):
        raise ValueError(
            "expected input and kernel shapes (H, W), (kh, kw) or (N, C_in, H, W), "
            f"(C_out, C_in, kh, kw), got {tuple(input_shape)} and {tuple(kernel_shape)}"
        )
    four = len(input_shape) == 4
    zs = tuple(input_shape) if four else (1, 1, *input_shape)
    ws = tuple(kernel_shape) if four else (1, 1, *kernel_shape)
    g = _geometry(zs, ws, stride, padding, dilation, "correlation")
    return (g.n, g.o, g.ho, g.wo) if four else (g.ho, g.wo)


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
        delta, g_w = _fft_backward(eps, z, wk, g)
    else:
        delta = _ENGINES[m_input].adjoint_input(eps, wk, g)
        g_w = _ENGINES[m_weight].adjoint_weight(eps, z, g)
    return _finish(delta, (de, dw), single), _finish(_oriented(g_w, kind), (de, dz), single)


# ------------------------------------------------------------------ checking and geometry


class _Geometry(NamedTuple):
    """Every size of one convolution, resolved and checked (correlation form)."""

    n: int  # batch
    c: int  # input channels
    h: int
    w: int
    o: int  # output channels
    kh: int
    kw: int
    sh: int  # stride
    sw: int
    dh: int  # dilation
    dw: int
    pt: int  # padding: top, bottom, left, right
    pb: int
    pl: int
    pr: int
    ho: int
    wo: int

    @property
    def hp(self) -> int:
        return self.h + self.pt + self.pb

    @property
    def wp(self) -> int:
        return self.w + self.pl + self.pr

    @property
    def wide(self) -> bool:
        """Stride 1: index output positions by flat offset i*Wp + j in the padded input."""
        return self.sh == self.sw == 1


def _geometry(zs, ws, stride, padding, dilation, kind) -> _Geometry:
    if zs[1] != ws[1]:
        raise ValueError(f"channel mismatch: z has C_in={zs[1]} channels, w expects C_in={ws[1]}")
    if min(zs) < 1 or min(ws) < 1:
        raise ValueError(f"empty array: z has shape {tuple(zs)}, w has shape {tuple(ws)}")
    _check_kind(kind)
    (sh, sw), (dh, dw) = _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = _resolve_padding(padding, ws[2], ws[3], (sh, sw), (dh, dw), kind)
    (pt, pb), (pl, pr) = pads
    hp, wp = zs[2] + pt + pb, zs[3] + pl + pr
    eh, ew = dh * (ws[2] - 1) + 1, dw * (ws[3] - 1) + 1
    if eh > hp or ew > wp:
        raise ValueError(
            f"kernel larger than input: the (dilated) kernel spans {eh}x{ew} but the padded "
            f"input is {hp}x{wp}"
        )
    ho, wo = (hp - eh) // sh + 1, (wp - ew) // sw + 1
    return _Geometry(*zs, ws[0], ws[2], ws[3], sh, sw, dh, dw, pt, pb, pl, pr, ho, wo)


_SHAPES = {  # what each array may be: (one image, a batch)
    "z": ("(H, W)", "(N, C_in, H, W)"),
    "w": ("(kh, kw)", "(C_out, C_in, kh, kw)"),
    "eps": ("(Ho, Wo)", "(N, C_out, Ho, Wo)"),
}


def _prepare(**named):
    """Arrays as 4-D floats of one working dtype; also their dtypes and whether they were 2-D."""
    arrays = {name: _as_float(a, name) for name, a in named.items()}
    ndims = {a.ndim for a in arrays.values()}
    if len(ndims) != 1 or ndims - {2, 4}:
        two, four = (" with ".join(f"{n} {_SHAPES[n][i]}" for n in arrays) for i in (0, 1))
        got = " and ".join(str(a.shape) for a in arrays.values())
        raise ValueError(f"wrong ndim: expected {two}, or {four}; got shapes {got}")
    dtypes = [a.dtype for a in arrays.values()]
    work = np.result_type(*dtypes)
    work = np.float32 if work.itemsize < 4 else work  # float16 is computed in float32
    single = ndims == {2}
    out = [a.astype(work, copy=False) for a in arrays.values()]
    return [a[None, None] for a in out] if single else out, dtypes, single


def _as_float(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind in "biu":
        return a.astype(np.float32)
    if a.dtype.kind != "f":
        raise ValueError(f"{name} must hold real numbers (float or int), got dtype {a.dtype}")
    return a


def _finish(a: np.ndarray, dtypes, single: bool) -> np.ndarray:
    """Back to the caller's form: 2-D if the inputs were, in numpy's result dtype of theirs."""
    return np.ascontiguousarray(a[0, 0] if single else a, dtype=np.result_type(*dtypes))


def _pair(value, name: str) -> tuple[int, int]:
    if type(value) is int and value > 0:
        return value, value
    pair = (value, value) if _is_int(value) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(_is_int(v) and v > 0 for v in pair)
    ):
        raise ValueError(
            f"{name} must be a positive int or a pair of positive ints, got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _explicit_pads(padding) -> Pads:
    p = padding
    if _is_int(p):
        pads = ((p, p), (p, p))
    elif isinstance(p, (tuple, list)) and len(p) == 2 and all(_is_int(v) for v in p):
        pads = ((p[0], p[0]), (p[1], p[1]))
    elif (
        isinstance(p, (tuple, list))
        and len(p) == 2
        and all(isinstance(q, (tuple, list)) and len(q) == 2 for q in p)
        and all(_is_int(v) for q in p for v in q)
    ):
        pads = (tuple(p[0]), tuple(p[1]))
    else:
        raise ValueError(
            "padding must be an int, a pair (ph, pw), a pair of pairs ((top, bottom), "
            f"(left, right)) or one of {PADDINGS}, got {padding!r}"
        )
    if min(min(q) for q in pads) < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return (int(pads[0][0]), int(pads[0][1])), (int(pads[1][0]), int(pads[1][1]))


def _check_kind(kind) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _kernel_hw(kernel_shape) -> tuple[int, int]:
    if len(kernel_shape) not in (2, 4):
        raise ValueError(
            f"kernel shape must be (kh, kw) or (C_out, C_in, kh, kw), got {kernel_shape}"
        )
    return int(kernel_shape[-2]), int(kernel_shape[-1])


def _check_eps(eps: np.ndarray, g: _Geometry) -> None:
    expected = (g.n, g.o, g.ho, g.wo)
    if eps.shape != expected:
        got, want = (eps.shape[2:], expected[2:]) if g.n == g.o == 1 else (eps.shape, expected)
        raise ValueError(f"eps shape mismatch: F gives {want} for these options, got {got}")


def _input_shape(input_shape, es, ws, stride, padding, dilation, kind, single):
    if input_shape is not None:
        s = tuple(input_shape)
        if len(s) == 2:
            return (es[0], ws[1], *s)
        if single or len(s) != 4 or s[:2] != (es[0], ws[1]):
            raise ValueError(
                f"input_shape {s} is inconsistent with eps {es[-2:] if single else es} and w"
            )
        return s
    (pt, pb), (pl, pr) = conv2d_padding(padding, ws, stride=stride, dilation=dilation, kind=kind)
    (sh, sw), (dh, dw) = _pair(stride, "stride"), _pair(dilation, "dilation")
    h = (es[2] - 1) * sh + dh * (ws[2] - 1) + 1 - pt - pb
    w = (es[3] - 1) * sw + dw * (ws[3] - 1) + 1 - pl - pr
    if h < 1 or w < 1:
        raise ValueError(f"eps of size {es[2:]} is too small: no input size gives it")
    return (es[0], ws[1], h, w)


def _kernel_shape(kernel_shape, es, zs, stride, padding, dilation, single):
    if kernel_shape is not None:
        k = tuple(kernel_shape)
        if len(k) == 2:
            return (es[1], zs[1], *k)
        if single or len(k) != 4 or k[:2] != (es[1], zs[1]):
            raise ValueError(f"kernel_shape {k} is inconsistent with eps {es} and z {zs}")
        return k
    (sh, sw), (dh, dw) = _pair(stride, "stride"), _pair(dilation, "dilation")
    if padding == "same":
        raise ValueError("kernel_shape is required: with padding='same' any kernel size fits")
    pads = None if isinstance(padding, str) else _explicit_pads(padding)
    sizes = []
    for axis, (n, n_out, s, d) in enumerate([(zs[2], es[2], sh, dh), (zs[3], es[3], sw, dw)]):
        if padding == "full":  # pads d*(k-1) on each side, so n_out = (n + d*(k-1) - 1)//s + 1
            fits = [m for m in range(n_out * s // d + 2) if (n + d * m - 1) // s + 1 == n_out]
        else:
            npad = n + (sum(pads[axis]) if pads else 0)
            fits = [m for m in range((npad - 1) // d + 1) if (npad - d * m - 1) // s + 1 == n_out]
        if len(fits) != 1:
            found = f"sizes {[m + 1 for m in fits]} all fit" if fits else "no kernel size fits"
            raise ValueError(
                f"kernel_shape is required: {found} eps {es[2:]} and z {zs[2:]} on axis {axis}"
            )
        sizes.append(fits[0] + 1)
    return (es[1], zs[1], *sizes)


def _oriented(w: np.ndarray, kind: str) -> np.ndarray:
    """The correlation kernel: w itself, or w flipped on both spatial axes for convolution."""
    return w[:, :, ::-1, ::-1] if kind == "convolution" else w


def _choose_method(method: str, g: _Geometry, role: str) -> str:
    """The engine for F (role "forward"), G_delta ("input") or G_gw ("weight").

    The "auto" rule, calibrated on float32 timings with 2 cores: fft for kernels of 64 taps or
    more (stride 1); direct, which then needs no BLAS, for one channel in and out; direct for
    the stride-1 G of layers with many channels and small kernels (one large GEMM per tap beats
    the patch matrix's memory traffic); im2col, one GEMM, otherwise. Every BLAS call costs a
    hand-off between threads, so the rule avoids many small ones.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method != "auto":
        return method
    taps, narrow = g.kh * g.kw, min(g.c, g.o)
    if g.wide and taps >= 64:
        return "fft"
    if g.c == g.o == 1:
        return "direct"
    if g.wide and role == "input" and narrow >= 8 and taps <= 25:
        return "direct"
    if g.wide and role == "weight" and narrow >= 32 and taps <= 9:
        return "direct"
    return "im2col"


# ------------------------------------------------------------------ layout helpers
# The engines work channel-major, (C, N, Hp, Wp), so a whole batch is one GEMM operand. With
# stride 1 an output position is a flat offset q = i*Wp + j into an image of the padded batch, so
# each tap is one contiguous run; positions with i >= Ho or j >= Wo are junk, dropped at the end.
# direct takes all Hp rows of each image (one tap of the batch is then one 2-D slice); im2col Ho.


def _plane(g: _Geometry, rows: int) -> tuple[int, int]:
    """Rows and columns per image of the output positions; rows=0: exactly Ho x Wo."""
    return (rows, g.wp) if rows else (g.ho, g.wo)


def _zeros(c: int, g: _Geometry, dtype) -> np.ndarray:
    """Zeros (C, N, Hp, Wp), C-contiguous, followed in memory by spare zero rows for _windows."""
    size = c * g.n * g.hp * g.wp
    return np.zeros(size + (g.dh * (g.kh - 1) + 1) * g.wp, dtype)[:size].reshape(
        c, g.n, g.hp, g.wp
    )


def _pad(z: np.ndarray, g: _Geometry) -> np.ndarray:
    """z zero-padded and channel-major, (C, N, Hp, Wp), with spare rows after it."""
    zc = _zeros(z.shape[1], g, z.dtype)
    zc[:, :, g.pt : g.pt + g.h, g.pl : g.pl + g.w] = z.transpose(1, 0, 2, 3)
    return zc


def _crop(zc: np.ndarray, g: _Geometry) -> np.ndarray:
    """(C, N, Hp, Wp), or (C, N*Hp*Wp), -> (N, C, H, W): drop the padding."""
    zc = zc.reshape(-1, g.n, g.hp, g.wp)[:, :, g.pt : g.pt + g.h, g.pl : g.pl + g.w]
    return np.ascontiguousarray(zc.transpose(1, 0, 2, 3))


def _windows(zc: np.ndarray, g: _Geometry, rows: int) -> np.ndarray:
    """View of tap (a, b) at every output position, (C, kh, kw, N, *positions).

    ``zc`` is C-contiguous with images of Hp rows of width Wp, channel c starting at ``zc[c]``.
    Positions are ``rows*Wp`` flat offsets per image (stride 1; this reads up to kh rows past
    the last image, where ``_zeros`` leaves spare rows) or, with ``rows=0``, exactly (Ho, Wo).
    Writable; the positions of one tap never overlap.
    """
    sx = zc.itemsize
    sy = g.wp * sx
    lead = (zc.shape[0], g.kh, g.kw, g.n)
    taps = (zc.strides[0], g.dh * sy, g.dw * sx, g.hp * sy)
    if rows:
        shape, strides = (*lead, rows * g.wp), (*taps, sx)
    else:
        shape, strides = (*lead, g.ho, g.wo), (*taps, g.sh * sy, g.sw * sx)
    # as_strided, but faster; zc starts its base buffer, whose size numpy checks the view against.
    base = zc if zc.base is None else zc.base
    return np.ndarray(shape, zc.dtype, buffer=base, strides=strides)


def _narrow(x: np.ndarray, g: _Geometry, rows: int) -> np.ndarray:
    """(O, N*rows*cols) -> (N, O, Ho, Wo), dropping the junk positions."""
    x = x.reshape(x.shape[0], g.n, *_plane(g, rows))[:, :, : g.ho, : g.wo]
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3))


def _widen(eps: np.ndarray, g: _Geometry, rows: int, lead: int = 0) -> np.ndarray:
    """eps on the output positions, (O, lead + N*rows*cols): zero at junk and the lead entries."""
    rows, cols = _plane(g, rows)
    e = np.zeros((g.o, lead + g.n * rows * cols), eps.dtype)
    plane = e[:, lead:].reshape(g.o, g.n, rows, cols)
    plane[:, :, : g.ho, : g.wo] = eps.transpose(1, 0, 2, 3)
    return e


# ------------------------------------------------------------------ engines: direct and im2col
# Both compute out[p, m] = sum_{r, a, b} w[p, r, a, b] v[r, a, b, m] for a windows view v. direct
# loops over the kh*kw taps, one channel matmul (or multiply-add) each; im2col copies v into the
# patch matrix (R*kh*kw, M) and makes one GEMM.


def _tap_product(wt: np.ndarray, s: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """One tap's channel sum: (P, R) @ (R, M) -> (P, M); an outer product when R == 1."""
    if wt.shape[1] == 1:
        return np.multiply(wt, s, out=out)
    return np.matmul(wt, s, out=out)


def _correlate(v: np.ndarray, w: np.ndarray, im2col: bool) -> np.ndarray:
    """Windows (R, kh, kw, N, *positions), kernel (P, R, kh, kw) -> (P, M)."""
    r, kh, kw = v.shape[:3]
    p = w.shape[0]
    if im2col:
        return w.reshape(p, -1) @ v.reshape(r * kh * kw, -1)  # (P, RKK) @ (RKK, M)
    if p == r == 1:  # one channel in and out: every tap in one broadcast multiply
        wb = w[0, 0].reshape(kh, kw, *[1] * (v.ndim - 3))
        return (v[0] * wb).sum(axis=(0, 1)).reshape(1, -1)
    out = tmp = None
    for a in range(kh):
        for b in range(kw):
            s = v[:, a, b].reshape(r, -1)  # (R, M)
            if out is None:
                out = _tap_product(w[:, :, a, b], s)
                tmp = np.empty_like(out)
            else:
                out += _tap_product(w[:, :, a, b], s, out=tmp)
    return out


def _gram(e: np.ndarray, v: np.ndarray, im2col: bool) -> np.ndarray:
    """sum_m e[p, m] v[r, a, b, m]: (P, M) and windows (R, kh, kw, N, ...) -> (P, R, kh, kw)."""
    r, kh, kw = v.shape[:3]
    p = e.shape[0]
    if im2col:
        g_w = (v.reshape(r * kh * kw, -1) @ e.T).T  # (RKK, M) @ (M, P)
        return np.ascontiguousarray(g_w).reshape(p, r, kh, kw)
    if p == r == 1:  # kh*kw dot products in one batched matmul
        return np.matmul(v[0].reshape(kh, kw, 1, -1), e[0, :, None]).reshape(1, 1, kh, kw)
    g_w = np.empty((p, r, kh, kw), e.dtype)
    for a in range(kh):
        for b in range(kw):
            g_w[:, :, a, b] = (v[:, a, b].reshape(r, -1) @ e.T).T
    return g_w


def _scatter(e: np.ndarray, w: np.ndarray, vd: np.ndarray, im2col: bool) -> None:
    """vd[r, a, b, m] += sum_p w[p, r, a, b] e[p, m], tap by tap (col2im for im2col)."""
    r, kh, kw = vd.shape[:3]
    if im2col:
        dcol = (w.reshape(w.shape[0], -1).T @ e).reshape(vd.shape)  # (RKK, P) @ (P, M)
    for a in range(kh):
        for b in range(kw):
            tap = vd[:, a, b]
            tap += dcol[:, a, b] if im2col else _tap_product(w[:, :, a, b].T, e).reshape(tap.shape)


def _rows(g: _Geometry, im2col: bool) -> int:
    """Position rows per image: Hp (direct), Ho (im2col), 0 for exact positions (see _windows)."""
    if not g.wide:
        return 0
    return g.ho if im2col else g.hp


def _forward(z, w, g, im2col):
    rows = _rows(g, im2col)
    return _narrow(_correlate(_windows(_pad(z, g), g, rows), w, im2col), g, rows)


def _adjoint_input(eps, w, g, im2col):
    if im2col or not g.wide:  # scatter eps back through the windows of a zero input (col2im)
        rows = _rows(g, im2col)
        dzc = _zeros(g.c, g, eps.dtype)
        _scatter(_widen(eps, g, rows), w, _windows(dzc, g, rows), im2col)
        return _crop(dzc, g)
    # direct, stride 1: correlate eps (on the padded grid, junk zero) with the flipped kernel
    # w[o, c, kh-1-a, kw-1-b], reading `lead` zeros before it: the input transpose is itself a
    # correlation. Junk rows and columns separate the images, so nothing leaks between them.
    lead = g.dh * (g.kh - 1) * g.wp + g.dw * (g.kw - 1)
    wf = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, kh, kw)
    v = _windows(_widen(eps, g, g.hp, lead), g, g.hp)  # (O, kh, kw, N, Hp*Wp)
    return _crop(_correlate(v, wf, im2col), g)


def _adjoint_weight(eps, z, g, im2col):
    rows = _rows(g, im2col)
    return _gram(_widen(eps, g, rows), _windows(_pad(z, g), g, rows), im2col)


# ------------------------------------------------------------------ engine: fft


def _fast_len(n: int) -> int:
    """The smallest 5-smooth integer >= n (sizes numpy's FFT handles fastest)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def _fft_shape(g: _Geometry) -> tuple[int, int]:
    return _fast_len(g.hp), _fast_len(g.wp)


def _rfft2(a: np.ndarray, g: _Geometry) -> np.ndarray:
    """numpy.fft.rfft2(a, s=_fft_shape(g)), the unscaled spectrum.

    Computed as two scaled 1-D passes whose scale is then undone: numpy 2.4's unscaled forward
    transforms measured several times slower than scaled ones.
    """
    fh, fw = _fft_shape(g)
    spectrum = np.fft.rfft(a, n=fw, axis=-1, norm="forward")
    spectrum = np.fft.fft(spectrum, n=fh, axis=-2, norm="forward")
    spectrum *= fh * fw
    return spectrum


def _kernel_spectrum(w, g):
    """rfft2 of the dilated kernel (O, C, d*(kh-1)+1, d*(kw-1)+1), zero-padded to the FFT size."""
    if g.dh > 1 or g.dw > 1:
        wd = np.zeros((g.o, g.c, g.dh * (g.kh - 1) + 1, g.dw * (g.kw - 1) + 1), w.dtype)
        wd[:, :, :: g.dh, :: g.dw] = w
        w = wd
    return _rfft2(w, g)


def _input_spectrum(z, g):
    return _rfft2(_pad(z, g), g)  # (C, N, Fh, Fw)


def _error_spectrum(eps, g):
    """rfft2 of eps (O, N, ...) placed at the stride-1 output positions (s*i, s*j)."""
    e = np.zeros((g.o, g.n, (g.ho - 1) * g.sh + 1, (g.wo - 1) * g.sw + 1), eps.dtype)
    e[:, :, :: g.sh, :: g.sw] = eps.transpose(1, 0, 2, 3)
    return _rfft2(e, g)


def _spectral_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """out[p, s, f] = sum_r a[p, r, f] b[r, s, f] at every frequency f (trailing axes)."""
    return np.einsum("pr...,rs...->ps...", a, b)


def _fft_forward(z, w, g):
    kf = _kernel_spectrum(w, g).conj()  # (O, C, Fh, Fw)
    x = np.fft.irfft2(_spectral_matmul(kf, _input_spectrum(z, g)), s=_fft_shape(g))
    x = x[:, :, : (g.ho - 1) * g.sh + 1 : g.sh, : (g.wo - 1) * g.sw + 1 : g.sw]  # (O, N, Ho, Wo)
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3))


def _fft_delta(ef, kf, g):
    """delta from the spectra of eps (O, N, ...) and kernel (O, C, ...): circular convolution."""
    dzc = np.fft.irfft2(_spectral_matmul(kf.transpose(1, 0, 2, 3), ef), s=_fft_shape(g))
    return _crop(dzc[:, :, : g.hp, : g.wp], g)


def _fft_g_w(ef, zf, g):
    """g_w from the spectra of eps (O, N, ...) and input (C, N, ...): circular correlation."""
    g_w = np.fft.irfft2(_spectral_matmul(ef.conj(), zf.transpose(1, 0, 2, 3)), s=_fft_shape(g))
    eh, ew = g.dh * (g.kh - 1) + 1, g.dw * (g.kw - 1) + 1
    return np.ascontiguousarray(g_w[:, :, : eh : g.dh, : ew : g.dw])


def _fft_adjoint_input(eps, w, g):
    return _fft_delta(_error_spectrum(eps, g), _kernel_spectrum(w, g), g)


def _fft_adjoint_weight(eps, z, g):
    return _fft_g_w(_error_spectrum(eps, g), _input_spectrum(z, g), g)


def _fft_backward(eps, z, w, g):
    """Both adjoints from one spectrum of eps."""
    ef = _error_spectrum(eps, g)
    return _fft_delta(ef, _kernel_spectrum(w, g), g), _fft_g_w(ef, _input_spectrum(z, g), g)


# ------------------------------------------------------------------ registration


_GEMM_FAMILY = (_forward, _adjoint_input, _adjoint_weight)


class _Engine(NamedTuple):
    forward: Callable[..., np.ndarray]  # (z, w, g) -> x
    adjoint_input: Callable[..., np.ndarray]  # (eps, w, g) -> delta
    adjoint_weight: Callable[..., np.ndarray]  # (eps, z, g) -> g_w


_ENGINES = {
    "direct": _Engine(*(partial(f, im2col=False) for f in _GEMM_FAMILY)),
    "im2col": _Engine(*(partial(f, im2col=True) for f in _GEMM_FAMILY)),
    "fft": _Engine(_fft_forward, _fft_adjoint_input, _fft_adjoint_weight),
}
