"""nn.ConvTranspose2d and grouped nn.Conv2d against PyTorch in float64 (outputs, input, weight
and bias gradients to 1e-10), their initialisation, and ops.conv_transpose2d's adjoint."""

import numpy as np
import pytest

import convprop as cp
from convprop import nn, ops

KINDS = ["convolution", "correlation"]
TRANSPOSED = [  # C_in, C_out, kernel, stride, padding, output_padding, groups, dilation, (H, W)
    (4, 6, 3, 1, 0, 0, 1, 1, (5, 6)),
    (4, 6, 4, 2, 1, 1, 2, 1, (5, 4)),
    (6, 3, 3, 3, 1, 2, 3, 2, (4, 5)),
    (2, 4, (3, 2), (2, 1), (1, 0), (1, 0), 2, (1, 2), (6, 3)),
    (3, 3, 3, 2, 2, 0, 3, 1, (4, 4)),  # depthwise
]


def _flip(w: np.ndarray, kind: str) -> np.ndarray:
    return np.ascontiguousarray(w[:, :, ::-1, ::-1] if kind == "convolution" else w)


def _compare(layer, ref, z, kind, torch):
    """Same weights in both; outputs and every gradient to 1e-10."""
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(_flip(layer.weight.data, kind)))
        ref.bias.copy_(torch.tensor(layer.bias.data))
    tz = cp.Tensor(z, dtype=np.float64, requires_grad=True)
    pz = torch.tensor(z, requires_grad=True)
    out, pout = layer(tz), ref(pz)
    np.testing.assert_allclose(out.data, pout.detach().numpy(), rtol=0, atol=1e-10)
    eps = np.random.default_rng(9).standard_normal(out.shape)
    out.backward(eps)
    pout.backward(torch.tensor(eps))
    np.testing.assert_allclose(tz.grad, pz.grad.numpy(), rtol=0, atol=1e-10)
    gw = _flip(ref.weight.grad.numpy(), kind)
    np.testing.assert_allclose(layer.weight.grad, gw, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", TRANSPOSED)
def test_conv_transpose2d_layer_matches_torch(case, kind):
    torch = pytest.importorskip("torch")
    c_in, c_out, k, s, p, op, groups, d, hw = case
    opts = dict(stride=s, padding=p, output_padding=op, groups=groups, dilation=d)
    layer = nn.ConvTranspose2d(c_in, c_out, k, **opts, kind=kind, rng=0, dtype=np.float64)
    ref = torch.nn.ConvTranspose2d(c_in, c_out, k, **opts).double()
    assert layer.weight.shape == tuple(ref.weight.shape) and layer.kind == kind
    z = np.random.default_rng(1).standard_normal((2, c_in, *hw))
    _compare(layer, ref, z, kind, torch)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("c_in", "c_out", "groups"), [(4, 6, 2), (4, 4, 4), (3, 6, 3)])
def test_grouped_conv2d_layer_matches_torch(c_in, c_out, groups, kind):
    torch = pytest.importorskip("torch")
    layer = nn.Conv2d(c_in, c_out, 3, 2, 1, 1, groups, kind=kind, rng=0, dtype=np.float64)
    ref = torch.nn.Conv2d(c_in, c_out, 3, 2, 1, 1, groups).double()
    assert layer.weight.shape == tuple(ref.weight.shape) and layer.kind == kind
    _compare(layer, ref, np.random.default_rng(2).standard_normal((2, c_in, 9, 8)), kind, torch)


def test_conv_transpose2d_op_matches_torch_functional():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(3)
    z, w, b = (
        r.standard_normal((2, 4, 5, 5)),
        r.standard_normal((4, 3, 3, 3)),
        r.standard_normal(6),
    )
    x = ops.conv_transpose2d(
        *(cp.Tensor(a, dtype=np.float64) for a in (z, w, b)),
        stride=2,
        padding=1,
        output_padding=1,
        groups=2,
        kind="correlation",
    )
    ref = torch.nn.functional.conv_transpose2d(
        torch.tensor(z),
        torch.tensor(w),
        torch.tensor(b),
        stride=2,
        padding=1,
        output_padding=1,
        groups=2,
    )
    np.testing.assert_allclose(x.data, ref.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("layer_type", [nn.Conv2d, nn.ConvTranspose2d])
def test_initialisation_follows_pytorch_fan_in(layer_type):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, fan_in = weight.shape[1]*kh*kw
    (C_in/groups for Conv2d, C_out/groups for ConvTranspose2d)."""
    layer = layer_type(8, 16, 3, groups=4, rng=0)
    fan_in = layer.weight.shape[1] * 9
    bound = 1 / np.sqrt(fan_in)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv_transpose2d(z, w), u> == <z, conv2d(u, w)> on one geometry."""
    r = np.random.default_rng(4)
    z, w = (
        cp.Tensor(r.standard_normal(s), dtype=np.float64) for s in [(2, 4, 5, 5), (4, 3, 3, 3)]
    )
    for kind in KINDS:
        opts = dict(stride=2, padding=1, groups=2, kind=kind)
        x = ops.conv_transpose2d(z, w, output_padding=1, **opts).data
        u = r.standard_normal(x.shape)
        back = ops.conv2d(cp.Tensor(u, dtype=np.float64), w, **opts).data
        assert np.isclose(np.vdot(x, u), np.vdot(z.data, back), rtol=1e-12)


def test_float32_stays_float32_and_bad_options_are_one_line():
    layer = nn.ConvTranspose2d(2, 4, 3, stride=2, rng=0)
    x = layer(cp.Tensor(np.ones((1, 2, 4, 4), np.float32)))
    assert x.dtype == np.float32 and x.shape == (1, 4, 9, 9)
    with pytest.raises(ValueError, match="output_padding 2 must be smaller than stride"):
        nn.ConvTranspose2d(2, 4, 3, stride=2, output_padding=2)(cp.Tensor(np.ones((1, 2, 4, 4))))
    with pytest.raises(ValueError, match="groups=3 must divide in_channels=2"):
        nn.ConvTranspose2d(2, 6, 3, groups=3)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 2, H, W\)"):
        layer(cp.Tensor(np.ones((1, 3, 4, 4), np.float32)))
