"""A C-ordered copy of an array laid out batch-last: the one copy between the two layouts.

The batch-last convolution engines hand on their results as ``(N, C, H, W)`` views of
``(C, H, W, N)`` memory. NumPy's copy of such a view into C order reads the source ``4*N``
bytes apart for every number it writes: 16.4 ms for 128x16x28x28 float32, against 0.44 for a
plain copy of that size. :func:`c_copy` copies it as the transpose of ``(C*H*W, N)`` in
blocks of :data:`TRANSPOSE_ROWS` rows, each block read and written in the cache: 1.2 ms there
(128x32x14x14: 5.1 -> 0.56; LeNet's first layer's x, 64x6x28x28: 0.32 -> 0.15; its second's,
64x16x10x10: 0.10 -> 0.04). The public convolutions return their results through it, and the
ops between layers of the two layouts convert through it (:mod:`convprop.ops.layout`:
ReLU's gradients in ResNet-8's training step had gone through NumPy's copy, 7 a step).
"""

from __future__ import annotations

import numpy as np

TRANSPOSE_ROWS = 128  # rows of (C*H*W, N) per block of a batch-last array's copy


def contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` itself if C-ordered, else :func:`c_copy` of it."""
    return a if a.flags.c_contiguous else c_copy(a)


def c_copy(a: np.ndarray) -> np.ndarray:
    """A C-ordered copy of ``a``: a 4-D view of batch-last memory (``a.transpose(1, 2, 3,
    0)`` C-contiguous) by blocks of the transpose of its ``(C*H*W, N)`` rows, any other
    layout by NumPy's copy."""
    t = a.transpose(1, 2, 3, 0) if a.ndim == 4 else a
    if a.ndim != 4 or not t.flags.c_contiguous:
        return a.copy()  # C order
    out = np.empty(a.shape, a.dtype)
    rows, flat = t.reshape(-1, a.shape[0]), out.reshape(a.shape[0], -1)  # (C*H*W, N), (N, ..)
    for i in range(0, rows.shape[0], TRANSPOSE_ROWS):
        flat[:, i : i + TRANSPOSE_ROWS] = rows[i : i + TRANSPOSE_ROWS].T
    return out
