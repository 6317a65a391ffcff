"""Softmax, log-softmax and the cross-entropy loss: maximum likelihood with one-hot labels.

The seed's model (Q3): the class label is one-hot, ``x_{k,m} = delta(m - m_k^*)``, and the
network gives ``f_theta(m | y_k) = softmax(z_k)_m`` from its logits ``z_k``. Then

    -log p_theta(x | y) = -sum_k sum_m x_{k,m} log f_theta(m | y_k) = sum_k rho_CE(x_k, f_k),

so maximum likelihood is minimum cross-entropy. Its gradient with respect to the logits is
the fused ``G: g_z = f - x`` (times ``sum_m x_{k,m}``, which is 1 for one-hot targets).
``log f`` is computed as ``z - logsumexp(z)`` with the maximum subtracted first, so logits
of 1e4 give neither NaN nor inf.
"""

from __future__ import annotations

import numpy as np

from convprop.ops.primitive import Primitive
from convprop.tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def _log_softmax_array(z: np.ndarray, axis: int) -> np.ndarray:
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))


# log_softmax  F: x = z - log sum_m e^{z_m}        G: g - softmax(z) * sum_m g_m
def _log_softmax(z, axis=-1):
    out = _log_softmax_array(z, axis)
    return out, (out, axis)


def _log_softmax_adjoint(g, ctx):
    out, axis = ctx
    return (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)


_log_softmax_prim = Primitive("log_softmax", _log_softmax, _log_softmax_adjoint)


def log_softmax(z, axis: int = -1) -> Tensor:
    """``log f_theta(m | y) = z_m - log sum_j e^{z_j}`` along ``axis``, computed stably."""
    return _log_softmax_prim(z, axis=axis)


# softmax  F: f = e^{z - max z} / sum e^{z - max z}   G: f * (g - sum_m g_m f_m)
def _softmax(z, axis=-1):
    out = np.exp(_log_softmax_array(z, axis))
    return out, (out, axis)


def _softmax_adjoint(g, ctx):
    out, axis = ctx
    return (out * (g - np.sum(g * out, axis=axis, keepdims=True)),)


_softmax_prim = Primitive("softmax", _softmax, _softmax_adjoint)


def softmax(z, axis: int = -1) -> Tensor:
    """``f_theta(m | y) = e^{z_m} / sum_j e^{z_j}``: non-negative, sums to 1 (the seed's Q3.2)."""
    return _softmax_prim(z, axis=axis)


def one_hot(labels, num_classes: int, dtype=np.float32) -> np.ndarray:
    """``x_{k,m} = delta(m - m_k^*)``: the seed's one-hot encoding (Q3.1), shape ``(K, M)``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be a 1-D array of class indices, got dtype "
            f"{labels.dtype} and shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}], found {labels.min()}..{labels.max()}"
        )
    out = np.zeros((labels.size, num_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out


def class_weights(weight, num_classes: int, dtype) -> np.ndarray | None:
    """A loss's ``weight``: None, or one non-negative number per class, in ``dtype``."""
    if weight is None:
        return None
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=dtype)
    if w.shape != (num_classes,):
        raise ValueError(f"weight must have one entry per class, ({num_classes},), got {w.shape}")
    return w


def _class_indices(target, shape):
    """``target`` as int class indices when it is 1-D (integral floats allowed), else None."""
    target = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target.ndim != 1:
        if target.shape != shape:
            raise ValueError(
                f"cross_entropy: target of shape {target.shape} fits neither class "
                f"indices ({shape[0]},) nor probabilities {shape}"
            )
        return None
    if target.shape[0] != shape[0]:
        raise ValueError(f"cross_entropy: {target.shape[0]} labels for {shape[0]} rows of logits")
    if target.dtype.kind == "f" and not np.all(target == np.round(target)):
        raise ValueError("cross_entropy: 1-D targets must be class indices (integers)")
    if target.dtype.kind not in "iuf":
        raise ValueError(f"cross_entropy: class indices must be integers, got {target.dtype}")
    return target.astype(np.int64, copy=False)


