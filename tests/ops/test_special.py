"""erf and erfc (Cody 1969) against the C library's, to float64 rounding."""

from __future__ import annotations

import math

import numpy as np

from convprop.ops.special import erf, erfc

GRID = np.concatenate(
    [
        np.linspace(-30, 30, 600_001),
        np.geomspace(1e-300, 30, 20_001),
        -np.geomspace(1e-300, 30, 20_001),
        [0.0, -0.0, 0.46875, -0.46875, 4.0, -4.0, 26.543, 27.0, 1e300, -1e300],
    ]
)


def _relative_error(ours: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.abs(ours - exact) / np.abs(exact)


def test_erf_is_accurate_to_float64_rounding():
    exact = np.array([math.erf(v) for v in GRID])
    nonzero = exact != 0
    assert np.all(erf(GRID)[~nonzero] == 0)
    assert _relative_error(erf(GRID)[nonzero], exact[nonzero]).max() < 1e-15  # seen 4.5e-16


def test_erfc_is_accurate_to_float64_rounding_in_both_tails():
    exact = np.array([math.erfc(v) for v in GRID])
    normal = exact > 1e-300  # erfc turns subnormal, then 0, near x = 26.5
    ours = erfc(GRID)
    assert _relative_error(ours[normal], exact[normal]).max() < 1e-15  # seen 8.9e-16
    assert np.abs(ours[~normal] - exact[~normal]).max() < 1e-300


def test_special_values_and_dtypes():
    x = np.array([np.nan, np.inf, -np.inf, 0.0])
    np.testing.assert_array_equal(erf(x), [np.nan, 1, -1, 0])
    np.testing.assert_array_equal(erfc(x), [np.nan, 0, 2, 1])
    x32 = np.linspace(-5, 5, 101, dtype=np.float32)
    assert erf(x32).dtype == erfc(x32).dtype == np.float32
    np.testing.assert_allclose(erf(x32), [math.erf(v) for v in x32], rtol=3e-7, atol=1e-7)
    assert erf(np.array([1, 2])).dtype == np.float64  # integers are computed in float64
    assert erf(np.float64(0.5)).shape == ()
