"""Checkers a student can point at their own layer.

- :func:`gradcheck`: ``backward()``'s gradients against float64 central differences;
- :func:`adjoint_test`: the dot-product test ``<F(z), eps> = <z, G(eps)>`` for a linear F and a
  claimed adjoint G.
"""

from convprop.check.numeric import (
    AdjointResult,
    CheckError,
    GradcheckResult,
    adjoint_test,
    gradcheck,
)

__all__ = ["AdjointResult", "CheckError", "GradcheckResult", "adjoint_test", "gradcheck"]
