"""Every engine of the table on the shapes its layout is made for, and the autodiff op.

``method=`` forces each engine (an engine that cannot compute a shape must refuse it): batches
of small images (``batch_last``, the batch innermost, F keeping its patch matrix for G_gw) and
one channel in and out (``shifted_runs``). Each is checked here against PyTorch, central
differences and the dot-product identity, as ``test_functions.py`` checks the general shapes.
"""

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convprop as cp
from convprop import conv, jit, ops
from convprop.conv import workspace
from convprop.conv.engines import batch_last, compiled_method, im2col, numpy_method
from tests.conv.test_functions import (
    KINDS,
    assert_dot_product_identity,
    assert_roles_match_torch,
    each,
    explicit_pads,
    numeric_gradient,
    refused,
    torch_module,
    torch_reference,
)

ENGINES = list(conv.ENGINES)

# (z shape, w shape, stride, padding, dilation): batches of small images (im2col puts the
# batch innermost), and one channel in and out (a scalar multiply-add or a slice per tap).
CASES = [
    ((6, 3, 9, 8), (4, 3, 3, 3), 1, 1, 1),
    ((5, 2, 11, 10), (3, 2, 5, 4), (2, 1), ((1, 0), (2, 1)), (1, 2)),
    ((4, 1, 12, 12), (6, 1, 5, 5), 1, 2, 1),  # LeNet's first layer, scaled down
    ((8, 6, 7, 7), (5, 6, 5, 5), 1, "valid", 1),  # LeNet's second
    ((4, 3, 10, 9), (2, 3, 2, 3), 3, "full", 1),
    ((3, 1, 13, 11), (1, 1, 3, 4), 1, 1, (2, 1)),  # one channel, dilated
    ((1, 1, 20, 18), (1, 1, 3, 3), 1, "valid", 1),  # the seed's layer, smaller
    ((5, 1, 9, 9), (1, 1, 2, 2), 1, "same", 1),
]


@pytest.mark.parametrize("method", each(ENGINES))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_special_layouts_match_torch(case, kind, method):
    zs, ws, stride, padding, dilation = case
    if padding == "same" and stride != 1:
        pytest.skip("'same' needs stride 1")
    r = np.random.default_rng(1)
    z, w = r.standard_normal(zs), r.standard_normal(ws)
    opts = dict(stride=stride, padding=padding, dilation=dilation, kind=kind)
    if refused(method, zs, ws, **opts):
        return
    assert_roles_match_torch(z, w, r, method, **opts)


@pytest.mark.parametrize("method", each(ENGINES))
def test_special_layouts_against_central_differences(method):
    r = np.random.default_rng(2)
    for zs, ws, pad in [((4, 2, 6, 5), (3, 2, 3, 2), 1), ((2, 1, 7, 6), (1, 1, 3, 3), 0)]:
        z, w = r.standard_normal(zs), r.standard_normal(ws)
        if refused(method, zs, ws, padding=pad):
            continue
        opts = dict(padding=pad, method=method)
        eps = r.standard_normal(conv.conv2d(z, w, **opts).shape)

        def loss(z=z, w=w, eps=eps, opts=opts):
            return np.vdot(conv.conv2d(z, w, **opts), eps)

        delta, g_w = conv.conv2d_backward(eps, z, w, **opts)
        np.testing.assert_allclose(delta, numeric_gradient(loss, z), atol=1e-7)
        np.testing.assert_allclose(g_w, numeric_gradient(loss, w), atol=1e-7)


@st.composite
def batched_configs(draw):
    """Batches of 4 to 8 small images (the batch-innermost layout), or one channel."""
    single = draw(st.booleans())
    n = draw(st.integers(4, 8))
    c, o = (1, 1) if single else (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    sh, sw = (1, 1) if single else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    kind = draw(st.sampled_from(KINDS))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    (pt, pb), (pl, pr) = explicit_pads(padding, kh, kw, (dh, dw), kind)
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - pt - pb), 10))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - pl - pr), 10))
    opts = dict(stride=(sh, sw), padding=padding, dilation=(dh, dw), kind=kind)
    return (n, c, h, w), (o, c, kh, kw), opts


