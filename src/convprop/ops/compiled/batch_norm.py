"""batch_norm's F and G compiled, channel by channel (``ops/norm.py`` has the math and the
NumPy form). Each works on the ``(P, C, Q)`` view of :func:`convprop.ops.norm.channel_view`:
the entries of channel ``c`` are ``v[p, c, q]``, ``m = P Q`` of them, and the channels are
shared out over Numba's threads. A channel's passes run one after the other while it is in the
core's cache (0.2 MB per channel on 64x16x28x28), and the sums accumulate in float64.

    F: mu = sum v / m,  shift = sum (v - mu) / m,  var = sum (v - mu)^2 / m - shift^2,
       x = gamma (v - mu - shift) / sqrt(var + eps) + beta
    G: sum_g = sum g,  g_xhat = (sum g (v - mu) - shift sum_g) / sigma,
       delta = gamma / sigma (g - sum_g / m + k (v - mu - shift)),  k = -g_xhat / (sigma m)

``mu`` is kept in the array's dtype and ``shift`` is its rounding error, as in the NumPy form,
so that G and the running statistics see the same numbers on either path.
"""

from __future__ import annotations

import math

import numpy as np

from convprop import jit
from convprop.jit import compiled


@compiled(parallel=True, fastmath={"reassoc", "contract"})
def forward(v, x, gamma, beta, eps, mu, shift, var):
    """F into ``x`` (as ``v``, (P, C, Q)); ``mu``, ``shift`` and ``var`` (C,) filled in."""
    p_, c_, q_ = v.shape
    m = p_ * q_
    for c in jit.prange(c_):
        total = 0.0
        for p in range(p_):
            for q in range(q_):
                total += v[p, c, q]
        mean = v.dtype.type(total / m)  # mu in the array's dtype, as the NumPy form keeps it
        first, second = 0.0, 0.0
        for p in range(p_):
            for q in range(q_):
                d = np.float64(v[p, c, q] - mean)
                first += d
                second += d * d
        s = first / m
        variance = second / m - s * s
        scale = gamma[c] / math.sqrt(variance + eps)
        offset = beta[c] - s * scale
        a, b = v.dtype.type(scale), v.dtype.type(offset)
        for p in range(p_):
            for q in range(q_):
                x[p, c, q] = (v[p, c, q] - mean) * a + b
        mu[c], shift[c], var[c] = mean, s, variance


@compiled(parallel=True, fastmath={"reassoc", "contract"})
def adjoint(g, v, d, mu, shift, inv_sigma, gamma, needs_delta, g_xhat, sum_g):
    """G: ``g_xhat`` and ``sum_g`` (C,) filled in, and with ``needs_delta`` delta into ``d``."""
    p_, c_, q_ = v.shape
    m = p_ * q_
    for c in jit.prange(c_):
        mean = mu[c]
        total, dot = 0.0, 0.0
        for p in range(p_):
            for q in range(q_):
                e = np.float64(g[p, c, q])
                total += e
                dot += e * np.float64(v[p, c, q] - mean)
        gx = (dot - shift[c] * total) * inv_sigma[c]
        g_xhat[c], sum_g[c] = gx, total
        if needs_delta:
            k = -gx * inv_sigma[c] / m
            scale = gamma[c] * inv_sigma[c]
            a = g.dtype.type(scale)
            b = g.dtype.type(k * scale)
            e0 = g.dtype.type((total / m + k * shift[c]) * scale)
            for p in range(p_):
                for q in range(q_):
                    d[p, c, q] = a * g[p, c, q] + b * (v[p, c, q] - mean) - e0
