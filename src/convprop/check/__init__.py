"""Checkers a student can point at their own layer.

- :func:`gradcheck`: ``backward()``'s gradients against float64 central differences;
- :func:`adjoint_test`: the dot-product test ``<F(z), eps> = <z, G(eps)>`` for a linear F and a
  claimed adjoint G;
- :func:`diagnose_conv` and :func:`check_file` (``convprop check``): is someone's own F and G
  for a convolution layer right, and if not, which slip is it? A :class:`Report` of
  :class:`Finding` objects, whose codes are listed in :data:`CODES`.
"""

from convprop.check.diagnose import check_file, diagnose_conv
from convprop.check.findings import CODES, Finding, Report
from convprop.check.numeric import (
    AdjointResult,
    CheckError,
    GradcheckResult,
    adjoint_test,
    gradcheck,
)
from convprop.check.submission import Outcome, Submission

__all__ = [
    "CODES",
    "AdjointResult",
    "CheckError",
    "Finding",
    "GradcheckResult",
    "Outcome",
    "Report",
    "Submission",
    "adjoint_test",
    "check_file",
    "diagnose_conv",
    "gradcheck",
]
