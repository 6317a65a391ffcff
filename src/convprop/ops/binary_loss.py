"""Binary cross-entropy on logits: one independent yes/no (Bernoulli) target per entry.

With ``sigma(z) = 1 / (1 + e^-z)`` the probability of "yes", a target ``t`` in [0, 1] and a
weight ``p`` (``pos_weight``) on the positive term, the loss of one entry is

    l = -w (p t log sigma(z) + (1 - t) log(1 - sigma(z))) = w ((1 - t) z + (1 + (p - 1) t) s(-z))

with ``s(u) = log(1 + e^u)`` (softplus) computed as ``max(u, 0) + log1p(e^-|u|)``, finite for
every ``z`` (the two forms agree since ``-log sigma(z) = s(-z)`` and ``-log(1 - sigma(z)) = z
+ s(-z)``). Fused (F, G): one pass for the loss, one for both gradients.
"""

from __future__ import annotations

import numpy as np

from convprop.ops.loss import check_reduction
from convprop.ops.primitive import Primitive, describe_shapes
from convprop.tensor import Tensor


def _constant(value, dtype):
    if value is None:
        return None
    return np.asarray(value.data if isinstance(value, Tensor) else value, dtype=dtype)


# binary_cross_entropy_with_logits
#   F: L = sum (or mean) of w ((1 - t) z + (1 + (p - 1) t) s(-z)),  s(u) = log(1 + e^u)
#   G: g_z = g w ((1 + (p - 1) t) sigma(z) - p t),   g_t = g w ((p - 1) s(-z) - z)
def _bce_with_logits(z, t, weight=None, pos_weight=None, reduction="mean"):
    check_reduction(reduction)
    if z.shape != t.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: target and input must have one shape, got "
            f"{describe_shapes(t, z)}"
        )
    w, p = _constant(weight, z.dtype), _constant(pos_weight, z.dtype)
    softplus = np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z)))  # s(-z) = -log sigma(z)
    lw = 1 if p is None else 1 + (p - 1) * t
    try:
        loss = (1 - t) * z + lw * softplus
        loss = loss if w is None else loss * w
    except ValueError:
        raise ValueError(
            f"binary_cross_entropy_with_logits: weight or pos_weight does not broadcast to "
            f"the input's shape {z.shape}"
        ) from None
    if loss.shape != z.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: weight or pos_weight would make the loss "
            f"{loss.shape}, not the input's {z.shape}"
        )
    ctx = (z, t, w, p, lw, softplus, reduction)
    if reduction == "none":
        return loss, ctx
    total = np.sum(loss) if reduction == "sum" else np.mean(loss)
    return np.asarray(total, dtype=loss.dtype), ctx


def _bce_with_logits_adjoint(g, ctx, needs):
    z, t, w, p, lw, softplus, reduction = ctx
    scale = g / z.size if reduction == "mean" else g
    scale = scale if w is None else scale * w
    with np.errstate(over="ignore"):  # e^-z = inf: sigma = 0, as it should
        sigma = 1 / (1 + np.exp(-z))
    gz = scale * (lw * sigma - (t if p is None else p * t)) if needs[0] else None
    gt = None
    if needs[1]:
        gt = scale * (-z if p is None else (p - 1) * softplus - z)
    return gz, gt


_bce_prim = Primitive(
    "binary_cross_entropy_with_logits", _bce_with_logits, _bce_with_logits_adjoint, needs_mask=True
)


def binary_cross_entropy_with_logits(
    input,  # noqa: A002 (PyTorch's name)
    target,
    weight=None,
    *,
    reduction: str = "mean",
    pos_weight=None,
) -> Tensor:
    """Binary cross-entropy of ``sigma(input)`` against ``target``, computed stably.

    ``l = -w (p t log sigma(z) + (1 - t) log(1 - sigma(z)))`` per entry, summed, averaged
    over all entries (``"mean"``) or returned as is (``"none"``). ``weight`` broadcasts to the
    input; ``pos_weight`` ``p`` (one per class, the last axis) weighs the positive term.
    ``G: g_z = eps w ((1 + (p - 1) t) sigma(z) - p t)`` (``eps w (sigma(z) - t)`` for
    ``p = 1``); the target gets ``g_t = eps w ((p - 1) s(-z) - z)``, as in PyTorch.
    As ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Shape: ``(*), (*) -> ()`` (``(*)`` for ``reduction="none"``).
    """
    return _bce_prim(input, target, weight=weight, pos_weight=pos_weight, reduction=reduction)
