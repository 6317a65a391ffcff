"""Layers that own parameters, built only from ops (``convprop.ops``).

One file per kind: ``module`` (Module, Parameter), ``container`` (Sequential, ModuleList),
``linear``, ``conv``, ``conv_transpose``, ``pooling``, ``activation``, ``flatten``,
``dropout``, ``init``.
"""

from convprop.nn import init
from convprop.nn.activation import ReLU, Sigmoid, Tanh
from convprop.nn.container import ModuleList, Sequential
from convprop.nn.conv import Conv2d
from convprop.nn.conv_transpose import ConvTranspose2d
from convprop.nn.dropout import Dropout
from convprop.nn.flatten import Flatten
from convprop.nn.linear import Linear
from convprop.nn.module import Module, Parameter
from convprop.nn.pooling import AvgPool2d, MaxPool2d

__all__ = [
    "AvgPool2d",
    "Conv2d",
    "ConvTranspose2d",
    "Dropout",
    "Flatten",
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
]
