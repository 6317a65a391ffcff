"""A gallery of student submissions for ``convprop check``: right ones and deliberate slips.

Each entry is the source text of a small ``.py`` file (the tests write it into a temporary
folder), the options to check it with, and the exact finding codes the diagnosis must give.
Most build on ``VECTORISED``, a right implementation, and redefine one function after it (the
later ``def`` wins). The seed's Q2.3-Q2.5 come from ``convprop.experiments.exam``, where they are
transcribed literally, index for index.
"""

from __future__ import annotations

import inspect
import textwrap

from convprop.experiments import exam

SMALL = {"input_shape": (10, 10), "kernel_shape": (3, 3)}
BATCH = {"input_shape": (2, 3, 6, 6), "kernel_shape": (4, 3, 3, 3)}
SEED = {"input_shape": (128, 128), "kernel_shape": (3, 3)}  # the seed's sizes

LOOPS = """
import numpy as np


def F(z, w):
    kh, kw = w.shape
    x = np.zeros((z.shape[0] - kh + 1, z.shape[1] - kw + 1))
    for j1 in range(x.shape[0]):
        for j2 in range(x.shape[1]):
            for k1 in range(kh):
                for k2 in range(kw):
                    x[j1, j2] += w[k1, k2] * z[j1 + kh - 1 - k1, j2 + kw - 1 - k2]
    return x


def G(eps, z, w):
    kh, kw = w.shape
    delta, g_w = np.zeros(z.shape), np.zeros(w.shape)
    for j1 in range(eps.shape[0]):
        for j2 in range(eps.shape[1]):
            for k1 in range(kh):
                for k2 in range(kw):
                    delta[j1 + kh - 1 - k1, j2 + kw - 1 - k2] += w[k1, k2] * eps[j1, j2]
                    g_w[k1, k2] += eps[j1, j2] * z[j1 + kh - 1 - k1, j2 + kw - 1 - k2]
    return delta, g_w
"""

VECTORISED = '''
import numpy as np


def correlate(a, b):
    """Valid correlation: sum over the taps (i, j) of b of b[i, j] * a shifted by (i, j)."""
    ho, wo = a.shape[0] - b.shape[0] + 1, a.shape[1] - b.shape[1] + 1
    return sum(
        b[i, j] * a[i : i + ho, j : j + wo] for i in range(b.shape[0]) for j in range(b.shape[1])
    )


def pad(a, kh, kw):
    return np.pad(a, ((kh - 1, kh - 1), (kw - 1, kw - 1)))


def F(z, w):
    return correlate(z, w[::-1, ::-1])


def G_delta(eps, w):
    return correlate(pad(eps, *w.shape), w)


def G_gw(eps, z):
    return correlate(z, eps)[::-1, ::-1]


def G(eps, z, w):
    return G_delta(eps, w), G_gw(eps, z)
'''

BATCHED = """
import numpy as np


def correlate(a, b):
    ho, wo = a.shape[0] - b.shape[0] + 1, a.shape[1] - b.shape[1] + 1
    return sum(
        b[i, j] * a[i : i + ho, j : j + wo] for i in range(b.shape[0]) for j in range(b.shape[1])
    )


def F(z, w):
    (n, c, h, wd), (o, _, kh, kw) = z.shape, w.shape
    x = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for i in range(n):
        for p in range(o):
            for q in range(c):
                x[i, p] += correlate(z[i, q], w[p, q, ::-1, ::-1])
    return x


def G(eps, z, w):
    (n, c, h, wd), (o, _, kh, kw) = z.shape, w.shape
    delta, g_w = np.zeros(z.shape), np.zeros(w.shape)
    for i in range(n):
        for p in range(o):
            e = np.pad(eps[i, p], ((kh - 1, kh - 1), (kw - 1, kw - 1)))
            for q in range(c):
                delta[i, q] += correlate(e, w[p, q])
                g_w[p, q] += correlate(z[i, q], eps[i, p])[::-1, ::-1]
    return delta, g_w
"""


def seed_source(*functions) -> str:
    """The source of the seed's transcribed functions, with the helpers of exam.py they call."""
    wanted = list(functions)
    for f in functions:
        for name in f.__code__.co_names:
            helper = getattr(exam, name, None)
            if inspect.isfunction(helper) and helper not in wanted:
                wanted.insert(0, helper)
    body = "\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in wanted)
    return "\nimport numpy as np\n\n\n" + body


NOT_ADJOINT = "not_adjoint_of_own_F"

