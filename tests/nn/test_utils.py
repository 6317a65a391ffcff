"""Gradient clipping against torch.nn.utils: the norm returned and the gradients after."""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(3, 4), (5,), (2, 2, 3)]


def _params(grads: list[np.ndarray]) -> list[cp.Tensor]:
    params = [cp.Tensor(np.zeros_like(g), dtype=np.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.copy()
    return params


def _torch_params(torch, grads: list[np.ndarray]) -> list:
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.tensor(g)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_equals_pytorch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    grads = [np.random.default_rng(1).standard_normal(s) for s in SHAPES]
    ours, theirs = _params(grads), _torch_params(torch, grads)
    ours.append(cp.Tensor(np.zeros(2), requires_grad=True))  # no .grad: skipped
    total = clip_grad_norm_(ours, max_norm, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, np.ndarray) and total.shape == ()
    assert abs(float(total) - t_total.item()) <= 1e-12 * t_total.item()
    for p, t in zip(ours, theirs, strict=False):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=0)
    if max_norm < 1:
        after = clip_grad_norm_(ours, max_norm, norm_type)
        assert abs(float(after) - max_norm) < 1e-5  # the norm is max_norm afterwards


def test_clip_grad_value_equals_pytorch_and_a_single_tensor_is_accepted():
    torch = pytest.importorskip("torch")
    grads = [np.random.default_rng(2).standard_normal(s) for s in SHAPES]
    ours, theirs = _params(grads), _torch_params(torch, grads)
    clip_grad_value_(ours, 0.4)
    torch.nn.utils.clip_grad_value_(theirs, 0.4)
    for p, t in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
    one = _params(grads[:1])[0]
    total = clip_grad_norm_(one, 1.0)
    assert abs(float(total) - np.linalg.norm(grads[0])) < 1e-12


def test_clip_grad_norm_keeps_float32_and_handles_edge_cases():
    p = cp.Tensor(np.ones(4), requires_grad=True)
    p.grad = np.full(4, 3.0, dtype=np.float32)
    total = clip_grad_norm_([p], 1.0)
    assert total.dtype == np.float32 and p.grad.dtype == np.float32
    assert abs(float(total) - 6.0) < 1e-6 and abs(np.linalg.norm(p.grad) - 1.0) < 1e-5
    assert float(clip_grad_norm_([cp.Tensor(np.ones(2))], 1.0)) == 0.0  # no gradients
    p.grad = np.array([np.inf, 1.0, 0.0, 0.0], dtype=np.float32)
    with pytest.raises(RuntimeError, match="total 2.0-norm of the gradients is inf"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        clip_grad_norm_([p], 1.0, norm_type=0)
