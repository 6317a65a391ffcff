"""Optimizers and learning-rate schedules: a pure step function per algorithm, a thin class.

Every parameter is an object with ``.data`` (a float NumPy array, updated in place) and
``.grad`` (same shape, or None to skip it this step).

* :class:`SGD` with momentum in PyTorch's form or the classical heavy-ball form;
  :func:`sgd_step`, :func:`classical_momentum_step`, and :func:`seed_momentum_step` (the
  seed's written pseudo-code, for comparison only).
* :class:`Adam` and :class:`AdamW`, with :func:`adam_step`.
* Schedules: :class:`StepLR`, :class:`MultiStepLR`, :class:`LinearLR` (warm-up),
  :class:`CosineAnnealingLR`, :class:`ExponentialLR`, :class:`LambdaLR`, :class:`OneCycleLR`
  (per batch, cycling the momentum too) and :class:`ReduceLROnPlateau` (stepped with a
  metric), matching ``torch.optim.lr_scheduler``.
* :class:`Optimizer`, the one base class; its ``state_dict()`` is flat and ``np.savez``-able.

Each step function is its algorithm's equations in plain NumPy. The tests check the classes
against ``torch.optim`` over 100 steps: relative error <= 1e-6 in float32, <= 1e-12 in float64.
"""

from convprop.optim.adam import Adam, AdamW, adam_step
from convprop.optim.cycle import OneCycleLR
from convprop.optim.optimizer import Optimizer
from convprop.optim.plateau import ReduceLROnPlateau
from convprop.optim.schedule import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    StepLR,
)
from convprop.optim.sgd import SGD, classical_momentum_step, seed_momentum_step, sgd_step

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "Optimizer",
    "ReduceLROnPlateau",
    "StepLR",
    "adam_step",
    "classical_momentum_step",
    "seed_momentum_step",
    "sgd_step",
]
