"""Every primitive: a forward F beside its adjoint G, grouped by family.

``PRIMITIVES`` maps each primitive's name to it; the test suite checks all of them.
:mod:`convprop.ops.methods` binds a Tensor's operators and methods to these primitives.
"""

from convprop.ops import methods  # noqa: F401  (binds Tensor's operators and methods)
from convprop.ops.arith import add, div, linear, matmul, mul, neg, pow, sub
from convprop.ops.conv_transpose import conv_transpose2d
from convprop.ops.convolution import conv2d
from convprop.ops.loss import cross_entropy, log_softmax, mse_loss, nll_loss, one_hot, softmax
from convprop.ops.pointwise import exp, log, relu, sigmoid, sqrt, tanh
from convprop.ops.pool import avg_pool2d, max_pool2d
from convprop.ops.primitive import PRIMITIVES, Primitive
from convprop.ops.reduce import max, mean, sum
from convprop.ops.shape import concatenate, flip, getitem, pad, reshape, transpose

__all__ = [
    "PRIMITIVES",
    "Primitive",
    "add",
    "avg_pool2d",
    "concatenate",
    "conv2d",
    "conv_transpose2d",
    "cross_entropy",
    "div",
    "exp",
    "flip",
    "getitem",
    "log",
    "log_softmax",
    "linear",
    "matmul",
    "max",
    "max_pool2d",
    "mean",
    "mse_loss",
    "mul",
    "neg",
    "nll_loss",
    "one_hot",
    "pad",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "softmax",
    "sqrt",
    "sub",
    "sum",
    "tanh",
    "transpose",
]
