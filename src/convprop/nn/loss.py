"""Loss modules: ``loss(input, target)``, thin over the loss functions of :mod:`convprop.ops`.

Signatures, defaults and ``state_dict`` keys are PyTorch's: a class ``weight`` (and
``BCEWithLogitsLoss``'s ``pos_weight``) is a buffer, in ``state_dict`` when given; the legacy
``size_average`` and ``reduce`` arguments map to ``reduction`` as PyTorch maps them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convprop import ops
from convprop.nn.module import Module
from convprop.ops.loss import check_reduction
from convprop.tensor import Tensor


def _reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """PyTorch's rule: either legacy flag given overrides ``reduction`` (None counts as True);
    ``reduce=False`` is "none", else ``size_average`` picks "mean" or "sum"."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        if reduce is False:
            return "none"
        return "mean" if size_average else "sum"
    check_reduction(reduction)
    return reduction


def _constant(value: Any) -> np.ndarray | Tensor | None:
    """A weight buffer: None, a Tensor or an array as given, anything else as float32."""
    if value is None or isinstance(value, np.ndarray | Tensor):
        return value
    return np.asarray(value, dtype=np.float32)


class CrossEntropyLoss(Module):
    """``L = sum_k rho_CE(x_k, softmax(z_k))``, ``rho_CE(x, f) = -sum_m x_m log f_m``, reduced.

    Class indices ``m_k^*`` give ``x_k = w_{m_k^*} e_{m_k^*}`` (``(1 - a) w_{m^*} e_{m^*} +
    (a / M) w`` with ``label_smoothing`` ``a``); rows labelled ``ignore_index`` add nothing;
    ``"mean"`` divides by ``sum_k w_{m_k^*}`` over the rows counted. Probability rows ``p_k``
    give ``x_k = ((1 - a) p_k + a / M) w`` and ``"mean"`` divides by K. ``G: g_z = eps (f
    sum_m x_m - x) / D``, fused (:func:`convprop.ops.cross_entropy`).

    Shape: ``(K, M)`` logits and ``(K,)`` labels or ``(K, M)`` probabilities ``-> ()``
    (``(K,)`` for ``reduction="none"``).
    """

    def __init__(
        self,
        weight=None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        self.register_buffer("weight", _constant(weight))
        self.ignore_index = ignore_index
        self.reduction = _reduction(size_average, reduce, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return ops.cross_entropy(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(Module):
    """``L = -sum_k w_{m_k^*} log f(m_k^* | y_k)`` from log-probabilities (after
    :class:`LogSoftmax`), reduced as :class:`CrossEntropyLoss`; ``G: g`` times ``-w_{m^*}`` at
    each label (a composite).

    Shape: ``(K, M), (K,) -> ()`` (``(K,)`` for ``reduction="none"``).
    """

    def __init__(
        self,
        weight=None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        self.register_buffer("weight", _constant(weight))
        self.ignore_index = ignore_index
        self.reduction = _reduction(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return ops.nll_loss(
            input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction
        )


class MSELoss(Module):
    """``L = sum or mean of (z - t)^2``; ``G: g_z = 2 eps (z - t)`` (``/ n`` for the mean).

    Shape: ``(*), (*) -> ()`` (``(*)`` for ``reduction="none"``).
    """

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        self.reduction = _reduction(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return ops.mse_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    """``l = -w (p t log sigma(z) + (1 - t) log(1 - sigma(z)))`` per entry, reduced; computed
    stably from the logits ``z``. ``G: g_z = eps w ((1 + (p - 1) t) sigma(z) - p t)``.

    ``weight`` broadcasts to the input, ``pos_weight`` ``p`` (one per class, the last axis)
    weighs the positive term; both are buffers.

    Shape: ``(*), (*) -> ()`` (``(*)`` for ``reduction="none"``).
    """

    def __init__(
        self,
        weight=None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight=None,
    ) -> None:
        self.register_buffer("weight", _constant(weight))
        self.register_buffer("pos_weight", _constant(pos_weight))
        self.reduction = _reduction(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return ops.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )
