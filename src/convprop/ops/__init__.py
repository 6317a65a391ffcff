"""Every primitive: a forward F beside its adjoint G, grouped by family.

``PRIMITIVES`` maps each primitive's name to it; the test suite checks all of them.
:mod:`convprop.ops.methods` binds a Tensor's operators and methods to these primitives.
"""

from convprop.ops import methods  # noqa: F401  (binds Tensor's operators and methods)
from convprop.ops.activation import elu, gelu, leaky_relu, silu
from convprop.ops.arith import add, div, linear, matmul, mul, neg, pow, sub
from convprop.ops.binary_loss import binary_cross_entropy_with_logits
from convprop.ops.compare import all, any, argmax, argmin, eq, ge, gt, le, lt, ne
from convprop.ops.conv_transpose import conv_transpose2d
from convprop.ops.convolution import conv2d
from convprop.ops.dtype import clone, to
from convprop.ops.loss import cross_entropy, log_softmax, mse_loss, nll_loss, one_hot, softmax
from convprop.ops.norm import batch_norm, group_norm, layer_norm, normalize
from convprop.ops.pointwise import exp, log, relu, sigmoid, sqrt, tanh
from convprop.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from convprop.ops.primitive import PRIMITIVES, Primitive
from convprop.ops.reduce import max, mean, min, sum
from convprop.ops.shape import (
    concatenate,
    flatten,
    flip,
    getitem,
    pad,
    permute,
    reshape,
    squeeze,
    transpose,
    unsqueeze,
)

__all__ = [
    "PRIMITIVES",
    "Primitive",
    "adaptive_avg_pool2d",
    "add",
    "all",
    "any",
    "argmax",
    "argmin",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "clone",
    "concatenate",
    "conv2d",
    "conv_transpose2d",
    "cross_entropy",
    "div",
    "elu",
    "eq",
    "exp",
    "flatten",
    "flip",
    "ge",
    "gelu",
    "getitem",
    "group_norm",
    "gt",
    "layer_norm",
    "le",
    "leaky_relu",
    "linear",
    "log",
    "log_softmax",
    "lt",
    "matmul",
    "max",
    "max_pool2d",
    "mean",
    "min",
    "mse_loss",
    "mul",
    "ne",
    "neg",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "permute",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "silu",
    "softmax",
    "sqrt",
    "squeeze",
    "sub",
    "sum",
    "tanh",
    "to",
    "transpose",
    "unsqueeze",
]
