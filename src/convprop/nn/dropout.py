"""Dropout: a random mask in training, the identity in evaluation."""

from __future__ import annotations

import numpy as np

from convprop.nn.init import generator
from convprop.nn.module import Module
from convprop.tensor import Tensor


class Dropout(Module):
    """In training, ``x = z * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``; identity in eval.

    A composite of ``mul`` (the mask is a constant of the step), so it needs no adjoint.

    Shape: ``(*) -> (*)``.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | int | None = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must lie in [0, 1), got {p}")
        self.p = p
        self.rng = generator(rng)

    def forward(self, z: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return z
        keep = self.rng.random(z.shape) >= self.p
        return z * (keep / (1.0 - self.p)).astype(z.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"
