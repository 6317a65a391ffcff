"""Tests for convprop.conv: F against scipy and torch, G against autograd, central differences and
the dot-product identity, for every method and both kinds of convolution."""

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from convprop import jit
from convprop.conv import (
    ENGINES as ENGINE_TABLE,
)
from convprop.conv import (
    METHODS,
    conv2d,
    conv2d_adjoint_input,
    conv2d_adjoint_weight,
    conv2d_backward,
    conv2d_output_shape,
    conv2d_padding,
    conv_geometry,
)

ENGINES = [m for m in METHODS if m != "auto"]
ALL_METHODS = list(METHODS)
KINDS = ["convolution", "correlation"]


def usable(method: str) -> bool:
    """Whether this environment runs ``method``: the compiled rows need Numba."""
    return method == "auto" or not ENGINE_TABLE[method].compiled or jit.available()


def each(methods):
    """``methods`` as parameters, a compiled engine skipped where Numba is missing."""
    return [
        pytest.param(m, marks=pytest.mark.skipif(not usable(m), reason=f"{m} needs Numba"))
        for m in methods
    ]


def torch_module():
    """PyTorch, the reference, or a skip where it is not installed (the core test step)."""
    return pytest.importorskip("torch")


def rng(seed=0):
    return np.random.default_rng(seed)


def refused(method, zs, ws, **opts) -> bool:
    """Whether engine ``method`` cannot compute this convolution; if so, F and both G must
    say so in one ValueError. Every engine is tested on every shape it supports. A compiled
    engine where Numba is missing must refuse every shape with one ImportError naming the
    ``fast`` extra."""
    if method == "auto":
        return False
    if not usable(method):
        with pytest.raises(ImportError, match=r"convprop\[fast\]"):
            conv2d(np.zeros(zs), np.zeros(ws), method=method, **opts)
        return True
    if ENGINE_TABLE[method].supports(conv_geometry(zs, ws, **opts)):
        return False
    z, w = np.zeros(zs), np.zeros(ws)
    x = conv2d(z, w, **opts)
    for call in (
        lambda: conv2d(z, w, method=method, **opts),
        lambda: conv2d_adjoint_input(x, w, input_shape=zs, method=method, **opts),
        lambda: conv2d_adjoint_weight(x, z, kernel_shape=ws, method=method, **opts),
    ):
        with pytest.raises(ValueError, match=f"method '{method}' cannot compute"):
            call()
    return True


