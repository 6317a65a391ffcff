"""linear (affine): forward, dx, dw (and db with a bias), in either convention.

``x`` of shape ``(N, d1, ..., dk)`` is read as ``(N, D)`` rows, ``D = d1 * ... * dk``; ``w`` is
``(D, M)``, ``b`` is ``(M,)``: ``out = x.reshape(N, D) @ w + b``, ``(N, M)``.

- ``seed``: ``linear_forward(z, w) -> x`` and ``linear_backward(eps, z, w) -> (delta, g_w)``;
  with a bias ``linear_forward(z, w, b)`` and ``(delta, g_w, g_b)``. No bias by default.
- ``cs231n``: ``affine_forward(x, w, b) -> (out, cache)``, ``affine_backward(dout, cache) ->
  (dx, dw, db)``; a bias by default (``b`` is zeros without one, and db is not judged).

Setting: ``input_shape`` and ``out_features`` M (or ``weight_shape`` ``(D, M)``).
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
    flag,
    forward_backward,
    verdict,
)
from convprop.grading.submission import Submission


def judge(
    sub: Submission, convention: str, setting: dict, options: dict, names: dict
) -> dict[str, PartResult]:
    """The parts of an affine layer in one setting (see the module docstring)."""
    s = Setting("linear", setting)
    xs = s.shape("input_shape", range(2, 9))
    d = int(np.prod(xs[1:]))
    if "weight_shape" in setting:
        ws = s.shape("weight_shape", (2,))
        if ws[0] != d:
            raise ValueError(f"linear: weight_shape {ws} needs {d} rows for input {xs}")
        s.read.add("out_features")
        if "out_features" in setting and setting["out_features"] != ws[1]:
            raise ValueError("linear: out_features and weight_shape disagree")
    else:
        ws = (d, s.integer("out_features", low=1))
    s.done()
    bias = flag(options, "bias", convention == "cs231n")
    rng = np.random.default_rng(int(options.get("seed") or 0))
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    eps = rng.standard_normal((xs[0], ws[1]))
    b = rng.standard_normal(ws[1]) if bias else np.zeros(ws[1])
    calls = Calls(sub, options.get("timeout"), 3 * xs[0] * d * ws[1])
    parts = ("dx", "dw", "db") if bias else ("dx", "dw")
    fwd_args = (x, w, b) if bias or convention == "cs231n" else (x, w)
    seed_names = ("delta", "g_w", "g_b")[: len(parts)]
    got = forward_backward(calls, convention, names, fwd_args, eps, (x, w), parts, seed_names)
    x2 = x.reshape(xs[0], d)
    out, (gx, gw, gb) = autodiff(ops.linear, (x2, w.T, b), eps)  # PyTorch's (M, D) weight
    ref = {"forward": out, "dx": gx.reshape(xs), "dw": gw.T}
    if bias:
        ref["db"] = gb
    n = xs[0]
    slips: dict[str, list[Slip]] = {
        "forward": [],
        "dx": [],
        "dw": [
            Slip(
                "transposed_axes",
                "dw is transposed: (M, D) where w is (D, M)",
                "dw = x.reshape(N, D).T @ dout, of the shape of w",
                ref["dw"].T,
            )
        ],
        "db": [_summed(eps)],
    }
    if bias:
        slips["forward"].append(
            Slip("bias_missing", "out leaves out the bias b", "out = x @ w + b", x2 @ w)
        )
    if len(xs) > 2:
        slips["dx"].append(
            Slip(
                "dx_not_reshaped",
                f"dx has the flattened shape {(n, d)}, not the shape of x {xs}",
                "return dx.reshape(x.shape)",
                ref["dx"].reshape(n, d),
            )
        )
    if n > 1:
        for part in parts:
            slips[part].append(
                Slip(
                    "divided_by_batch",
                    f"{part} is divided by the batch size N = {n}",
                    f"do not divide {part} by N: the loss's own mean already did",
                    ref[part] / n,
                )
            )
    fix = {
        "forward": "out = x.reshape(N, -1) @ w" + (" + b" if bias else ""),
        "dx": "dx = (dout @ w.T).reshape(x.shape)",
        "dw": "dw = x.reshape(N, -1).T @ dout",
        "db": "db = dout.sum(axis=0)",
    }
    return {
        part: verdict(calls, part, got.get(part), ref[part], slips[part], fix[part])
        for part in ref
    }


def _summed(eps: np.ndarray) -> Slip:
    total = float(eps.sum())
    return Slip(
        "db_summed_over_all",
        f"db is dout summed over every axis ({total:.6g}), not one sum per output",
        "db = dout.sum(axis=0): one sum per output",
        test=lambda g: g.size in (1, eps.shape[1]) and np.allclose(g, total, rtol=1e-6),
    )
