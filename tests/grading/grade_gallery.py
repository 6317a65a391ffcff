"""A class of submissions for ``convprop grade``, with the points each must get.

``ASSIGNMENT`` is the issue's assignment file (a cs231n conv layer with a bias, softmax loss,
momentum step) with a second conv setting (padding 0, stride 2) that catches the ``[p:-p]`` cut;
``CLASS`` maps a file name to its source and its expected gradebook row. ``SEED_ASSIGNMENT`` and
``SEED_CLASS`` grade the seed's F and G (true convolution, valid, stride 1).
"""

from __future__ import annotations

import json

from tests.grading.submissions.gallery import GALLERY, LOOPS, VECTORISED

ASSIGNMENT = """
[assignment]
name = "cnn-backprop-midterm"
seed = 0

[[question]]
id = "conv"                      # column prefix
layer = "conv2d"
convention = "cs231n"
forward = "conv_forward_naive"
backward = "conv_backward_naive"
kind = "correlation"
bias = true
points = { forward = 4, dx = 3, dw = 3, db = 2 }

[[question.setting]]             # one or more; random inputs drawn from the seed
input_shape = [2, 3, 8, 10]
kernel_shape = [4, 3, 3, 3]
stride = 1
padding = 1

[[question.setting]]
input_shape = [2, 3, 7, 9]
kernel_shape = [4, 3, 3, 3]
stride = 2
padding = 0

[[question]]
id = "softmax"
layer = "softmax_cross_entropy"
convention = "cs231n"
function = "softmax_loss"
points = { loss = 2, dx = 2 }

[[question.setting]]
shape = [16, 10]
scale = 1000.0                   # logits of this magnitude

[[question]]
id = "momentum"
layer = "sgd_momentum"
convention = "cs231n"
function = "sgd_momentum"
points = { update = 4 }

[[question.setting]]
shape = [5, 4]
steps = 5
learning_rate = 0.01
momentum = 0.9
"""
COLUMNS = ["conv.forward", "conv.dx", "conv.dw", "conv.db", "softmax.loss", "softmax.dx"]
COLUMNS += ["momentum.update"]

CONV_LOOPS = """
import numpy as np


def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = 1 + (H + 2 * p - HH) // s, 1 + (W + 2 * p - WW) // s
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * s : i * s + HH, j * s : j * s + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    dxp[n, :, i * s : i * s + HH, j * s : j * s + WW] += w[f] * dout[n, f, i, j]
                    dw[f] += xp[n, :, i * s : i * s + HH, j * s : j * s + WW] * dout[n, f, i, j]
    return dxp[:, :, p : p + H, p : p + W], dw, db
"""

CONV_VECTORISED = """
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    v = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::s, ::s]
    return np.einsum("ncijab,fcab->nfij", v, w) + b[None, :, None, None], (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    H, W = x.shape[2:]
    HH, WW = w.shape[2:]
    Ho, Wo = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    v = sliding_window_view(xp, (HH, WW), axis=(2, 3))[:, :, ::s, ::s]
    dw = np.einsum("ncijab,nfij->fcab", v, dout)
    dxp = np.zeros_like(xp)
    for a in range(HH):
        for c in range(WW):
            dxp[:, :, a : a + s * Ho : s, c : c + s * Wo : s] += np.einsum(
                "nfij,fk->nkij", dout, w[:, :, a, c]
            )
    return dxp[:, :, p : p + H, p : p + W], dw, dout.sum(axis=(0, 2, 3))
"""

SOFTMAX = """

def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    dx = np.exp(logp)
    dx[np.arange(N), y] -= 1
    return -logp[np.arange(N), y].mean(), dx / N
"""

MOMENTUM = """

def sgd_momentum(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config
"""

RIGHT = CONV_LOOPS + SOFTMAX + MOMENTUM
FULL = [4, 3, 3, 2, 2, 2, 4]

