"""The convolution layer: the seed's ``x = z * w + b`` with PyTorch's arguments."""

from __future__ import annotations

import numpy as np

from convprop import ops
from convprop.nn.init import generator, initial_bias, initialise
from convprop.nn.module import Module, Parameter
from convprop.ops.pool import pair
from convprop.tensor import Tensor


class Conv2d(Module):
    """The seed's layer, ``x = z * w + b``, with PyTorch's arguments and weight layout.

    ``kind="convolution"`` (default) is true convolution, the kernel flipped, as in the seed;
    ``kind="correlation"`` is what ``torch.nn.Conv2d`` computes. A model trained with one
    kind learns the flipped kernel of the other: the two are equally expressive.
    ``groups=q`` splits the channels into q groups, each output group seeing only its input
    group (``q = C_in``: depthwise); PyTorch's initialisation then has
    ``fan_in = C_in/q * kh * kw``.

    Shape: ``(N, C_in, H, W) -> (N, C_out, Ho, Wo)``, weight ``(C_out, C_in/groups, kh, kw)``,
    bias ``(C_out,)``, ``Ho = (H + 2 p - d (kh - 1) - 1) // s + 1``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        kind: str = "convolution",
        *,
        init: str = "torch",
        method: str = "auto",
        rng: np.random.Generator | int | None = None,
        dtype=np.float32,
    ) -> None:
        kh, kw = pair(kernel_size, "kernel_size")
        check_groups(groups, in_channels, out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (kh, kw)
        self.groups, self.kind = groups, kind
        self.options = dict(
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            kind=kind,
            method=method,
        )
        shape = (out_channels, in_channels // groups, kh, kw)
        rng = generator(rng)
        self.weight = Parameter(initialise(init, shape, rng, dtype), dtype=dtype)
        self.bias = None
        if bias:
            b = initial_bias(init, in_channels // groups * kh * kw, out_channels, rng, dtype)
            self.bias = Parameter(b, dtype=dtype)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 4 or z.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d({self.in_channels}, {self.out_channels}) expects input of shape "
                f"(N, {self.in_channels}, H, W), got {z.shape}"
            )
        return ops.conv2d(z, self.weight, self.bias, **self.options)

    def extra_repr(self) -> str:
        skip = ("method", "groups") if self.groups == 1 else ("method",)
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items() if k not in skip)
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"{opts}, bias={self.bias is not None}"
        )


def check_groups(groups: int, in_channels: int, out_channels: int) -> None:
    """One line naming the problem unless ``groups`` divides both channel counts."""
    if not isinstance(groups, int | np.integer) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"groups={groups} must divide in_channels={in_channels} and "
            f"out_channels={out_channels}"
        )
