"""PyTorch twins of convprop models with the same weights, for benchmarks and tests.

It imports torch: only the torch side of a benchmark worker (and tests) imports this module.
"""

from __future__ import annotations

import numpy as np
import torch

from convprop import nn


def torch_twin(model: nn.Sequential) -> torch.nn.Sequential:
    """The same network in PyTorch, with the same weights (true-convolution kernels flipped,
    since torch's Conv2d is a correlation)."""
    layers = []
    for m in model:
        if isinstance(m, nn.Conv2d):
            t = torch.nn.Conv2d(
                m.in_channels,
                m.out_channels,
                m.kernel_size,
                stride=m.options["stride"],
                padding=m.options["padding"],
            )
            kernel = m.weight.data
            if m.options["kind"] == "convolution":
                kernel = kernel[:, :, ::-1, ::-1]
            with torch.no_grad():
                t.weight.copy_(torch.tensor(np.ascontiguousarray(kernel)))
                t.bias.copy_(torch.tensor(m.bias.data))
        elif isinstance(m, nn.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features)
            with torch.no_grad():
                t.weight.copy_(torch.tensor(m.weight.data))
                t.bias.copy_(torch.tensor(m.bias.data))
        elif isinstance(m, nn.MaxPool2d):
            t = torch.nn.MaxPool2d(m.kernel_size, m.stride, m.padding)
        elif isinstance(m, nn.ReLU):
            t = torch.nn.ReLU()
        elif isinstance(m, nn.Flatten):
            t = torch.nn.Flatten()
        else:
            raise TypeError(f"no torch twin for {type(m).__name__}")
        layers.append(t)
    return torch.nn.Sequential(*layers)


def torch_accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    with torch.no_grad():
        predicted = model(torch.tensor(images)).argmax(1).numpy()
    return float(np.mean(predicted == labels))


class TorchBasicBlock(torch.nn.Module):
    """:class:`convprop.resnet.BasicBlock` in PyTorch: the same layers under the same names."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(out_channels)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(out_channels)
        self.shortcut: torch.nn.Module = torch.nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = torch.nn.Sequential(
                torch.nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                torch.nn.BatchNorm2d(out_channels),
            )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(z)))
        return self.relu(self.bn2(self.conv2(y)) + self.shortcut(z))


class TorchResNet(torch.nn.Module):
    """:class:`convprop.resnet.ResNet` in PyTorch (``from_torch``/``to_torch`` keys match)."""

    def __init__(self, in_channels: int, num_classes: int, width: int, blocks: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(width)
        self.relu = torch.nn.ReLU()
        stages, c = [], width
        for i, channels in enumerate((width, 2 * width, 4 * width)):
            layers = []
            for b in range(blocks):
                layers.append(TorchBasicBlock(c, channels, 2 if i > 0 and b == 0 else 1))
                c = channels
            stages.append(torch.nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.flatten = torch.nn.Flatten()
        self.fc = torch.nn.Linear(c, num_classes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(z)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.pool(x)))


def torch_resnet_twin(model: nn.Module) -> TorchResNet:
    """A :class:`convprop.resnet.ResNet`'s twin in PyTorch, with its weights and buffers."""
    from convprop.io import to_torch

    blocks = len(model.layer1)
    net = TorchResNet(
        model.conv1.in_channels, model.fc.out_features, model.conv1.out_channels, blocks
    )
    net.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch(model).items()})
    return net
