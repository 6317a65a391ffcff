"""Memory layouts of activations: an NCHW array may be a view of batch-last memory.

The convolution op hands on its results as views of batch-last ``(C, H, W, N)`` memory (the
``batch_last`` engine of :mod:`convprop.conv`), and the ops between two convolutions, declared
``Primitive(..., layout="keeps")``, keep the layout they are given: NumPy's elementwise
operations on two arrays of different layouts run at strided addresses, measured 12x slower
than on two of the same layout (1.5 ms against 0.12 ms for ``g * (x > 0)`` on LeNet-5's first
activation, 64x6x28x28), and a transposing copy costs about 0.4 ms there. So an op that
combines an activation with a new array makes the new one in the activation's layout
(``np.empty_like`` does), and converts an incoming gradient of another layout once
(:func:`as_layout`). The values never depend on the layout; ``tests/ops/test_ops.py`` checks, for
every primitive, both layouts in and the declared layout out. These helpers are the only code
that knows about layouts.
"""

from __future__ import annotations

import numpy as np

from convprop.transpose import contiguous


def dense(a: np.ndarray) -> bool:
    """Whether ``a`` fills its memory without gaps: a C-contiguous array, axes permuted."""
    if a.flags.c_contiguous:
        return True
    if min(a.strides, default=0) < 0:
        return False
    outer_first = sorted(range(a.ndim), key=lambda i: -a.strides[i])
    return a.transpose(outer_first).flags.c_contiguous


def same_layout(a: np.ndarray, ref: np.ndarray) -> bool:
    """Whether ``a`` and ``ref`` (of one shape) lay their elements out in the same order."""
    return (a.flags.c_contiguous and ref.flags.c_contiguous) or a.strides == ref.strides


def as_layout(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``a`` in the memory layout of ``ref`` (same shape): ``a`` itself, or one copy."""
    if same_layout(a, ref) or not dense(ref):
        return a
    if ref.flags.c_contiguous:
        return contiguous(a)  # batch-last to C order in cache-sized blocks
    out = np.empty_like(ref, dtype=a.dtype)
    np.copyto(out, a)
    return out


def zeros_as(a: np.ndarray) -> np.ndarray:
    """Read-only zeros of a's shape and dtype, in a's layout where a's strides allow: NumPy
    2.4's ``maximum(z, 0)`` with a scalar 0 measured four times slower than with an array of
    zeros, and than with one of another layout. One cached buffer per dtype."""
    flat = _ZEROS.get(a.dtype)
    if flat is None or flat.size < a.size:
        flat = _ZEROS[a.dtype] = np.zeros(max(a.size, 1024), a.dtype)
        flat.flags.writeable = False
    return filled_as(a, flat)


_ZEROS: dict[np.dtype, np.ndarray] = {}


def filled_as(a: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """A read-only view of ``flat``, a constant (all its entries equal: the zeros of ReLU) at
    least ``a.size`` long, with a's shape and, where a's strides fit in it, a's layout."""
    if a.flags.c_contiguous:
        view = flat[: a.size].reshape(a.shape)
    else:
        try:  # NumPy refuses strides that leave the buffer (a with gaps between entries)
            view = np.ndarray(a.shape, flat.dtype, buffer=flat, strides=a.strides)
        except ValueError:
            view = flat[: a.size].reshape(a.shape)
    view.flags.writeable = False
    return view