def picked_labels(labels: np.ndarray, num_classes: int, ignore_index: int):
    """``(valid, picked)``: which labels count (not ``ignore_index``), and the labels with
    the ignored ones set to class 0 (so they can index); others must lie in ``[0, M)``.
    ``valid`` is None when every label counts (the common case, checked in two reductions)."""
    if labels.size:
        lo, hi = labels.min(), labels.max()
        if 0 <= lo and hi < num_classes and not lo <= ignore_index <= hi:
            return None, labels
    valid = labels != ignore_index
    counted = labels[valid]
    if counted.size and (counted.min() < 0 or counted.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}] (or be ignore_index={ignore_index}), "
            f"found {counted.min()}..{counted.max()}"
        )
    return valid, np.where(valid, labels, 0)


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {REDUCTIONS}")


def _reduce(per_row, reduction, divisor):
    if reduction == "none":
        return per_row
    total = np.sum(per_row)
    if reduction == "mean":
        total = total / divisor if divisor else np.nan  # the mean of nothing: NaN, as PyTorch
    return np.asarray(total, dtype=per_row.dtype)


# cross_entropy  F: L = sum_k rho_CE(x_k, f_k) = -sum_k sum_m x_{k,m} log f_theta(m | y_k),
#                   divided by D for reduction="mean"
#                G: g_z = g (f * sum_m x_m - x) / D   (fused: one softmax, no chain of ops)
# With class indices m_k^*, weights w, smoothing a and M classes (PyTorch's rule), the target
# row is x_k = [k counted] ((1 - a) w_{m_k^*} e_{m_k^*} + (a / M) w) and D = sum of
# w_{m_k^*} over the counted rows (k is counted unless its label is ignore_index); with
# probability rows p_k, x_k = ((1 - a) p_k + a / M) * w and D = K.
def _cross_entropy(
    z, target, reduction="mean", label_smoothing=0.0, weight=None, ignore_index=-100
):
    if z.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (K, M), got {z.shape}")
    check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
    k, m = z.shape
    w = class_weights(weight, m, z.dtype)
    a = label_smoothing
    labels = _class_indices(target, z.shape)
    log_f = _log_softmax_array(z, axis=1)
    if labels is None:  # probability rows p_k
        if ignore_index >= 0:
            raise ValueError(
                "cross_entropy: ignore_index is not supported for probability targets"
            )
        target = target.data if isinstance(target, Tensor) else np.asarray(target)
        x = target.astype(z.dtype, copy=False)
        if np.any(x < 0):
            raise ValueError("cross_entropy: probability targets must be non-negative")
        x = (1 - a) * x + a / m if a else x
        x = x * w if w is not None else x
        per_row = -np.sum(x * log_f, axis=1)  # rho_CE(x_k, f_k)
        return _reduce(per_row, reduction, k), (log_f, x, reduction, k)
    valid, picked = picked_labels(labels, m, ignore_index)
    if valid is None and w is not None:
        valid = np.ones(k, bool)
    rows = np.arange(k)
    # w_y: the weight of each row's label, 0 where ignored (None: all 1, the common case)
    w_y = None if valid is None else (valid if w is None else w[picked] * valid)
    w_y = None if w_y is None else w_y.astype(z.dtype)
    per_row = -log_f[rows, picked]  # -log f(m_k^* | y_k)
    if w_y is not None:
        per_row = per_row * w_y
    if a:
        smooth = -(log_f.sum(1) if w is None else log_f @ w)  # -sum_m w_m log f_m
        per_row = (1 - a) * per_row + (a / m) * (smooth if w_y is None else smooth * valid)
    divisor = k if w_y is None else np.sum(w_y)
    ctx = (log_f, (picked, w_y, valid, w, a), reduction, divisor)
    return _reduce(per_row, reduction, divisor), ctx


def _cross_entropy_adjoint(g, ctx):
    log_f, x, reduction, divisor = ctx
    gz = np.exp(log_f)  # f
    if isinstance(x, tuple):  # class indices: x built in place, never as a dense one-hot
        picked, w_y, valid, w, a = x
        m = gz.shape[1]
        if w_y is not None:  # f * sum_m x_m, sum_m x_m = (1 - a) w_y + [counted] (a / M) sum w
            total = (1 - a) * w_y + (a / m) * (m if w is None else np.sum(w)) * valid
            gz *= total[:, None]
        if a:
            share = (a / m) * (np.ones(m, gz.dtype) if w is None else w)
            gz -= share if w_y is None else valid[:, None] * share
        gz[np.arange(len(picked)), picked] -= (1 - a) * (1 if w_y is None else w_y)
    else:
        gz = gz * np.sum(x, axis=1, keepdims=True) - x  # f - x for one-hot x
    if reduction == "none":
        return (gz * g[:, None],)
    scale = g / divisor if reduction == "mean" else g
    return (gz * scale,)