def explicit_pads(padding, kh, kw, dilation, kind):
    """The padding rule restated independently of convprop: ((top, bottom), (left, right))."""
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    th, tw = dh * (kh - 1), dw * (kw - 1)
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "full":
        return (th, th), (tw, tw)
    if padding == "same":
        small = (th // 2, th - th // 2), (tw // 2, tw - tw // 2)
        if kind == "correlation":
            return small
        return small[0][::-1], small[1][::-1]
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    if isinstance(padding[0], int):
        return (padding[0],) * 2, (padding[1],) * 2
    return tuple(padding[0]), tuple(padding[1])


def torch_reference(z, w, *, stride, padding, dilation, kind):
    """x, and a function eps -> (dL/dz, dL/dw) from torch autograd."""
    torch = torch_module()
    F = torch.nn.functional
    (pt, pb), (pl, pr) = explicit_pads(padding, w.shape[2], w.shape[3], dilation, kind)
    zt = torch.tensor(z, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    kernel = wt.flip(2, 3) if kind == "convolution" else wt
    x = F.conv2d(F.pad(zt, (pl, pr, pt, pb)), kernel, stride=stride, dilation=dilation)

    def grads(eps):
        gz, gw = torch.autograd.grad(x, (zt, wt), torch.tensor(eps))
        return gz.numpy(), gw.numpy()

    return x.detach().numpy(), grads


def assert_roles_match_torch(z, w, r, method, **opts):
    """F, G_delta and G_gw of engine ``method``, each public function on its own, against
    PyTorch's autograd (float64; eps drawn from ``r``)."""
    x_ref, grads = torch_reference(z, w, **opts)
    x = conv2d(z, w, method=method, **opts)
    np.testing.assert_allclose(x, x_ref, atol=1e-10)
    eps = r.standard_normal(x.shape)
    gz, gw = grads(eps)
    delta = conv2d_adjoint_input(eps, w, input_shape=z.shape, method=method, **opts)
    g_w = conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, method=method, **opts)
    np.testing.assert_allclose(delta, gz, atol=1e-10)
    np.testing.assert_allclose(g_w, gw, atol=1e-9)


def assert_dot_product_identity(zs, ws, r, method, **opts):
    """``<F(z), eps> = <z, G_delta(eps)> = <w, G_gw(eps)>`` for engine ``method`` on float64
    z, w, eps drawn from ``r``, to 1e-10 of a bound on ``|<F(z, w), eps>|``; returns z, w, x."""
    z, w = r.standard_normal(zs), r.standard_normal(ws)
    x = conv2d(z, w, method=method, **opts)
    eps = r.standard_normal(x.shape)
    delta = conv2d_adjoint_input(eps, w, input_shape=zs, method=method, **opts)
    g_w = conv2d_adjoint_weight(eps, z, kernel_shape=ws, method=method, **opts)
    lhs = np.vdot(x, eps)
    scale = np.linalg.norm(z) * np.abs(w).sum() * np.linalg.norm(eps)  # bounds |<F(z, w), eps>|
    assert abs(lhs - np.vdot(z, delta)) <= 1e-10 * scale
    assert abs(lhs - np.vdot(w, g_w)) <= 1e-10 * scale
    return z, w, x


def numeric_gradient(f, a, h=1e-6):
    """Central differences of the scalar function f at a (float64)."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        fp = f()
        a[i] = old - h
        fm = f()
        a[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


# ------------------------------------------------------------------ the seed's case


@pytest.mark.parametrize("method", each(ALL_METHODS))
def test_seed_case_shapes_and_values(method):
    r = rng(1)
    z, w = r.standard_normal((128, 128)), r.standard_normal((3, 3))
    x = conv2d(z, w, method=method)
    eps = r.standard_normal(x.shape)
    delta, g_w = conv2d_backward(eps, z, w, method=method)
    assert x.shape == eps.shape == (126, 126)
    assert delta.shape == (128, 128) and g_w.shape == (3, 3)
    np.testing.assert_allclose(x, scipy.signal.convolve2d(z, w, "valid"), atol=1e-10)
    # delta = pad(eps, 2) correlated with w; g_w(k) = sum_j eps(j) z(j + 2 - k)
    np.testing.assert_allclose(delta, scipy.signal.correlate2d(eps, w, "full"), atol=1e-10)
    flipped = scipy.signal.correlate2d(z, eps, "valid")[::-1, ::-1]
    np.testing.assert_allclose(g_w, flipped, atol=1e-9)


def test_seed_written_q24_q25_are_not_the_adjoints():
    """The seed's Q2.4 (no k-1 offset) and Q2.5 (correlation gradient) fail the identity."""
    r = rng(2)
    z, w = r.standard_normal((12, 12)), r.standard_normal((3, 3))
    eps = r.standard_normal((10, 10))
    lhs = np.vdot(conv2d(z, w), eps)
    q24 = scipy.signal.correlate2d(np.pad(eps, ((0, 4), (0, 4))), w, "valid")  # eps(j + k)
    q25 = scipy.signal.correlate2d(z, eps, "valid")  # sum eps(k) z(j + k)
    assert abs(np.vdot(z, q24) - lhs) > 1e-3 * abs(lhs)
    assert abs(np.vdot(w, q25) - lhs) > 1e-3 * abs(lhs)
    assert np.isclose(np.vdot(z, conv2d_adjoint_input(eps, w)), lhs)
    assert np.isclose(np.vdot(w, conv2d_adjoint_weight(eps, z)), lhs)


# ------------------------------------------------------------------ F against scipy (2-D)


@pytest.mark.parametrize("method", each(ALL_METHODS))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("kshape", [(3, 3), (2, 2), (4, 3), (3, 4), (1, 5), (5, 2)])
def test_forward_matches_scipy(method, kind, mode, kshape):
    r = rng(3)
    z, w = r.standard_normal((9, 11)), r.standard_normal(kshape)
    if refused(method, z.shape, w.shape, padding=mode, kind=kind):
        return
    reference = scipy.signal.convolve2d if kind == "convolution" else scipy.signal.correlate2d
    x = conv2d(z, w, padding=mode, kind=kind, method=method)
    np.testing.assert_allclose(x, reference(z, w, mode), atol=1e-10)


# ------------------------------------------------------------------ F and G against torch (4-D)

TORCH_CASES = [
    # (z shape, w shape, stride, padding, dilation)
    ((2, 3, 9, 10), (4, 3, 3, 3), 1, "valid", 1),
    ((2, 3, 9, 10), (4, 3, 3, 3), 1, 1, 1),
    ((3, 2, 8, 7), (5, 2, 4, 2), 1, "same", 1),
    ((3, 2, 8, 7), (5, 2, 2, 3), 1, "same", (2, 1)),
    ((1, 2, 6, 5), (3, 2, 3, 2), 1, "full", 1),
    ((2, 3, 11, 9), (4, 3, 3, 3), 2, 1, 1),
    ((2, 3, 11, 9), (4, 3, 3, 2), (2, 3), (1, 2), 1),
    ((2, 1, 12, 10), (3, 1, 3, 3), (3, 2), ((2, 0), (1, 3)), (2, 1)),
    ((1, 4, 10, 12), (2, 4, 2, 3), 1, ((0, 2), (3, 1)), 2),
    ((2, 2, 13, 13), (2, 2, 5, 5), 2, "full", 1),
    ((4, 1, 7, 7), (1, 1, 7, 7), 1, "valid", 1),
    ((1, 1, 16, 16), (1, 1, 3, 3), 1, 1, 1),
    ((2, 3, 10, 10), (3, 3, 1, 1), 3, 0, 1),
    ((2, 2, 12, 11), (3, 2, 8, 8), 1, 2, 1),  # 64 taps: auto takes fft
]


@pytest.mark.parametrize("method", each(ALL_METHODS))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", TORCH_CASES, ids=str)
def test_forward_and_adjoints_match_torch(case, kind, method):
    zs, ws, stride, padding, dilation = case
    r = rng(4)
    z, w = r.standard_normal(zs), r.standard_normal(ws)
    opts = dict(stride=stride, padding=padding, dilation=dilation, kind=kind)
    if refused(method, zs, ws, **opts):
        return
    x_ref, grads = torch_reference(z, w, **opts)
    x = conv2d(z, w, method=method, **opts)
    np.testing.assert_allclose(x, x_ref, atol=1e-10)
    eps = r.standard_normal(x.shape)
    delta, g_w = conv2d_backward(eps, z, w, method=method, **opts)
    gz, gw = grads(eps)
    np.testing.assert_allclose(delta, gz, atol=1e-10)
    np.testing.assert_allclose(g_w, gw, atol=1e-9)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("method", each(ENGINES))
def test_torch_same_padding_for_correlation(method):
    """kind='correlation' with padding='same' is torch's padding='same' (even kernels too)."""
    r = rng(5)
    z, w = r.standard_normal((2, 3, 8, 9)), r.standard_normal((4, 3, 4, 2))
    opts = dict(padding="same", dilation=(1, 2), kind="correlation")
    if refused(method, z.shape, w.shape, **opts):
        return
    torch = torch_module()
    kernel = torch.tensor(w)
    ref = torch.nn.functional.conv2d(torch.tensor(z), kernel, padding="same", dilation=(1, 2))
    ref = ref.numpy()
    x = conv2d(z, w, padding="same", dilation=(1, 2), kind="correlation", method=method)
    np.testing.assert_allclose(x, ref, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_random_configs_match_torch(data):
    zs, ws, opts = data.draw(conv_configs())
    method = data.draw(st.sampled_from(ALL_METHODS))
    r = rng(data.draw(st.integers(0, 2**16)))
    z, w = r.standard_normal(zs), r.standard_normal(ws)
    if refused(method, zs, ws, **opts):
        return
    x_ref, grads = torch_reference(z, w, **opts)
    x = conv2d(z, w, method=method, **opts)
    np.testing.assert_allclose(x, x_ref, atol=1e-9)
    eps = r.standard_normal(x.shape)
    delta, g_w = conv2d_backward(eps, z, w, method=method, **opts)
    gz, gw = grads(eps)
    np.testing.assert_allclose(delta, gz, atol=1e-9)
    np.testing.assert_allclose(g_w, gw, atol=1e-9)


# ------------------------------------------------------------------ G: differences and identity


@pytest.mark.parametrize("method", each(ENGINES))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "opts", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2)], ids=str
)
def test_adjoints_against_central_differences(opts, kind, method):
    r = rng(6)
    z, w = r.standard_normal((2, 2, 6, 7)), r.standard_normal((3, 2, 3, 2))
    if refused(method, z.shape, w.shape, kind=kind, **opts):
        return
    opts = dict(opts, kind=kind, method=method)
    eps = r.standard_normal(conv2d(z, w, **opts).shape)

    def loss():
        return np.vdot(conv2d(z, w, **opts), eps)

    delta, g_w = conv2d_backward(eps, z, w, **opts)
    np.testing.assert_allclose(delta, numeric_gradient(loss, z), atol=1e-7)
    np.testing.assert_allclose(g_w, numeric_gradient(loss, w), atol=1e-7)


