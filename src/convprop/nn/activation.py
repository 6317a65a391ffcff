"""Activations, ``x = f(z)`` elementwise; softmax and log-softmax along one axis; Identity.

``inplace=`` is accepted where PyTorch has it, so that model definitions port unchanged; the
result is computed out of place (the same numbers; the input is left as it was).

Shape: any ``(*) -> (*)``.
"""

from __future__ import annotations

from typing import Any

from convprop import ops
from convprop.nn.module import Module
from convprop.ops.activation import GELU_APPROXIMATIONS
from convprop.tensor import Tensor


class ReLU(Module):
    """``x = max(z, 0)``. Shape: ``(*) -> (*)``."""

    def __init__(self, inplace: bool = False) -> None:
        self.inplace = inplace

    def forward(self, z: Tensor) -> Tensor:
        return ops.relu(z)


class Tanh(Module):
    """``x = tanh(z)``. Shape: ``(*) -> (*)``."""

    def forward(self, z: Tensor) -> Tensor:
        return ops.tanh(z)


class Sigmoid(Module):
    """``x = 1 / (1 + e^-z)``. Shape: ``(*) -> (*)``."""

    def forward(self, z: Tensor) -> Tensor:
        return ops.sigmoid(z)


class LeakyReLU(Module):
    """``x = z`` for ``z > 0``, ``negative_slope * z`` otherwise. Shape: ``(*) -> (*)``."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, z: Tensor) -> Tensor:
        return ops.leaky_relu(z, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """``x = z`` for ``z > 0``, ``alpha (e^z - 1)`` otherwise. Shape: ``(*) -> (*)``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        self.alpha, self.inplace = alpha, inplace

    def forward(self, z: Tensor) -> Tensor:
        return ops.elu(z, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class GELU(Module):
    """``x = z Phi(z)``, Phi the standard normal CDF (exact, through erf), or its tanh
    approximation for ``approximate="tanh"``. Shape: ``(*) -> (*)``."""

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in GELU_APPROXIMATIONS:
            raise ValueError(
                f"GELU: approximate must be one of {GELU_APPROXIMATIONS}, got {approximate!r}"
            )
        self.approximate = approximate

    def forward(self, z: Tensor) -> Tensor:
        return ops.gelu(z, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x = z / (1 + e^-z)`` (swish). Shape: ``(*) -> (*)``."""

    def __init__(self, inplace: bool = False) -> None:
        self.inplace = inplace

    def forward(self, z: Tensor) -> Tensor:
        return ops.silu(z)


class Softmax(Module):
    """``x = e^{z_m} / sum_j e^{z_j}`` along ``dim``. Shape: ``(*) -> (*)``.

    ``dim=None`` is refused at the call: PyTorch then guesses the axis from the number of
    dimensions (0 for 0-, 1- and 3-D input, else 1) and warns that this is deprecated.
    """

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def forward(self, z: Tensor) -> Tensor:
        return ops.softmax(z, axis=_dim(self, z))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``x = z_m - log sum_j e^{z_j}`` along ``dim``, computed stably. Shape: ``(*) -> (*)``.

    ``dim=None`` is refused at the call, as for :class:`Softmax`.
    """

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def forward(self, z: Tensor) -> Tensor:
        return ops.log_softmax(z, axis=_dim(self, z))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def _dim(layer: Softmax | LogSoftmax, z: Tensor) -> int:
    name = type(layer).__name__
    if layer.dim is None:
        raise ValueError(
            f"{name}(dim=None): give the axis, e.g. {name}(dim=1) for (N, C) logits "
            f"(PyTorch's implicit choice of dim is deprecated)"
        )
    if not -z.ndim <= layer.dim < max(z.ndim, 1):
        raise ValueError(f"{name}(dim={layer.dim}) does not fit an input of shape {z.shape}")
    return layer.dim


class Identity(Module):
    """``x = z``: a placeholder that returns its input (any arguments are ignored, as in
    PyTorch). Shape: ``(*) -> (*)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def forward(self, z: Tensor) -> Tensor:
        return z
