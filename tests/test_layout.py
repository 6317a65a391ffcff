"""Batch-last activations: the conv op's results are views of (C, H, W, N) memory, the ops
between convolutions keep that layout, and no number depends on it."""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop import ops
from convprop.ops.layout import as_layout, dense, filled_as


def batch_last(a: np.ndarray) -> np.ndarray:
    """The same NCHW values, laid out in memory as (C, H, W, N)."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def is_batch_last(a: np.ndarray) -> bool:
    return a.transpose(1, 2, 3, 0).flags.c_contiguous and not a.flags.c_contiguous


def chain(z: np.ndarray, params: list[np.ndarray], method: str):
    """conv, max-pool, relu, conv (padded), relu, flatten, sum of squares; and the tensors."""
    z = cp.Tensor(z, dtype=np.float64, requires_grad=True)
    w1, b1, w2, b2 = (cp.Tensor(p, dtype=np.float64, requires_grad=True) for p in params)
    x1 = ops.conv2d(z, w1, b1, method=method)
    p1 = ops.max_pool2d(x1, 2)
    r1 = ops.relu(p1)
    x2 = ops.conv2d(r1, w2, b2, padding=1, method=method)
    r2 = ops.relu(x2)
    loss = (ops.reshape(r2, (r2.shape[0], -1)) ** 2).sum()
    loss.backward()
    return loss, [x1, p1, r1, x2, r2], [z, w1, b1, w2, b2]


def test_conv_results_are_batch_last_and_max_pool_and_relu_keep_it():
    r = np.random.default_rng(0)
    z = r.standard_normal((8, 3, 12, 12))
    params = [r.standard_normal(s) for s in [(5, 3, 3, 3), (5,), (4, 5, 3, 3), (4,)]]
    loss, acts, leaves = chain(z, params, "auto")  # im2col on small images: batch-last
    assert all(is_batch_last(a.data) for a in acts)
    assert is_batch_last(leaves[0].grad) or leaves[0].grad.flags.c_contiguous
    ref_loss, ref_acts, ref_leaves = chain(z, params, "direct")  # C-contiguous throughout
    assert all(a.data.flags.c_contiguous for a in ref_acts)
    np.testing.assert_allclose(loss.data, ref_loss.data, rtol=1e-12)
    for a, b in zip(acts, ref_acts, strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-12)
    for a, b in zip(leaves, ref_leaves, strict=True):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_of_a_batch_last_input_gives_the_same_numbers_in_its_layout(kind):
    r = np.random.default_rng(1)
    z = r.standard_normal((6, 4, 8, 10)).astype(np.float32)
    pool = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    results = []
    for data in (z, batch_last(z)):
        t = cp.Tensor(data, requires_grad=True)
        out = pool(t, 2)
        out.backward(np.arange(out.size, dtype=np.float32).reshape(out.shape))  # C-ordered eps
        results.append((out.data, t.grad))
    (out_c, grad_c), (out_b, grad_b) = results
    assert is_batch_last(out_b) and is_batch_last(grad_b)
    np.testing.assert_array_equal(out_b, out_c)
    np.testing.assert_array_equal(grad_b, grad_c)


def test_relu_keeps_the_layout_and_its_gradient_follows_the_output():
    r = np.random.default_rng(2)
    z = batch_last(r.standard_normal((5, 3, 4, 4)).astype(np.float32))
    t = cp.Tensor(z, requires_grad=True)
    out = ops.relu(t)
    assert is_batch_last(out.data)
    eps = r.standard_normal(z.shape).astype(np.float32)  # C-contiguous
    out.backward(eps)
    np.testing.assert_array_equal(out.data, np.maximum(z, 0))
    np.testing.assert_array_equal(t.grad, eps * (z > 0))


def test_layout_helpers():
    a = np.arange(24.0).reshape(2, 3, 4)
    b = np.ascontiguousarray(a.transpose(2, 0, 1)).transpose(1, 2, 0)  # a's values, permuted
    assert dense(a) and dense(b) and not dense(a[:, ::2]) and not dense(a[::-1])
    assert as_layout(a, a) is a
    moved = as_layout(a, b)
    assert moved.strides == b.strides and np.array_equal(moved, a)
    assert as_layout(a, a[:, :, ::-1]) is a  # no layout to copy from a reversed view
    zeros = np.zeros(64)
    for like in (a, b, a[:, ::2], a[::-1], np.broadcast_to(a[:1], a.shape)):
        view = filled_as(like, zeros)
        assert view.shape == like.shape and not view.flags.writeable
        assert not view.any()
    assert filled_as(b, zeros).strides == b.strides


def test_public_conv_functions_still_return_c_contiguous_arrays():
    from convprop import conv

    r = np.random.default_rng(3)
    z = r.standard_normal((8, 3, 10, 10)).astype(np.float32)  # im2col on small images
    w = r.standard_normal((5, 3, 3, 3)).astype(np.float32)
    x = conv.conv2d(z, w)
    delta, g_w = conv.conv2d_backward(np.ones_like(x), z, w)
    single = conv.conv2d_adjoint_input(np.ones_like(x), w, input_shape=z.shape)
    for a in (x, delta, g_w, single):
        assert a.flags.c_contiguous and a.dtype == np.float32
