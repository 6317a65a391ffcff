"""The Winograd engines (F(4x4, 3x3)): each transform against its adjoint, the compiled
transforms against NumPy's, and F, G_delta and G_gw against PyTorch, central differences and
the dot-product identity on the shapes they support (3x3, stride 1, dilation 1), tiles past
the image's edge, channels past whole steps, and several blocks of images."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convprop import conv, jit
from convprop.conv import workspace
from convprop.conv.engines import _layout, winograd
from tests.conv.test_functions import (
    KINDS,
    assert_dot_product_identity,
    assert_roles_match_torch,
    each,
    numeric_gradient,
)

METHODS = ["winograd", "numba_winograd"]

CASES = [  # z shape, w shape, padding
    ((2, 3, 9, 11), (5, 3, 3, 3), 1),  # tiles overhang the image on both sides
    ((3, 4, 8, 8), (2, 4, 3, 3), "valid"),
    ((1, 1, 5, 7), (1, 1, 3, 3), (2, 0)),
    ((2, 2, 6, 6), (3, 2, 3, 3), ((0, 3), (2, 1))),
    ((2, 17, 12, 12), (33, 17, 3, 3), "same"),  # channels past one step of 16
    ((4, 32, 4, 4), (16, 32, 3, 3), 1),
]


@pytest.fixture(params=[False, True], ids=["one block", "a block per image"])
def blocks(request, monkeypatch):
    if request.param:
        monkeypatch.setattr(_layout, "BLOCK_BYTES", 1)
    return request.param


def nw_transforms():
    from convprop.conv.engines import numba_winograd

    return numba_winograd.COMPILED


def _dot(a, b):
    return float(np.vdot(a.astype(np.float64), b.astype(np.float64)))


def test_transforms_against_their_adjoints():
    """<T a, b> = <a, T* b> for the input, output and kernel transforms (float64)."""
    r = np.random.default_rng(0)
    g = conv.conv_geometry((2, 3, 9, 10), (4, 3, 3, 3), padding=((1, 2), (0, 1)))
    th, tw = winograd.tiles(g)
    z = r.standard_normal((2, 3, 9, 10))
    v = r.standard_normal((36, 2 * th * tw, 3))
    delta = np.zeros_like(z)
    winograd.input_transform_adjoint(v, g, delta)
    assert np.isclose(_dot(winograd.input_transform(z, g), v), _dot(z, delta))
    m, eps = r.standard_normal((36, 2 * th * tw, 4)), r.standard_normal(g.output_shape)
    x = np.empty(g.output_shape)
    winograd.output_transform(m, g, x)
    assert np.isclose(_dot(x, eps), _dot(m, winograd.output_transform_adjoint(eps, g)))
    w, gu = r.standard_normal((4, 3, 3, 3)), r.standard_normal((36, 4, 3))
    u = winograd.kernel_transform(w)
    assert np.isclose(_dot(u, gu), _dot(w, winograd.kernel_transform_adjoint(gu)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_transforms_equal_numpy(dtype):
    if not jit.available():
        pytest.skip("needs Numba")
    from convprop.conv.engines import numba_winograd as nw

    r = np.random.default_rng(1)
    g = conv.conv_geometry((3, 18, 9, 10), (20, 18, 3, 3), padding=((2, 1), (0, 1)))
    z, eps = r.standard_normal(g.input_shape), r.standard_normal(g.output_shape)
    z, eps = z.astype(dtype), eps.astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nw._input(z, g)[..., : g.c], winograd.input_transform(z, g), **tol)
    e = nw._output_adjoint(eps, g)
    assert e.dtype == dtype
    np.testing.assert_allclose(e[..., : g.o], winograd.output_transform_adjoint(eps, g), **tol)


@pytest.mark.parametrize("method", each(METHODS))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_match_torch(case, kind, method, blocks):
    zs, ws, padding = case
    r = np.random.default_rng(2)
    z, w = r.standard_normal(zs), r.standard_normal(ws)
    opts = dict(stride=1, padding=padding, dilation=1, kind=kind)
    assert_roles_match_torch(z, w, r, method, **opts)


@pytest.mark.parametrize("method", each(METHODS))
def test_float32_stays_float32_and_near_float64(method):
    """The products by G's 1/6 and 1/24 round: float32 results within a few roundings."""
    r = np.random.default_rng(3)
    z = r.standard_normal((4, 32, 16, 16)).astype(np.float32)
    w = r.standard_normal((32, 32, 3, 3)).astype(np.float32)
    x = conv.conv2d(z, w, padding=1, method=method)
    ref = conv.conv2d(z.astype(np.float64), w.astype(np.float64), padding=1, method="im2col")
    assert x.dtype == np.float32
    assert np.abs(x - ref).max() <= 2e-5 * np.abs(ref).max()
    eps = r.standard_normal(x.shape).astype(np.float32)
    delta, g_w = conv.conv2d_backward(eps, z, w, padding=1, method=method)
    ref_d, ref_w = conv.conv2d_backward(
        eps.astype(np.float64), z.astype(np.float64), w.astype(np.float64), padding=1
    )
    assert delta.dtype == g_w.dtype == np.float32
    assert np.abs(delta - ref_d).max() <= 2e-5 * np.abs(ref_d).max()
    assert np.abs(g_w - ref_w).max() <= 2e-5 * np.abs(ref_w).max()


