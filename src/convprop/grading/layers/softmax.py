"""softmax_cross_entropy: the loss and dx, in either convention.

One function, ``softmax_cross_entropy(x, y) -> (loss, dx)`` (``seed``) or
``softmax_loss(x, y) -> (loss, dx)`` (``cs231n``): logits ``x`` ``(N, K)``, labels ``y`` ``(N,)``
(ints in ``[0, K)``), ``loss = mean_n -log softmax(x_n)[y_n]`` (averaged over the batch) and
``dx = (softmax(x) - onehot(y)) / N``. Setting: ``shape`` ``(N, K)``, ``scale`` (the logits are
``scale`` times standard normal numbers, default 1; at 1000 a softmax without the max
subtracted overflows).
"""

from __future__ import annotations

import numpy as np

from convprop import ops
from convprop.grading.layers.common import Calls, PartResult, Setting, Slip, autodiff, verdict
from convprop.grading.submission import Submission
from convprop.tensor import Tensor


def judge(
    sub: Submission, convention: str, setting: dict, options: dict, names: dict
) -> dict[str, PartResult]:
    """The loss and dx of a softmax cross-entropy in one setting."""
    s = Setting("softmax_cross_entropy", setting)
    n, k = s.shape("shape", (2,))
    scale = s.number("scale", 1.0)
    s.done()
    rng = np.random.default_rng(int(options.get("seed") or 0))
    x = scale * rng.standard_normal((n, k))
    y = rng.integers(0, k, n)
    calls = Calls(sub, options.get("timeout"), 10 * n * k)
    out = calls(("loss", "dx"), names["function"], x, y, returns=["loss:number", "dx"])
    got = {} if out is None else {"loss": _scalar(out[0]), "dx": out[1]}
    loss, (dx,) = autodiff(lambda t: ops.cross_entropy(t, y), (x,))
    ref = {"loss": loss.reshape(()), "dx": dx}
    p = np.array(ops.softmax(Tensor(x, dtype=np.float64), axis=1).data)
    overflows = _overflows(x)
    overflow = Slip(
        "softmax_overflow",
        "NaN or inf at large logits: exp(x) overflows because the max is not subtracted",
        "subtract x.max(axis=1, keepdims=True) from x before exp",
        test=lambda g: overflows and not np.all(np.isfinite(g)),
    )
    slips = {
        "loss": [
            overflow,
            Slip(
                "loss_summed",
                f"the loss is summed over the batch: N = {n} times the mean",
                "divide the summed loss by N",
                ref["loss"] * n,
            ),
        ],
        "dx": [
            overflow,
            Slip(
                "loss_summed",
                f"dx is N = {n} times too large: the gradient of the summed loss",
                "divide dx by N, as the loss is a mean",
                ref["dx"] * n,
            ),
            Slip(
                "missing_true_class_minus_one",
                "dx lacks the -1 at the true class: it is softmax(x) / N",
                "dx = softmax(x); dx[np.arange(N), y] -= 1; dx /= N",
                p / n,
            ),
        ],
    }
    fix = {
        "loss": "loss = -mean(log_softmax(x)[np.arange(N), y]), with the max subtracted first",
        "dx": "dx = softmax(x); dx[np.arange(N), y] -= 1; dx /= N",
    }
    return {
        part: verdict(calls, part, got.get(part), ref[part], slips[part], fix[part])
        for part in ref
    }


def _scalar(a: np.ndarray) -> np.ndarray:
    return a.reshape(()) if a.size == 1 else a


def _overflows(x: np.ndarray) -> bool:
    """Does the textbook softmax without the max subtracted give NaN or inf here?"""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        return not np.all(np.isfinite(e / e.sum(axis=1, keepdims=True)))
