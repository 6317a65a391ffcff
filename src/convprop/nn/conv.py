"""The convolution layer: the seed's ``x = z * w + b`` with PyTorch's arguments."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

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
        self.weight, self.bias = kernel_parameters(shape, out_channels, bias, init, rng, dtype)

    def forward(self, z: Tensor) -> Tensor:
        check_input(self, z)
        return ops.conv2d(z, self.weight, self.bias, **self.options)

    def extra_repr(self) -> str:
        return describe(self)


def check_groups(groups: int, in_channels: int, out_channels: int) -> None:
    """One line naming the problem unless ``groups`` divides both channel counts."""
    if not isinstance(groups, int | np.integer) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"groups={groups} must divide in_channels={in_channels} and "
            f"out_channels={out_channels}"
        )


def kernel_parameters(
    shape: tuple[int, int, int, int],
    out_channels: int,
    bias: bool,
    init: str,
    rng: np.random.Generator | int | None,
    dtype: DTypeLike,
) -> tuple[Parameter, Parameter | None]:
    """A convolution's weight of ``shape`` and bias ``(out_channels,)`` (or None), drawn by
    ``init`` with the fan-in ``shape[1] * kh * kw`` (PyTorch's, for Conv2d and
    ConvTranspose2d alike)."""
    rng = generator(rng)
    weight = Parameter(initialise(init, shape, rng, dtype), dtype=dtype)
    if not bias:
        return weight, None
    fan_in = shape[1] * shape[2] * shape[3]
    return weight, Parameter(initial_bias(init, fan_in, out_channels, rng, dtype), dtype=dtype)


def check_input(layer: Module, z: Tensor) -> None:
    """One line naming the layer unless ``z`` is ``(N, layer.in_channels, H, W)``."""
    if z.ndim != 4 or z.shape[1] != layer.in_channels:
        raise ValueError(
            f"{type(layer).__name__}({layer.in_channels}, {layer.out_channels}) expects input "
            f"of shape (N, {layer.in_channels}, H, W), got {z.shape}"
        )


def describe(layer: Module) -> str:
    """A convolution layer's ``extra_repr``: channels, kernel, options (groups when > 1)."""
    skip = ("method", "groups") if layer.groups == 1 else ("method",)
    opts = ", ".join(f"{k}={v!r}" for k, v in layer.options.items() if k not in skip)
    return (
        f"{layer.in_channels}, {layer.out_channels}, kernel_size={layer.kernel_size}, "
        f"{opts}, bias={layer.bias is not None}"
    )
