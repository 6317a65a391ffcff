"""numba_direct's two forms agree, and the public functions' lean path keeps every check.

The small form (kernel sizes built into the compiled loops, one thread) and the general form
(any kernel, Numba's parallel range) compute the same F, G_delta and G_gw; both are checked
against im2col on padded, dilated and multi-channel shapes in float32 and float64.
"""

import numpy as np
import pytest

from convprop import conv, jit
from convprop.conv import _arguments
from convprop.conv.engines import numba_direct

# (z shape, w shape, padding, dilation): the seed's layer, LeNet's first, padded and dilated
SHAPES = [
    ((1, 1, 20, 18), (1, 1, 3, 3), "valid", 1),
    ((2, 1, 12, 12), (6, 1, 5, 5), 2, 1),
    ((3, 2, 11, 13), (2, 2, 3, 3), ((1, 0), (2, 1)), (2, 1)),
    ((1, 3, 9, 10), (4, 3, 5, 5), "full", 1),
    ((2, 1, 7, 16), (1, 1, 3, 3), "same", (1, 2)),
]


def _roles(z, w, eps, method, **opts):
    delta = conv.conv2d_adjoint_input(eps, w, input_shape=z.shape, method=method, **opts)
    g_w = conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, method=method, **opts)
    return conv.conv2d(z, w, method=method, **opts), delta, g_w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["convolution", "correlation"])
@pytest.mark.parametrize("case", SHAPES, ids=str)
def test_small_and_general_forms_match_im2col(case, kind, dtype, monkeypatch):
    if not jit.available():
        pytest.skip("needs Numba")
    zs, ws, padding, dilation = case
    r = np.random.default_rng(0)
    z, w = r.standard_normal(zs).astype(dtype), r.standard_normal(ws).astype(dtype)
    opts = dict(padding=padding, dilation=dilation, kind=kind)
    eps = r.standard_normal(conv.conv2d(z, w, **opts).shape).astype(dtype)
    expected = _roles(z, w, eps, "im2col", **opts)
    g = conv.conv_geometry(zs, ws, padding=padding, dilation=dilation)
    assert numba_direct._small(g) is not None  # these sizes have a small form
    small = _roles(z, w, eps, "numba_direct", **opts)
    monkeypatch.setattr(numba_direct, "SPECIALISED", ())
    assert numba_direct._small(g) is None
    general = _roles(z, w, eps, "numba_direct", **opts)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    for ours in (small, general):
        for a, b in zip(ours, expected, strict=True):
            assert a.dtype == dtype and a.flags.c_contiguous
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())


def test_small_form_only_for_its_kernel_sizes():
    if not jit.available():
        pytest.skip("needs Numba")
    seed = conv.conv_geometry((1, 1, 128, 128), (1, 1, 3, 3))
    assert numba_direct._small(seed) is numba_direct.small_kernels(3, 3)
    assert numba_direct._small(conv.conv_geometry((1, 1, 9, 9), (1, 1, 2, 4))) is None


def test_remembered_geometry_keeps_every_check():
    """A value equal to a plain int but of another type is checked every time, even after
    the plain one's geometry is remembered."""
    z, w = np.ones((1, 1, 8, 8), np.float32), np.ones((1, 1, 3, 3), np.float32)
    conv.conv2d(z, w, stride=1, padding=1, dilation=1)
    for bad in [dict(stride=True), dict(dilation=True), dict(padding=1.0), dict(groups=True)]:
        with pytest.raises(ValueError):
            conv.conv2d(z, w, **{"padding": 1, **bad})
    with pytest.raises(ValueError, match="kind must be one of"):
        conv.conv2d(z, w, kind="convolve")
    eps = np.ones((1, 1, 8, 8), np.float32)
    conv.conv2d_adjoint_input(eps, w, input_shape=z.shape, padding=1)
    conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, padding=1)
    for bad in [dict(stride=True), dict(padding=1.0)]:
        with pytest.raises(ValueError):
            conv.conv2d_adjoint_input(eps, w, input_shape=z.shape, **{"padding": 1, **bad})
        with pytest.raises(ValueError):
            conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, **{"padding": 1, **bad})
    with pytest.raises(ValueError, match="eps shape mismatch"):
        conv.conv2d_adjoint_input(eps[..., :7], w, input_shape=z.shape, padding=1)
    with pytest.raises(ValueError, match="batch mismatch"):
        conv.conv2d_adjoint_weight(np.ones((2, 1, 8, 8)), z, kernel_shape=w.shape, padding=1)
    g = _arguments.resolve((1, 1, 8, 8), (1, 1, 3, 3), 1, 1, 1, "convolution", 1)
    assert _arguments.resolve((1, 1, 8, 8), (1, 1, 3, 3), 1, 1, 1, "convolution", 1) is g
    assert conv.conv_geometry((8, 8), (3, 3), padding=1) is not g  # the public one is fresh


def test_float32_stays_float32_and_other_byte_orders_give_the_same_numbers():
    r = np.random.default_rng(1)
    z = r.standard_normal((1, 1, 12, 12)).astype(np.float32)
    w = r.standard_normal((1, 1, 3, 3)).astype(np.float32)
    eps = r.standard_normal((1, 1, 10, 10)).astype(np.float32)
    ours = _roles(z, w, eps, "auto")
    swapped = _roles(*(a.astype(">f4") for a in (z, w, eps)), "auto")
    for a, b in zip(ours, swapped, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-6)