@settings(max_examples=60, deadline=None)
@given(config=batched_configs(), method=st.sampled_from(ENGINES), seed=st.integers(0, 2**16))
def test_dot_product_identity_of_special_layouts(config, method, seed):
    zs, ws, opts = config
    if refused(method, zs, ws, **opts):
        return
    assert_dot_product_identity(zs, ws, np.random.default_rng(seed), method, **opts)


def test_results_are_fresh_arrays_not_scratch():
    """The engines work in reused scratch memory; what they return must not alias it."""
    r = np.random.default_rng(3)
    for zs, ws in [
        ((6, 3, 8, 8), (4, 3, 3, 3)),
        ((1, 1, 16, 16), (1, 1, 3, 3)),
        ((2, 2, 20, 20), (3, 2, 9, 9)),
    ]:
        z, w = r.standard_normal(zs).astype(np.float32), r.standard_normal(ws).astype(np.float32)
        for method in ENGINES:
            if refused(method, zs, ws):
                continue
            x = conv.conv2d(z, w, method=method)
            kept = x.copy()
            eps = np.ones_like(x)
            delta, g_w = conv.conv2d_backward(eps, z, w, method=method)
            kept_d, kept_g = delta.copy(), g_w.copy()
            conv.conv2d(2 * z, w, method=method)  # reuses every work array
            conv.conv2d_backward(3 * eps, 2 * z, w, method=method)
            np.testing.assert_array_equal(x, kept)
            np.testing.assert_array_equal(delta, kept_d)
            np.testing.assert_array_equal(g_w, kept_g)


@pytest.mark.parametrize("shape", [(5, 3, 7, 9), (64, 6, 14, 14), (2, 1, 1, 1)], ids=str)
def test_batch_last_results_copied_in_blocks_are_c_order_copies(shape):
    """The public functions' C-contiguous copy of a batch-last result, in blocks of rows
    (``convprop.transpose.c_copy``), equals NumPy's copy, for (C*H*W) not a multiple of the
    block."""
    from convprop.transpose import c_copy

    n, c, h, w = shape
    a = np.random.default_rng(5).standard_normal((c, h, w, n)).transpose(3, 0, 1, 2)
    out = c_copy(a)
    assert out.flags.c_contiguous and not np.shares_memory(out, a)
    np.testing.assert_array_equal(out, a)
    plain = np.arange(24.0).reshape(2, 3, 4)[:, ::2]  # not batch-last: NumPy's copy
    np.testing.assert_array_equal(c_copy(plain), plain)


# ------------------------------------------------------------------ the autodiff op


OP_OPTIONS = [
    dict(padding=0),
    dict(padding=2),
    dict(stride=2, padding=1),
    dict(dilation=2, padding=2),
    dict(stride=(2, 1)),
]


BATCH_LAST_CASES = [  # numba_batch_direct computes stride 1 only
    (m, o)
    for m in ("batch_last", "numba_batch_last", "numba_batch_direct")
    for o in OP_OPTIONS
    if m != "numba_batch_direct" or o.get("stride", 1) == 1
]


@pytest.mark.parametrize("block_bytes", [batch_last.BATCH_BYTES, 1])  # one block; 1 image each
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "method, opts",
    [pytest.param(m, o, id=f"{m}-{o}", marks=each([m])[0].marks) for m, o in BATCH_LAST_CASES],
)
def test_op_with_bias_folded_and_patch_kept_matches_torch(
    kind, opts, block_bytes, method, monkeypatch
):
    """ops.conv2d on a batch of small images: bias in F's GEMM, F's patch reused by G_gw,
    results handed on batch-last ((C, H, W, N) views), with padding, stride and dilation;
    NumPy's and the compiled packing and col2im, over one block and over several; and the
    compiled loops on batch-last memory (stride 1), which take and give that layout too."""
    torch = torch_module()
    tF = torch.nn.functional
    monkeypatch.setattr(batch_last, "BATCH_BYTES", block_bytes)
    r = np.random.default_rng(4)
    z, w, b = (
        r.standard_normal((6, 3, 9, 9)),
        r.standard_normal((5, 3, 3, 3)),
        r.standard_normal(5),
    )
    tz, tw, tb = (cp.Tensor(a, requires_grad=True, dtype=np.float64) for a in (z, w, b))
    x = ops.conv2d(tz, tw, tb, kind=kind, method=method, **opts)
    assert x.data.transpose(1, 2, 3, 0).flags.c_contiguous  # batch-last
    eps = r.standard_normal(x.shape)
    x.backward(eps)
    pz, pw, pb = (torch.tensor(a, requires_grad=True) for a in (z, w, b))
    kernel = pw.flip(2, 3) if kind == "convolution" else pw
    px = tF.conv2d(pz, kernel, pb, **opts)
    px.backward(torch.tensor(eps))
    np.testing.assert_allclose(x.data, px.detach().numpy(), atol=1e-10)
    for ours, theirs in [(tz, pz), (tw, pw), (tb, pb)]:
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), atol=1e-9)


