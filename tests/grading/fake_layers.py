"""A stand-in for ``convprop.grading.layers`` (another branch) with the same interface.

It judges only ``conv2d`` in the ``seed`` convention without a bias: ``F(z, w)`` and
``G(eps, z, w) -> (delta, g_w)`` against :mod:`convprop.conv`. :func:`install` puts it in
``sys.modules`` when the real package is missing, so that the grading tests run on either.
"""

from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass, field

import numpy as np

from convprop.grading.findings import Finding
from convprop.grading.slips import Problem

LAYER_PARTS = {
    "conv2d": ("forward", "dx", "dw", "db"),
    "linear": ("forward", "dx", "dw", "db"),
    "relu": ("forward", "dx"),
    "max_pool2d": ("forward", "dx"),
    "softmax_cross_entropy": ("loss", "dx"),
    "sgd_momentum": ("update",),
}


@dataclass
class PartResult:
    part: str
    ok: bool
    findings: list = field(default_factory=list)


def judge(submission, layer, convention, setting, options):
    if (layer, convention) != ("conv2d", "seed") or options.get("bias"):
        raise ValueError(f"the fake judges conv2d in the seed convention only, not {layer}")
    unknown = set(setting) - {"input_shape", "kernel_shape"}
    if unknown:
        raise ValueError(f"conv2d: unknown setting key {sorted(unknown)[0]!r}")
    p = Problem(tuple(setting["input_shape"]), tuple(setting["kernel_shape"]), options["seed"])
    if options.get("timeout"):
        submission.timeout = options["timeout"]
    got = {}
    x = submission.call(options.get("forward", "F"), p.z, p.w)
    failures = {}
    if x.failure:
        failures["forward"] = x
    else:
        got["forward"] = x.arrays[0]
    g = submission.call(options.get("backward", "G"), p.eps, p.z, p.w, pair=True)
    if g.failure:
        failures["dx"] = failures["dw"] = g
    else:
        got["dx"], got["dw"] = g.arrays
    ref = {"forward": p.answers["F"], "dx": p.answers["G_delta"], "dw": p.answers["G_gw"]}
    results = {}
    for part, r in ref.items():
        if part in failures:
            out = failures[part]
            f = Finding(
                out.failure if out.failure != "import_error" else "raises",
                "error",
                part,
                out.message,
            )
            results[part] = PartResult(part, False, [f])
            continue
        u = got[part]
        if u.shape == r.shape and np.allclose(u, r, rtol=1e-9, atol=1e-9 * abs(r).max()):
            results[part] = PartResult(part, True)
            continue
        err = float(np.abs(u - r).max()) if u.shape == r.shape else None
        f = Finding(
            "wrong_shape" if err is None else "forward_wrong",
            "error",
            part,
            f"{part} is wrong",
            err,
            None,
            "compare with the formula",
        )
        results[part] = PartResult(part, False, [f])
    return results


def install() -> str:
    """Use the real ``convprop.grading.layers`` if present, else this fake; says which."""
    try:
        module = importlib.import_module("convprop.grading.layers")
        return "fake" if getattr(module, "FAKE", False) else "real"
    except ImportError:
        module = types.ModuleType("convprop.grading.layers")
        module.LAYER_PARTS, module.PartResult, module.judge = LAYER_PARTS, PartResult, judge
        module.FAKE = True
        sys.modules["convprop.grading.layers"] = module
        return "fake"
