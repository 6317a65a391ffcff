"""Layers that own parameters, built only from ops (``convprop.ops``).

One file per kind: ``module`` (Module, Parameter), ``container`` (Sequential, ModuleList),
``linear``, ``conv``, ``conv_transpose``, ``pooling``, ``normalization``, ``activation``,
``flatten``, ``dropout``, ``loss``, ``init``.
"""

from convprop.nn import init
from convprop.nn.activation import (
    ELU,
    GELU,
    Identity,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from convprop.nn.container import ModuleList, Sequential

# isort: split
# issue 15, utilities: ModuleDict and gradient clipping
from convprop.nn import utils
from convprop.nn.container import ModuleDict
from convprop.nn.conv import Conv2d
from convprop.nn.conv_transpose import ConvTranspose2d
from convprop.nn.dropout import Dropout
from convprop.nn.flatten import Flatten
from convprop.nn.linear import Linear
from convprop.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from convprop.nn.module import Module, Parameter
from convprop.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from convprop.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "Dropout",
    "Flatten",
    "GroupNorm",
    "LayerNorm",
    "Linear",
    "MaxPool2d",
    "Module",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "init",
    # activations, adaptive pooling, losses (issue 15)
    "AdaptiveAvgPool2d",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "ELU",
    "GELU",
    "Identity",
    "LeakyReLU",
    "LogSoftmax",
    "MSELoss",
    "NLLLoss",
    "SiLU",
    "Softmax",
    # issue 15, utilities
    "ModuleDict",
    "utils",
]
