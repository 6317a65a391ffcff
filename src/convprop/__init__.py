"""convprop: deep learning from first principles on NumPy.

Every forward function ``F`` has its adjoint ``G`` beside it, and every pair is verified
numerically (``convprop.check``).
"""

from convprop import io, ops
from convprop.nn.init import manual_seed
from convprop.tensor import Tensor, is_grad_enabled, no_grad, tensor

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "__version__",
    "io",
    "is_grad_enabled",
    "manual_seed",
    "no_grad",
    "ops",
    "tensor",
]
