"""The arguments of the public conv functions: arrays to 4-D working floats and back, and the
geometry of the options, with the shapes G infers when no geometry is given.

A training loop repeats a few shapes and options, so the geometry of plain arguments (ints,
strings, tuples of ints) is remembered (:func:`resolve`, :func:`input_geometry`,
:func:`weight_geometry`: 0.3 us instead of 1.7-2.3 on the seed's layer). A value that only
equals a plain one (``True == 1``, ``2.0 == 2``) takes every check every time. A remembered
geometry is shared between calls, so it never leaves the conv functions: F keeps work for G
only under a geometry the caller passed (``keep``), never under one of these; G_delta keeps
work on eps under one only inside ``conv2d_backward``, whose G_gw follows at once on the same
eps (each call's G_delta replaces what the last one kept)."""

from __future__ import annotations

import numpy as np

from convprop.transpose import c_copy

from .geometry import ConvGeometry, _explicit_pads, _pair, conv2d_padding, geometry_of

_SHAPES = {  # what each array may be: (one image, a batch)
    "z": ("(H, W)", "(N, C_in, H, W)"),
    "w": ("(kh, kw)", "(C_out, C_in, kh, kw)"),
    "eps": ("(Ho, Wo)", "(N, C_out, Ho, Wo)"),
}
_WORKING = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = _WORKING  # compared by identity on the fast path (an equal copy takes the long one)
EXACT = 2**53  # float64 holds every integer of smaller magnitude, and sums of them exactly
INTEGER = np.dtype(np.int64)  # the result dtype when every input is an integer array


def prepare(names: tuple[str, ...], *arrays):
    """``arrays`` (named ``names`` in messages) as 4-D floats of one working dtype; also the
    result dtypes and whether they were 2-D. Integer (and bool) arrays take the float inputs'
    dtype (float32 at least); when all inputs are integers they become float64 and the dtypes
    say int64 (see check_exact)."""
    first = arrays[0]
    if type(first) is np.ndarray:  # the common case, by identity: float32 or float64 arrays,
        dtype, ndim = first.dtype, first.ndim  # all 2-D or all 4-D, returned as they are
        if (dtype is _F32 or dtype is _F64) and (ndim == 4 or ndim == 2):
            for a in arrays:
                if type(a) is not np.ndarray or a.dtype is not dtype or a.ndim != ndim:
                    break
            else:
                common = list(arrays) if ndim == 4 else [a[None, None] for a in arrays]
                return common, [dtype] * len(arrays), ndim == 2
    named = dict(zip(names, (np.asarray(a) for a in arrays), strict=True))
    arrays = list(named.values())
    floats = [a.dtype for a in arrays if a.dtype.kind == "f"]
    integers = all(a.dtype.kind in "biu" for a in arrays)
    to = np.result_type(np.float32, *floats) if floats else np.dtype(np.float64)
    arrays = [_as_float(a, name, to) for a, name in zip(arrays, named, strict=True)]
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
    dtypes = [INTEGER] * len(dtypes) if integers else dtypes
    return [a[None, None] for a in arrays] if single else arrays, dtypes, single


def _as_float(a: np.ndarray, name: str, to: np.dtype) -> np.ndarray:
    if a.dtype.kind in "biu":
        return a.astype(to)
    if a.dtype.kind != "f":
        raise ValueError(f"{name} must hold real numbers (float or int), got dtype {a.dtype}")
    return a


def finish(a: np.ndarray, dtypes, single: bool, contiguous: bool = True) -> np.ndarray:
    """Back to the caller's form: 2-D if the inputs were, in numpy's result dtype of theirs,
    C-contiguous (or, with ``contiguous=False``, in whatever layout the engine wrote)."""
    a = a[0, 0] if single else a
    dtype = dtypes[0]
    if dtype is dtypes[-1] is a.dtype and dtype is not INTEGER:  # the common case, by identity
        return a if a.flags.c_contiguous or not contiguous else c_copy(a)
    dtype = dtype if dtype == dtypes[-1] else np.result_type(*dtypes)
    if dtype == INTEGER:  # float64 sums of integers below 2**53 (check_exact): exact
        return a.astype(INTEGER)
    if a.dtype == dtype and (a.flags.c_contiguous or not contiguous):
        return a
    return np.ascontiguousarray(a, dtype=dtype)


def check_exact(a: np.ndarray, b: np.ndarray, terms: int, what: str, extra: float = 0.0):
    """Refuse integer inputs whose sums of ``terms`` products of ``a`` and ``b`` entries (plus
    ``extra``) could reach 2**53, past which float64 no longer holds every integer."""
    top = max(_max_abs(a) * _max_abs(b) * terms + extra, _max_abs(a), _max_abs(b))
    if top >= EXACT:
        raise ValueError(
            f"integer {what} not exact: its sums may reach {top:.3g} >= 2**53; pass floats "
            "to accept rounding"
        )


def _max_abs(a: np.ndarray) -> float:
    return float(np.abs(a).max()) if a.size else 0.0