@st.composite
def conv_configs(draw):
    """Random shapes and options for which the kernel fits the padded input."""
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kind = draw(st.sampled_from(KINDS))
    choices = ["valid", "full", "int", "pair", "pairs"] + (["same"] if sh == sw == 1 else [])
    style = draw(st.sampled_from(choices))
    small = st.integers(0, 3)
    padding = {
        "int": draw(small),
        "pair": (draw(small), draw(small)),
        "pairs": ((draw(small), draw(small)), (draw(small), draw(small))),
    }.get(style, style)
    (pt, pb), (pl, pr) = explicit_pads(padding, kh, kw, (dh, dw), kind)
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - pt - pb), 12))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - pl - pr), 12))
    opts = dict(stride=(sh, sw), padding=padding, dilation=(dh, dw), kind=kind)
    return (n, c, h, w), (o, c, kh, kw), opts


@settings(max_examples=150, deadline=None)
@given(config=conv_configs(), method=st.sampled_from(ALL_METHODS), seed=st.integers(0, 2**16))
def test_dot_product_identity(config, method, seed):
    zs, ws, opts = config
    if refused(method, zs, ws, **opts):
        return
    assert_dot_product_identity(zs, ws, rng(seed), method, **opts)


# ------------------------------------------------------------------ shapes, strides, inference


