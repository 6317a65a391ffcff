"""The compiled forms of ops/compiled/ through the same checks as the NumPy forms.

Where Numba is installed the suite's per-primitive checks (test_ops.py) run the compiled forms;
here the same checks run with the NumPy forms forced, and the compiled forms are checked on
inputs they take (max_pool2d's needs a batch-last input of at least ``MIN_BATCH`` images):
equal to the NumPy forms (ties, NaN, padding, overlap, both layouts, float32 and float64), a
float64 gradient check, and a proof that the compiled kernel ran.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

import convprop as cp
from convprop import jit, ops
from convprop.check import gradcheck
from convprop.ops.compiled import batch_norm as compiled_bn
from convprop.ops.compiled import pool as compiled_pool
from tests.ops import test_ops

pytest.importorskip("numba")
pytestmark = pytest.mark.skipif(not jit.available(), reason="CONVPROP_NO_NUMBA is set")

COMPILED = ["batch_norm", "max_pool2d"]


@pytest.fixture
def numpy_forms(monkeypatch):
    monkeypatch.setattr(jit, "available", lambda: False)


@pytest.mark.parametrize("name", COMPILED)
def test_numpy_forms_pass_the_per_primitive_checks(name, numpy_forms):
    test_ops.test_forward_matches_reference_and_keeps_float32(name)
    test_ops.test_gradient_matches_central_differences(name)
    for eps_layout in (np.ascontiguousarray, test_ops.batch_last):
        test_ops.test_every_layout_in_gives_the_same_numbers_and_the_declared_layout_out(
            name, eps_layout
        )


def _forward_backward(call, arrays, eps, dtype, compiled):
    with mock.patch.object(jit, "available", lambda: compiled):
        tensors = [cp.Tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
        out = call(*tensors)
        out.backward(eps.astype(dtype))
    return out.data, [t.grad for t in tensors]


def _same(compiled, numpy, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    (x, grads), (x_ref, grads_ref) = compiled, numpy
    assert x.strides == x_ref.strides
    np.testing.assert_allclose(x, x_ref, rtol=tol, atol=tol)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        assert g.strides == g_ref.strides
        np.testing.assert_allclose(g, g_ref, rtol=tol, atol=tol)


POOLS = [(2, None, 0), (3, 2, 1), (2, 1, 0), (3, 3, 1), ((2, 3), (1, 2), (1, 0))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("k", "s", "p"), POOLS)
@pytest.mark.parametrize("shape", [(9, 3, 7, 8), (9, 3, 6, 8)])  # 2x2 tiles the second
def test_compiled_max_pool_equals_the_numpy_form(shape, k, s, p, dtype):
    rng = np.random.default_rng(0)
    z = rng.integers(0, 4, shape).astype(dtype)  # many ties
    z[0, 0, 0, :3] = np.nan
    z[1, 1, 2, 2] = -np.inf
    z = test_ops.batch_last(z)
    call = lambda t: ops.max_pool2d(t, k, s, p)  # noqa: E731
    eps = rng.standard_normal(call(cp.Tensor(z)).shape)
    with mock.patch.object(compiled_pool, "max_forward", wraps=compiled_pool.max_forward) as f:
        result = _forward_backward(call, [z], eps, dtype, True)
        assert f.call_count == 1, "the compiled max_pool2d did not run"
    x, (g,) = result
    x_ref, (g_ref,) = _forward_backward(call, [z], eps, dtype, False)
    np.testing.assert_array_equal(x, x_ref)  # NaN where NaN: the same first maxima
    assert x.strides == x_ref.strides and g.strides == g_ref.strides
    np.testing.assert_allclose(g, g_ref, rtol=1e-6, atol=1e-6)


def test_compiled_max_pool_passes_the_gradient_check():
    z = np.random.default_rng(1).permutation(8 * 2 * 5 * 6).reshape(8, 2, 5, 6) * 0.1
    z = test_ops.batch_last(z)  # distinct entries: no kinks within the step
    with mock.patch.object(compiled_pool, "max_adjoint", wraps=compiled_pool.max_adjoint) as g:
        result = gradcheck(lambda t: ops.max_pool2d(t, 3, 2, 1), z)
        assert g.call_count > 0, "the compiled max_pool2d did not run"
    assert result.ok, str(result)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", [np.ascontiguousarray, test_ops.batch_last], ids=["C", "BL"])
def test_compiled_batch_norm_equals_the_numpy_form(layout, dtype):
    rng = np.random.default_rng(2)
    z = layout(rng.standard_normal((6, 5, 4, 7)) * 3 + 100)  # a mean far from 0
    w, b = rng.standard_normal(5), rng.standard_normal(5)
    eps = layout(rng.standard_normal(z.shape))
    call = lambda z, w, b: ops.batch_norm(z, None, None, w, b, training=True)  # noqa: E731
    with mock.patch.object(compiled_bn, "adjoint", wraps=compiled_bn.adjoint) as g:
        result = _forward_backward(call, [z, w, b], eps, dtype, True)
        assert g.call_count == 1, "the compiled batch_norm did not run"
    _same(result, _forward_backward(call, [z, w, b], eps, dtype, False), dtype)


def test_compiled_batch_norm_updates_running_statistics_as_the_numpy_form():
    z = np.random.default_rng(3).standard_normal((8, 4, 3, 3)).astype(np.float32) + 5
    stats = []
    for compiled in (True, False):
        with mock.patch.object(jit, "available", lambda c=compiled: c):
            mean, var = np.zeros(4, np.float32), np.ones(4, np.float32)
            ops.batch_norm(cp.Tensor(z), mean, var, training=True, momentum=0.3)
            stats.append((mean, var))
    np.testing.assert_allclose(stats[0][0], stats[1][0], rtol=1e-6)
    np.testing.assert_allclose(stats[0][1], stats[1][1], rtol=1e-6)
