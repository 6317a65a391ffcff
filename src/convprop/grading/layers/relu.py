"""relu: forward and dx, in either convention.

- ``seed``: ``relu_forward(z) -> x`` and ``relu_backward(eps, z) -> delta``;
- ``cs231n``: ``relu_forward(x) -> (out, cache)``, ``relu_backward(dout, cache) -> dx``.

``out = max(x, 0)``, ``dx = dout * (x > 0)``. Setting: ``input_shape`` (any number of axes).
"""

from __future__ import annotations

import numpy as np

from convprop import ops
from convprop.grading.layers.common import (
    Calls,
    PartResult,
    Setting,
    Slip,
    autodiff,
    forward_backward,
    verdict,
)
from convprop.grading.submission import Submission


def judge(
    sub: Submission, convention: str, setting: dict, options: dict, names: dict
) -> dict[str, PartResult]:
    """The parts of a ReLU in one setting."""
    s = Setting("relu", setting)
    xs = s.shape("input_shape", range(1, 9))
    s.done()
    rng = np.random.default_rng(int(options.get("seed") or 0))
    x, eps = rng.standard_normal(xs), rng.standard_normal(xs)
    calls = Calls(sub, options.get("timeout"), 2 * x.size)
    got = forward_backward(calls, convention, names, (x,), eps, (x,), ("dx",), ("delta",))
    out, (dx,) = autodiff(ops.relu, (x,), eps)
    ref = {"forward": out, "dx": dx}
    slips = {
        "forward": [],
        "dx": [
            Slip(
                "relu_mask_missing",
                "dx is dout everywhere: the mask x > 0 is missing",
                "dx = dout * (x > 0)",
                eps,
            ),
            Slip(
                "relu_mask_inverted",
                "dx passes dout where x < 0: the mask is inverted",
                "dx = dout * (x > 0)",
                eps * (x < 0),
            ),
        ],
    }
    fix = {"forward": "out = np.maximum(x, 0)", "dx": "dx = dout * (x > 0)"}
    return {p: verdict(calls, p, got.get(p), ref[p], slips[p], fix[p]) for p in ref}
