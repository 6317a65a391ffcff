r"""Adam and AdamW (Kingma and Ba, 2015; Loshchilov and Hutter, 2019), as PyTorch defines them.

With gradient ``g``, step count ``t`` (1 on the first step), learning rate ``lr``, betas
``(beta1, beta2)``, ``eps`` and weight decay ``wd``::

    g <- g + wd * theta                     (Adam: L2 penalty in the gradient)
    theta <- theta * (1 - lr * wd)          (AdamW instead: decoupled weight decay)
    m <- beta1 * m + (1 - beta1) * g        (m starts at 0)
    s <- beta2 * s + (1 - beta2) * g * g    (s starts at 0)
    s_max <- max(s_max, s)                  (amsgrad only; then s_max replaces s below)
    m_hat <- m / (1 - beta1**t);  s_hat <- s / (1 - beta2**t)
    theta <- theta - lr * m_hat / (sqrt(s_hat) + eps)

What the tests check: :class:`Adam` and :class:`AdamW` follow ``torch.optim.Adam`` and
``torch.optim.AdamW`` over 100 steps (every option) to a relative error of 1e-6 in float32 and
1e-12 in float64; PyTorch orders the same arithmetic differently, so not bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from convprop.optim.optimizer import Optimizer, check_nonnegative, check_unit_interval


def adam_step(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    max_exp_avg_sq: np.ndarray | None,
    *,
    step: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    amsgrad: bool = False,
    maximize: bool = False,
) -> None:
    """One Adam step (AdamW if ``decoupled_weight_decay``), updating the arrays in place.

    ``exp_avg`` is ``m``, ``exp_avg_sq`` is ``s``, ``max_exp_avg_sq`` is ``s_max`` (needed only
    with ``amsgrad``); ``step`` is ``t``, counting this step. ``grad`` is left unchanged. The
    update is the module's equations, line for line.
    """
    m, s, t = exp_avg, exp_avg_sq, step
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    m *= beta1
    m += (1 - beta1) * g  # m <- beta1 * m + (1 - beta1) * g
    s *= beta2
    s += (1 - beta2) * g * g  # s <- beta2 * s + (1 - beta2) * g * g
    if amsgrad:
        if max_exp_avg_sq is None:
            raise ValueError("amsgrad needs max_exp_avg_sq")
        s = np.maximum(max_exp_avg_sq, s, out=max_exp_avg_sq)
    # With at most two temporaries alive, glibc keeps reusing their memory (a named m_hat and
    # s_hat cost LeNet-5 200 page faults a step).
    denom = np.sqrt(s / (1 - beta2**t)) + eps  # sqrt(s_hat) + eps
    param -= lr * (m / (1 - beta1**t)) / denom  # theta <- theta - lr * m_hat / denom


def _check_adam_group(group: dict[str, Any]) -> None:
    """Validate and normalise an Adam or AdamW parameter group in place."""
    group["lr"] = check_nonnegative("lr", group["lr"])
    group["eps"] = check_nonnegative("eps", group["eps"])
    group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
    betas = tuple(group["betas"])
    if len(betas) != 2:
        raise ValueError(f"invalid betas: {group['betas']!r} (expected two numbers)")
    group["betas"] = (
        check_unit_interval("betas[0]", betas[0]),
        check_unit_interval("betas[1]", betas[1]),
    )
    group["amsgrad"] = bool(group["amsgrad"])
    group["maximize"] = bool(group["maximize"])


def _adam_update(optimizer: Optimizer, decoupled_weight_decay: bool) -> None:
    """The body of ``Adam.step`` and ``AdamW.step``: state set-up, then :func:`adam_step`."""
    for group in optimizer.param_groups:
        beta1, beta2 = group["betas"]
        for state, data, grad in optimizer._with_grad(group):
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(data)
                state["exp_avg_sq"] = np.zeros_like(data)
            if group["amsgrad"] and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = np.zeros_like(data)
            state["step"] += 1
            adam_step(
                data,
                grad,
                state["exp_avg"],
                state["exp_avg_sq"],
                state.get("max_exp_avg_sq"),
                step=state["step"],
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                decoupled_weight_decay=decoupled_weight_decay,
                amsgrad=group["amsgrad"],
                maximize=group["maximize"],
            )


_STATE_KEYS = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


class Adam(Optimizer):
    """Adam with an L2 penalty in the gradient; the update equations are the module's.

    Args:
        params: parameters, or dicts of per-group options (see :class:`Optimizer`).
        lr: learning rate, finite and >= 0.
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: ``wd`` >= 0, added to the gradient as ``wd * theta`` (or, with
            ``decoupled_weight_decay``, applied as ``theta <- theta * (1 - lr * wd)``).
        amsgrad: normalise by the running maximum of ``s`` (Reddi et al., 2018).
        maximize: ascend instead of descend.
        decoupled_weight_decay: AdamW's decay (Loshchilov & Hutter, 2019), as PyTorch's flag.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
        }
        self.decoupled_weight_decay = decoupled_weight_decay
        super().__init__(params, defaults, state_keys=_STATE_KEYS)

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_adam_group(group)

    def step(self) -> None:
        """Take one Adam (or AdamW) step for every parameter with a gradient."""
        _adam_update(self, decoupled_weight_decay=self.decoupled_weight_decay)


class AdamW(Adam):
    """Adam with decoupled weight decay, ``theta <- theta * (1 - lr * wd)`` before the step.

    Takes the same arguments as :class:`Adam`; ``weight_decay`` defaults to 1e-2 (PyTorch's).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
