"""Layers without convolution: Linear, activations, Flatten, Dropout, Sequential."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from convprop import ops
from convprop.nn.init import initial_bias, initialise
from convprop.nn.module import Module
from convprop.tensor import Tensor


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """An explicit Generator, a seed, or None (fresh entropy, like PyTorch's global RNG)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


class Linear(Module):
    """``x = z w^T + b``: weight ``(out_features, in_features)``, bias ``(out_features,)``.

    Shape: ``(N, in_features) -> (N, out_features)``. The weight is drawn by ``init``:
    "torch" (PyTorch's default, weight and bias ``U(+-1/sqrt(in_features))``), "he" (for
    ReLU networks) or "xavier" (for tanh/sigmoid); under "he" and "xavier" the bias is zero.
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
        rng = _generator(rng)
        self.weight = Tensor(initialise(init, shape, rng, dtype), requires_grad=True, dtype=dtype)
        self.bias = None
        if bias:
            b = initial_bias(init, in_features, out_features, rng, dtype)
            self.bias = Tensor(b, requires_grad=True, dtype=dtype)

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


class ReLU(Module):
    """``x = max(z, 0)``."""

    def forward(self, z: Tensor) -> Tensor:
        return ops.relu(z)


class Tanh(Module):
    """``x = tanh(z)``."""

    def forward(self, z: Tensor) -> Tensor:
        return ops.tanh(z)


class Sigmoid(Module):
    """``x = 1 / (1 + e^-z)``."""

    def forward(self, z: Tensor) -> Tensor:
        return ops.sigmoid(z)


class Flatten(Module):
    """``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``."""

    def forward(self, z: Tensor) -> Tensor:
        return ops.reshape(z, (z.shape[0], -1))


class Dropout(Module):
    """In training, ``x = z * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``; identity in eval.

    A composite of ``mul`` (the mask is a constant of the step), so it needs no adjoint.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | int | None = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must lie in [0, 1), got {p}")
        self.p = p
        self.rng = _generator(rng)

    def forward(self, z: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return z
        keep = self.rng.random(z.shape) >= self.p
        return z * (keep / (1.0 - self.p)).astype(z.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Apply modules in order; indexable and iterable, named "0", "1", ... like PyTorch."""

    def __init__(self, *modules: Module) -> None:
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential item {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def __len__(self) -> int:
        return sum(1 for _ in self.children())

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def __getitem__(self, i: int) -> Module:
        return list(self.children())[i]

    def forward(self, z: Tensor) -> Tensor:
        modules = list(self.children())
        i = 0
        while i < len(modules):
            if _pool_first(modules, i):  # ReLU, MaxPool2d -> the same numbers, 1/k^2 the work
                z = modules[i](modules[i + 1](z))
                i += 2
                continue
            z = modules[i](z)
            i += 1
        return z


def _pool_first(modules: list[Module], i: int) -> bool:
    """ReLU then MaxPool2d: pool first, then ReLU, on the smaller tensor.

    ``max(relu(z)) = relu(max(z))`` exactly (relu is monotone), and so is the gradient, ties
    included: a window whose maximum is positive sends it to the same (first) maximal entry
    both ways; one whose maximum is <= 0 sends nothing either way (relu' = 0 there).
    """
    from convprop.nn.conv import MaxPool2d

    return (
        isinstance(modules[i], ReLU)
        and i + 1 < len(modules)
        and isinstance(modules[i + 1], MaxPool2d)
    )