_cross_entropy_prim = Primitive("cross_entropy", _cross_entropy, _cross_entropy_adjoint)


def cross_entropy(
    logits,
    target,
    weight=None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of softmax(logits) against ``target``: the negative log-likelihood.

    ``L = sum_k rho_CE(x_k, f_k)``, ``rho_CE(x, f) = -sum_m x_m log f_m``; fused
    ``G: g_z = eps (f_k sum_m x_{k,m} - x_k)`` (``f - x`` for one-hot rows). As
    ``torch.nn.functional.cross_entropy``.

    Args:
        logits: ``(K, M)``, the unnormalised ``z_k`` for K examples and M classes.
        target: class indices ``m_k^*`` of shape ``(K,)``, or one-hot / probability rows
            ``x_k`` of shape ``(K, M)``. No gradient flows to the target.
        weight: ``(M,)`` class weights ``w``: row k counts ``w_{m_k^*}`` times.
        ignore_index: rows whose label is this add nothing (class indices only).
        reduction: ``"mean"`` (divide by the summed weights ``sum_k w_{m_k^*}`` of the rows
            not ignored, which is K without weights; by K for probability rows),
            ``"sum"`` (the seed's ``L_CE``) or ``"none"`` (one ``rho_CE`` per example).
        label_smoothing: ``a``: the target becomes ``(1 - a) x + a / M`` (each part weighted
            as PyTorch does: ``(1 - a) w_{m^*} e_{m^*} + (a / M) w`` for class indices).

    Shape: ``(K, M), (K,) or (K, M) -> ()``, or ``(K,)`` for ``reduction="none"``.
    """
    return _cross_entropy_prim(
        logits,
        target=target,
        reduction=reduction,
        label_smoothing=float(label_smoothing),
        weight=weight,
        ignore_index=int(ignore_index),
    )


def nll_loss(
    log_probs, target, weight=None, *, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """``-sum_k w_{m_k^*} log f(m_k^* | y_k)`` from log-probabilities ``(K, M)`` and labels.

    As ``torch.nn.functional.nll_loss``: rows labelled ``ignore_index`` add nothing, and
    ``"mean"`` divides by ``sum_k w_{m_k^*}`` over the other rows. A composite of getitem,
    mul and sum (no adjoint of its own). Shape: ``(K, M), (K,) -> ()`` (``(K,)`` for "none").
    """
    check_reduction(reduction)
    log_probs = log_probs if isinstance(log_probs, Tensor) else Tensor(log_probs)
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    if log_probs.ndim != 2 or target.shape != (log_probs.shape[0],):
        raise ValueError(
            f"nll_loss expects (K, M) log-probabilities and (K,) labels, got "
            f"{log_probs.shape} and {target.shape}"
        )
    if target.dtype.kind not in "iu":
        raise ValueError(f"nll_loss: labels must be integers, got {target.dtype}")
    valid, picked = picked_labels(target.astype(np.int64), log_probs.shape[1], ignore_index)
    valid = np.ones(len(picked), bool) if valid is None else valid
    w = class_weights(weight, log_probs.shape[1], log_probs.dtype)
    w_y = (valid if w is None else w[picked] * valid).astype(log_probs.dtype)
    per_row = -log_probs[np.arange(len(picked)), picked] * w_y
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    with np.errstate(invalid="ignore", divide="ignore"):  # nothing counted: NaN, as PyTorch
        return per_row.sum() / np.sum(w_y)


def mse_loss(prediction, target, *, reduction: str = "mean") -> Tensor:
    """``sum or mean of (prediction - target)^2``: a composite (sub, pow, sum/mean).

    Shape: ``(*), (*) -> ()`` (``(*)`` for ``reduction="none"``)."""
    check_reduction(reduction)
    prediction = prediction if isinstance(prediction, Tensor) else Tensor(prediction)
    target_shape = np.shape(target.data if isinstance(target, Tensor) else target)
    if target_shape != prediction.shape:
        raise ValueError(
            f"mse_loss: prediction {prediction.shape} and target {target_shape} differ in shape"
        )
    squared = (prediction - target) ** 2
    if reduction == "none":
        return squared
    return squared.sum() if reduction == "sum" else squared.mean()
