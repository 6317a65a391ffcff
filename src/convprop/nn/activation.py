"""Pointwise activations, ``x = f(z)`` elementwise.

Shape: any ``(*) -> (*)``.
"""

from __future__ import annotations

from convprop import ops
from convprop.nn.module import Module
from convprop.tensor import Tensor


class ReLU(Module):
    """``x = max(z, 0)``. Shape: ``(*) -> (*)``."""

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
