"""Shape primitives: reshape, transpose, getitem, concatenate, pad, flip; and composites
of them with PyTorch's names: squeeze, unsqueeze, permute, flatten.

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


# Composites of reshape and transpose (no adjoint of their own), with PyTorch's names.
def _dim(dim: int, ndim: int, name: str) -> int:
    """``dim`` in ``[-ndim, ndim)`` as a non-negative axis, or a clear error."""
    if not -ndim <= dim < ndim:
        raise ValueError(f"{name}: dim {dim} is out of range for a tensor of {ndim} dimensions")
    return dim % ndim


def squeeze(z: Tensor, dim: int | tuple[int, ...] | None = None) -> Tensor:
    """``x = z`` without its size-1 axes (only those in ``dim`` when given; an axis in ``dim``
    of another size is kept), as ``torch.squeeze``.

    Shape: ``(A, 1, B) -> (A, B)``.
    """
    if dim is None:
        dims = [a for a, n in enumerate(z.shape) if n == 1]
    else:
        dims = [_dim(d, max(z.ndim, 1), "squeeze") for d in np.atleast_1d(dim).tolist()]
    return reshape(z, tuple(n for a, n in enumerate(z.shape) if not (a in dims and n == 1)))


def unsqueeze(z: Tensor, dim: int) -> Tensor:
    """``x = z`` with a size-1 axis inserted at ``dim`` (in ``[-ndim-1, ndim]``).

    Shape: ``(A, B) -> (A, 1, B)`` for ``dim=1``.
    """
    d = _dim(dim, z.ndim + 1, "unsqueeze")
    return reshape(z, z.shape[:d] + (1,) + z.shape[d:])


def permute(z: Tensor, *dims: int) -> Tensor:
    """``x = z`` with its axes in the order ``dims`` (a permutation), as ``torch.permute``.

    Shape: ``(A, B, C) -> (C, A, B)`` for ``dims = (2, 0, 1)``.
    """
    dims = tuple(dims[0]) if len(dims) == 1 and not isinstance(dims[0], int) else dims
    if len(dims) != z.ndim:
        raise ValueError(f"permute: {len(dims)} dims {dims} for a tensor of {z.ndim} dimensions")
    return transpose(z, dims)


def flatten(z: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """``x = z`` with axes ``start_dim..end_dim`` merged into one, as ``torch.flatten``.

    Shape: ``(N, C, H, W) -> (N, C H W)`` for ``start_dim=1``; ``() -> (1,)``.
    """
    if z.ndim == 0:
        return reshape(z, (1,))
    s, e = _dim(start_dim, z.ndim, "flatten"), _dim(end_dim, z.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(z, z.shape[:s] + (int(np.prod(z.shape[s : e + 1])),) + z.shape[e + 1 :])