# name -> (source, options, the finding codes expected, sorted)
GALLERY: dict[str, tuple[str, dict, list[str]]] = {
    "correct_loops": (LOOPS, SMALL, []),
    "correct_vectorised": (VECTORISED, SMALL, []),
    "correct_batched": (BATCHED, BATCH, []),
    "forward_correlation": (
        VECTORISED + "\n\ndef F(z, w):\n    return correlate(z, w)\n",
        SMALL,
        ["forward_is_correlation", NOT_ADJOINT, NOT_ADJOINT],
    ),
    "correlation_layer": (  # correlation with correlation's own G: consistent, not the seed's
        VECTORISED
        + "\n\ndef F(z, w):\n    return correlate(z, w)\n"
        + "\n\ndef G_delta(eps, w):\n    return correlate(pad(eps, *w.shape), w[::-1, ::-1])\n"
        + "\n\ndef G_gw(eps, z):\n    return correlate(z, eps)\n",
        SMALL,
        [
            "adjoint_of_own_F",
            "adjoint_of_own_F",
            "delta_flipped",
            "forward_is_correlation",
            "gw_flipped",
        ],
    ),
    "delta_extra_flip": (
        VECTORISED
        + "\n\ndef G_delta(eps, w):\n    return correlate(pad(eps, *w.shape), w[::-1, ::-1])\n",
        SMALL,
        ["delta_flipped", NOT_ADJOINT],
    ),
    "delta_shifted_seed_q24": (
        VECTORISED + seed_source(exam.seed_q24_delta) + "\n\nG_delta = seed_q24_delta\n",
        SEED,
        ["delta_shifted", NOT_ADJOINT],
    ),
    "gw_flipped_seed_q25": (
        VECTORISED + seed_source(exam.seed_q25_gw) + "\n\nG_gw = seed_q25_gw\n",
        SEED,
        ["gw_flipped", NOT_ADJOINT],
    ),
    "transposed_output": (
        VECTORISED + "\n\ndef F(z, w):\n    return correlate(z, w[::-1, ::-1]).T\n",
        SMALL,
        ["transposed_axes", NOT_ADJOINT, NOT_ADJOINT],
    ),
    "same_padding": (
        VECTORISED + "\n\ndef F(z, w):\n    return correlate(np.pad(z, 1), w[::-1, ::-1])\n",
        SMALL,
        ["same_padding"],
    ),
    "missing_channel_sum": (
        BATCHED.replace("x[i, p] += correlate", "x[i, p] = correlate"),
        BATCH,
        ["missing_channel_sum", NOT_ADJOINT, NOT_ADJOINT],
    ),
    "gw_mean_over_batch": (
        BATCHED.replace("    return delta, g_w", "    return delta, g_w / n"),
        BATCH,
        ["gw_scaled", NOT_ADJOINT],
    ),
    "g_scaled_by_2": (
        VECTORISED + "\n\ndef G(eps, z, w):\n    return 2 * G_delta(eps, w), 2 * G_gw(eps, z)\n",
        SMALL,
        ["delta_scaled", "gw_scaled", NOT_ADJOINT, NOT_ADJOINT],
    ),
    "delta_unpadded": (  # valid correlation of eps, zero-padded afterwards: wrong at the edges
        VECTORISED
        + "\n\ndef G_delta(eps, w):\n    return np.pad(correlate(eps, w), w.shape[0] - 1)\n",
        SMALL,
        ["delta_border", NOT_ADJOINT],
    ),
    "wrong_shape": (
        VECTORISED + "\n\ndef F(z, w):\n    return correlate(z, w[::-1, ::-1])[:-1, :-1]\n",
        SMALL,
        ["wrong_shape"],
    ),
    "syntax_error": ("import numpy as np\n\ndef F(z, w)\n    return z\n", SMALL, ["import_error"]),
    "raises": (
        VECTORISED + "\n\ndef F(z, w):\n    return z / w.shape[5]\n",
        SMALL,
        ["raises"],
    ),
    "sleeps": (
        VECTORISED + "\n\ndef F(z, w):\n    import time\n    time.sleep(60)\n",
        {**SMALL, "timeout": 1.0},
        ["timeout"],
    ),
    "returns_list": (
        VECTORISED + "\n\ndef F(z, w):\n    return correlate(z, w[::-1, ::-1]).tolist()\n",
        SMALL,
        ["wrong_type"],
    ),
    "returns_none": (
        VECTORISED + "\n\ndef F(z, w):\n    x = correlate(z, w[::-1, ::-1])\n",
        SMALL,
        ["wrong_type"],
    ),
    "prints_a_lot": (  # a warning: the report stays ok
        VECTORISED.replace("def F(z, w):\n", "def F(z, w):\n    print('debug ' * 50_000)\n"),
        SMALL,
        ["noisy_output"],
    ),
    "calls_sys_exit": (
        VECTORISED + "\n\ndef G(eps, z, w):\n    import sys\n    sys.exit(0)\n",
        SMALL,
        ["exits"],
    ),
    "exits_on_import": (
        VECTORISED + "\n\nimport os\nos._exit(3)\n",
        SMALL,
        ["exits"],
    ),
    "no_backward": (VECTORISED.split("def G_delta")[0], SMALL, ["missing_function"]),
}