def test_op_kept_patch_taken_over_falls_back_to_z():
    """Two forwards of the same shape before one backward: the first's kept patch has been
    reused by the second, so its G_gw recomputes from z, and both gradients stay right."""
    torch = torch_module()
    tF = torch.nn.functional
    r = np.random.default_rng(5)
    w = cp.Tensor(r.standard_normal((4, 2, 3, 3)), requires_grad=True, dtype=np.float64)
    b = cp.Tensor(r.standard_normal(4), requires_grad=True, dtype=np.float64)
    z1, z2 = r.standard_normal((2, 5, 2, 7, 7))
    loss = (ops.conv2d(cp.Tensor(z1, dtype=np.float64), w, b) ** 2).sum() + (
        ops.conv2d(cp.Tensor(z2, dtype=np.float64), w, b) ** 2
    ).sum()
    loss.backward()
    tw, tb = torch.tensor(w.data, requires_grad=True), torch.tensor(b.data, requires_grad=True)
    tloss = sum((tF.conv2d(torch.tensor(z), tw.flip(2, 3), tb) ** 2).sum() for z in (z1, z2))
    tloss.backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-10)


def test_workspace_keeps_an_array_for_its_tag_only():
    z, g = np.zeros(3), conv.conv_geometry((5, 5), (3, 3))
    a = workspace.keep("probe", (3, 4), np.float32)
    assert workspace.kept("probe", (z, g)) is None  # not marked yet: being filled
    workspace.mark("probe", (z, g))
    assert workspace.kept("probe", (z, g)) is a
    assert workspace.kept("probe", (z.copy(), g)) is None  # another z, even of equal values
    assert workspace.kept("probe", (z, conv.conv_geometry((5, 5), (3, 3)))) is None
    b = workspace.keep("probe", (3, 4), np.float32)  # taken over
    workspace.mark("probe", (z.copy(), g))
    assert b is a and workspace.kept("probe", (z, g)) is None
    assert workspace.keep("huge", (workspace.SCRATCH_LIMIT + 1,), np.uint8) is None


def test_workspace_holds_no_input_alive_and_a_bounded_number_of_arrays():
    z, g = np.zeros(3), conv.conv_geometry((5, 5), (3, 3))
    alive = weakref.ref(z)
    workspace.keep("weak", (2,), np.float32)
    workspace.mark("weak", (z, g))
    del z
    gc.collect()
    assert alive() is None  # the tag held z weakly
    first = np.zeros(1)
    workspace.keep(("lru", 0), (2,), np.float32)
    workspace.mark(("lru", 0), (first,))
    assert workspace.kept(("lru", 0), (first,)) is not None
    for i in range(1, workspace.KEEP_LIMIT + 1):
        workspace.keep(("lru", i), (2,), np.float32)
    assert workspace.kept(("lru", 0), (first,)) is None  # the least recently kept, dropped


