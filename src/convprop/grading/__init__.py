"""Checking submitted code: is someone's own F and G for a convolution layer right, and if
not, which slip is it? (``convprop check``, an application on top of the library.)

- :func:`diagnose_conv` and :func:`check_file`: a :class:`Report` of :class:`Finding` objects,
  whose codes are listed in :data:`CODES`;
- :class:`Submission`: a user's file imported in a child process, its functions called with a
  time limit, each call's :class:`Outcome` (``invoke`` passes dicts and tuples, and keeps what
  is not an array in the child, as a :class:`Handle`);
- :func:`convprop.grading.layers.judge`: any of six layers (conv2d, linear, relu, max_pool2d,
  softmax_cross_entropy, sgd_momentum) in the seed's or CS231n's conventions, part by part.

The core checkers it builds on, :func:`~convprop.check.gradcheck` and
:func:`~convprop.check.adjoint_test`, live in :mod:`convprop.check`.
"""

from convprop.grading.arguments import Handle
from convprop.grading.diagnose import check_file, diagnose_conv
from convprop.grading.findings import CODES, Finding, Report
from convprop.grading.submission import Outcome, Submission

__all__ = [
    "CODES",
    "Finding",
    "Handle",
    "Outcome",
    "Report",
    "Submission",
    "check_file",
    "diagnose_conv",
]