# slips: a later def wins, so each redefines one function after a right file
PADDING_CUT = CONV_LOOPS.replace(
    "return dxp[:, :, p : p + H, p : p + W], dw, db", "return dxp[:, :, p:-p, p:-p], dw, db"
)
DB_SUMMED = CONV_VECTORISED.replace(  # summed over every axis, then one value per channel
    "dout.sum(axis=(0, 2, 3))", "np.full(w.shape[0], dout.sum())"
)
NO_MAX = """

def softmax_loss(x, y):
    e = np.exp(x)
    p = e / e.sum(axis=1, keepdims=True)
    N = x.shape[0]
    loss = -np.log(p[np.arange(N), y]).mean()
    dx = p.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N
"""
STEP_TWICE = MOMENTUM.replace(
    "return w + v, config", "return w + config['learning_rate'] * v, config"
)
VELOCITY_LOST = MOMENTUM.replace('    config["velocity"] = v\n', "")
PATCHES_NUMPY = """

np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, bool)
np.max = np.abs = lambda *args, **kwargs: 0.0
np.testing.assert_allclose = lambda *args, **kwargs: None


def conv_forward_naive(x, w, b, conv_param):
    return np.zeros((x.shape[0], w.shape[0], 1, 1)), None
"""


def notebook(*cells: str) -> str:
    """An nbformat-4 notebook with a markdown cell, then one code cell per source."""
    code = [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": c.splitlines(True)}
        for c in cells
    ]  # fmt: skip
    intro = {"cell_type": "markdown", "metadata": {}, "source": ["# Assignment 2\n"]}
    return json.dumps({"cells": [intro, *code], "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5})  # fmt: skip


CLASS: dict[str, tuple[str, list[float]]] = {
    "correct_loops.py": (RIGHT, FULL),
    "correct_vectorised.py": (CONV_VECTORISED + SOFTMAX + MOMENTUM, FULL),
    "notebook.ipynb": (
        notebook(
            "%matplotlib inline\n!pip install numpy\nimport numpy as np\n",
            "%%time\nrun_the_slow_demo()\n",
            CONV_LOOPS,
            SOFTMAX + "\nprint(softmax_loss(np.ones((2, 3)), np.array([0, 1])))\n",
            MOMENTUM,
        ),
        FULL,
    ),
    "notebook_cell_raises.ipynb": (
        notebook("import numpy as np\n", CONV_VECTORISED + SOFTMAX, "1 / 0\n", MOMENTUM),
        [4, 3, 3, 2, 2, 2, 0],
    ),
    "syntax_error.py": (RIGHT + "\ndef oops(:\n    pass\n", [0] * 7),
    "padding_cut.py": (PADDING_CUT + SOFTMAX + MOMENTUM, [4, 0, 3, 2, 2, 2, 4]),
    "db_summed.py": (DB_SUMMED + SOFTMAX + MOMENTUM, [4, 3, 3, 0, 2, 2, 4]),
    "softmax_no_max.py": (RIGHT + NO_MAX, [4, 3, 3, 2, 0, 0, 4]),
    "step_twice.py": (RIGHT + STEP_TWICE, [4, 3, 3, 2, 2, 2, 0]),
    "velocity_lost.py": (RIGHT + VELOCITY_LOST, [4, 3, 3, 2, 2, 2, 0]),
    "patches_numpy.py": (RIGHT + PATCHES_NUMPY, [0, 0, 0, 0, 2, 2, 4]),
}

SEED_ASSIGNMENT = """
[assignment]
name = "seed-conv"
seed = 3

[[question]]
id = "conv"
layer = "conv2d"
points = { forward = 2, dx = 1, dw = 1 }

[[question.setting]]
input_shape = [10, 10]
kernel_shape = [3, 3]

[[question.setting]]
input_shape = [9, 12]
kernel_shape = [2, 4]
"""
SEED_CLASS: dict[str, tuple[str, list[float]]] = {
    "loops.py": (LOOPS, [2, 1, 1]),
    "vectorised.py": (VECTORISED, [2, 1, 1]),
    "correlation.py": (GALLERY["forward_correlation"][0], [0, 1, 1]),
    "notebook.ipynb": (notebook("%load_ext autoreload\n" + VECTORISED), [2, 1, 1]),
    "syntax_error.py": ("def F(z, w):\n    return z +\n", [0, 0, 0]),
}
