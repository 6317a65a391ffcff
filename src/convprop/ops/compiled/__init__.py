"""Compiled (Numba) forms of some primitives' F and G, used where they measured faster.

Each module holds the compiled F and G of one primitive family, written as the index formulas
of the NumPy primitive beside which it is chosen (``ops/norm.py``, ``ops/pool.py``); the NumPy
forms stay the reference and the fallback. The op module picks the compiled form with one small
rule (:func:`convprop.jit.available` and the array's dtype and shape), and the test suite runs
both forms through the same checks (``tests/ops/test_compiled.py``). Importing these modules
never imports Numba: :func:`convprop.jit.compiled` compiles on the first call.
"""

from __future__ import annotations

import numpy as np

from convprop import jit

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def usable(*arrays: np.ndarray) -> bool:
    """Whether the compiled kernels take these arrays: Numba present and float32 or float64."""
    return jit.available() and all(a.dtype in DTYPES for a in arrays)
