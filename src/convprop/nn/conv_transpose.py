"""The transposed convolution layer: the seed's G_delta, ``x = G_delta(z, w) + b``, as a layer
with PyTorch's arguments."""

from __future__ import annotations

import numpy as np

from convprop import ops
from convprop.nn.conv import check_groups, check_input, describe, kernel_parameters
from convprop.nn.module import Module
from convprop.ops.pool import pair
from convprop.tensor import Tensor


class ConvTranspose2d(Module):
    """``x = G_delta(z, w) + b``: the adjoint in its input of the convolution with kernel w,
    an upsampling layer (:func:`convprop.ops.conv_transpose2d`; its gradients are that
    convolution's F and G_gw).

    ``kind="convolution"`` (default) is the adjoint of the seed's true convolution, the kernel
    flipped; ``kind="correlation"`` is what ``torch.nn.ConvTranspose2d`` computes.
    ``output_padding`` (smaller than ``stride``) adds rows and columns at the bottom and right
    to pick among the output sizes that the convolution maps back to ``(H, W)``. PyTorch's
    initialisation with its fan-in of this weight, ``C_out/groups * kh * kw``.

    Shape: ``(N, C_in, H, W) -> (N, C_out, Hx, Wx)``, weight ``(C_in, C_out/groups, kh, kw)``,
    bias ``(C_out,)``, ``Hx = (H - 1) s - 2 p + d (kh - 1) + output_padding + 1``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
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
            output_padding=output_padding,
            groups=groups,
            dilation=dilation,
            kind=kind,
            method=method,
        )
        shape = (in_channels, out_channels // groups, kh, kw)
        self.weight, self.bias = kernel_parameters(shape, out_channels, bias, init, rng, dtype)

    def forward(self, z: Tensor) -> Tensor:
        check_input(self, z)
        return ops.conv_transpose2d(z, self.weight, self.bias, **self.options)

    def extra_repr(self) -> str:
        return describe(self)
