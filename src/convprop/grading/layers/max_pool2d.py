"""max_pool2d: forward and dx, in either convention.

- ``seed``: ``max_pool_forward(z, kernel_size, stride) -> x`` and
  ``max_pool_backward(eps, z, kernel_size, stride) -> delta``, ``kernel_size`` a pair
  ``(kh, kw)``, ``stride`` an int;
- ``cs231n``: ``max_pool_forward_naive(x, pool_param) -> (out, cache)`` with
  ``pool_param = {"pool_height": kh, "pool_width": kw, "stride": s}``, and
  ``max_pool_backward_naive(dout, cache) -> dx``.

``out[n, c, i, j] = max over the window at (s*i, s*j) of x``; dx sends each ``dout`` to the
window's largest entry. Setting: ``input_shape`` ``(N, C, H, W)``, ``kernel_size`` (an int or a
pair), ``stride`` (an int, default ``kh``).
"""

from __future__ import annotations

import numpy as np

from convprop.grading.layers.common import (
    Calls,
    PartResult,
    Setting,
    Slip,
    forward_backward,
    verdict,
)
from convprop.grading.submission import Submission
from convprop.ops import avg_pool2d, max_pool2d
from convprop.ops.pool import pool_geometry
from convprop.tensor import Tensor


def judge(
    sub: Submission, convention: str, setting: dict, options: dict, names: dict
) -> dict[str, PartResult]:
    """The parts of a max-pool layer in one setting."""
    s = Setting("max_pool2d", setting)
    xs = s.shape("input_shape", (4,))
    k = s.take("kernel_size")
    k = (
        s.shape("kernel_size", (2,))
        if isinstance(k, (list, tuple))
        else (s.integer("kernel_size", low=1),) * 2
    )
    stride = s.integer("stride", k[0], low=1)
    s.done()
    try:
        _, _, _, out = pool_geometry(xs, k, stride)
    except ValueError as error:
        raise ValueError(f"max_pool2d: {error}") from None
    rng = np.random.default_rng(int(options.get("seed") or 0))
    x = rng.standard_normal(xs)
    eps = rng.standard_normal((*xs[:2], *out))
    calls = Calls(sub, options.get("timeout"), 2 * np.prod(xs[:2]) * np.prod(out) * k[0] * k[1])
    if convention == "cs231n":
        args: tuple = ({"pool_height": k[0], "pool_width": k[1], "stride": stride},)
    else:
        args = (k, stride)
    got = forward_backward(
        calls, convention, names, (x, *args), eps, (x, *args), ("dx",), ("delta",)
    )
    ref_x, ref_dx = _pool(max_pool2d, x, eps, k, stride)
    avg_x, avg_dx = _pool(avg_pool2d, x, eps, k, stride)
    slips = {
        "forward": [
            Slip(
                "pool_is_average",
                "out is the window's mean, not its max",
                "out = window.max()",
                avg_x,
            ),
        ],
        "dx": [
            Slip(
                "pool_grad_spread",
                "dx sends dout to every entry of the window, not only to its max",
                "dx[window] += dout[n, c, i, j] * (window == window.max())",
                avg_dx * (k[0] * k[1]),
            ),
            Slip(
                "pool_is_average",
                "dx is the gradient of an average pool",
                "dx[window] += dout[n, c, i, j] * (window == window.max())",
                avg_dx,
            ),
        ],
    }
    if stride != 1 and all(n >= kk for n, kk in zip(xs[2:], k, strict=True)):
        one_x, one_dx = _pool(max_pool2d, x, None, k, 1)
        fix = f"the window of out[n, c, i, j] starts at ({stride}*i, {stride}*j)"
        slips["forward"].append(
            Slip("stride_ignored", "out ignores the stride (stride 1 used)", fix, one_x)
        )
    fix = {
        "forward": f"out[n, c, i, j] = x[n, c, {stride}*i : {stride}*i + {k[0]}, "
        f"{stride}*j : {stride}*j + {k[1]}].max()",
        "dx": "dx[window] += dout[n, c, i, j] * (window == window.max())",
    }
    ref = {"forward": ref_x, "dx": ref_dx}
    return {p: verdict(calls, p, got.get(p), ref[p], slips[p], fix[p]) for p in ref}


def _pool(op, x, eps, k, stride) -> tuple[np.ndarray, np.ndarray | None]:
    """convprop's verified pool of ``x`` and its gradient for ``eps`` (None without one)."""
    t = Tensor(x, requires_grad=eps is not None, dtype=np.float64)  # not the default float32
    y = op(t, k, stride)
    if eps is None:
        return np.array(y.data), None
    y.backward(eps)
    return np.array(y.data), np.array(t.grad)
