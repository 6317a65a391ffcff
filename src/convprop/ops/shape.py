"""Shape primitives: reshape, transpose, getitem, concatenate, pad, flip.

All are linear and only move entries, so each adjoint moves ``g`` back: the inverse reshape
or permutation, a scatter-add into zeros for indexing, a split for concatenation, a crop
for padding, and the same flip (a flip is its own adjoint).
"""

from __future__ import annotations

import numpy as np

from convprop.ops.primitive import Primitive
from convprop.tensor import Tensor


# reshape  F: x = reshape(z, shape)    G: reshape(g, z.shape)
def _reshape(z, shape):
    try:
        return z.reshape(shape), z.shape
    except ValueError:
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {z.shape} "
            f"({z.size} entries) into {tuple(np.atleast_1d(shape))}"
        ) from None


def _reshape_adjoint(g, shape):
    return (g.reshape(shape),)


_reshape_prim = Primitive("reshape", _reshape, _reshape_adjoint, linear=True)


def reshape(z, shape) -> Tensor:
    """``x = reshape(z, shape)``; one entry of ``shape`` may be -1."""
    return _reshape_prim(z, shape=tuple(shape) if not isinstance(shape, int) else (shape,))


# transpose  F: x = z permuted by axes   G: g permuted by the inverse permutation
def _transpose(z, axes=None):
    axes = tuple(reversed(range(z.ndim))) if axes is None else tuple(axes)
    if sorted(a % max(z.ndim, 1) for a in axes) != list(range(z.ndim)):
        raise ValueError(
            f"transpose: axes {axes} are not a permutation of the "
            f"{z.ndim} axes of a tensor of shape {z.shape}"
        )
    return np.transpose(z, axes), np.argsort(axes)


def _transpose_adjoint(g, inverse):
    return (np.transpose(g, inverse),)


_transpose_prim = Primitive("transpose", _transpose, _transpose_adjoint, linear=True)


def transpose(z, axes=None) -> Tensor:
    """``x = z`` with its axes permuted (reversed when ``axes`` is None), as ``np.transpose``."""
    return _transpose_prim(z, axes=None if axes is None else tuple(axes))


# getitem  F: x = z[index]             G: zeros of z's shape with g scatter-added at index
def _is_basic(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, int | np.integer | slice) or p is None or p is Ellipsis for p in parts
    )


def _getitem(z, index):
    try:
        out = z[index]
    except IndexError as error:
        raise IndexError(f"index into a tensor of shape {z.shape}: {error}") from None
    return out, (z.shape, z.dtype, index, _is_basic(index))


def _getitem_adjoint(g, ctx):
    shape, dtype, index, basic = ctx
    gz = np.zeros(shape, dtype=np.result_type(g.dtype, dtype))
    if basic:
        gz[index] = g  # basic indexing selects each entry at most once
    else:
        np.add.at(gz, index, g)  # integer arrays may repeat an entry: sum its gradients
    return (gz,)


_getitem_prim = Primitive("getitem", _getitem, _getitem_adjoint, linear=True)


def _plain_index(index):
    """Tensors used as indices become integer (or boolean) arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, list):
        index = np.asarray(index)
    if isinstance(index, np.ndarray) and index.dtype.kind == "f":
        if not np.all(index == np.round(index)):
            raise IndexError("index arrays must hold integers")
        index = index.astype(np.intp)
    return index


def getitem(z, index) -> Tensor:
    """``x = z[index]`` for basic (ints, slices, None, ...) and integer-array indexing."""
    return _getitem_prim(z, index=_plain_index(index))


# concatenate  F: x = [z_1, ..., z_n] along axis     G: split g back into the pieces
def _concatenate(*zs, axis=0):
    try:
        out = np.concatenate(zs, axis=axis)
    except (ValueError, np.exceptions.AxisError) as error:
        shapes = ", ".join(str(z.shape) for z in zs)
        raise ValueError(f"concatenate along axis {axis}: shapes {shapes}: {error}") from None
    bounds = np.cumsum([z.shape[axis] for z in zs])[:-1]
    return out, (axis, bounds)


def _concatenate_adjoint(g, ctx):
    axis, bounds = ctx
    return tuple(np.split(g, bounds, axis=axis))


_concatenate_prim = Primitive("concatenate", _concatenate, _concatenate_adjoint, linear=True)


def concatenate(tensors, axis: int = 0) -> Tensor:
    """``x = [z_1, ..., z_n]`` joined along ``axis`` (``np.concatenate``)."""
    tensors = tuple(tensors)
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    return _concatenate_prim(*tensors, axis=axis)


# pad  F: x = z with constant borders  G: g cropped to the interior
def _pad(z, pad_width, value=0.0):
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (z.ndim, 2))
    except ValueError:
        raise ValueError(
            f"pad: pad_width {pad_width!r} does not fit a tensor of "
            f"{z.ndim} dimensions; give one (before, after) pair per axis"
        ) from None
    if np.any(widths < 0):
        raise ValueError(f"pad: pad_width {pad_width!r} has a negative width")
    interior = tuple(slice(int(b), int(b) + n) for (b, _), n in zip(widths, z.shape, strict=True))
    return np.pad(z, widths, mode="constant", constant_values=value), interior


def _pad_adjoint(g, interior):
    return (g[interior],)


_pad_prim = Primitive("pad", _pad, _pad_adjoint)  # affine in z (linear when value == 0)


def pad(z, pad_width, value: float = 0.0) -> Tensor:
    """``x = z`` padded with ``value``; ``pad_width`` as in ``np.pad`` (per axis pairs)."""
    return _pad_prim(z, pad_width=pad_width, value=value)


# flip  F: x = z reversed along axes   G: g reversed along the same axes
def _flip(z, axis=None):
    return np.flip(z, axis), axis


def _flip_adjoint(g, axis):
    return (np.flip(g, axis),)


_flip_prim = Primitive("flip", _flip, _flip_adjoint, linear=True)


def flip(z, axis=None) -> Tensor:
    """``x = z`` reversed along ``axis`` (all axes when None), as ``np.flip``."""
    return _flip_prim(z, axis=axis)
