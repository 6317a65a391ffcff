"""Pooling layers: the maximum or the mean of each ``kernel_size`` window, or of adaptive ones.

Shape: ``(N, C, H, W) -> (N, C, Ho, Wo)``, ``Ho = (H + 2 p - k) // s + 1`` (``s`` defaults
to ``k``).
"""

from __future__ import annotations

from convprop import ops
from convprop.nn.module import Module
from convprop.tensor import Tensor


class MaxPool2d(Module):
    """``x = max`` over each window; the gradient goes to the window's (first) maximum.

    Shape: ``(N, C, H, W) -> (N, C, Ho, Wo)``.
    """

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, z: Tensor) -> Tensor:
        _check_4d(self, z)
        return ops.max_pool2d(z, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


class AvgPool2d(Module):
    """``x = mean`` over each window; the gradient is shared equally by the window.

    Shape: ``(N, C, H, W) -> (N, C, Ho, Wo)``.
    """

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, z: Tensor) -> Tensor:
        _check_4d(self, z)
        return ops.avg_pool2d(z, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


def _check_4d(layer: Module, z: Tensor) -> None:
    if z.ndim != 4:
        raise ValueError(
            f"{type(layer).__name__}({layer.extra_repr()}) expects input of shape "
            f"(N, C, H, W), got {z.shape}"
        )


class AdaptiveAvgPool2d(Module):
    """Average pooling to ``output_size`` (an int, or a pair with ``None`` for "as the
    input"), with PyTorch's windows: output row ``i`` of ``Ho`` averages input rows
    ``floor(i H / Ho)`` to ``ceil((i + 1) H / Ho) - 1``; ``1`` is global average pooling.

    Shape: ``(N, C, H, W) -> (N, C, Ho, Wo)`` or ``(C, H, W) -> (C, Ho, Wo)``.
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        self.output_size = output_size

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim not in (3, 4):
            raise ValueError(
                f"AdaptiveAvgPool2d({self.extra_repr()}) expects input of shape (N, C, H, W) "
                f"or (C, H, W), got {z.shape}"
            )
        return ops.adaptive_avg_pool2d(z, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
