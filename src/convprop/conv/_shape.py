"""The shape rule of a 2-D convolution and the checks every engine relies on.

Everything here is in the correlation form: ``x[n, o, i, j] = sum_{c, a, b} w[o, c, a, b]
zp[n, c, s*i + d*a, s*j + d*b]`` with ``zp`` the zero-padded input. :func:`_geometry` resolves
and checks every size once; the engines read them from the :class:`_Geometry` it returns.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

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
    ho: int  # output
    wo: int
    hp: int  # padded input, h + pt + pb
    wp: int
    eh: int  # rows spanned by the dilated kernel, d*(kh - 1) + 1
    ew: int
    wide: bool  # stride 1: output positions as flat offsets i*Wp + j (see _layout)
    padded: bool  # any padding at all


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
    wide, padded = sh == sw == 1, pt != 0 or pb != 0 or pl != 0 or pr != 0
    return _Geometry(
        *zs,
        ws[0],
        ws[2],
        ws[3],
        sh,
        sw,
        dh,
        dw,
        pt,
        pb,
        pl,
        pr,
        ho,
        wo,
        hp,
        wp,
        eh,
        ew,
        wide,
        padded,
    )


_SHAPES = {  # what each array may be: (one image, a batch)
    "z": ("(H, W)", "(N, C_in, H, W)"),
    "w": ("(kh, kw)", "(C_out, C_in, kh, kw)"),
    "eps": ("(Ho, Wo)", "(N, C_out, Ho, Wo)"),
}
_WORKING = (np.dtype(np.float32), np.dtype(np.float64))


def _prepare(**named):
    """Arrays as 4-D floats of one working dtype; also their dtypes and whether they were 2-D."""
    arrays = [_as_float(a, name) for name, a in named.items()]
    ndim = arrays[0].ndim
    if ndim not in (2, 4) or any(a.ndim != ndim for a in arrays):
        two, four = (" with ".join(f"{n} {_SHAPES[n][i]}" for n in named) for i in (0, 1))
        got = " and ".join(str(a.shape) for a in arrays)
        raise ValueError(f"wrong ndim: expected {two}, or {four}; got shapes {got}")
    dtypes = [a.dtype for a in arrays]
    work = dtypes[0]
    if any(d != work for d in dtypes) or work not in _WORKING:
        work = np.result_type(*dtypes)
        work = np.dtype(np.float32) if work.itemsize < 4 else work  # float16 -> float32
        arrays = [a.astype(work, copy=False) for a in arrays]
    single = ndim == 2
    return [a[None, None] for a in arrays] if single else arrays, dtypes, single


def _as_float(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind in "biu":
        return a.astype(np.float32)
    if a.dtype.kind != "f":
        raise ValueError(f"{name} must hold real numbers (float or int), got dtype {a.dtype}")
    return a


def _finish(a: np.ndarray, dtypes, single: bool, contiguous: bool = True) -> np.ndarray:
    """Back to the caller's form: 2-D if the inputs were, in numpy's result dtype of theirs,
    C-contiguous (or, with ``contiguous=False``, in whatever layout the engine wrote)."""
    a = a[0, 0] if single else a
    dtype = dtypes[0] if dtypes[0] == dtypes[-1] else np.result_type(*dtypes)
    if a.dtype == dtype and (a.flags.c_contiguous or not contiguous):
        return a
    return np.ascontiguousarray(a, dtype=dtype)


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
            top, fit = n_out * s // d + 1, lambda m, n=n, s=s, d=d: (n + d * m - 1) // s + 1
        else:
            npad = n + (sum(pads[axis]) if pads else 0)
            top, fit = (npad - 1) // d, lambda m, npad=npad, s=s, d=d: (npad - d * m - 1) // s + 1
        if s == 1:  # fit(m) is then strictly monotone in m: one candidate at most
            m = (n_out - n) // d if padding == "full" else (npad - n_out) // d
            fits = [m] if 0 <= m <= top and fit(m) == n_out else []
        else:
            fits = [m for m in range(top + 1) if fit(m) == n_out]
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
