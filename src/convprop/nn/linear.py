"""The fully connected layer."""

from __future__ import annotations

import numpy as np

from convprop import ops
from convprop.nn.init import generator, initial_bias, initialise
from convprop.nn.module import Module, Parameter
from convprop.tensor import Tensor


class Linear(Module):
    """``x = z w^T + b``: weight ``(out_features, in_features)``, bias ``(out_features,)``.

    The weight is drawn by ``init``: "torch" (PyTorch's default, weight and bias
    ``U(+-1/sqrt(in_features))``), "he" (for ReLU networks) or "xavier" (for tanh/sigmoid);
    under "he" and "xavier" the bias is zero.

    Shape: ``(N, in_features) -> (N, out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        init: str = "torch",
        rng: np.random.Generator | int | None = None,
        dtype=np.float32,
    ) -> None:
        self.in_features, self.out_features = in_features, out_features
        shape = (out_features, in_features)
        rng = generator(rng)
        self.weight = Parameter(initialise(init, shape, rng, dtype), dtype=dtype)
        self.bias = None
        if bias:
            self.bias = Parameter(
                initial_bias(init, in_features, out_features, rng, dtype), dtype=dtype
            )

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.in_features:
            raise ValueError(
                f"Linear({self.in_features}, {self.out_features}) expects input "
                f"of shape (N, {self.in_features}), got {z.shape}"
            )
        if self.bias is None:
            return ops.linear(z, self.weight)
        return ops.linear(z, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
