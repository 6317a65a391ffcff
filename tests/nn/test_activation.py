"""Activations, Softmax/LogSoftmax, Identity and AdaptiveAvgPool2d against PyTorch in float64
(outputs and input gradients to 1e-10), float32 kept, bad input named."""

from __future__ import annotations

import numpy as np
import pytest

import convprop as cp
from convprop import nn

RNG = np.random.default_rng(0)
# a wide range: both tails of every activation, and the far tails where naive forms fail
Z = np.concatenate([RNG.standard_normal(200) * 4, [-40.0, -12.0, -6.0, 0.0, 6.0, 12.0, 40.0]])


def _against_torch(ours, theirs, z: np.ndarray, rtol: float = 1e-10, atol: float = 1e-12):
    """Compare ``ours(Tensor)`` with ``theirs(torch tensor)``: outputs and input gradients."""
    torch = pytest.importorskip("torch")
    tz = cp.Tensor(z, dtype=np.float64, requires_grad=True)
    pz = torch.tensor(z, requires_grad=True)
    out, pout = ours(tz), theirs(pz)
    np.testing.assert_allclose(out.data, pout.detach().numpy(), rtol=rtol, atol=atol)
    eps = RNG.standard_normal(out.shape)
    out.backward(eps)
    pout.backward(torch.tensor(eps))
    np.testing.assert_allclose(tz.grad, pz.grad.numpy(), rtol=rtol, atol=atol)


ACTIVATIONS = [  # (name, keyword arguments): the same spelling in both libraries
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.2}),
    ("LeakyReLU", {"negative_slope": 1.5}),
    ("ELU", {}),
    ("ELU", {"alpha": 0.5}),
    ("GELU", {}),
    ("GELU", {"approximate": "tanh"}),
    ("SiLU", {}),
    ("ReLU", {"inplace": True}),  # accepted, computed out of place (torch's: without it)
]


@pytest.mark.parametrize("name, kwargs", ACTIVATIONS, ids=[f"{n}{k}" for n, k in ACTIVATIONS])
def test_activation_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    layer = getattr(nn, name)(**kwargs)
    reference = getattr(torch.nn, name)(**{k: v for k, v in kwargs.items() if k != "inplace"})
    _against_torch(layer, reference, Z)
    _against_torch(layer, reference, RNG.standard_normal((2, 3, 4, 5)))
    assert repr(layer) == repr(reference)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
def test_softmax_layers_match_torch(name, dim):
    torch = pytest.importorskip("torch")
    z = RNG.standard_normal((3, 4, 5)) * 5
    _against_torch(getattr(nn, name)(dim=dim), getattr(torch.nn, name)(dim=dim), z)
    assert repr(getattr(nn, name)(dim)) == repr(getattr(torch.nn, name)(dim))


def test_softmax_without_dim_is_refused_in_one_line():
    for layer in (nn.Softmax(), nn.LogSoftmax()):
        with pytest.raises(ValueError, match=r"dim=None\): give the axis"):
            layer(cp.Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"Softmax\(dim=2\) does not fit .* \(2, 3\)"):
        nn.Softmax(dim=2)(cp.Tensor(np.ones((2, 3))))


def test_identity_returns_its_input_and_takes_any_arguments():
    z = cp.Tensor(np.ones(3), requires_grad=True)
    layer = nn.Identity(54, unused_argument=0.1)
    assert layer(z) is z and layer.state_dict() == {} and repr(layer) == "Identity()"


@pytest.mark.parametrize(
    "output_size, shape",
    [
        (1, (2, 3, 7, 5)),  # global average pooling
        ((3, 2), (2, 3, 7, 5)),  # windows of unequal size that overlap
        ((4, None), (2, 3, 8, 6)),  # None keeps the input's width; 8 / 4 tiles exactly
        ((5, 9), (1, 2, 3, 4)),  # more outputs than inputs: windows repeat entries
        (2, (3, 5, 5)),  # (C, H, W) input
    ],
)
def test_adaptive_avg_pool_matches_torch(output_size, shape):
    torch = pytest.importorskip("torch")
    layer = nn.AdaptiveAvgPool2d(output_size)
    _against_torch(layer, torch.nn.AdaptiveAvgPool2d(output_size), RNG.standard_normal(shape))
    assert repr(layer) == repr(torch.nn.AdaptiveAvgPool2d(output_size))


@pytest.mark.parametrize(
    "layer",
    [
        nn.LeakyReLU(),
        nn.ELU(),
        nn.GELU(),
        nn.GELU("tanh"),
        nn.SiLU(),
        nn.Softmax(1),
        nn.LogSoftmax(1),
        nn.AdaptiveAvgPool2d(2),
    ],
    ids=repr,
)
def test_float32_stays_float32(layer):
    z = cp.Tensor(RNG.standard_normal((2, 3, 5, 5)).astype(np.float32) * 30, requires_grad=True)
    out = layer(z)
    out.backward(np.ones(out.shape, np.float32))
    assert out.dtype == z.grad.dtype == np.float32
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(z.grad))


def test_tanh_gelu_gradient_matches_central_differences():
    from convprop.check import gradcheck

    z = RNG.standard_normal((3, 4)) * 2
    assert gradcheck(lambda t: cp.ops.gelu(t, approximate="tanh"), z).ok


def test_bad_options_and_shapes_are_named():
    with pytest.raises(ValueError, match="approximate must be one of"):
        nn.GELU("erf")
    with pytest.raises(ValueError, match="approximate must be one of"):
        cp.ops.gelu(cp.Tensor(np.ones(2)), approximate="fast")
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d\(output_size=2\) expects input"):
        nn.AdaptiveAvgPool2d(2)(cp.Tensor(np.ones((4, 4))))
    with pytest.raises(ValueError, match="output_size must be positive"):
        nn.AdaptiveAvgPool2d((0, 2))(cp.Tensor(np.ones((1, 1, 4, 4))))
    with pytest.raises(ValueError, match="output_size must be an int or a pair"):
        nn.AdaptiveAvgPool2d((1, 2, 3))(cp.Tensor(np.ones((1, 1, 4, 4))))
