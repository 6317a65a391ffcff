"""Batch-last activations through a whole chain: the conv op's results are views of
(C, H, W, N) memory, the ops between convolutions keep that layout, and no number depends on
it. Each primitive's own layout contract is checked from the op list in ``test_ops.py``."""

from __future__ import annotations

import numpy as np

import convprop as cp
from convprop import ops
from convprop.ops.layout import as_layout, dense, filled_as, zeros_as


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
    loss, acts, leaves = chain(z, params, "batch_last")  # batch-last results
    assert all(is_batch_last(a.data) for a in acts)
    assert is_batch_last(leaves[0].grad) or leaves[0].grad.flags.c_contiguous
    ref_loss, ref_acts, ref_leaves = chain(z, params, "im2col")  # C-contiguous throughout
    assert all(a.data.flags.c_contiguous for a in ref_acts)
    np.testing.assert_allclose(loss.data, ref_loss.data, rtol=1e-12)
    for a, b in zip(acts, ref_acts, strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-12)
    for a, b in zip(leaves, ref_leaves, strict=True):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-10)


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
    z = zeros_as(b.astype(np.float32))
    assert z.strides == (b.strides[0] // 2, b.strides[1] // 2, b.strides[2] // 2)
    assert z.dtype == np.float32 and not z.any() and not z.flags.writeable


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
