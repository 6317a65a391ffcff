"""The checkers must pass right answers and catch wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop.check import CheckError, adjoint_test, gradcheck
from convprop.ops.primitive import Primitive

A = np.random.default_rng(0).standard_normal((4, 3))


def test_gradcheck_passes_a_right_gradient():
    result = gradcheck(lambda x: (x @ cp.Tensor(A, dtype=np.float64)).tanh(), np.ones((2, 4)))
    assert result.ok and result.max_rel_error < 1e-6


def _wrong_square():
    def forward(z):
        return z * z, z

    def adjoint(g, z):
        return (g * z,)  # should be 2 g z

    return Primitive("wrong_square_for_test", forward, adjoint)


def test_gradcheck_catches_a_wrong_gradient_and_strict_raises():
    from convprop.ops.primitive import PRIMITIVES

    square = _wrong_square()
    try:
        result = gradcheck(square, np.array([1.0, 2.0]))
        assert not result.ok
        assert 0.4 < result.max_rel_error < 0.6  # half the true gradient
        with pytest.raises(CheckError, match="gradcheck FAILED"):
            gradcheck(square, np.array([1.0, 2.0]), strict=True)
    finally:
        del PRIMITIVES["wrong_square_for_test"]


def test_adjoint_test_passes_the_transpose_and_catches_a_wrong_adjoint():
    right = adjoint_test(lambda z: A @ z, lambda e: A.T @ e, (3,), (4,))
    assert right.ok and right.max_rel_error < 1e-12
    wrong = adjoint_test(
        lambda z: A @ z, lambda e: A[:3, :].T @ e[:3] * 0 + A[1:, :].T @ e[1:], (3,), (4,)
    )
    assert not wrong.ok
    with pytest.raises(CheckError, match="adjoint test FAILED"):
        adjoint_test(lambda z: A @ z, lambda e: 2 * A.T @ e, (3,), (4,), strict=True)


def test_adjoint_test_flags_a_nonlinear_forward():
    result = adjoint_test(lambda z: np.tanh(A @ z), lambda e: A.T @ e, (3,), (4,))
    assert not result.ok and result.linearity_error > 1e-3


def test_adjoint_test_reports_wrong_output_shapes():
    with pytest.raises(ValueError, match=r"F\(z\) has shape \(4,\), expected \(5,\)"):
        adjoint_test(lambda z: A @ z, lambda e: A.T @ e, (3,), (5,))