def test_output_shape_rule():
    assert conv2d_output_shape((128, 128), (3, 3)) == (126, 126)
    assert conv2d_output_shape((8, 3, 32, 30), (5, 3, 3, 3), stride=2, padding=1) == (8, 5, 16, 15)
    assert conv2d_output_shape((10, 10), (3, 3), padding="same", dilation=2) == (10, 10)
    assert conv2d_output_shape((10, 9), (3, 2), padding="full", dilation=(1, 3)) == (12, 12)


def test_padding_helper_matches_scipy_split():
    assert conv2d_padding("same", (4, 3), kind="correlation") == ((1, 2), (1, 1))
    assert conv2d_padding("same", (4, 3), kind="convolution") == ((2, 1), (1, 1))
    assert conv2d_padding("full", (3, 2), dilation=2) == ((4, 4), (2, 2))
    assert conv2d_padding((1, 2), (3, 3)) == ((1, 1), (2, 2))
    assert conv2d_padding(((0, 1), (2, 3)), (3, 3)) == ((0, 1), (2, 3))


@pytest.mark.parametrize("method", each(ALL_METHODS))
def test_stride_ambiguity_resolved_by_input_shape(method):
    r = rng(7)
    w = r.standard_normal((3, 3))
    eps = r.standard_normal((3, 3))
    if refused(method, (8, 8), w.shape, stride=2):
        return
    # 7x7 and 8x8 inputs both give 3x3 outputs with stride 2; the default is the smaller.
    assert conv2d_adjoint_input(eps, w, stride=2, method=method).shape == (7, 7)
    delta = conv2d_adjoint_input(eps, w, input_shape=(8, 8), stride=2, method=method)
    assert delta.shape == (8, 8)
    np.testing.assert_allclose(delta[7], 0, atol=1e-12)  # the unused row and column
    np.testing.assert_allclose(delta[:, 7], 0, atol=1e-12)
    z = r.standard_normal((8, 8))
    assert np.isclose(np.vdot(conv2d(z, w, stride=2), eps), np.vdot(z, delta))


def test_kernel_shape_inferred_when_determined():
    r = rng(8)
    z = r.standard_normal((2, 3, 10, 9))
    w = r.standard_normal((4, 3, 3, 2))
    for opts in [dict(), dict(padding=(1, 2)), dict(padding="full", dilation=2)]:
        eps = r.standard_normal(conv2d(z, w, **opts).shape)
        g_w = conv2d_adjoint_weight(eps, z, **opts)
        np.testing.assert_allclose(
            g_w, conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, **opts)
        )
    eps = r.standard_normal(conv2d(z, w, stride=2).shape)
    with pytest.raises(ValueError, match="kernel_shape is required"):
        conv2d_adjoint_weight(eps, z, stride=2)
    eps = r.standard_normal(conv2d(z, w, padding="same").shape)
    with pytest.raises(ValueError, match="kernel_shape is required"):
        conv2d_adjoint_weight(eps, z, padding="same")
    g_w = conv2d_adjoint_weight(eps, z, kernel_shape=(3, 2), padding="same")
    assert g_w.shape == w.shape