def check_eps(es: tuple[int, ...], g: ConvGeometry) -> None:
    """eps's (4-D) shape ``es`` against the output of ``g``: one line if they differ."""
    expected = (g.n, g.o, g.ho, g.wo)
    if es != expected:
        got, want = (es[2:], expected[2:]) if g.n == g.o == 1 else (es, expected)
        raise ValueError(f"eps shape mismatch: F gives {want} for these options, got {got}")


def infer_input_shape(input_shape, es, ws, stride, padding, dilation, kind, single, groups=1):
    c = ws[1] * groups
    if input_shape is not None:
        s = tuple(input_shape)
        if len(s) == 2:
            return (es[0], c, *s)
        if single or len(s) != 4 or s[:2] != (es[0], c):
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
    return (es[0], c, h, w)


def infer_kernel_shape(kernel_shape, es, zs, stride, padding, dilation, single, groups=1):
    if zs[1] % groups:
        raise ValueError(f"groups={groups} must divide C_in={zs[1]}")
    c = zs[1] // groups
    if kernel_shape is not None:
        k = tuple(kernel_shape)
        if len(k) == 2:
            return (es[1], c, *k)
        if single or len(k) != 4 or k[:2] != (es[1], c):
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
    return (es[1], c, *sizes)


def oriented(w: np.ndarray, kind: str) -> np.ndarray:
    """The correlation kernel: w itself, or w flipped on both spatial axes for convolution."""
    return w[_FLIP] if kind == "convolution" else w


_FLIP = (slice(None), slice(None), slice(None, None, -1), slice(None, None, -1))


# ------------------------------------------------------------------ remembered geometries

_REMEMBERED: dict[tuple, ConvGeometry] = {}
REMEMBERED_LIMIT = 256  # entries, then forgotten all at once


def resolve(zs, ws, stride, padding, dilation, kind, groups) -> ConvGeometry:
    """:func:`~convprop.conv.geometry.geometry_of`, remembered for plain arguments; ``zs`` and
    ``ws`` are arrays' shapes (plain ints: ``.shape`` gives nothing else)."""
    plain = _plain(stride, padding, dilation, kind, groups)
    key = ("F", zs, ws, stride, padding, dilation, kind, groups) if plain else None
    g = _REMEMBERED.get(key) if plain else None
    if g is None:
        g = geometry_of(zs, ws, stride, padding, dilation, kind, groups)
        _remember(key, g)
    return g


def input_geometry(es, ws, input_shape, single, stride, padding, dilation, kind, groups):
    """G_delta's geometry from eps and w's shapes and ``input_shape`` (inferred when None),
    checked against eps's shape (once per remembered key)."""
    plain = _plain(stride, padding, dilation, kind, groups) and _plain_shape(input_shape)
    key = ("input", es, ws, input_shape, single, stride, padding, dilation, kind, groups)
    g = _REMEMBERED.get(key) if plain else None
    if g is None:
        if es[1] != ws[0]:
            raise ValueError(f"channel mismatch: eps has {es[1]} channels, w has C_out={ws[0]}")
        options = (stride, padding, dilation, kind)
        zs = infer_input_shape(input_shape, es, ws, *options, single, groups)
        g = geometry_of(zs, ws, *options, groups)
        check_eps(es, g)
        _remember(key if plain else None, g)
    return g


def weight_geometry(es, zs, kernel_shape, single, stride, padding, dilation, kind, groups):
    """G_gw's geometry from eps and z's shapes and ``kernel_shape`` (inferred when None),
    checked against eps's shape (once per remembered key)."""
    plain = _plain(stride, padding, dilation, kind, groups) and _plain_shape(kernel_shape)
    key = ("weight", es, zs, kernel_shape, single, stride, padding, dilation, kind, groups)
    g = _REMEMBERED.get(key) if plain else None
    if g is None:
        if es[0] != zs[0]:
            raise ValueError(f"batch mismatch: eps has N={es[0]}, z has N={zs[0]}")
        options = (stride, padding, dilation)
        ws = infer_kernel_shape(kernel_shape, es, zs, *options, single, groups)
        g = geometry_of(zs, ws, *options, kind, groups)
        check_eps(es, g)
        _remember(key if plain else None, g)
    return g


def _remember(key: tuple | None, g: ConvGeometry) -> None:
    if key is not None:
        if len(_REMEMBERED) >= REMEMBERED_LIMIT:
            _REMEMBERED.clear()
        _REMEMBERED[key] = g


def _plain(stride, padding, dilation, kind, groups) -> bool:
    """Whether the options are plain ints and strings (a tuple takes the checks each time)."""
    return (
        type(stride) is type(dilation) is type(groups) is int
        and (type(padding) is str or type(padding) is int)
        and type(kind) is str
    )


def _plain_shape(shape) -> bool:
    return shape is None or (type(shape) is tuple and _ints(*shape))


def _ints(*sizes) -> bool:
    """Whether every size is a plain int (a loop: a third of ``all()``'s time)."""
    for v in sizes:
        if type(v) is not int:
            return False
    return True
