"""Grouped convolution in convprop.conv: F, G_delta, G_gw and conv2d_backward against
torch.nn.functional.conv2d(groups=...) for every engine, both kinds, and the one-group path."""

import numpy as np
import pytest

from convprop.conv import (
    ENGINES,
    METHODS,
    choose_method,
    conv2d,
    conv2d_adjoint_input,
    conv2d_adjoint_weight,
    conv2d_backward,
    conv2d_output_shape,
    conv_geometry,
)
from convprop.conv.engines import auto_method
from tests.conv.test_functions import each

CASES = [  # (N, C, H, W), (O, C/groups, kh, kw), groups, stride, padding, dilation
    ((2, 4, 7, 6), (6, 2, 3, 3), 2, 1, 1, 1),
    ((3, 6, 9, 9), (6, 2, 3, 2), 3, 2, 0, 2),
    ((2, 4, 8, 8), (4, 1, 3, 3), 4, 1, 1, 1),  # depthwise
    ((2, 4, 6, 7), (8, 1, 2, 3), 4, (2, 1), (1, 0), 1),  # depthwise, two outputs per channel
]


@pytest.mark.parametrize("method", each(METHODS))
@pytest.mark.parametrize("kind", ["convolution", "correlation"])
@pytest.mark.parametrize("case", CASES)
def test_grouped_f_and_g_match_torch(case, kind, method):
    torch = pytest.importorskip("torch")
    zs, ws, groups, s, p, d = case
    opts = dict(stride=s, padding=p, dilation=d, groups=groups, kind=kind)
    if method != "auto" and not ENGINES[method].supports(
        conv_geometry(zs, ws, **opts).one_group()
    ):
        with pytest.raises(ValueError, match=f"method '{method}' cannot compute"):
            conv2d(np.zeros(zs), np.zeros(ws), method=method, **opts)
        return
    r = np.random.default_rng(0)
    z, w, b = r.standard_normal(zs), r.standard_normal(ws), r.standard_normal(ws[0])
    x = conv2d(z, w, b, method=method, **opts)
    kernel = w[:, :, ::-1, ::-1].copy() if kind == "convolution" else w
    tz, tw = torch.tensor(z, requires_grad=True), torch.tensor(kernel, requires_grad=True)
    tx = torch.nn.functional.conv2d(
        tz, tw, torch.tensor(b), stride=s, padding=p, dilation=d, groups=groups
    )
    np.testing.assert_allclose(x, tx.detach().numpy(), rtol=0, atol=1e-10)
    eps = r.standard_normal(x.shape)
    tx.backward(torch.tensor(eps))
    delta = conv2d_adjoint_input(eps, w, input_shape=zs, method=method, **opts)
    g_w, g_b = conv2d_adjoint_weight(
        eps, z, kernel_shape=ws, method=method, with_bias=True, **opts
    )
    expected_gw = tw.grad.numpy()[:, :, ::-1, ::-1] if kind == "convolution" else tw.grad.numpy()
    np.testing.assert_allclose(delta, tz.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(g_w, expected_gw, rtol=0, atol=1e-10)
    np.testing.assert_allclose(g_b, eps.sum(axis=(0, 2, 3)), rtol=0, atol=1e-10)
    both = conv2d_backward(eps, z, w, method=method, **opts)
    np.testing.assert_allclose(both[0], delta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(both[1], g_w, rtol=0, atol=1e-12)


def test_groups_are_independent_convolutions():
    """Torch-free: each group's output is the ungrouped convolution of its own slices."""
    r = np.random.default_rng(1)
    z, w = r.standard_normal((2, 6, 8, 8)), r.standard_normal((9, 2, 3, 3))
    x = conv2d(z, w, padding=1, groups=3)
    for j in range(3):
        part = conv2d(z[:, 2 * j : 2 * j + 2], w[3 * j : 3 * j + 3], padding=1)
        np.testing.assert_allclose(x[:, 3 * j : 3 * j + 3], part, rtol=0, atol=1e-12)


def test_dot_product_identity_with_groups():
    r = np.random.default_rng(2)
    z, w = r.standard_normal((2, 4, 7, 7)), r.standard_normal((6, 2, 3, 3))
    opts = dict(stride=2, padding=1, groups=2)
    x = conv2d(z, w, **opts)
    eps = r.standard_normal(x.shape)
    delta = conv2d_adjoint_input(eps, w, input_shape=z.shape, **opts)
    g_w = conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, **opts)
    assert np.isclose(np.vdot(x, eps), np.vdot(z, delta), rtol=1e-12)
    assert np.isclose(np.vdot(x, eps), np.vdot(w, g_w), rtol=1e-12)


def test_kernel_shape_inferred_with_groups():
    r = np.random.default_rng(3)
    z, eps = r.standard_normal((2, 4, 6, 6)), r.standard_normal((2, 8, 4, 4))
    assert conv2d_adjoint_weight(eps, z, groups=4).shape == (8, 1, 3, 3)
    assert conv2d_adjoint_input(eps, np.ones((8, 1, 3, 3)), groups=4).shape == (2, 4, 6, 6)
    assert conv2d_output_shape((2, 4, 6, 6), (8, 1, 3, 3), groups=4) == (2, 8, 4, 4)


def test_one_group_takes_the_ungrouped_path():
    """groups=1 is the geometry and the engine pick of a convolution without groups."""
    for zs, ws, p in [((64, 6, 14, 14), (16, 6, 5, 5), 0), ((32, 64, 32, 32), (64, 64, 3, 3), 1)]:
        g = conv_geometry(zs, ws, padding=p)
        assert g.groups == 1 and g.one_group() is g
        assert choose_method(zs, ws, padding=p) == auto_method(g)
    # depthwise: each group is a one-channel convolution, the seed's engine
    seed_engine = auto_method(conv_geometry((1, 1, 128, 128), (1, 1, 3, 3)))
    assert choose_method((32, 32, 28, 28), (32, 1, 3, 3), padding=1, groups=32) == seed_engine


@pytest.mark.parametrize(
    ("zs", "ws", "groups", "message"),
    [
        ((2, 4, 6, 6), (6, 2, 3, 3), 4, "groups=4 must divide C_out=6"),
        ((2, 4, 6, 6), (6, 1, 3, 3), 2, r"z has C_in=4 channels, w expects groups\*C_in/groups"),
        ((2, 4, 6, 6), (6, 2, 3, 3), 0, "groups must be a positive int"),
    ],
)
def test_bad_groups_are_one_clear_line(zs, ws, groups, message):
    with pytest.raises(ValueError, match=message):
        conv2d(np.zeros(zs), np.zeros(ws), groups=groups)
