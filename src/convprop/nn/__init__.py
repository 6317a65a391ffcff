"""Layers that own parameters, built only from ops (``convprop.ops``).

One file per kind: ``module`` (Module, Parameter), ``container`` (Sequential, ModuleList),
``linear``, ``conv``, ``conv_transpose``, ``pooling``, ``normalization``, ``activation``,
``flatten``, ``dropout``, ``loss``, ``init``.
"""

from convprop.nn import init, utils
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
from convprop.nn.container import ModuleDict, ModuleList, Sequential
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
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "CrossEntropyLoss",
    "Dropout",
    "ELU",
    "Flatten",
    "GELU",
    "GroupNorm",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "init",
    "utils",
]