# ------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("method", each(ALL_METHODS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("single", [True, False])
def test_dtype_is_preserved(method, dtype, single):
    r = rng(9)
    zs, ws = ((10, 11), (3, 2)) if single else ((2, 3, 10, 11), (4, 3, 3, 2))
    z, w = r.standard_normal(zs).astype(dtype), r.standard_normal(ws).astype(dtype)
    if refused(method, zs, ws, padding=1):
        return
    x = conv2d(z, w, padding=1, method=method)
    eps = r.standard_normal(x.shape).astype(dtype)
    delta = conv2d_adjoint_input(eps, w, padding=1, method=method)
    g_w = conv2d_adjoint_weight(eps, z, padding=1, method=method)
    both = conv2d_backward(eps, z, w, padding=1, method=method)
    for a in (x, delta, g_w, *both):
        assert a.dtype == dtype
    assert x.shape[-2:] == (10, 12) and delta.shape == zs and g_w.shape == ws


def test_float32_results_are_accurate():
    r = rng(10)
    z, w = r.standard_normal((2, 3, 12, 12)), r.standard_normal((4, 3, 3, 3))
    x64 = conv2d(z, w, padding=1)
    for method in ENGINES:
        if refused(method, z.shape, w.shape, padding=1):
            continue
        x32 = conv2d(z.astype(np.float32), w.astype(np.float32), padding=1, method=method)
        np.testing.assert_allclose(x32, x64, atol=1e-4)


def test_mixed_and_integer_dtypes():
    r = rng(11)
    z32 = r.standard_normal((6, 6)).astype(np.float32)
    assert conv2d(z32, np.ones((2, 2))).dtype == np.float64  # numpy's result type
    assert conv2d(z32, np.ones((2, 2), dtype=np.int64)).dtype == np.float32  # ints -> float32
    x = conv2d([[1, 2, 3], [4, 5, 6]], [[1, 0], [0, 1]])  # lists of ints: exact, int64
    assert x.dtype == np.int64
    np.testing.assert_array_equal(
        x, scipy.signal.convolve2d([[1, 2, 3], [4, 5, 6]], np.eye(2), "valid")
    )
    assert conv2d(z32.astype(np.float16), z32[:2, :2].astype(np.float16)).dtype == np.float16
    eps = np.ones((5, 5), np.float32)
    delta, g_w = conv2d_backward(eps, z32.astype(np.float64), np.ones((2, 2), np.float32))
    assert delta.dtype == np.float32 and g_w.dtype == np.float64  # (eps, w) and (eps, z)


@pytest.mark.parametrize("method", each(ALL_METHODS))
def test_non_contiguous_inputs_and_contiguous_outputs(method):
    r = rng(12)
    z, w = r.standard_normal((3, 6, 11, 20)), r.standard_normal((4, 2, 3, 6))
    zv, wv = z[::-1, ::3, :, ::2], w[:, :, ::-1, ::2]  # strided, reversed views
    if refused(method, zv.shape, wv.shape, padding=1):
        return
    x = conv2d(zv, wv, padding=1, method=method)
    np.testing.assert_allclose(x, conv2d(zv.copy(), wv.copy(), padding=1), atol=1e-10)
    eps = r.standard_normal(x.shape)[:, ::-1]
    delta, g_w = conv2d_backward(eps, zv, wv, padding=1, method=method)
    d_ref, g_ref = conv2d_backward(eps.copy(), zv.copy(), wv.copy(), padding=1)
    np.testing.assert_allclose(delta, d_ref, atol=1e-10)
    np.testing.assert_allclose(g_w, g_ref, atol=1e-10)
    assert all(a.flags.c_contiguous for a in (x, delta, g_w))


# ------------------------------------------------------------------ bad input


Z2, W2, E2 = np.zeros((8, 8)), np.zeros((3, 3)), np.zeros((6, 6))
Z4, W4, E4 = np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3)), np.zeros((2, 4, 6, 6))

