"""The built-in models: ``mlp``, ``cnn`` (the seed's layer type), ``lenet5`` and ``resnet``
(:mod:`convprop.resnet`); and :func:`model_for`, the model of a run's configuration, a built-in
or a model file of the user's (:mod:`convprop.model_file`).

Each builder takes the input shape ``(C, H, W)``, the number of classes and an explicit
``numpy.random.Generator``, and returns an ``nn.Sequential`` that maps ``(N, C, H, W)``
images to ``(N, classes)`` logits.

Where a conv is followed by ReLU and max-pooling, ``cnn`` and ``lenet5`` write the pooling
first: ``max(relu(z)) = relu(max(z))`` exactly (relu is monotone), gradients and ties included
(a window whose maximum is positive sends it to the same first maximal entry both ways; one
whose maximum is <= 0 sends nothing either way), and relu then runs on a quarter of the data.
PyTorch's LeNet-5 is conv-relu-pool: the same function. ``nn.Sequential`` never reorders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from convprop import nn
from convprop.model_file import ModelFile, build_from_file, is_model_file
from convprop.resnet import resnet

Shape = tuple[int, int, int]


def mlp(
    input_shape: Shape,
    num_classes: int,
    rng: np.random.Generator,
    hidden: tuple[int, ...] = (128, 64),
    init: str = "torch",
) -> nn.Sequential:
    """Flatten, then Linear-ReLU layers of widths ``hidden``, then a linear classifier.

    Shape: ``(N, C, H, W) -> (N, num_classes)``.
    """
    widths = [int(np.prod(input_shape)), *hidden]
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(widths, widths[1:], strict=False):
        layers += [nn.Linear(a, b, rng=rng, init=init), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], num_classes, rng=rng, init=init))
    return nn.Sequential(*layers)


def cnn(
    input_shape: Shape,
    num_classes: int,
    rng: np.random.Generator,
    channels: tuple[int, ...] = (16, 32),
    init: str = "torch",
) -> nn.Sequential:
    """The seed's layer stacked: 3x3 "valid" true convolutions with ReLU, then a linear
    classifier. Inputs of 16x16 or more are max-pooled by 2 before the classifier (so a
    28x28 image gives 12x12 features), written before the last ReLU (the same function, see
    the module's docstring). Works for any input of at least 8x8.

    Shape: ``(N, C, H, W) -> (N, num_classes)``.
    """
    c, h, w = input_shape
    if min(h, w) < 8:
        raise ValueError(f"the cnn model needs images of at least 8x8, got {h}x{w}")
    layers: list[nn.Module] = []
    for i, c_out in enumerate(channels):
        layers.append(nn.Conv2d(c, c_out, 3, kind="convolution", rng=rng, init=init))
        c, h, w = c_out, h - 2, w - 2
        if i == len(channels) - 1 and min(h, w) >= 12:
            layers.append(nn.MaxPool2d(2))  # before ReLU: the same function, 1/4 the work
            h, w = h // 2, w // 2
        layers.append(nn.ReLU())
    layers += [nn.Flatten(), nn.Linear(c * h * w, num_classes, rng=rng, init=init)]
    return nn.Sequential(*layers)


def lenet5(
    input_shape: Shape, num_classes: int, rng: np.random.Generator, init: str = "torch"
) -> nn.Sequential:
    """LeNet-5 for 28x28 inputs: conv 6@5x5 (padding 2), ReLU, max-pool 2, conv 16@5x5,
    ReLU, max-pool 2, then linear 400-120-84-classes with ReLU. Each pool is written before
    its ReLU, the same function (see the module's docstring).

    Shape: ``(N, C, 28, 28) -> (N, num_classes)``.
    """
    c, h, w = input_shape
    if (h, w) != (28, 28):
        raise ValueError(f"lenet5 expects 28x28 images, got {h}x{w}; try the cnn model")
    return nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=2, rng=rng, init=init),
        nn.MaxPool2d(2),  # before ReLU: relu(max(z)) = max(relu(z)), 1/4 the work
        nn.ReLU(),
        nn.Conv2d(6, 16, 5, rng=rng, init=init),
        nn.MaxPool2d(2),  # the same function as ReLU then MaxPool2d, on 1/4 of the data
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120, rng=rng, init=init),
        nn.ReLU(),
        nn.Linear(120, 84, rng=rng, init=init),
        nn.ReLU(),
        nn.Linear(84, num_classes, rng=rng, init=init),
    )


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": mlp,
    "cnn": cnn,
    "lenet5": lenet5,
    "resnet": resnet,  # --width, --depth
}
CUSTOM = "custom"  # a module built in Python and given to prepare(model=...)


def build_model(
    name: str,
    input_shape: Shape,
    num_classes: int,
    rng: np.random.Generator,
    init: str = "torch",
    *,
    width: int = 16,
    depth: int = 20,
) -> nn.Module:
    """The model called ``name`` (one of :data:`MODELS`) for the given input and classes.

    ``init`` picks the weight initialiser of every layer: "torch" (PyTorch's default), "he"
    or "xavier" (see :mod:`convprop.nn.init`). ``width`` and ``depth`` shape ``resnet`` (see
    :func:`convprop.resnet.resnet`); the other models have fixed shapes.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    options: dict[str, Any] = {"width": width, "depth": depth} if name == "resnet" else {}
    return MODELS[name](tuple(input_shape), num_classes, rng, init=init, **options)


def model_for(
    config: Mapping[str, Any],
    input_shape: Shape,
    num_classes: int,
    rng: np.random.Generator,
    recorded: Mapping[str, str] | None = None,
) -> tuple[nn.Module, ModelFile | None]:
    """The model of a run's configuration (``dataclasses.asdict(TrainConfig)`` or a
    checkpoint's), and the record of its model file (None for a built-in).

    ``recorded`` is a checkpoint's record of the model file (path, function, SHA-256): the
    model is rebuilt from that path, and refused if the file changed since.
    """
    name = config["model"]
    if name == CUSTOM:
        raise ValueError(
            "the model 'custom' was built in Python and given to prepare(model=...), so "
            "convprop cannot rebuild it: put the function that builds it in a file and train "
            "with --model FILE.py:FUNCTION (TrainConfig(model='FILE.py:FUNCTION')), or rebuild "
            "it yourself and load the weights: net.load_state_dict(load_checkpoint(PATH).model)"
        )
    if is_model_file(name):
        spec, expected = name, None
        if recorded:
            spec, expected = f"{recorded['path']}:{recorded['function']}", recorded["sha256"]
        return build_from_file(spec, input_shape, num_classes, rng, expected_sha256=expected)
    model = build_model(
        name,
        input_shape,
        num_classes,
        rng,
        config.get("init", "torch"),
        width=config.get("width", 16),
        depth=config.get("depth", 20),
    )
    return model, None
