"""A fused multiply-add, ``a * b + c`` rounded once, in plain NumPy.

Why it exists: PyTorch's CPU kernel for ``y.add(x, alpha=a)`` (which ``torch.optim.SGD`` uses
for its weight decay, dampening, Nesterov and parameter updates) computes ``fmadd(x, a, y)``,
one rounding where NumPy's ``y + a * x`` makes two. To reproduce ``torch.optim.SGD`` bit for
bit, convprop's SGD rounds those updates once too. NumPy has no ``fma``, so it is emulated:

* float64, with Boldo and Melquiond's algorithm (IEEE Trans. Computers 57(4), 2008)::

      (uh, ul) = a * b exactly          Dekker's product, with Veltkamp's split
      (th, tl) = c + uh exactly         Knuth's two-sum
      v = RO(tl + ul)                   rounded to odd
      fma = RN(th + v)                  rounded to nearest: equals RN(a * b + c)

* float32 and float16, through float64: ``a * b`` is exact there and ``c + a * b`` rounds once
  in float64; the rare sums that land on a midpoint of the target type are rounded to odd
  instead, which makes the second rounding, to the target type, harmless.

Domain: exact for finite operands whose float64 product neither overflows nor falls below
2**-960 (about 1e-289); outside it the result falls back to ``a * b + c`` with two roundings
(infinities and NaNs propagate as usual). A zero product gives ``c`` exactly either way.

Cost: about 30 elementwise NumPy passes instead of 2 in float64, about 9 in float32 (on work
arrays kept between calls).
"""

from __future__ import annotations

import threading
from math import prod

import numpy as np

_SPLIT = 2.0**27 + 1.0  # Veltkamp's constant for a 53-bit significand


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knuth's error-free sum: ``s + e == a + b`` exactly, ``s = RN(a + b)``."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's split of a float64 into two 26-bit halves, ``hi + lo == a``."""
    t = _SPLIT * a
    hi = t - (t - a)
    return hi, a - hi


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dekker's error-free product: ``p + e == a * b`` exactly, ``p = RN(a * b)``."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def _round_to_odd(s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Round the exact float64 sum ``s + e`` (``s = RN(s + e)``) to odd instead.

    An inexact result must have an odd last significand bit: when ``s`` is even, step one ulp
    towards the exact value.
    """
    s = np.asarray(s)
    even = (s.view(np.uint64) & np.uint64(1)) == 0
    towards = np.where(e > 0, np.inf, -np.inf)
    return np.where((e != 0) & even, np.nextafter(s, towards), s)


def _fma_float64(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Boldo and Melquiond's emulation, exact where :func:`fma` says."""
    uh, ul = _two_product(a, b)
    th, tl = _two_sum(c, uh)
    z = th + _round_to_odd(*_two_sum(tl, ul))
    exact = np.isfinite(z) & (np.abs(uh) >= 2.0**-960)  # Dekker's error term is exact
    return z if exact.all() else np.where(exact, z, a * b + c)


def _fma_narrow(a, b, c, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    """float32 or float16 through float64: the product is exact there, the sum rounds once.

    Rounding that sum to ``dtype`` can only go wrong where it lands exactly on a midpoint of
    ``dtype`` (or in its subnormal range); only those few elements are rounded to odd first.
    The float64 work arrays are kept between calls (:func:`_work`): fresh ones cost more in
    page faults than the arithmetic (measured 10x for LeNet-5's largest parameter).
    """
    shape = np.broadcast_shapes(a.shape, b.shape, c.shape)
    s = _work("sum", shape, np.float64)
    np.multiply(a, b, out=s, dtype=np.float64)  # exact: 2 x 24 significant bits fit in 53
    np.add(s, c, out=s)  # the one rounding of a * b + c
    spare = 52 - np.finfo(dtype).nmant  # float64 bits below the last place of dtype
    low = _work("low", shape, np.uint64)
    np.bitwise_and(s.view(np.uint64), np.uint64((1 << spare) - 1), out=low)
    hard = _work("hard", shape, np.bool_)
    np.equal(low, np.uint64(1 << (spare - 1)), out=hard)
    tiny = _work("tiny", shape, np.bool_)
    np.less(np.abs(s, out=low.view(np.float64)), np.finfo(dtype).tiny, out=tiny)
    hard |= tiny
    if hard.any():
        a, b, c = (np.broadcast_to(x, shape)[hard].astype(np.float64) for x in (a, b, c))
        s[hard] = _round_to_odd(*_two_sum(c, a * b))
    if out is None:
        return s.astype(dtype)
    np.copyto(out, s, casting="same_kind")
    return out


_pool = threading.local()


def _work(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A work array of ``shape``, reused by the next call with the same name (per thread)."""
    buffers = _pool.__dict__.setdefault("buffers", {})
    size = prod(shape) * np.dtype(dtype).itemsize
    buf = buffers.get(name)
    if buf is None or buf.nbytes < size:
        buf = buffers[name] = np.empty(max(size, 64), np.uint8)
    return buf[:size].view(dtype).reshape(shape)


def fma(
    a: np.ndarray | float,
    b: np.ndarray | float,
    c: np.ndarray | float,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``a * b + c`` elementwise with a single rounding, like C's ``fma``.

    The operands broadcast; the result's dtype is their common float type, and a Python float
    is first rounded to it (as PyTorch rounds a scalar ``alpha`` to the tensor's type).
    ``out``: an array of the result's shape and dtype to write it to (it may be ``c``).
    """
    arrays = [x for x in (a, b, c) if isinstance(x, np.ndarray)]
    dtype = np.result_type(*arrays) if arrays else np.dtype(np.float64)
    a, b, c = (np.asarray(x, dtype) for x in (a, b, c))
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype in (np.float32, np.float16):
            return _fma_narrow(a, b, c, dtype, out)
        if dtype == np.float64:
            result = np.asarray(_fma_float64(a, b, c))
        else:
            result = np.asarray(a * b + c)
    if out is None:
        return result
    np.copyto(out, result, casting="same_kind")
    return out
