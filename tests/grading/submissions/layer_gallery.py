"""The layer gallery: right submissions and one slip each, with the verdicts they must get.

Every entry is judged in both conventions (``seed`` and ``cs231n``) unless it names one: the
source is a core of :mod:`.layer_sources` with one change (``old -> new`` replacements), plus
the convention's adapter. ``expected`` maps a part to the code of its first error; parts not
named must be right.
"""

from __future__ import annotations

from tests.grading.submissions.layer_sources import (
    ADAPTERS,
    CONV_LOOPS,
    LINEAR_VECTORISED,
    MOMENTUM_VECTORISED,
    POOL_LOOPS,
    POOL_VECTORISED,
    RELU_VECTORISED,
    SOFTMAX_VECTORISED,
)

STRIDED = {"input_shape": [2, 3, 7, 9], "kernel_shape": [4, 3, 3, 3], "stride": 2, "padding": 1}
UNPADDED = {"input_shape": [2, 3, 6, 8], "kernel_shape": [3, 3, 3, 2]}

SETTINGS: dict[str, list[dict]] = {  # layer -> the settings every submission is judged in
    "conv2d": [STRIDED, UNPADDED],
    "linear": [{"input_shape": [4, 2, 3], "out_features": 5}],
    "relu": [{"input_shape": [3, 4, 5]}],
    "max_pool2d": [{"input_shape": [2, 3, 8, 6], "kernel_size": 2, "stride": 2}],
    "softmax_cross_entropy": [{"shape": [16, 10], "scale": 1000.0}, {"shape": [6, 5]}],
    "sgd_momentum": [{"shape": [5, 4], "steps": 5, "learning_rate": 0.01, "momentum": 0.9}],
}
OPTIONS = {"conv2d": {"bias": True}, "linear": {"bias": True}}

TEXTBOOK_SOFTMAX = """
import numpy as np


def softmax_ce(x, y):
    e = np.exp(x)
    p = e / e.sum(axis=1, keepdims=True)
    N = x.shape[0]
    loss = -np.log(p[np.arange(N), y]).mean()
    dx = p.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N
"""

CONV_BACK_RETURN = "return dxp[:, :, p:p+H, p:p+W], dw, db"

