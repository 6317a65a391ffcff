"""The settings ``convprop check`` judges a layer in, from its command line.

Each layer has default settings (:data:`DEFAULTS`); the shape and geometry options replace
their keys. Softmax is judged at logits of size 1 and 1000 unless ``--scale`` is given (at 1000
a softmax without the max subtracted overflows).
"""

from __future__ import annotations

import argparse

DEFAULTS: dict[str, list[dict]] = {
    "conv2d": [{"input_shape": [2, 3, 8, 10], "kernel_shape": [4, 3, 3, 3]}],
    "linear": [{"input_shape": [4, 2, 3], "out_features": 5}],
    "relu": [{"input_shape": [3, 4, 5]}],
    "max_pool2d": [{"input_shape": [2, 3, 8, 6], "kernel_size": 2, "stride": 2}],
    "softmax_cross_entropy": [
        {"shape": [16, 10], "scale": 1.0},
        {"shape": [16, 10], "scale": 1000.0},
    ],
    "sgd_momentum": [{"shape": [5, 4], "steps": 5, "learning_rate": 0.01, "momentum": 0.9}],
}
# option -> (setting key, the layers that take it)
FLAGS = {
    "input_shape": ("input_shape", ("conv2d", "linear", "relu", "max_pool2d")),
    "kernel_shape": ("kernel_shape", ("conv2d",)),
    "stride": ("stride", ("conv2d", "max_pool2d")),
    "padding": ("padding", ("conv2d",)),
    "dilation": ("dilation", ("conv2d",)),
    "out_features": ("out_features", ("linear",)),
    "kernel_size": ("kernel_size", ("max_pool2d",)),
    "shape": ("shape", ("softmax_cross_entropy", "sgd_momentum")),
    "scale": ("scale", ("softmax_cross_entropy",)),
    "steps": ("steps", ("sgd_momentum",)),
    "learning_rate": ("learning_rate", ("sgd_momentum",)),
    "momentum": ("momentum", ("sgd_momentum",)),
}
SHAPES = ("input_shape", "kernel_shape", "shape", "kernel_size")


def settings_from_args(args: argparse.Namespace) -> list[dict]:
    """The layer's settings with the options given; ValueError for an option it does not take.

    ``--input-shape`` and ``--kernel-shape`` count as given only when typed (their defaults
    belong to the seed's conv check): ``convprop.grading.command`` passes them as ``None``
    otherwise.
    """
    given = {}
    for option, (key, layers) in FLAGS.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        flag = "--" + option.replace("_", "-")
        if args.layer not in layers:
            raise ValueError(f"{flag} does not apply to --layer {args.layer}")
        given[key] = parse_shape(value, flag) if option in SHAPES else value
    if "kernel_size" in given and len(given["kernel_size"]) == 1:
        given["kernel_size"] = given["kernel_size"][0]
    defaults = DEFAULTS[args.layer]
    if args.layer == "softmax_cross_entropy" and "scale" in given:
        defaults = defaults[:1]
    return [{**d, **given} for d in defaults]


def parse_shape(text: str, flag: str) -> list[int]:
    """``"2,3,8,8"`` (or ``2x3x8x8``) as a list of positive ints; ValueError naming the flag."""
    try:
        shape = [int(part) for part in str(text).replace("x", ",").split(",")]
    except ValueError:
        raise ValueError(
            f"{flag} must be comma-separated integers such as 2,3,8,8; got {text!r}"
        ) from None
    if min(shape) < 1:
        raise ValueError(f"{flag} must be positive integers, got {text!r}")
    return shape
