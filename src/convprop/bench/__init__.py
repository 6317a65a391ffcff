"""``convprop bench`` / ``make bench``: convprop against PyTorch CPU, measured in the same run.

Every row times the same computation on both sides (best of several repeats, after a warm-up)
and reports the ratio ``convprop / PyTorch`` (below 1 means convprop is faster). Thread counts
of both sides are printed with the table. PyTorch is needed here only (the ``bench`` extra).
"""

from convprop.bench.suite import add_arguments, main, run, run_suite

__all__ = ["add_arguments", "main", "run", "run_suite"]
