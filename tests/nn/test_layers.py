"""Layers against PyTorch; Module structure, modes and state dicts; initialisers; models.

Parameters (frozen ones too), buffers, containers and the order of Sequential are in
test_module.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import convprop as cp
from convprop import nn
from convprop.models import MODELS, build_model

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("kind", ["convolution", "correlation"])
def test_conv2d_layer_matches_torch_conv2d(kind):
    torch = pytest.importorskip("torch")
    layer = nn.Conv2d(3, 4, 3, stride=2, padding=1, kind=kind, rng=0, dtype=np.float64)
    layer.bias.data[:] = RNG.standard_normal(4)
    z = RNG.standard_normal((2, 3, 9, 8))
    ref = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1).double()
    kernel = layer.weight.data[:, :, ::-1, ::-1] if kind == "convolution" else layer.weight.data
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(kernel.copy()))
        ref.bias.copy_(torch.tensor(layer.bias.data))
    tz = cp.Tensor(z, dtype=np.float64, requires_grad=True)
    pz = torch.tensor(z, requires_grad=True)
    out, pout = layer(tz), ref(pz)
    np.testing.assert_allclose(out.data, pout.detach().numpy(), rtol=1e-12, atol=1e-12)
    eps = RNG.standard_normal(out.shape)
    out.backward(eps)
    pout.backward(torch.tensor(eps))
    np.testing.assert_allclose(tz.grad, pz.grad.numpy(), rtol=1e-11, atol=1e-12)
    gw = ref.weight.grad.numpy()
    np.testing.assert_allclose(
        layer.weight.grad,
        gw[:, :, ::-1, ::-1] if kind == "convolution" else gw,
        rtol=1e-11,
        atol=1e-12,
    )
    np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), rtol=1e-12)


def test_linear_layer_matches_torch_linear():
    torch = pytest.importorskip("torch")
    layer = nn.Linear(5, 3, rng=1, dtype=np.float64)
    ref = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.weight.data))
        ref.bias.copy_(torch.tensor(layer.bias.data))
    z = RNG.standard_normal((4, 5))
    tz, pz = (
        cp.Tensor(z, dtype=np.float64, requires_grad=True),
        torch.tensor(z, requires_grad=True),
    )
    layer(tz).sum().backward()
    ref(pz).sum().backward()
    np.testing.assert_allclose(tz.grad, pz.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), rtol=1e-12)


def test_module_names_modes_and_state_dict_round_trip():
    model = build_model("lenet5", (1, 28, 28), 10, np.random.default_rng(0))
    names = [n for n, _ in model.named_parameters()]
    assert names[:4] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert model.num_parameters() == 61706  # LeNet-5 as in PyTorch's tutorial layout
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    state = model.state_dict()
    other = build_model("lenet5", (1, 28, 28), 10, np.random.default_rng(1))
    other.load_state_dict(state)
    for (_, a), (_, b) in zip(model.named_parameters(), other.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    state["0.weight"] = np.zeros((6, 1, 3, 3))
    with pytest.raises(ValueError, match=r"0.weight: model \(6, 1, 5, 5\), given \(6, 1, 3, 3\)"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({})


def test_dropout_scales_in_training_and_is_identity_in_eval():
    drop = nn.Dropout(0.25, rng=0)
    z = cp.Tensor(np.ones((200, 200)))
    out = drop(z).data
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs(np.mean(out == 0) - 0.25) < 0.01
    drop.eval()
    assert drop(z) is z
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(1.0)


@pytest.mark.parametrize("name", ["he", "xavier"])
def test_initialisers_have_the_stated_variance(name):
    shape = (64, 32, 3, 3)
    w = nn.init.initialise(name, shape, np.random.default_rng(0))
    fan_in, fan_out = 32 * 9, 64 * 9
    expected = 2 / fan_in if name == "he" else 2 / (fan_in + fan_out)
    assert w.dtype == np.float32
    assert abs(w.var() / expected - 1) < 0.03
    np.testing.assert_array_equal(w, nn.init.initialise(name, shape, np.random.default_rng(0)))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_map_images_to_logits(name):
    shape = (1, 28, 28)
    model = build_model(name, shape, 10, np.random.default_rng(0))
    out = model(cp.Tensor(RNG.standard_normal((3, *shape))))
    assert out.shape == (3, 10) and out.dtype == np.float32


def test_cnn_works_on_8x8_and_rejects_smaller():
    model = build_model("cnn", (1, 8, 8), 10, np.random.default_rng(0))
    assert model(cp.Tensor(np.zeros((2, 1, 8, 8)))).shape == (2, 10)
    with pytest.raises(ValueError, match="at least 8x8"):
        build_model("cnn", (1, 6, 6), 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown model 'vgg'"):  # resnet is one since issue 16
        build_model("vgg", (1, 8, 8), 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="expects input of shape"):
        nn.Linear(3, 2)(cp.Tensor(np.ones((2, 4))))


@pytest.mark.parametrize("shape", [(2, 9), (3, 9, 8), (2, 3, 9, 8, 1), (2, 5, 9, 8)])
def test_conv2d_names_an_input_that_is_not_n_c_in_h_w(shape):
    layer = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"^Conv2d\(3, 4\) expects input of shape \(N, 3, H, W\)"):
        layer(cp.Tensor(np.zeros(shape)))
    with pytest.raises(ValueError, match=rf"got {re.escape(str(shape))}$"):
        layer(cp.Tensor(np.zeros(shape)))


@pytest.mark.parametrize("pool", [nn.MaxPool2d, nn.AvgPool2d])
@pytest.mark.parametrize("shape", [(4, 4), (3, 4, 4), (1, 1, 3, 4, 4)])
def test_pools_name_an_input_that_is_not_n_c_h_w(pool, shape):
    name = pool.__name__
    expected = rf"^{name}\(kernel_size=2, stride=2\) expects input of shape \(N, C, H, W\), got "
    with pytest.raises(ValueError, match=expected + re.escape(str(shape)) + "$"):
        pool(2)(cp.Tensor(np.zeros(shape)))
    assert pool(2)(cp.Tensor(np.zeros((1, 3, 4, 4)))).shape == (1, 3, 2, 2)
