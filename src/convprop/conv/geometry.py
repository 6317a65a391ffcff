"""The shape rule of a 2-D convolution: every size resolved and checked once.

In the correlation form, ``x[n, o, i, j] = sum_{c, a, b} w[o, c, a, b] zp[n, c, s*i + d*a,
s*j + d*b]`` with ``zp`` the zero-padded input, so ``Ho = (H + pt + pb - d*(kh - 1) - 1) // s
+ 1``.
:func:`conv_geometry` resolves the options of one convolution into a :class:`ConvGeometry`;
F computes it once and passes it on to G (``geometry=``), and the engines read every size
from it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

KINDS = ("convolution", "correlation")
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
    groups: int = 1,
) -> tuple[int, ...]:
    """Shape of ``x = F(z, w)``, per axis ``Ho = (H + pt + pb - d*(kh - 1) - 1) // s + 1``.

    Shape: ``(H, W), (kh, kw) -> (Ho, Wo)`` or ``(N, C, H, W), (O, C / groups, kh, kw) ->
    (N, O, Ho, Wo)``.
    """
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = conv_geometry(input_shape, kernel_shape, **options)
    return (g.n, g.o, g.ho, g.wo) if len(input_shape) == 4 else (g.ho, g.wo)


# ------------------------------------------------------------------ the geometry


class ConvGeometry(NamedTuple):
    """Every size of one convolution, resolved and checked (correlation form, 4-D: a single
    image ``(H, W)`` is ``N = C = O = 1``). Made by :func:`conv_geometry`.

    With ``groups > 1`` the channels ``c`` and ``o`` are split into that many groups and the
    kernel is ``(o, c // groups, kh, kw)``; the engines only ever see :meth:`one_group`."""

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
    wide: bool  # stride 1: output positions as flat offsets i*Wp + j (see engines/_layout)
    padded: bool  # any padding at all
    kind: str  # "convolution" (kernel flipped) or "correlation"
    groups: int = 1  # output channels o*q .. o*q + o/groups - 1 see input group q only

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c, self.h, self.w)

    @property
    def kernel_shape(self) -> tuple[int, int, int, int]:
        return (self.o, self.c // self.groups, self.kh, self.kw)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.o, self.ho, self.wo)

    def one_group(self) -> ConvGeometry:
        """The geometry of one group's convolution: ``c / groups`` channels in, ``o / groups``
        out (``self`` when there is one group)."""
        if self.groups == 1:
            return self
        return self._replace(c=self.c // self.groups, o=self.o // self.groups, groups=1)


def conv_geometry(
    input_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple | str = "valid",
    dilation: int | tuple[int, int] = 1,
    kind: str = "convolution",
    groups: int = 1,
) -> ConvGeometry:
    """The geometry of ``x = F(z, w)`` for z of ``input_shape`` and w of ``kernel_shape``.

    Shape: ``(H, W), (kh, kw)`` or ``(N, C, H, W), (O, C / groups, kh, kw)``; the result is
    4-D either way. Raises ValueError (one line) for inconsistent shapes or options.
    """
    if len(input_shape) != len(kernel_shape) or len(input_shape) not in (2, 4):
        raise ValueError(
            "expected input and kernel shapes (H, W), (kh, kw) or (N, C_in, H, W), "
            f"(C_out, C_in, kh, kw), got {tuple(input_shape)} and {tuple(kernel_shape)}"
        )
    four = len(input_shape) == 4
    zs = tuple(input_shape) if four else (1, 1, *input_shape)
    ws = tuple(kernel_shape) if four else (1, 1, *kernel_shape)
    return geometry_of(zs, ws, stride, padding, dilation, kind, groups)


def conv_transpose_geometry(
    input_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    kind: str = "convolution",
) -> ConvGeometry:
    """The convolution whose G_delta is the transposed convolution of z of ``input_shape``
    ``(N, C_in, H, W)`` and w of ``kernel_shape`` ``(C_in, C_out / groups, kh, kw)`` (PyTorch's
    ``ConvTranspose2d`` layout, which is that convolution's ``(O, C / groups, kh, kw)``).

    Its input, the transposed output, is ``(N, C_out, Hx, Wx)`` with ``Hx = (H - 1) s - 2 p +
    d (kh - 1) + output_padding + 1``: ``output_padding < s`` picks one of the ``s`` sizes that
    the convolution maps back to ``H``. Shape: ``(N, C_in, H, W), (C_in, C_out/groups, kh, kw)``.
    """
    if len(input_shape) != 4 or len(kernel_shape) != 4:
        raise ValueError(
            "expected input (N, C_in, H, W) and kernel (C_in, C_out/groups, kh, kw), got "
            f"{tuple(input_shape)} and {tuple(kernel_shape)}"
        )
    n, c_in, h, w = input_shape
    if kernel_shape[0] != c_in:
        raise ValueError(f"channel mismatch: z has C_in={c_in}, w has {kernel_shape[0]} rows")
    s, d = _pair(stride, "stride"), _pair(dilation, "dilation")
    p, op = _explicit_pads(padding), _explicit_pads(output_padding)
    if p[0][0] != p[0][1] or p[1][0] != p[1][1] or op[0][0] != op[0][1] or op[1][0] != op[1][1]:
        raise ValueError(
            f"padding and output_padding must be ints or pairs, got {padding!r}, "
            f"{output_padding!r}"
        )
    if op[0][0] >= s[0] or op[1][0] >= s[1]:
        raise ValueError(f"output_padding {output_padding!r} must be smaller than stride {s}")
    hx, wx = (
        (size - 1) * s[i] - 2 * p[i][0] + d[i] * (kernel_shape[2 + i] - 1) + op[i][0] + 1
        for i, size in enumerate((h, w))
    )
    if hx < 1 or wx < 1:
        raise ValueError(f"padding {padding!r} leaves no output for input size {(h, w)}")
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    zs = (n, kernel_shape[1] * groups, hx, wx)
    return geometry_of(zs, tuple(kernel_shape), s, p, d, kind, groups)


def geometry_of(zs, ws, stride, padding, dilation, kind, groups=1) -> ConvGeometry:
    """:func:`conv_geometry` of 4-D shapes, options given positionally."""
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if ws[0] % groups:
        raise ValueError(f"groups={groups} must divide C_out={ws[0]}")
    if zs[1] != ws[1] * groups:
        if groups == 1:
            raise ValueError(
                f"channel mismatch: z has C_in={zs[1]} channels, w expects C_in={ws[1]}"
            )
        raise ValueError(
            f"channel mismatch: z has C_in={zs[1]} channels, w expects groups*C_in/groups="
            f"{groups}*{ws[1]}"
        )
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
    return ConvGeometry(
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
        kind,
        int(groups),
    )


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
