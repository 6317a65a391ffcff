"""Pointwise nonlinear primitives: exp, log, sqrt, relu, tanh, sigmoid.

For a pointwise ``x = f(z)`` the Jacobian is diagonal, so ``G: delta = g * f'(z)``, written
with the saved output where that is cheaper (``exp' = exp``, ``tanh' = 1 - tanh^2``). The
activations (relu, tanh, sigmoid) keep their input's memory layout (``layout="keeps"``,
:mod:`convprop.ops.layout`).
"""

from __future__ import annotations

import numpy as np

from convprop.ops.layout import as_layout, zeros_as
from convprop.ops.primitive import Primitive


# exp  F: x = e^z                      G: g * x
def _exp(z):
    out = np.exp(z)
    return out, out


def _exp_adjoint(g, out):
    return (g * out,)


exp = Primitive("exp", _exp, _exp_adjoint)


# log  F: x = log z                    G: g / z
def _log(z):
    return np.log(z), z


def _log_adjoint(g, z):
    return (g / z,)


log = Primitive("log", _log, _log_adjoint)


# sqrt  F: x = sqrt(z)                 G: g / (2 x)
def _sqrt(z):
    out = np.sqrt(z)
    return out, out


def _sqrt_adjoint(g, out):
    return (g / (2 * out),)


sqrt = Primitive("sqrt", _sqrt, _sqrt_adjoint)


# relu  F: x = max(z, 0)               G: g * [x > 0]   ([x > 0] = [z > 0], NaN included)
def _relu(z):
    out = np.maximum(z, zeros_as(z))  # out in z's memory layout
    return out, out


def _relu_adjoint(g, out):
    return (as_layout(g, out) * (out > 0),)


relu = Primitive("relu", _relu, _relu_adjoint, layout="keeps")


# tanh  F: x = tanh z                  G: g * (1 - x^2)
def _tanh(z):
    out = np.tanh(z)
    return out, out


def _tanh_adjoint(g, out):
    return (as_layout(g, out) * (1 - out * out),)


tanh = Primitive("tanh", _tanh, _tanh_adjoint, layout="keeps")


# sigmoid  F: x = 1 / (1 + e^-z)       G: g * x (1 - x)
def _sigmoid(z):
    out = 0.5 * (np.tanh(0.5 * z) + 1)  # no overflow for large |z|
    return out, out


def _sigmoid_adjoint(g, out):
    return (as_layout(g, out) * out * (1 - out),)


sigmoid = Primitive("sigmoid", _sigmoid, _sigmoid_adjoint, layout="keeps")
