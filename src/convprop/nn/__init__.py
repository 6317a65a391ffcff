"""Layers that own parameters, built only from ops (``convprop.ops``)."""

from convprop.nn import init
from convprop.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from convprop.nn.layers import Dropout, Flatten, Linear, ReLU, Sequential, Sigmoid, Tanh
from convprop.nn.module import Module

__all__ = [
    "AvgPool2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Linear",
    "MaxPool2d",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "init",
]
