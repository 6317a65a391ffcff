"""Judging one layer of a submission: call its functions, compare each part with the answer.

:func:`judge` is the one entry point (``convprop check`` and ``convprop grade`` both call it):
for a :class:`~convprop.grading.Submission`, a ``layer`` of :data:`LAYER_PARTS`, a
``convention`` of :data:`CONVENTIONS`, one ``setting`` (shapes and geometry) and the question's
``options``, it returns one :class:`PartResult` per part that was asked for. Reference answers
come from convprop's own verified functions, in this process; the submission's functions run
in its child process, and only plain arrays (and opaque handles for caches) cross back.

``options`` (question-level): ``forward``, ``backward``, ``function`` (names; default by
convention, :data:`DEFAULT_NAMES`), ``kind`` (``"convolution"`` | ``"correlation"``; conv2d
only), ``bias`` (bool; conv2d and linear), ``seed`` (int, default 0), ``timeout`` (seconds per
call; ``None`` scales with the work, :func:`~convprop.grading.layers.common.default_timeout`).
``setting`` keys, by layer (see docs/checking-a-layer.md):

- conv2d: ``input_shape``, ``kernel_shape``, ``stride``, ``padding``, ``dilation``;
- linear: ``input_shape`` ``(N, d1, ...)``, and ``out_features`` M or ``weight_shape`` (D, M);
- relu: ``input_shape``;
- max_pool2d: ``input_shape``, ``kernel_size`` (int or pair), ``stride`` (default the kernel);
- softmax_cross_entropy: ``shape`` (N, K), ``scale`` (size of the logits, default 1);
- sgd_momentum: ``shape``, ``steps``, ``learning_rate``, ``momentum``.

A key that is missing or unknown raises ``ValueError`` with one line naming it.
"""

from __future__ import annotations

import importlib

from convprop.grading.layers.common import PartResult
from convprop.grading.submission import Submission

LAYER_PARTS: dict[str, tuple[str, ...]] = {
    "conv2d": ("forward", "dx", "dw", "db"),
    "linear": ("forward", "dx", "dw", "db"),
    "relu": ("forward", "dx"),
    "max_pool2d": ("forward", "dx"),
    "softmax_cross_entropy": ("loss", "dx"),
    "sgd_momentum": ("update",),
}
CONVENTIONS = ("seed", "cs231n")
MODULES = {  # layer -> the module of this package that judges it
    "conv2d": "conv2d",
    "linear": "linear",
    "relu": "relu",
    "max_pool2d": "max_pool2d",
    "softmax_cross_entropy": "softmax",
    "sgd_momentum": "momentum",
}

# convention -> layer -> {"forward": ..., "backward": ...} or {"function": ...}
DEFAULT_NAMES: dict[str, dict[str, dict[str, str]]] = {
    "seed": {
        "conv2d": {"forward": "F", "backward": "G"},
        "linear": {"forward": "linear_forward", "backward": "linear_backward"},
        "relu": {"forward": "relu_forward", "backward": "relu_backward"},
        "max_pool2d": {"forward": "max_pool_forward", "backward": "max_pool_backward"},
        "softmax_cross_entropy": {"function": "softmax_cross_entropy"},
        "sgd_momentum": {"function": "momentum_step"},
    },
    "cs231n": {
        "conv2d": {"forward": "conv_forward_naive", "backward": "conv_backward_naive"},
        "linear": {"forward": "affine_forward", "backward": "affine_backward"},
        "relu": {"forward": "relu_forward", "backward": "relu_backward"},
        "max_pool2d": {
            "forward": "max_pool_forward_naive",
            "backward": "max_pool_backward_naive",
        },
        "softmax_cross_entropy": {"function": "softmax_loss"},
        "sgd_momentum": {"function": "sgd_momentum"},
    },
}
OPTIONS = ("forward", "backward", "function", "kind", "bias", "seed", "timeout")

__all__ = ["CONVENTIONS", "DEFAULT_NAMES", "LAYER_PARTS", "PartResult", "judge"]


def judge(
    submission: Submission, layer: str, convention: str, setting: dict, options: dict
) -> dict[str, PartResult]:
    """Judge ``layer`` of ``submission`` in one setting: ``{part: PartResult}``.

    Parts that do not apply (``db`` without a bias) are left out; a part whose function is
    missing, raises or times out is ``ok=False`` with a finding saying so. Bad arguments
    (an unknown layer, convention, option or setting key) raise ``ValueError``.
    """
    if layer not in MODULES:
        raise ValueError(f"unknown layer {layer!r}; choose one of {', '.join(LAYER_PARTS)}")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose seed or cs231n")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r}; the options are {', '.join(OPTIONS)}")
    names = {**DEFAULT_NAMES[convention][layer]}
    for key in names:
        if options.get(key) is not None:
            names[key] = str(options[key])
    module = importlib.import_module(f"convprop.grading.layers.{MODULES[layer]}")
    return module.judge(submission, convention, dict(setting), dict(options), names)