def test_batch_last_g_w_reuses_the_patch_only_for_fs_z_and_geometry():
    """G_gw with F's geometry and z reads the kept patch (a poisoned patch shows it); any
    other call rebuilds the patch from z."""
    r = np.random.default_rng(7)
    z = r.standard_normal((6, 2, 7, 7)).astype(np.float32)
    w = r.standard_normal((3, 2, 3, 3)).astype(np.float32)
    g = conv.conv_geometry(z.shape, w.shape, padding=1)
    x = conv.conv2d(z, w, np.ones(3, np.float32), geometry=g, method="batch_last")
    eps = np.ones_like(x)
    expected = conv.conv2d_adjoint_weight(eps, z, padding=1, method="direct")
    g_w, g_b = conv.conv2d_adjoint_weight(eps, z, geometry=g, method="batch_last", with_bias=True)
    np.testing.assert_allclose(g_w, expected, rtol=1e-5)
    np.testing.assert_allclose(g_b, np.full(3, 6 * 7 * 7), rtol=1e-6)
    workspace.kept(("batch_last", g), (z, g))[...] = 0  # poison the kept patch
    assert not conv.conv2d_adjoint_weight(eps, z, geometry=g, method="batch_last").any()
    np.testing.assert_allclose(  # no geometry: a fresh one, so the patch is rebuilt
        conv.conv2d_adjoint_weight(eps, z, padding=1, method="batch_last"), expected, rtol=1e-5
    )
    workspace.clear()
    conv.conv2d(z, w, padding=1, method="batch_last")  # no geometry given: nothing kept
    assert workspace.kept_keys() == []


def test_workspace_clear_releases_it_and_the_engines_rebuild_it():
    z = np.random.default_rng(0).standard_normal((4, 2, 9, 9), dtype=np.float32)
    w = np.random.default_rng(1).standard_normal((3, 2, 3, 3), dtype=np.float32)
    before = conv.conv2d(z, w, method="im2col")
    buf = workspace.scratch("probe", (8,), np.float32)
    workspace.clear()
    assert workspace.scratch("probe", (8,), np.float32).base is not buf.base  # a new buffer
    np.testing.assert_array_equal(conv.conv2d(z, w, method="im2col"), before)


