"""A ResNet for small images (He et al., 2016, section 4.2: the CIFAR-10 networks).

A 3x3 stem of ``width`` channels, three stages of ``n`` BasicBlocks with ``width``, ``2 width``
and ``4 width`` channels (the second and third halve the image with stride 2), global average
pooling and a linear classifier: ``depth = 6 n + 2`` weight layers (ResNet-20: ``n = 3``).
A BasicBlock is ``relu(bn(conv3x3(relu(bn(conv3x3(z))))) + shortcut(z))``; its shortcut is the
identity, or a strided 1x1 convolution and BatchNorm where the channels or size change (the
paper's option B). Convolutions carry no bias (BatchNorm follows each one).

Made for 28x28 (``28 -> 14 -> 7``) and 32x32 (``32 -> 16 -> 8``) images of any channel count;
any size works, the pooling adapts. Built from ``convprop.nn`` only, with PyTorch's layer
names, so ``convprop.io.from_torch`` loads the same network written in ``torch.nn``.
"""

from __future__ import annotations

import numpy as np

from convprop import nn
from convprop.tensor import Tensor


def blocks_per_stage(depth: int) -> int:
    """``n`` of ``depth = 6 n + 2``; one line naming the valid depths otherwise."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"--depth must be 6n+2 with n >= 1 (8, 14, 20, 26, 32, 44, 56, ...), got {depth!r}"
        )
    return (depth - 2) // 6


class BasicBlock(nn.Module):
    """``x = relu(bn2(conv2(relu(bn1(conv1(z))))) + shortcut(z))``.

    Shape: ``(N, C_in, H, W) -> (N, C_out, ceil(H / s), ceil(W / s))`` for stride ``s``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        rng: np.random.Generator,
        init: str = "torch",
    ) -> None:
        conv = dict(kernel_size=3, padding=1, bias=False, rng=rng, init=init)
        self.conv1 = nn.Conv2d(in_channels, out_channels, stride=stride, **conv)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, **conv)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:  # option B: a projection where the shape changes
            self.shortcut = nn.Sequential(
                nn.Conv2d(
                    in_channels, out_channels, 1, stride=stride, bias=False, rng=rng, init=init
                ),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, z: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(z)))
        return self.relu(self.bn2(self.conv2(y)) + self.shortcut(z))


class ResNet(nn.Module):
    """Stem, three stages of BasicBlocks (``layer1..3``), global average pool, ``fc``.

    Shape: ``(N, C, H, W) -> (N, num_classes)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        rng: np.random.Generator,
        *,
        width: int = 16,
        blocks: int = 3,
        init: str = "torch",
    ) -> None:
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"--width must be a positive integer, got {width!r}")
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False, rng=rng, init=init)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        stages, c = [], width
        for i, channels in enumerate((width, 2 * width, 4 * width)):
            layers = []
            for b in range(blocks):
                stride = 2 if i > 0 and b == 0 else 1
                layers.append(BasicBlock(c, channels, stride, rng, init))
                c = channels
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c, num_classes, rng=rng, init=init)

    def forward(self, z: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(z)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.pool(x)))


def resnet(
    input_shape: tuple[int, int, int],
    num_classes: int,
    rng: np.random.Generator,
    init: str = "torch",
    width: int = 16,
    depth: int = 20,
) -> ResNet:
    """The ResNet of ``depth = 6 n + 2`` layers (20: ResNet-20, 8: one block per stage) and
    ``width`` channels in its first stage, for ``(C, H, W)`` images.

    Shape: ``(N, C, H, W) -> (N, num_classes)``.
    """
    return ResNet(
        input_shape[0], num_classes, rng, width=width, blocks=blocks_per_stage(depth), init=init
    )
