"""The slips of a conv layer in any geometry, each as its output on the judge's arrays.

Built from the verified :mod:`convprop.conv` with one thing changed: the other kind of
convolution (the kernel flipped), the bias left out, the stride ignored (in the forward or
only in the backward pass: windows at ``i`` instead of ``s*i``), H and W swapped (the result
or the kernel transposed), a gradient divided by the batch size, the bias gradient summed over
every axis, and ``dx_pad[:, :, p:-p, p:-p]``, empty when ``p = 0``.
"""

from __future__ import annotations

import numpy as np

from convprop import conv
from convprop.grading.layers.common import Slip

OTHER = {"convolution": "correlation", "correlation": "convolution"}


def _t(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(a, -1, -2))


def forward_slips(z, w, b, kind: str, geo: dict) -> list[Slip]:
    """Slips of ``out = F(z, w) + b``."""
    other = conv.conv2d(z, w, b, kind=OTHER[kind], **geo)
    slips = [
        Slip(
            "forward_is_correlation" if kind == "convolution" else "forward_is_convolution",
            f"out is {OTHER[kind]}: the kernel is "
            + ("not flipped" if kind == "convolution" else "flipped (w[..., ::-1, ::-1])"),
            "flip the kernel on both axes" if kind == "convolution" else "do not flip w",
            other,
        )
    ]
    if b is not None:
        x = conv.conv2d(z, w, kind=kind, **geo)
        slips.append(Slip("bias_missing", "out leaves out the bias b", "add b[o] to out", x))
    if geo["stride"] > 1:
        x = conv.conv2d(z, w, b, kind=kind, **{**geo, "stride": 1})
        s = geo["stride"]
        fix = f"read the window at rows {s}*i, columns {s}*j (Ho = (H + 2p - kh)//{s} + 1)"
        slips.append(Slip("stride_ignored", "out ignores the stride (stride 1 used)", fix, x))
    x = conv.conv2d(z, w, b, kind=kind, **geo)
    hw = "index as [n, c, row, column] everywhere: H = x.shape[2], W = x.shape[3]"
    slips.append(Slip("hw_swapped", "out has H and W swapped (out transposed)", hw, _t(x)))
    if w.shape[-1] == w.shape[-2]:
        x_wt = conv.conv2d(z, _t(w), b, kind=kind, **geo)
        slips.append(Slip("hw_swapped", "out uses the kernel with kh and kw swapped", hw, x_wt))
    return slips


def backward_slips(eps, z, w, kind: str, geo: dict, bias: bool) -> dict[str, list[Slip]]:
    """Slips of dx, dw and db (the gradients of the loss ``<out, eps>``)."""
    n, s, p = (z.shape[0] if z.ndim == 4 else 1), geo["stride"], geo["padding"]
    dx = conv.conv2d_adjoint_input(eps, w, input_shape=z.shape, kind=kind, **geo)
    dw = conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, kind=kind, **geo)
    db = eps.sum(axis=(0, 2, 3)) if bias else None
    flip = {
        "dx": conv.conv2d_adjoint_input(eps, w, input_shape=z.shape, kind=OTHER[kind], **geo),
        "dw": conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, kind=OTHER[kind], **geo),
    }
    code = {"dx": "delta_flipped", "dw": "gw_flipped"}
    out: dict[str, list[Slip]] = {"dx": [], "dw": [], "db": []}
    for part in ("dx", "dw"):
        out[part].append(
            Slip(
                code[part],
                f"{part} is the {part} of {OTHER[kind]}: the kernel (or {part}) flipped",
                f"use the same orientation of w as the forward pass ({kind})",
                flip[part],
            )
        )
    if p == 0:
        out["dx"].append(
            Slip(
                "padding_cut_empty",
                "dx is empty: dx_pad[:, :, p:-p, p:-p] with p = 0 cuts everything away",
                "cut with explicit ends: dx_pad[:, :, p:p + H, p:p + W]",
                test=lambda g: g.size == 0,
            )
        )
    if s > 1:
        ignored = _stride_ignored(eps, z, w, kind, geo)
        fix = f"the window of out[n, o, i, j] starts at ({s}*i, {s}*j) in the backward pass too"
        for part in ("dx", "dw"):
            out[part].append(
                Slip(
                    "stride_ignored_in_backward",
                    f"{part} ignores the stride: windows at (i, j) instead of ({s}*i, {s}*j)",
                    fix,
                    ignored[part],
                )
            )
    hw = "index as [n, c, row, column] everywhere: H = x.shape[2], W = x.shape[3]"
    out["dx"].append(Slip("hw_swapped", "dx has H and W swapped (dx transposed)", hw, _t(dx)))
    out["dw"].append(Slip("hw_swapped", "dw has kh and kw swapped (dw transposed)", hw, _t(dw)))
    if n > 1:
        for part, value in (("dx", dx), ("dw", dw), ("db", db))[: 3 if bias else 2]:
            out[part].append(
                Slip(
                    "divided_by_batch",
                    f"{part} is divided by the batch size N = {n}",
                    f"do not divide {part} by N: the loss's own mean already did",
                    value / n,
                )
            )
    if bias:
        total = float(eps.sum())
        out["db"].insert(
            0,
            Slip(
                "db_summed_over_all",
                f"db is dout summed over every axis ({total:.6g}), not one sum per channel",
                "db = dout.sum(axis=(0, 2, 3)): one sum per output channel",
                test=lambda g: g.size in (1, db.size) and np.allclose(g, total, rtol=1e-6),
            ),
        )
    return out


def _stride_ignored(eps, z, w, kind: str, geo: dict) -> dict[str, np.ndarray]:
    """dx and dw of a backward loop whose windows start at (i, j), not (s*i, s*j)."""
    (ho, wo), p, d = eps.shape[-2:], geo["padding"], geo["dilation"]
    hs, ws = ho + d * (w.shape[-2] - 1), wo + d * (w.shape[-1] - 1)  # the part of zp it reads
    one = {"stride": 1, "padding": 0, "dilation": d, "kind": kind}
    zp = np.pad(z, [(0, 0)] * (z.ndim - 2) + [(p, p), (p, p)])
    small = conv.conv2d_adjoint_input(eps, w, input_shape=(*z.shape[:-2], hs, ws), **one)
    dxp = np.zeros(zp.shape)
    dxp[..., :hs, :ws] = small
    dx = dxp[..., p : p + z.shape[-2], p : p + z.shape[-1]]
    dw = conv.conv2d_adjoint_weight(eps, zp[..., :hs, :ws], kernel_shape=w.shape, **one)
    return {"dx": dx, "dw": dw}
