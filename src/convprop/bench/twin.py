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
