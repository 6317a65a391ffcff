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


def _targets(target, shape, dtype, label_smoothing):
    """One-hot (or given probability) targets ``x`` of ``shape``, smoothed if asked."""
    target = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target.ndim == 1:
        if target.shape[0] != shape[0]:
            raise ValueError(
                f"cross_entropy: {target.shape[0]} labels for {shape[0]} rows of logits"
            )
        if target.dtype.kind == "f" and not np.all(target == np.round(target)):
            raise ValueError("cross_entropy: 1-D targets must be class indices (integers)")
        x = one_hot(target.astype(np.int64), shape[1], dtype)
    elif target.shape == shape:
        x = target.astype(dtype, copy=False)
        if np.any(x < 0):
            raise ValueError("cross_entropy: probability targets must be non-negative")
    else:
        raise ValueError(
            f"cross_entropy: target of shape {target.shape} fits neither class "
            f"indices ({shape[0]},) nor probabilities {shape}"
        )
    if label_smoothing:
        x = (1 - label_smoothing) * x + label_smoothing / shape[1] * x.sum(1, keepdims=True)
    return x


# cross_entropy  F: L = sum_k rho_CE(x_k, f_k) = -sum_k sum_m x_{k,m} log f_theta(m | y_k)
#                G: g_z = g (f * sum_m x_m - x), divided by K for reduction="mean"  (fused)
def _cross_entropy(z, target, reduction="mean", label_smoothing=0.0):
    if z.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (K, M), got {z.shape}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {REDUCTIONS}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
    labels = _labels(target, z.shape) if not label_smoothing else None
    log_f = _log_softmax_array(z, axis=1)
    if labels is not None:  # one-hot x: rho_CE(x_k, f_k) = -log f(m_k^* | y_k), picked
        x = labels
        per_row = -log_f[np.arange(len(labels)), labels]
    else:
        x = _targets(target, z.shape, z.dtype, label_smoothing)
        per_row = -np.sum(x * log_f, axis=1)  # rho_CE(x_k, f_k)
    if reduction == "none":
        return per_row, (log_f, x, reduction)
    loss = np.sum(per_row) if reduction == "sum" else np.mean(per_row)
    return np.asarray(loss, dtype=z.dtype), (log_f, x, reduction)


def _labels(target, shape):
    """Class indices as an int array when ``target`` is one (checked as :func:`one_hot` does),
    else None: one-hot targets are then never built."""
    target = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target.ndim != 1 or target.dtype.kind not in "iu" or target.shape[0] != shape[0]:
        return None
    if target.size and (target.min() < 0 or target.max() >= shape[1]):
        raise ValueError(
            f"labels must lie in [0, {shape[1] - 1}], found {target.min()}..{target.max()}"
        )
    return target


def _cross_entropy_adjoint(g, ctx):
    log_f, x, reduction = ctx
    if x.ndim == 1:  # class indices: f - x, the one-hot x subtracted in place
        gz = np.exp(log_f)
        gz[np.arange(len(x)), x] -= 1
    else:
        gz = np.exp(log_f) * np.sum(x, axis=1, keepdims=True) - x  # f - x for one-hot x
    if reduction == "none":
        return (gz * g[:, None],)
    scale = g / len(x) if reduction == "mean" else g
    return (gz * scale,)


_cross_entropy_prim = Primitive("cross_entropy", _cross_entropy, _cross_entropy_adjoint)


def cross_entropy(
    logits, target, *, reduction: str = "mean", label_smoothing: float = 0.0
) -> Tensor:
    """Cross-entropy of softmax(logits) against ``target``: the negative log-likelihood.

    Args:
        logits: ``(K, M)``, the unnormalised ``z_k`` for K examples and M classes.
        target: class indices ``m_k^*`` of shape ``(K,)``, or one-hot / probability rows
            ``x_k`` of shape ``(K, M)``. No gradient flows to the target.
        reduction: ``"mean"`` (divide by K, PyTorch's default), ``"sum"`` (the seed's
            ``L_CE``) or ``"none"`` (one ``rho_CE`` per example).
        label_smoothing: ``x <- (1 - a) x + a / M``, as ``torch.nn.functional.cross_entropy``.
    """
    return _cross_entropy_prim(
        logits, target=target, reduction=reduction, label_smoothing=float(label_smoothing)
    )


def nll_loss(log_probs, target, *, reduction: str = "mean") -> Tensor:
    """``-sum_k log f(m_k^* | y_k)`` from log-probabilities ``(K, M)`` and class indices.

    A composite of getitem and sum/mean (no adjoint of its own).
    """
    log_probs = log_probs if isinstance(log_probs, Tensor) else Tensor(log_probs)
    target = np.asarray(target.data if isinstance(target, Tensor) else target).astype(np.int64)
    if log_probs.ndim != 2 or target.shape != (log_probs.shape[0],):
        raise ValueError(
            f"nll_loss expects (K, M) log-probabilities and (K,) labels, got "
            f"{log_probs.shape} and {target.shape}"
        )
    picked = -log_probs[np.arange(len(target)), target]
    if reduction == "none":
        return picked
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {REDUCTIONS}")
    return picked.sum() if reduction == "sum" else picked.mean()


def mse_loss(prediction, target, *, reduction: str = "mean") -> Tensor:
    """``sum or mean of (prediction - target)^2``: a composite (sub, pow, sum/mean)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {REDUCTIONS}")
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