@pytest.mark.parametrize("method", each(METHODS))
def test_against_central_differences(method):
    r = np.random.default_rng(4)
    z, w = r.standard_normal((2, 3, 6, 5)), r.standard_normal((2, 3, 3, 3))
    opts = dict(padding=(1, 0), method=method)
    eps = r.standard_normal(conv.conv2d(z, w, **opts).shape)

    def loss():
        return np.vdot(conv.conv2d(z, w, **opts), eps)

    delta, g_w = conv.conv2d_backward(eps, z, w, **opts)
    np.testing.assert_allclose(delta, numeric_gradient(loss, z), atol=1e-7)
    np.testing.assert_allclose(g_w, numeric_gradient(loss, w), atol=1e-7)


@st.composite
def configs(draw):
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 20)), draw(st.integers(1, 20))
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    h = draw(st.integers(max(1, 3 - pads[0] - pads[1]), 11))
    w = draw(st.integers(max(1, 3 - pads[2] - pads[3]), 11))
    padding = ((pads[0], pads[1]), (pads[2], pads[3]))
    return (n, c, h, w), (o, c, 3, 3), dict(padding=padding, kind=draw(st.sampled_from(KINDS)))


@settings(max_examples=40, deadline=None)
@given(config=configs(), method=st.sampled_from(METHODS), seed=st.integers(0, 2**16))
def test_dot_product_identity(config, method, seed):
    if method.startswith("numba") and not jit.available():
        return
    zs, ws, opts = config
    z, w, x = assert_dot_product_identity(zs, ws, np.random.default_rng(seed), method, **opts)
    np.testing.assert_allclose(x, conv.conv2d(z, w, method="im2col", **opts), atol=1e-9)


@pytest.mark.parametrize("method", each(METHODS))
def test_refuses_what_it_cannot_compute(method):
    z = np.zeros((2, 3, 9, 9))
    for w, opts in [
        (np.zeros((4, 3, 5, 5)), {}),
        (np.zeros((4, 3, 3, 3)), dict(stride=2)),
        (np.zeros((4, 3, 3, 3)), dict(dilation=2)),
    ]:
        with pytest.raises(ValueError, match=f"method '{method}' cannot compute"):
            conv.conv2d(z, w, method=method, **opts)


@pytest.mark.parametrize("method", each(METHODS))
def test_g_gw_from_what_f_and_g_delta_kept(method, blocks):
    """With the caller's geometry (the autodiff), F keeps V and G_delta keeps E, and G_gw
    is their GEMMs alone: the same g_w as computed afresh; another z or eps is not taken for
    the kept one."""
    r = np.random.default_rng(5)
    z, w = r.standard_normal((3, 5, 9, 7)), r.standard_normal((6, 5, 3, 3))
    g = conv.conv_geometry(z.shape, w.shape, padding=1)
    x = conv.conv2d(z, w, method=method, geometry=g)
    eps = r.standard_normal(x.shape)
    conv.conv2d_adjoint_input(eps, w, method=method, geometry=g)
    t = winograd.NUMPY if method == "winograd" else nw_transforms()
    assert workspace.kept(("winograd_v", t, g), (z, g)) is not None
    assert workspace.kept(("winograd_e", t, g), (eps, g)) is not None
    kept = conv.conv2d_adjoint_weight(eps, z, method=method, geometry=g)
    fresh = conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, padding=1, method=method)
    np.testing.assert_allclose(kept, fresh, rtol=1e-12, atol=1e-12)
    z2, eps2 = r.standard_normal(z.shape), r.standard_normal(eps.shape)
    for a, b in [(eps2, z), (eps, z2), (eps2, z2)]:
        ref = conv.conv2d_adjoint_weight(a, b, kernel_shape=w.shape, padding=1, method="im2col")
        ours = conv.conv2d_adjoint_weight(a, b, method=method, geometry=g)
        np.testing.assert_allclose(ours, ref)
    workspace.kept(("winograd_v", t, g), (z, g))[...] *= 2  # poisoned: G_gw must read it
    doubled = conv.conv2d_adjoint_weight(eps, z, method=method, geometry=g)
    np.testing.assert_allclose(doubled, 2 * fresh, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", each(METHODS))
def test_blocks_split_over_threads_give_the_same_roles(method, monkeypatch):
    """Blocks of images on two of the engines' threads (each GEMM on one BLAS thread): F,
    G_delta and G_gw (its per-thread sums added; from the kept tiles, the 36 products split)
    as im2col's."""
    from convprop.conv.engines import _threads

    monkeypatch.setattr(_layout, "BLOCK_BYTES", 1)  # a block per image
    monkeypatch.setattr(_threads, "SPLIT_WORK", 0)
    monkeypatch.setattr(_threads, "engine_threads", lambda: 2)
    used = []
    split = _threads.parallel
    monkeypatch.setattr(
        winograd, "parallel", lambda *a, **k: used.append(split(*a, **k)) or used[-1]
    )
    r = np.random.default_rng(7)
    z, w = r.standard_normal((5, 6, 9, 8)), r.standard_normal((7, 6, 3, 3))
    g = conv.conv_geometry(z.shape, w.shape, padding=1)
    eps = r.standard_normal((5, 7, 9, 8))
    ours = (
        conv.conv2d(z, w, method=method, geometry=g),
        conv.conv2d_adjoint_input(eps, w, method=method, geometry=g),
        conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, padding=1, method=method),
        conv.conv2d_adjoint_weight(eps, z, method=method, geometry=g),  # from the kept V, E
    )
    assert len(used) == 4 and set(used) == {2}
    opts = dict(padding=1, method="im2col")
    ref = (
        conv.conv2d(z, w, **opts),
        conv.conv2d_adjoint_input(eps, w, input_shape=z.shape, **opts),
        conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, **opts),
    )
    for a, b in zip(ours, (*ref, ref[2]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
