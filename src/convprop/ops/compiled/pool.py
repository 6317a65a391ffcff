"""max_pool2d's F and G compiled (``ops/pool.py`` has the NumPy form, the reference).

They work on the memory rows of an NCHW array: a batch-last view (``(C, H, W, N)`` memory, what
a convolution hands on) as ``(C, H, W, N)``, a C-order array as ``(N C, H, W, 1)``; in both the
first axis ``r`` indexes independent images (one per thread at a time) and the last, ``q``, runs
along contiguous memory. With window ``(kh, kw)``, stride ``(sh, sw)`` and padding
``(ph, pw)`` (padding counts as -inf), tap ``t = a kw + b``:

    F: x[r, i, j, q] = max_t z[r, sh i + a - ph, sw j + b - pw, q],
       first[r, i, j, q] = the first tap holding that maximum (a later tap takes over only if
       strictly greater; a NaN propagates to x and keeps the tap before it), as the NumPy form
    G: delta[r, sh i + a - ph, sw j + b - pw, q] += g[r, i, j, q] for the tap a kw + b = first
       (on tiled windows, stride = size and no padding, each entry is written once: no zeros)
"""

from __future__ import annotations

import numpy as np

from convprop.jit import compiled
from convprop.ops.layout import as_layout


def rows(a: np.ndarray) -> np.ndarray | None:
    """The ``(R, H, W, Q)`` view of a 4-D NCHW array ``a`` described above, or None when ``a``
    is neither C-order nor batch-last."""
    if a.flags.c_contiguous:
        n, c, h, w = a.shape
        return a.reshape(n * c, h, w, 1)
    if a.transpose(1, 2, 3, 0).flags.c_contiguous:
        return a.transpose(1, 2, 3, 0)
    return None


def like_rows(a: np.ndarray, shape: tuple[int, int, int, int], dtype) -> tuple:
    """A new ``(N, C, H, W)`` array of ``shape`` in a's layout, and its rows view."""
    n, c, h, w = shape
    if a.flags.c_contiguous:
        new = np.empty(shape, dtype)
        return new, new.reshape(n * c, h, w, 1)
    new = np.empty((c, h, w, n), dtype)
    return new.transpose(3, 0, 1, 2), new


MIN_BATCH = 8  # C-order rows (one number wide) measured 2-10x slower than the NumPy form


def max_pool2d(z: np.ndarray, k, s, p, out) -> tuple[np.ndarray, np.ndarray] | None:
    """F on a batch-last ``z`` of at least :data:`MIN_BATCH` images: ``x`` and ``first``, in
    z's layout; None for any other ``z`` (the NumPy form then runs)."""
    zr = rows(z)
    if zr is None or zr.shape[3] < MIN_BATCH:
        return None
    shape = (*z.shape[:2], *out)
    x, xr = like_rows(z, shape, z.dtype)
    first, fr = like_rows(z, shape, np.uint8 if k[0] * k[1] <= 256 else np.intp)
    max_forward(zr, xr, fr, k[0], k[1], s[0], s[1], p[0], p[1])
    return x, first


def max_pool2d_adjoint(g: np.ndarray, first: np.ndarray, shape, k, s, p) -> np.ndarray:
    """G: delta of ``shape`` (z's) in first's layout (``g`` is copied to it if need be)."""
    if g.flags.c_contiguous != first.flags.c_contiguous or rows(g) is None:
        g = as_layout(g, first)
    delta, dr = like_rows(first, shape, g.dtype)
    tiled = (
        s == k
        and p == (0, 0)
        and all(o * ki == n for o, ki, n in zip(first.shape[2:], k, shape[2:], strict=True))
    )
    max_adjoint(rows(g), rows(first), dr, k[0], k[1], s[0], s[1], p[0], p[1], tiled)
    return delta


@compiled
def max_forward(z, x, first, kh, kw, sh, sw, ph, pw):
    r_, h_, w_, q_ = z.shape
    _, ho, wo, _ = x.shape
    # LeNet's 2x2 windows, the 4 taps at once in registers (its first pool 75-80 -> 31-33 us,
    # its second 23-24 -> 11); other windows tap by tap over a row of outputs
    if kh == kw == sh == sw == 2 and ph == pw == 0:
        for r in range(r_):
            for i in range(ho):
                for j in range(wo):
                    for q in range(q_):  # the taps below in the same order, in registers
                        best, t = z[r, 2 * i, 2 * j, q], 0  # tap 0 sets x (-inf, NaN alike)
                        for a, b in ((0, 1), (1, 0), (1, 1)):
                            v = z[r, 2 * i + a, 2 * j + b, q]
                            greater = v > best
                            best = v if greater or v != v else best
                            t = 2 * a + b if greater else t
                        x[r, i, j, q], first[r, i, j, q] = best, t
        return
    for r in range(r_):
        for i in range(ho):  # tap by tap over a row of outputs (in the L1 cache for all taps)
            x[r, i] = -np.inf  # padding's value: tap 0 (padding or not) then sets x, as the first
            first[r, i] = 0
            for a in range(kh):
                h = sh * i + a - ph
                if h < 0 or h >= h_:  # padding, -inf, never changes the maximum
                    continue
                for b in range(kw):
                    # the outputs j whose tap reads inside the input, 0 <= sw j + b - pw < w_
                    j_lo = max(0, (pw - b + sw - 1) // sw)
                    j_hi = max(j_lo, min(wo, (w_ - 1 + pw - b) // sw + 1))
                    t = a * kw + b
                    for j in range(j_lo, j_hi):
                        w = sw * j + b - pw
                        for q in range(q_):
                            v, best = z[r, h, w, q], x[r, i, j, q]
                            greater = v > best  # selects, not branches: no mispredictions
                            x[r, i, j, q] = v if greater or v != v else best  # NaN propagates
                            first[r, i, j, q] = t if greater else first[r, i, j, q]


@compiled
def max_adjoint(g, first, delta, kh, kw, sh, sw, ph, pw, tiled):
    r_, h_, w_, q_ = delta.shape
    _, ho, wo, _ = g.shape
    for r in range(r_):  # a row of outputs at a time, tap by tap, as F; tiled windows write
        if not tiled:  # each entry once, in order
            delta[r] = 0
        for i in range(ho):
            for a in range(kh):
                h = sh * i + a - ph
                if h < 0 or h >= h_:
                    continue
                for b in range(kw):
                    j_lo = max(0, (pw - b + sw - 1) // sw)
                    j_hi = max(j_lo, min(wo, (w_ - 1 + pw - b) // sw + 1))
                    t = a * kw + b
                    for j in range(j_lo, j_hi):
                        w = sw * j + b - pw
                        for q in range(q_):
                            share = g[r, i, j, q] if first[r, i, j, q] == t else 0
                            if tiled:
                                delta[r, h, w, q] = share
                            else:
                                delta[r, h, w, q] += share
