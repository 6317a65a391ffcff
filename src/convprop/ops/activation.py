"""More activations: leaky_relu, elu, gelu (exact and tanh), silu.

Each is pointwise, ``x = f(z)``, so its Jacobian is diagonal and ``G: delta = g * f'(z)``.
Each is its own primitive rather than a composite: one pass over the activation forward and
one back, where a composite of mul/exp/where would keep several temporaries alive. All of them
keep their input's memory layout (``layout="keeps"``, :mod:`convprop.ops.layout`): they are
built from NumPy ufuncs, which give their result the layout of their input, and convert an
incoming gradient of another layout once.

Shape: ``(*) -> (*)``.
"""

from __future__ import annotations

import math

import numpy as np

from convprop.ops.layout import as_layout, zeros_as
from convprop.ops.primitive import Primitive
from convprop.ops.special import erfc
from convprop.tensor import Tensor

GELU_APPROXIMATIONS = ("none", "tanh")


# leaky_relu  F: x = z if z > 0 else a z      G: g * (1 if z > 0 else a)
def _leaky_relu(z, negative_slope=0.01):
    zeros = zeros_as(z)  # an array 0: np.maximum(z, 0) with a scalar is slower, see relu
    out = np.maximum(z, zeros) + negative_slope * np.minimum(z, zeros)  # exact on either side
    return out, (z, negative_slope)


def _leaky_relu_adjoint(g, ctx):
    z, a = ctx
    slope = (z > 0).astype(z.dtype)  # 1 where z > 0, a elsewhere (a at z = 0, as PyTorch)
    slope *= 1 - a
    slope += a
    return (as_layout(g, z) * slope,)


_leaky_relu_prim = Primitive("leaky_relu", _leaky_relu, _leaky_relu_adjoint, layout="keeps")


def leaky_relu(z, negative_slope: float = 0.01) -> Tensor:
    """``x = z`` for ``z > 0``, ``x = a z`` otherwise (``a = negative_slope``).

    ``G: delta = eps`` where ``z > 0``, ``a eps`` elsewhere. Shape: ``(*) -> (*)``.
    """
    return _leaky_relu_prim(z, negative_slope=float(negative_slope))


# elu  F: x = z if z > 0 else alpha (e^z - 1)  G: g * (1 if z > 0 else alpha e^z)
def _elu(z, alpha=1.0):
    zeros = zeros_as(z)
    out = np.maximum(z, zeros) + alpha * np.expm1(np.minimum(z, zeros))
    return out, (z, alpha)


def _elu_adjoint(g, ctx):
    z, alpha = ctx
    positive = z > 0
    slope = positive + ~positive * (alpha * np.exp(np.minimum(z, zeros_as(z))))
    return (as_layout(g, z) * slope,)


_elu_prim = Primitive("elu", _elu, _elu_adjoint, layout="keeps")


def elu(z, alpha: float = 1.0) -> Tensor:
    """``x = z`` for ``z > 0``, ``x = alpha (e^z - 1)`` otherwise.

    ``G: delta = eps`` where ``z > 0``, ``alpha e^z eps`` elsewhere. Shape: ``(*) -> (*)``.
    """
    return _elu_prim(z, alpha=float(alpha))


# gelu  F: x = z Phi(z), Phi(z) = erfc(-z / sqrt 2) / 2    G: g * (Phi(z) + z phi(z))
#       approximate="tanh": x = z (1 + tanh u) / 2, u = sqrt(2/pi) (z + 0.044715 z^3)
#                        G: g * ((1 + t) / 2 + z (1 - t^2) u' / 2), t = tanh u
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_KAPPA = 0.044715


def _gelu(z, approximate="none"):
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(
            f"gelu: approximate must be one of {GELU_APPROXIMATIONS}, got {approximate!r}"
        )
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (z + _KAPPA * z * z * z))
        return 0.5 * z * (1 + t), (z, approximate, t)
    phi_cdf = 0.5 * erfc(z * -math.sqrt(0.5))  # no cancellation in 1 + erf for z << 0
    return z * phi_cdf, (z, approximate, phi_cdf)


def _gelu_adjoint(g, ctx):
    z, approximate, saved = ctx
    if approximate == "tanh":
        t = saved
        du = _SQRT_2_OVER_PI * (1 + 3 * _KAPPA * z * z)
        slope = 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * du
    else:
        slope = saved + z * (np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
    return (as_layout(g, z) * slope,)


_gelu_prim = Primitive("gelu", _gelu, _gelu_adjoint, layout="keeps")


def gelu(z, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit, ``x = z Phi(z)`` with ``Phi`` the standard normal CDF.

    ``approximate="none"``: ``Phi(z) = (1 + erf(z / sqrt 2)) / 2`` exactly (erf from
    :mod:`convprop.ops.special`); ``G: delta = eps (Phi(z) + z phi(z))``, ``phi`` the normal
    density. ``approximate="tanh"``: ``x = z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) / 2``,
    as ``torch.nn.functional.gelu``. Shape: ``(*) -> (*)``.
    """
    return _gelu_prim(z, approximate=approximate)


# silu  F: x = z s, s = 1 / (1 + e^-z)         G: g * s (1 + z (1 - s))
def _silu(z):
    with np.errstate(over="ignore"):  # e^-z = inf for z < -709: s = 0, as it should
        s = 1 / (1 + np.exp(-z))  # accurate in relative terms on both sides
    return z * s, (z, s)


def _silu_adjoint(g, ctx):
    z, s = ctx
    return (as_layout(g, z) * (s * (1 + z * (1 - s))),)


_silu_prim = Primitive("silu", _silu, _silu_adjoint, layout="keeps")


def silu(z) -> Tensor:
    """Sigmoid linear unit (swish), ``x = z sigma(z)``, ``sigma(z) = 1 / (1 + e^-z)``.

    ``G: delta = eps sigma(z) (1 + z (1 - sigma(z)))``. Shape: ``(*) -> (*)``.
    """
    return _silu_prim(z)
