"""Convolution and pooling layers."""

from __future__ import annotations

import numpy as np

from convprop import ops
from convprop.nn.init import initial_bias, initialise
from convprop.nn.layers import _generator
from convprop.nn.module import Module
from convprop.ops.pool import _pair
from convprop.tensor import Tensor


class Conv2d(Module):
    """The seed's layer, ``x = z * w + b``, with PyTorch's arguments and weight layout.

    ``kind="convolution"`` (default) is true convolution, the kernel flipped, as in the seed;
    ``kind="correlation"`` is what ``torch.nn.Conv2d`` computes. A model trained with one
    kind learns the flipped kernel of the other: the two are equally expressive.

    Shape: ``(N, C_in, H, W) -> (N, C_out, Ho, Wo)``, weight ``(C_out, C_in, kh, kw)``, bias
    ``(C_out,)``, ``Ho = (H + 2 p - d (kh - 1) - 1) // s + 1``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        bias: bool = True,
        kind: str = "convolution",
        *,
        init: str = "torch",
        method: str = "auto",
        rng: np.random.Generator | int | None = None,
        dtype=np.float32,
    ) -> None:
        kh, kw = _pair(kernel_size, "kernel_size")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (kh, kw)
        self.options = dict(
            stride=stride, padding=padding, dilation=dilation, kind=kind, method=method
        )
        shape = (out_channels, in_channels, kh, kw)
        rng = _generator(rng)
        self.weight = Tensor(initialise(init, shape, rng, dtype), requires_grad=True, dtype=dtype)
        self.bias = None
        if bias:
            b = initial_bias(init, in_channels * kh * kw, out_channels, rng, dtype)
            self.bias = Tensor(b, requires_grad=True, dtype=dtype)

    def forward(self, z: Tensor) -> Tensor:
        return ops.conv2d(z, self.weight, self.bias, **self.options)

    def extra_repr(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items() if k != "method")
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"{opts}, bias={self.bias is not None}"
        )


class MaxPool2d(Module):
    """Max pooling over ``kernel_size`` windows (``stride`` defaults to the kernel size)."""

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, z: Tensor) -> Tensor:
        return ops.max_pool2d(z, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


class AvgPool2d(Module):
    """Average pooling over ``kernel_size`` windows (``stride`` defaults to the kernel size)."""

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, z: Tensor) -> Tensor:
        return ops.avg_pool2d(z, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"