@pytest.mark.parametrize("one_gemm", [True, False], ids=["one-GEMM", "per-image"])
@pytest.mark.parametrize("block_bytes", [1, 3000, 1 << 20], ids=["1-image", "few", "all"])
@pytest.mark.parametrize("case", CASES[:5], ids=str)
def test_im2col_gemm_layouts_and_blocks(case, block_bytes, one_gemm, monkeypatch):
    """im2col's two GEMM layouts (one GEMM per block, one per image), blocks of one image, of
    a few (the last one short) and of all, give PyTorch's numbers for F, G_delta and G_gw."""
    monkeypatch.setattr(im2col, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(im2col, "ONE_GEMM_MACS", 0 if one_gemm else 1 << 62)
    zs, ws, stride, padding, dilation = case
    r = np.random.default_rng(3)
    z, w = r.standard_normal(zs), r.standard_normal(ws)
    opts = dict(stride=stride, padding=padding, dilation=dilation)
    x_ref, grads = torch_reference(z, w, kind="convolution", **opts)
    np.testing.assert_allclose(conv.conv2d(z, w, method="im2col", **opts), x_ref, atol=1e-10)
    for o in (w.shape[0], 2 * w.shape[1]):  # G_delta by correlation (O <= C) and by col2im
        w2 = r.standard_normal((o, *ws[1:]))
        x_ref, grads = torch_reference(z, w2, kind="convolution", **opts)
        eps = r.standard_normal(x_ref.shape)
        gz, gw = grads(eps)
        delta = conv.conv2d_adjoint_input(eps, w2, input_shape=zs, method="im2col", **opts)
        g_w = conv.conv2d_adjoint_weight(eps, z, kernel_shape=w2.shape, method="im2col", **opts)
        np.testing.assert_allclose(delta, gz, atol=1e-10)
        np.testing.assert_allclose(g_w, gw, atol=1e-9)


@pytest.mark.parametrize(
    "zs, ws, padding, engine",
    [
        ((1, 1, 128, 128), (1, 1, 3, 3), 0, "shifted_runs"),  # the bench's rows
        ((64, 1, 28, 28), (6, 1, 5, 5), 2, "batch_last"),  # small images, one block
        ((64, 6, 14, 14), (16, 6, 5, 5), 0, "batch_last"),
        ((32, 64, 32, 32), (64, 64, 3, 3), 1, "winograd"),
        ((32, 32, 32, 32), (32, 32, 3, 3), 1, "column_patch"),
        ((64, 16, 28, 28), (16, 16, 3, 3), 1, "column_patch"),  # the batch's patch over 8 MB
        ((2, 3, 28, 28), (16, 3, 3, 3), 1, "im2col"),  # 9 rows per row tap
        ((8, 3, 64, 64), (16, 3, 11, 11), 0, "fft"),
        ((3, 6, 14, 14), (16, 6, 5, 5), 0, "im2col"),  # fewer than 4 images
    ],
)
def test_numpy_rule(zs, ws, padding, engine, monkeypatch):
    """Without Numba (or with CONVPROP_NO_NUMBA), "auto" is the NumPy rule."""
    monkeypatch.setattr(jit, "available", lambda: False)
    for role in ("forward", "input", "weight"):
        assert conv.choose_method(zs, ws, padding=padding, role=role) == engine


@pytest.mark.parametrize(
    "zs, ws, padding, engine",
    [
        ((1, 1, 128, 128), (1, 1, 3, 3), 0, "numba_direct"),  # the bench's rows
        ((64, 1, 28, 28), (6, 1, 5, 5), 2, "numba_batch_direct"),  # LeNet's layers
        ((64, 6, 14, 14), (16, 6, 5, 5), 0, "numba_batch_direct"),
        ((32, 64, 32, 32), (64, 64, 3, 3), 1, "numba_winograd"),
        ((8, 3, 64, 64), (16, 3, 11, 11), 0, "numba_tiled"),  # 3 channels in: not fft
        ((8, 16, 64, 64), (16, 16, 11, 11), 0, None),  # over 81 taps, 16 channels: fft's
        ((2, 3, 28, 28), (32, 3, 3, 3), 1, "numba_tiled"),
        ((64, 16, 28, 28), (16, 16, 3, 3), 1, "numba_tiled"),
        ((128, 1, 28, 28), (16, 1, 3, 3), 1, "numba_tiled"),  # ResNet-8's stem
        ((64, 16, 12, 12), (16, 16, 3, 3), 1, "numba_tiled"),  # small images, 168 positions
        ((64, 16, 10, 10), (16, 16, 3, 3), 1, "numba_batch_direct"),  # 120 positions
        ((64, 32, 10, 10), (16, 32, 3, 3), 1, "numba_batch_direct"),  # 288 patch rows
        ((16, 64, 8, 8), (64, 64, 3, 3), 1, "numba_winograd"),  # small images too
        ((8, 128, 4, 4), (128, 128, 3, 3), 1, "numba_batch_last"),  # 4x4: no Winograd
        ((8, 6, 14, 14), (16, 6, 5, 5), 0, "numba_batch_last"),  # under a vector of images
    ],
)
def test_compiled_rule(zs, ws, padding, engine):
    """With Numba, "auto" takes the compiled engine measured faster, else the NumPy rule."""
    if not jit.available():
        pytest.skip("needs Numba")
    g = conv.conv_geometry(zs, ws, padding=padding)
    assert compiled_method(g) == engine
    assert conv.choose_method(zs, ws, padding=padding) == (engine or numpy_method(g))


def test_compiled_rule_follows_batch_last():
    """Where the NumPy rule picks batch_last, Numba's rule picks one of its compiled twins:
    the loops on batch-last memory for the transposed convolution of the bench (k4 s2 p1 on
    32x16x14x14), the compiled patch and GEMMs for a 1x1 kernel at stride 2."""
    if not jit.available():
        pytest.skip("needs Numba")
    g = conv.conv_transpose_geometry((32, 16, 14, 14), (16, 8, 4, 4), stride=2, padding=1)
    assert numpy_method(g) == "batch_last"
    assert compiled_method(g) == "numba_batch_direct"
    g = conv.conv_geometry((128, 16, 28, 28), (32, 16, 1, 1), stride=2)
    assert (numpy_method(g), compiled_method(g)) == ("batch_last", "numba_batch_last")


def test_compiled_rule_takes_the_batch_last_loops_for_strides():
    """Strided kernels larger than 1x1 on 16 or more images: numba_batch_direct, also where
    the NumPy rule picks im2col (ResNet's downsampling at 28x28); under 16 images not."""
    if not jit.available():
        pytest.skip("needs Numba")
    g = conv.conv_geometry((128, 16, 28, 28), (32, 16, 3, 3), stride=2, padding=1)
    assert (numpy_method(g), compiled_method(g)) == ("im2col", "numba_batch_direct")
    g = conv.conv_geometry((8, 16, 28, 28), (32, 16, 3, 3), stride=2, padding=1)
    assert compiled_method(g) != "numba_batch_direct"


# ------------------------------------------------------------------ layers


def test_relu_gradient_is_zero_at_zero_and_nan():
    z = cp.Tensor(np.array([-1.0, 0.0, 2.0, np.nan]), requires_grad=True, dtype=np.float64)
    ops.relu(z).backward(np.ones(4))
    np.testing.assert_array_equal(z.grad, [0.0, 0.0, 1.0, 0.0])


def test_without_numba_auto_runs_the_numpy_engines():
    """Numba blocked: convprop imports, "auto" picks NumPy engines on the bench's rows and
    computes, and forcing a compiled engine is one ImportError naming the extra."""
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np\n"
        "from convprop import conv, jit\n"
        "assert not jit.available()\n"
        "z, w = np.ones((2, 1, 9, 9), np.float32), np.ones((3, 1, 3, 3), np.float32)\n"
        "assert conv.choose_method(z.shape, w.shape) in ('batch_last', 'im2col')\n"
        "assert conv.choose_method((1, 1, 128, 128), (1, 1, 3, 3)) == 'shifted_runs'\n"
        "assert (conv.conv2d(z, w) == 9).all()\n"
        "try:\n"
        "    conv.conv2d(z, w, method='numba_direct')\n"
        "except ImportError as e:\n"
        "    assert 'convprop[fast]' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
    )
    src = str(Path(cp.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "zs, ws, opts",
    [
        ((33, 1, 9, 8), (6, 1, 5, 5), dict(padding=2)),  # LeNet's first layer, 33 images
        ((40, 3, 7, 6), (5, 3, 3, 2), dict(padding=(2, 1), dilation=(2, 1))),
        ((32, 2, 6, 6), (4, 2, 1, 1), dict()),
    ],
)
def test_batch_direct_register_tiles(zs, ws, opts, dtype):
    """numba_batch_direct's F in register tiles (the last group of channels and of images
    shifted back, a batch not a multiple of the vector's lanes padded) equals im2col's, bias
    included."""
    if not jit.available():
        pytest.skip("needs Numba")
    r = np.random.default_rng(8)
    z, w = r.standard_normal(zs).astype(dtype), r.standard_normal(ws).astype(dtype)
    b = r.standard_normal(ws[0]).astype(dtype)
    x = conv.conv2d(z, w, b, method="numba_batch_direct", **opts)
    ref = conv.conv2d(z.astype(np.float64), w, b, method="im2col", **opts)
    assert x.dtype == dtype
    np.testing.assert_allclose(x, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize(
    "zs, ws, opts",
    [
        ((33, 6, 9, 8), (5, 6, 5, 5), dict()),  # LeNet's second layer's shape, 33 images
        ((40, 4, 7, 6), (3, 4, 3, 2), dict(padding=(2, 1), dilation=(2, 1))),
    ],
)
def test_batch_direct_adjoint_input_in_register_tiles(zs, ws, opts):
    """numba_batch_direct's G_delta by F's tiled loop on eps equals im2col's G_delta."""
    if not jit.available():
        pytest.skip("needs Numba")
    r = np.random.default_rng(9)
    z, w = r.standard_normal(zs), r.standard_normal(ws)
    x = conv.conv2d(z, w, method="im2col", **opts)
    eps = r.standard_normal(x.shape)
    opts = dict(input_shape=zs, **opts)
    delta = conv.conv2d_adjoint_input(eps, w, method="numba_batch_direct", **opts)
    np.testing.assert_allclose(delta, conv.conv2d_adjoint_input(eps, w, method="im2col", **opts))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "zs, ws, opts",
    [
        ((80, 2, 9, 10), (7, 2, 3, 7), dict(padding=(1, 3))),  # 80 images: a run shifted back
        ((20, 3, 8, 14), (5, 3, 2, 6), dict(dilation=(1, 2))),  # 20: padded to whole vectors
        ((64, 6, 14, 14), (16, 6, 5, 5), dict()),  # LeNet's second layer
    ],
)
def test_batch_direct_adjoint_weight_in_register_tiles(zs, ws, opts, dtype):
    """numba_batch_direct's G_gw, tiles of channels by kernel columns summed along the batch
    (the last group of each shifted back), and g_b, equal im2col's."""
    if not jit.available():
        pytest.skip("needs Numba")
    r = np.random.default_rng(11)
    z, w = r.standard_normal(zs).astype(dtype), r.standard_normal(ws).astype(dtype)
    x = conv.conv2d(z, w, method="im2col", **opts)
    eps = r.standard_normal(x.shape).astype(dtype)
    g = conv.conv_geometry(zs, ws, **opts)
    g_w, g_b = conv.ENGINES["numba_batch_direct"].adjoint_weight(eps, z, g, with_bias=True)
    ref = conv.conv2d_adjoint_weight(eps.astype(np.float64), z, kernel_shape=ws, **opts)
    scale = np.abs(ref).max()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert g_w.dtype == dtype
    np.testing.assert_allclose(g_w[:, :, ::-1, ::-1], ref, atol=tol * scale)  # correlation form
    ref_b = eps.astype(np.float64).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(g_b, ref_b, atol=tol * np.abs(eps).sum(axis=(0, 2, 3)).max())


COMPILED_CASES = [  # (engine, z shape, w shape, options)
    ("numba_direct", (8, 4, 64, 60), (4, 4, 3, 3), dict(padding=1)),  # above SERIAL_WORK
    ("numba_direct", (2, 1, 33, 30), (1, 1, 4, 2), dict(dilation=(2, 1))),
    ("numba_batch_direct", (40, 3, 9, 8), (6, 3, 5, 5), dict(padding=2)),
    ("numba_batch_direct", (5, 2, 7, 6), (3, 2, 3, 2), dict(padding=(2, 1))),
    ("numba_batch_direct", (33, 4, 9, 9), (6, 4, 4, 4), dict(stride=2, padding=1)),
    ("numba_batch_direct", (17, 3, 10, 9), (5, 3, 3, 2), dict(stride=(1, 3), dilation=(2, 1))),
    ("numba_batch_last", (33, 4, 9, 9), (6, 4, 4, 4), dict(stride=2, padding=1)),
    ("numba_tiled", (3, 9, 12, 11), (10, 9, 3, 3), dict(padding=1)),
    ("numba_im2col", (3, 2, 9, 8), (4, 2, 3, 3), dict(stride=(2, 1), padding=1)),
    ("numba_winograd", (3, 17, 10, 9), (20, 17, 3, 3), dict(padding=1)),
]


@pytest.mark.parametrize("method, zs, ws, opts", COMPILED_CASES, ids=str)
def test_compiled_engines_on_two_threads_equal_im2col(method, zs, ws, opts):
    """The parallel compiles (Numba's threads, 2 here; one thread runs a serial compile of
    the same loops): F, G_delta and G_gw equal im2col's."""
    if not jit.available():
        pytest.skip("needs Numba")
    before = jit.threads()
    jit.set_threads(2)
    try:
        if jit.threads() < 2:
            pytest.skip("needs 2 cores")
        r = np.random.default_rng(10)
        z, w = r.standard_normal(zs), r.standard_normal(ws)
        x = conv.conv2d(z, w, method=method, **opts)
        np.testing.assert_allclose(x, conv.conv2d(z, w, method="im2col", **opts), atol=1e-12)
        eps = r.standard_normal(x.shape)
        for name, fn, shape in [
            ("input", conv.conv2d_adjoint_input, dict(input_shape=zs)),
            ("weight", conv.conv2d_adjoint_weight, dict(kernel_shape=ws)),
        ]:
            other = z if name == "weight" else w
            ours = fn(eps, other, method=method, **shape, **opts)
            ref = fn(eps, other, method="im2col", **shape, **opts)
            np.testing.assert_allclose(ours, ref, atol=1e-10, err_msg=name)
    finally:
        jit.set_threads(before)