BAD_CALLS = [
    (lambda: conv2d(np.zeros(8), W2), "wrong ndim.*\\(H, W\\)"),
    (lambda: conv2d(Z4, W2), "wrong ndim.*\\(C_out, C_in, kh, kw\\)"),
    (lambda: conv2d(np.zeros((2, 3, 8)), np.zeros((4, 3, 3))), "wrong ndim"),
    (lambda: conv2d(np.zeros((2, 2)), W2), "kernel larger than input"),
    (lambda: conv2d(Z2, W2, dilation=4), "kernel larger than input"),
    (lambda: conv2d(Z4, np.zeros((4, 2, 3, 3))), "channel mismatch.*C_in=3.*C_in=2"),
    (lambda: conv2d(Z2, W2, stride=0), "stride must be a positive int"),
    (lambda: conv2d(Z2, W2, stride=(1, -1)), "stride must be a positive int"),
    (lambda: conv2d(Z2, W2, stride=1.5), "stride must be a positive int"),
    (lambda: conv2d(Z2, W2, dilation=0), "dilation must be a positive int"),
    (lambda: conv2d(Z2, W2, padding=-1), "padding must be non-negative"),
    (lambda: conv2d(Z2, W2, padding=((0, 1), (-2, 0))), "padding must be non-negative"),
    (lambda: conv2d(Z2, W2, padding="circular"), "padding must be.*'valid', 'same', 'full'"),
    (lambda: conv2d(Z2, W2, padding=(1, 2, 3)), "padding must be an int, a pair"),
    (lambda: conv2d(Z2, W2, padding="same", stride=2), "padding='same' needs stride 1"),
    (lambda: conv2d(Z2, W2, kind="convolve"), "kind must be one of.*'correlation'"),
    (lambda: conv2d(Z2, W2, method="winograd64"), "method must be one of.*'im2col'"),
    (lambda: conv2d(Z4, np.zeros((4, 3, 5, 5)), method="winograd"), "'winograd' cannot.*3x3"),
    (lambda: conv2d(Z4, W4, method="shifted_runs"), "'shifted_runs' cannot compute.*C_in=3"),
    (lambda: conv2d(Z4, W4, geometry=conv_geometry((2, 3, 9, 9), (4, 3, 3, 3))), "geometry"),
    (lambda: conv2d(Z2.astype(complex), W2), "real numbers.*complex"),
    (lambda: conv2d(np.array([["a"]], dtype=object), W2), "real numbers.*object"),
    (lambda: conv2d(np.zeros((0, 4)), W2), "empty array"),
    (lambda: conv2d_adjoint_input(np.zeros((5, 6)), W2, input_shape=(8, 8)), "eps shape mismatch"),
    (lambda: conv2d_adjoint_input(np.zeros((2, 5, 6, 6)), W4), "channel mismatch: eps has 5"),
    (lambda: conv2d_adjoint_input(E2, W2, input_shape=(9, 9)), "eps shape mismatch.*\\(7, 7\\)"),
    (lambda: conv2d_adjoint_input(E4, W4, input_shape=(3, 3, 8, 8)), "input_shape.*inconsistent"),
    (lambda: conv2d_adjoint_input(np.zeros((1, 1)), W2, padding="full"), "too small"),
    (lambda: conv2d_adjoint_input(E2, W2, stride=(2, 0)), "stride must be a positive int"),
    (lambda: conv2d_adjoint_weight(E2, Z2, kernel_shape=(4, 4)), "eps shape mismatch"),
    (
        lambda: conv2d_adjoint_weight(E4, Z4, kernel_shape=(4, 2, 3, 3)),
        "kernel_shape.*inconsistent",
    ),
    (lambda: conv2d_adjoint_weight(np.zeros((1, 4, 6, 6)), Z4), "batch mismatch"),
    (lambda: conv2d_adjoint_weight(np.zeros((9, 9)), Z2), "no kernel size fits"),
    (lambda: conv2d_adjoint_weight(E2, Z2, padding="same"), "kernel_shape is required"),
    (lambda: conv2d_backward(np.zeros((7, 6)), Z2, W2), "eps shape mismatch"),
    (lambda: conv2d_backward(E2, Z2, W2, method="fast"), "method must be one of"),
    (lambda: conv2d_output_shape((8, 8), (3, 3, 3)), "expected input and kernel shapes"),
    (lambda: conv2d_output_shape((8, 8), (3, 3), stride=-1), "stride must be a positive int"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS, ids=[m for _, m in BAD_CALLS])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