# name -> (layer, core, [(old, new)], {part: code or {convention: code}}, settings or None)
SLIPS: dict[str, tuple] = {
    "conv_stride_ignored_in_backward": (
        "conv2d",
        CONV_LOOPS,
        [
            ("dxp[n, :, i*s:i*s+HH, j*s:j*s+WW] +=", "dxp[n, :, i:i+HH, j:j+WW] +="),
            ("dw[f] += xp[n, :, i*s:i*s+HH, j*s:j*s+WW]", "dw[f] += xp[n, :, i:i+HH, j:j+WW]"),
        ],
        {"dx": "stride_ignored_in_backward", "dw": "stride_ignored_in_backward"},
        [STRIDED],
    ),
    "conv_padding_cut_empty": (
        "conv2d",
        CONV_LOOPS,
        [(CONV_BACK_RETURN, "return dxp[:, :, p:-p, p:-p], dw, db")],
        {"dx": "padding_cut_empty"},
        [UNPADDED],
    ),
    "conv_padding_cut_right_at_p1": (  # the same code is right where p > 0
        "conv2d",
        CONV_LOOPS,
        [(CONV_BACK_RETURN, "return dxp[:, :, p:-p, p:-p], dw, db")],
        {},
        [STRIDED],
    ),
    "conv_hw_swapped": (
        "conv2d",
        CONV_LOOPS,
        [
            ("out = np.zeros((N, F, Ho, Wo))", "out = np.zeros((N, F, Wo, Ho))"),
            ("out[n, f, i, j] = np.sum", "out[n, f, j, i] = np.sum"),
        ],
        {"forward": "hw_swapped"},
        None,
    ),
    "conv_db_summed_over_all": (
        "conv2d",
        CONV_LOOPS,
        [("db = dout.sum(axis=(0, 2, 3))", "db = np.sum(dout)")],
        {"db": "db_summed_over_all"},
        None,
    ),
    "conv_divided_by_batch": (
        "conv2d",
        CONV_LOOPS,
        [(CONV_BACK_RETURN, "return dxp[:, :, p:p+H, p:p+W] / N, dw / N, db / N")],
        {"dx": "divided_by_batch", "dw": "divided_by_batch", "db": "divided_by_batch"},
        None,
    ),
    "conv_kernel_orientation": (  # the other kind in the forward pass only
        "conv2d",
        CONV_LOOPS,
        [("* w[f]) + b[f]", "* w[f, :, ::-1, ::-1]) + b[f]")],
        {"forward": {"cs231n": "forward_is_convolution", "seed": "forward_is_correlation"}},
        None,
    ),
    "conv_bias_missing": (
        "conv2d",
        CONV_LOOPS,
        [("* w[f]) + b[f]", "* w[f])")],
        {"forward": "bias_missing"},
        None,
    ),
    "linear_dx_not_reshaped": (
        "linear",
        LINEAR_VECTORISED,
        [("(dout @ w.T).reshape(x.shape)", "(dout @ w.T)")],
        {"dx": "dx_not_reshaped"},
        None,
    ),
    "linear_dw_transposed": (
        "linear",
        LINEAR_VECTORISED,
        [("x2.T @ dout", "(x2.T @ dout).T")],
        {"dw": "transposed_axes"},
        None,
    ),
    "linear_db_summed_over_all": (
        "linear",
        LINEAR_VECTORISED,
        [("dout.sum(axis=0)", "dout.sum()")],
        {"db": "db_summed_over_all"},
        None,
    ),
    "linear_divided_by_batch": (
        "linear",
        LINEAR_VECTORISED,
        [
            (
                "return (dout @ w.T).reshape(x.shape), x2.T @ dout, dout.sum(axis=0)",
                "n = x.shape[0]\n    return (dout @ w.T).reshape(x.shape) / n, x2.T @ dout / n, "
                "dout.sum(axis=0) / n",
            )
        ],
        {"dx": "divided_by_batch", "dw": "divided_by_batch", "db": "divided_by_batch"},
        None,
    ),
    "linear_bias_missing": (
        "linear",
        LINEAR_VECTORISED,
        [("@ w + b", "@ w")],
        {"forward": "bias_missing"},
        None,
    ),
    "relu_mask_missing": (
        "relu",
        RELU_VECTORISED,
        [("return dout * (x > 0)", "return dout")],
        {"dx": "relu_mask_missing"},
        None,
    ),
    "relu_mask_inverted": (
        "relu",
        RELU_VECTORISED,
        [("return dout * (x > 0)", "return dout * (x < 0)")],
        {"dx": "relu_mask_inverted"},
        None,
    ),
    "pool_grad_spread": (
        "max_pool2d",
        POOL_LOOPS,
        [
            (
                "dx[n, c, i*s + a, j*s + b] += dout[n, c, i, j]",
                "dx[n, c, i*s:i*s+ph, j*s:j*s+pw] += dout[n, c, i, j]",
            )
        ],
        {"dx": "pool_grad_spread"},
        None,
    ),
    "pool_is_average": (
        "max_pool2d",
        POOL_VECTORISED,
        [(".max(axis=(4, 5))", ".mean(axis=(4, 5))")],
        {"forward": "pool_is_average"},
        None,
    ),
    "pool_stride_ignored": (
        "max_pool2d",
        POOL_VECTORISED,
        [("[:, :, ::s, ::s].max(axis=(4, 5))", ".max(axis=(4, 5))")],
        {"forward": "stride_ignored"},
        None,
    ),
    "softmax_overflow": (
        "softmax_cross_entropy",
        TEXTBOOK_SOFTMAX,
        [],
        {"loss": "softmax_overflow", "dx": "softmax_overflow"},
        [{"shape": [16, 10], "scale": 1000.0}],
    ),
    "softmax_textbook_right_at_small_logits": (
        "softmax_cross_entropy",
        TEXTBOOK_SOFTMAX,
        [],
        {},
        [{"shape": [6, 5]}],
    ),
    "softmax_sum_not_mean": (
        "softmax_cross_entropy",
        SOFTMAX_VECTORISED,
        [("-logp[np.arange(N), y].mean(), dx / N", "-logp[np.arange(N), y].sum(), dx")],
        {"loss": "loss_summed", "dx": "loss_summed"},
        None,
    ),
    "softmax_missing_minus_one": (
        "softmax_cross_entropy",
        SOFTMAX_VECTORISED,
        [("    dx[np.arange(N), y] -= 1\n", "")],
        {"dx": "missing_true_class_minus_one"},
        None,
    ),
    "momentum_step_applied_twice": (  # the seed's Q5 as written
        "sgd_momentum",
        MOMENTUM_VECTORISED,
        [("return w + v, v", "return w + lr * v, v")],
        {"update": "step_applied_twice"},
        None,
    ),
    "momentum_sign": (
        "sgd_momentum",
        MOMENTUM_VECTORISED,
        [("v = mu * v - lr * dw", "v = mu * v + lr * dw")],
        {"update": "momentum_sign"},
        None,
    ),
    "momentum_velocity_not_kept": (
        "sgd_momentum",
        MOMENTUM_VECTORISED,
        [("return w + v, v", "return w + v, np.zeros_like(v)")],
        {"update": "velocity_not_kept"},
        None,
    ),
}


def source(layer: str, core: str, changes: list, convention: str) -> str:
    """The file of one gallery entry: the core with its changes, then the adapter."""
    for old, new in changes:
        assert old in core, old
        core = core.replace(old, new)
    return core + ADAPTERS[layer][convention]


def expected_code(value, convention: str) -> str:
    return value[convention] if isinstance(value, dict) else value
