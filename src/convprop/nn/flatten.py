"""Flatten: from images to the vectors a Linear layer takes."""

from __future__ import annotations

from convprop import ops
from convprop.nn.module import Module
from convprop.tensor import Tensor


class Flatten(Module):
    """Keep the batch axis, join the rest.

    Shape: ``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``.
    """

    def forward(self, z: Tensor) -> Tensor:
        return ops.reshape(z, (z.shape[0], -1))
