"""Pooling against PyTorch, with overlapping windows, strides and padding."""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop import ops
from convprop.check import adjoint_test

CASES = [
    ((2, 3, 8, 8), 2, None, 0),
    ((2, 2, 7, 9), 3, 2, 1),
    ((1, 1, 6, 5), (2, 3), 1, 0),
    ((1, 2, 5, 5), 3, 1, 1),
]


@pytest.mark.parametrize(("shape", "k", "s", "p"), CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_pytorch_forward_and_backward(shape, k, s, p, kind):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    z = np.random.default_rng(0).permutation(int(np.prod(shape))).reshape(shape) * 0.01
    ours_fn = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    theirs_fn = tF.max_pool2d if kind == "max" else tF.avg_pool2d
    tz = cp.Tensor(z, dtype=np.float64, requires_grad=True)
    out = ours_fn(tz, k, s, p)
    pz = torch.tensor(z, requires_grad=True)
    pout = theirs_fn(pz, k, s, p)
    np.testing.assert_allclose(out.data, pout.detach().numpy(), rtol=1e-12)
    eps = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(eps)
    pout.backward(torch.tensor(eps))
    np.testing.assert_allclose(tz.grad, pz.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_max_pool_ties_go_to_the_first_entry_like_pytorch():
    z = cp.Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    ops.max_pool2d(z, 2).sum().backward()
    np.testing.assert_array_equal(z.grad[0, 0], [[1, 0], [0, 0]])


def test_avg_pool_adjoint_identity_with_overlap():
    def F(z):  # noqa: N802
        return ops.avg_pool2d(cp.Tensor(z, dtype=np.float64), 3, 2, 1).data

    def G(eps):  # noqa: N802
        z = cp.Tensor(np.zeros((2, 2, 7, 9)), dtype=np.float64, requires_grad=True)
        ops.avg_pool2d(z, 3, 2, 1).backward(eps)
        return z.grad

    assert adjoint_test(F, G, (2, 2, 7, 9), (2, 2, 4, 5)).ok


def test_pooling_keeps_float32_and_names_bad_input():
    out = ops.max_pool2d(cp.Tensor(np.ones((1, 1, 4, 4))), 2)
    assert out.dtype == np.float32 and out.shape == (1, 1, 2, 2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ops.max_pool2d(cp.Tensor(np.ones((4, 4))), 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        ops.avg_pool2d(cp.Tensor(np.ones((1, 1, 2, 2))), 3)
    with pytest.raises(ValueError, match="must be positive"):
        ops.max_pool2d(cp.Tensor(np.ones((1, 1, 4, 4))), 2, stride=0)
    with pytest.raises(ValueError, match="half the kernel"):
        ops.max_pool2d(cp.Tensor(np.ones((1, 1, 4, 4))), 2, padding=2)


@pytest.mark.parametrize(("shape", "k", "s", "p"), CASES)
def test_max_pool_with_many_ties_sends_each_gradient_where_pytorch_does(shape, k, s, p):
    """Values from {0, 1, 2}: most windows hold their maximum more than once."""
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    z = np.random.default_rng(2).integers(0, 3, shape).astype(np.float64)
    tz = cp.Tensor(z, dtype=np.float64, requires_grad=True)
    out = ops.max_pool2d(tz, k, s, p)
    pz = torch.tensor(z, requires_grad=True)
    pout = tF.max_pool2d(pz, k, s, p)
    eps = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(eps)
    pout.backward(torch.tensor(eps))
    np.testing.assert_array_equal(out.data, pout.detach().numpy())
    np.testing.assert_allclose(tz.grad, pz.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_max_pool_with_more_than_256_taps_finds_the_right_entry():
    z = np.zeros((1, 1, 17, 17))
    z[0, 0, 16, 16] = 1.0  # tap 288: past what a uint8 index holds
    tz = cp.Tensor(z, dtype=np.float64, requires_grad=True)
    ops.max_pool2d(tz, 17).sum().backward()
    assert tz.grad[0, 0, 16, 16] == 1.0 and tz.grad.sum() == 1.0
