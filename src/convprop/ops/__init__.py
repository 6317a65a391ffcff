"""Every primitive: a forward F beside its adjoint G, grouped by family.

``PRIMITIVES`` maps each primitive's name to it; the test suite checks all of them.
:mod:`convprop.ops.methods` binds a Tensor's operators and methods to these primitives.
"""

from convprop.ops import methods  # noqa: F401  (binds Tensor's operators and methods)
from convprop.ops.activation import elu, gelu, leaky_relu, silu
from convprop.ops.arith import add, div, linear, matmul, mul, neg, pow, sub
from convprop.ops.binary_loss import binary_cross_entropy_with_logits
from convprop.ops.conv_transpose import conv_transpose2d
from convprop.ops.convolution import conv2d
from convprop.ops.loss import cross_entropy, log_softmax, mse_loss, nll_loss, one_hot, softmax
from convprop.ops.norm import batch_norm, group_norm, layer_norm, normalize
from convprop.ops.pointwise import exp, log, relu, sigmoid, sqrt, tanh
from convprop.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from convprop.ops.primitive import PRIMITIVES, Primitive
from convprop.ops.reduce import max, mean, sum
from convprop.ops.shape import concatenate, flip, getitem, pad, reshape, transpose

# isort: split
# issue 15, Tensor conveniences: comparisons, arg-reductions (no gradient), min, casts, shapes
from convprop.ops.compare import all, any, argmax, argmin, eq, ge, gt, le, lt, ne
from convprop.ops.dtype import clone, to
from convprop.ops.reduce import min
from convprop.ops.shape import flatten, permute, squeeze, unsqueeze

__all__ = [
    "PRIMITIVES",
    "Primitive",
    "add",
    "avg_pool2d",
    "batch_norm",
    "concatenate",
    "conv2d",
    "conv_transpose2d",
    "cross_entropy",
    "div",
    "exp",
    "flip",
    "getitem",
    "group_norm",
    "layer_norm",
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
    "normalize",
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
    # activations, adaptive pooling and losses (issue 15)
    "adaptive_avg_pool2d",
    "binary_cross_entropy_with_logits",
    "elu",
    "gelu",
    "leaky_relu",
    "silu",
    # issue 15, Tensor conveniences
    "all",
    "any",
    "argmax",
    "argmin",
    "clone",
    "eq",
    "flatten",
    "ge",
    "gt",
    "le",
    "lt",
    "min",
    "ne",
    "permute",
    "squeeze",
    "to",
    "unsqueeze",
]
