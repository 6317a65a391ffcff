"""conv2d: forward, dx, dw (and db with a bias) in any geometry, in either convention.

Conventions (names are the defaults; ``--forward`` / ``--backward`` rename them):

- ``seed``: ``F(z, w) -> x`` and ``G(eps, z, w) -> (delta, g_w)``; with a bias ``F(z, w, b)`` and
  ``G(eps, z, w) -> (delta, g_w, g_b)``; a stride, padding or dilation other than 1, 0, 1 is
  passed as the keywords ``stride=``, ``padding=``, ``dilation=``. In the seed's own geometry
  (true convolution, 'valid', stride 1, no bias) the whole catalogue of
  :mod:`convprop.grading.slips` applies, with the dot-product test against the user's own F
  (and ``G_delta`` / ``G_gw`` in two halves are accepted).
- ``cs231n``: ``conv_forward_naive(x, w, b, conv_param) -> (out, cache)`` with
  ``conv_param = {"stride": s, "pad": p}`` and ``conv_backward_naive(dout, cache) ->
  (dx, dw, db)``; ``b`` is zeros when the question has no bias (and db is not judged).

Shape: ``(N, C, H, W), (O, C, kh, kw) -> (N, O, Ho, Wo)``,
``Ho = (H + 2p - d(kh - 1) - 1) // s + 1``.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from convprop import conv
from convprop.grading import explain
from convprop.grading.diagnose import Diagnosis, check_shapes, find_roles
from convprop.grading.layers.common import Calls, PartResult, Setting, flag, verdict
from convprop.grading.layers.conv2d_slips import backward_slips, forward_slips
from convprop.grading.slips import Problem
from convprop.grading.submission import Submission

KINDS = ("convolution", "correlation")
PLAIN = {"stride": 1, "padding": 0, "dilation": 1}  # the seed's geometry
SEED_PARTS = {"F": ("forward",), "G_delta": ("dx",), "G_gw": ("dw",), "G": ("dx", "dw")}


def judge(
    sub: Submission, convention: str, setting: dict, options: dict, names: dict
) -> dict[str, PartResult]:
    """The parts of a conv layer in one setting (see the module docstring)."""
    s = Setting("conv2d", setting)
    four = (4,) if convention == "cs231n" else (2, 4)
    zs, ws = s.shape("input_shape", four), s.shape("kernel_shape", four)
    geo = {
        "stride": s.integer("stride", 1, low=1),
        "padding": s.integer("padding", 0),
        "dilation": s.integer("dilation", 1, low=1),
    }
    s.done()
    kind = options.get("kind") or ("convolution" if convention == "seed" else "correlation")
    if kind not in KINDS:
        raise ValueError(f"conv2d: kind must be convolution or correlation, got {kind!r}")
    bias = flag(options, "bias", convention == "cs231n")
    if len(zs) != len(ws) or (len(zs) == 4 and zs[1] != ws[1]):
        raise ValueError(f"conv2d: input_shape {zs} and kernel_shape {ws} do not fit")
    if bias and len(zs) != 4:
        raise ValueError("conv2d: a bias needs 4-D shapes (N, C, H, W) and (O, C, kh, kw)")
    if convention == "cs231n" and geo["dilation"] != 1:
        raise ValueError("conv2d: the cs231n convention has no dilation")
    try:
        out_shape = conv.conv2d_output_shape(zs, ws, **geo)
    except ValueError as error:
        raise ValueError(f"conv2d: {error}") from None
    seed = int(options.get("seed") or 0)
    calls = Calls(sub, options.get("timeout"), work(zs, ws, geo))
    if convention == "seed" and kind == "convolution" and geo == PLAIN and not bias:
        return _seed_catalogue(calls, zs, ws, seed, options)
    rng = np.random.default_rng(seed)  # z, w, eps in the order of slips.Problem
    z, w = rng.standard_normal(zs), rng.standard_normal(ws)
    eps = rng.standard_normal(out_shape)
    b = rng.standard_normal(ws[0]) if bias else None
    got = _call(calls, convention, names, z, w, b, eps, geo, bias)
    ref = {
        "forward": conv.conv2d(z, w, b, kind=kind, **geo),
        "dx": conv.conv2d_adjoint_input(eps, w, input_shape=zs, kind=kind, **geo),
        "dw": conv.conv2d_adjoint_weight(eps, z, kernel_shape=ws, kind=kind, **geo),
    }
    if bias:
        ref["db"] = eps.sum(axis=(0, 2, 3))
    slips = {"forward": forward_slips(z, w, b, kind, geo)}
    slips.update(backward_slips(eps, z, w, kind, geo, bias))
    what = {"forward": "out", "dx": "dx", "dw": "dw", "db": "db"}
    fix = _fixes(kind, geo)
    return {
        part: verdict(calls, part, got.get(part), ref[part], slips[part], fix[part], what[part])
        for part in ref
    }


def work(zs: tuple, ws: tuple, geo: dict) -> float:
    """Multiply-adds of a backward pass (twice the forward's): what the time limit scales by."""
    out = conv.conv2d_output_shape(zs, ws, **{**PLAIN, **geo})
    return 2.0 * float(np.prod(out)) * float(np.prod(ws[1:] if len(ws) == 4 else ws))


def _call(calls: Calls, convention, names, z, w, b, eps, geo, bias) -> dict:
    """The submission's outputs by part (a part missing: its finding is in ``calls.notes``)."""
    parts = ("dx", "dw", "db") if bias else ("dx", "dw")
    got: dict = {}
    if convention == "cs231n":
        conv_param = {"stride": geo["stride"], "pad": geo["padding"]}
        b_arg = b if bias else np.zeros(w.shape[0])
        fwd = calls(
            ("forward",), names["forward"], z, w, b_arg, conv_param, returns=["out", "cache:any"]
        )
        if fwd is None:
            calls.missing(parts, f"not run: {names['forward']} gave no cache")
            return got
        got["forward"] = fwd[0]
        bwd = calls(parts, names["backward"], eps, fwd[1], returns=["dx", "dw", "db"])
    else:
        kwargs = {k: v for k, v in geo.items() if v != PLAIN[k]}
        args = (z, w, b) if bias else (z, w)
        out = calls(("forward",), names["forward"], *args, kwargs=kwargs, returns="x")
        if out is not None:
            got["forward"] = out[0]
        items = ["delta", "g_w", "g_b"] if bias else ["delta", "g_w"]
        bwd = calls(parts, names["backward"], eps, z, w, kwargs=kwargs, returns=items)
    if bwd is not None:
        got.update(zip(parts, bwd, strict=False))
    return got


def _fixes(kind: str, geo: dict) -> dict:
    s, p, d = geo["stride"], geo["padding"], geo["dilation"]
    w = "w[o, c, a, b]" if kind == "correlation" else "w[o, c, kh-1-a, kw-1-b]"
    at = f"zp[n, c, {s}*i + {d}*a, {s}*j + {d}*b]"
    return {
        "forward": f"out[n, o, i, j] = b[o] + sum_(c,a,b) {w} {at}, zp = z zero-padded by {p}",
        "dx": f"dx_pad[n, c, {s}*i + {d}*a, {s}*j + {d}*b] += {w} dout[n, o, i, j], then cut "
        f"the padding {p} away: dx_pad[:, :, {p}:H+{p}, {p}:W+{p}]",
        "dw": f"dw[o, c, a, b] += dout[n, o, i, j] {at}"
        + (" (then flip a, b)" if kind == "convolution" else ""),
        "db": "db[o] = sum over n, i, j of dout[n, o, i, j]: dout.sum(axis=(0, 2, 3))",
    }


def _seed_catalogue(calls: Calls, zs, ws, seed: int, options: dict) -> dict[str, PartResult]:
    """The seed's geometry: the existing diagnosis (every catalogued slip, the adjoint test)."""
    parts = ("forward", "dx", "dw")
    sub = calls.sub
    if calls.opened.failure:
        calls.note(parts, explain.failure("file", calls.opened))
        return {p: verdict(calls, p, None, np.zeros(0)) for p in parts}
    forward = options.get("forward") or "F"
    roles, missing = find_roles(sub.names, forward, options.get("backward"), None, None)
    callers = {
        role: partial(sub.call, name, pair=role == "G", timeout=calls.timeout)
        for role, name in roles.items()
    }
    problem = Problem(*check_shapes(zs, ws), seed)
    report = Diagnosis(callers, problem, str(sub.path), missing).run()
    results = {p: PartResult(p, True, []) for p in parts}
    for f in report.findings:
        for part in SEED_PARTS.get(f.part, parts):
            results[part].findings.append(f)
            results[part].ok &= f.severity != "error"
    return results
