"""The fft engine's own paths: its work split over threads, the product loops compiled or in
NumPy, and the spectra F and G_delta keep for G_gw (the engine table's tests check its results
on every shape with the threads and product the environment gives)."""

import os

import numpy as np
import pytest

import convprop as cp
from convprop import conv, jit, ops
from convprop.conv import workspace
from convprop.conv.engines import _threads, fft

# (z shape, w shape, options): stride, dilation, padding, one image, more threads than images
SHAPES = [
    ((5, 3, 16, 15), (4, 3, 8, 9), dict()),
    ((3, 2, 13, 12), (3, 2, 4, 5), dict(stride=(2, 3), padding=(1, 2), dilation=(2, 1))),
    ((1, 2, 10, 11), (5, 2, 3, 3), dict(padding="full")),
    ((2, 20, 9, 9), (18, 20, 3, 3), dict(padding=1)),  # more than LOOP_TERMS channels
]


def _roles(z, w, eps, opts, method):
    return (
        conv.conv2d(z, w, method=method, **opts),
        conv.conv2d_adjoint_input(eps, w, input_shape=z.shape, method=method, **opts),
        conv.conv2d_adjoint_weight(eps, z, kernel_shape=w.shape, method=method, **opts),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled-product", "numpy-product"])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("zs, ws, opts", SHAPES)
def test_threads_and_product_paths_equal_direct(
    zs, ws, opts, threads, compiled, dtype, monkeypatch
):
    if compiled and not jit.available():
        pytest.skip("the compiled product needs Numba")
    monkeypatch.setattr(_threads, "threads", lambda: threads)
    monkeypatch.setattr(_threads, "SPLIT_WORK", 0)  # split these small shapes too
    if not compiled:
        monkeypatch.setattr(fft.jit, "available", lambda: False)
    r = np.random.default_rng(3)
    z, w = r.standard_normal(zs).astype(dtype), r.standard_normal(ws).astype(dtype)
    eps = r.standard_normal(conv.conv_geometry(zs, ws, **opts).output_shape).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    for ours, theirs in zip(
        _roles(z, w, eps, opts, "fft"), _roles(z, w, eps, opts, "direct"), strict=True
    ):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * np.abs(theirs).max())


def test_g_w_reads_the_kept_spectra_only_for_their_z_eps_and_geometry():
    """F with a geometry keeps z's spectrum, G_delta then eps's; G_gw with that very z, eps and
    geometry reads them (poisoned spectra show it), any other z, eps or geometry transforms
    afresh; without a geometry nothing is kept."""
    workspace.clear()
    r = np.random.default_rng(7)
    z = r.standard_normal((4, 2, 12, 12)).astype(np.float32)
    w = r.standard_normal((3, 2, 9, 9)).astype(np.float32)
    g = conv.conv_geometry(z.shape, w.shape, padding=1)
    conv.conv2d(z, w, padding=1, method="fft")  # no geometry given: nothing kept
    eps = r.standard_normal(g.output_shape).astype(np.float32)
    conv.conv2d_adjoint_input(eps, w, padding=1, method="fft", input_shape=z.shape)
    assert workspace.kept_keys() == []
    expected = conv.conv2d_adjoint_weight(eps, z, padding=1, method="direct")
    conv.conv2d(z, w, geometry=g, method="fft")
    assert workspace.kept(("fft_input", g), (z, g)) is not None
    conv.conv2d_adjoint_input(eps, w, geometry=g, method="fft")
    assert workspace.kept(("fft_error", g), (eps, g)) is not None
    g_w = conv.conv2d_adjoint_weight(eps, z, geometry=g, method="fft")
    np.testing.assert_allclose(g_w, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    workspace.kept(("fft_input", g), (z, g))[...] = 0  # poison z's spectrum: g_w from it is 0
    assert not conv.conv2d_adjoint_weight(eps, z, geometry=g, method="fft").any()
    again = conv.conv2d_adjoint_weight(eps, z.copy(), geometry=g, method="fft")  # another z
    np.testing.assert_allclose(again, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    conv.conv2d(z, w, geometry=g, method="fft")  # z's spectrum kept again, unpoisoned
    workspace.kept(("fft_error", g), (eps, g))[...] = 0  # poison eps's spectrum
    assert not conv.conv2d_adjoint_weight(eps, z, geometry=g, method="fft").any()
    other = conv.conv_geometry(z.shape, w.shape, padding=1)  # equal, but not F's object
    for e, geometry in ((eps.copy(), g), (eps, other)):
        fresh = conv.conv2d_adjoint_weight(e, z, geometry=geometry, method="fft")
        np.testing.assert_allclose(fresh, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    workspace.clear()


def test_op_on_fft_with_kept_spectra_matches_direct():
    """The autodiff op (F's geometry passed to G: spectra kept) gives direct's gradients."""
    r = np.random.default_rng(2)
    data = r.standard_normal((3, 2, 14, 13)), r.standard_normal((4, 2, 9, 8)), r.standard_normal(4)
    grads = {}
    workspace.clear()
    for method in ("fft", "direct"):
        z, w, b = (cp.Tensor(a, requires_grad=True, dtype=np.float64) for a in data)
        x = ops.conv2d(z, w, b, padding=(1, 2), method=method)
        (x * x).sum().backward()
        grads[method] = [t.grad for t in (z, w, b)]
        if method == "fft":
            assert {key[0] for key in workspace.kept_keys()} == {"fft_input", "fft_error"}
    for ours, theirs in zip(grads["fft"], grads["direct"], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_parallel_covers_the_range_once_and_raises_a_parts_error(monkeypatch):
    monkeypatch.setattr(_threads, "threads", lambda: 3)
    seen = []
    big = _threads.SPLIT_WORK
    assert _threads.parallel(7, lambda part, a, b: seen.append((part, a, b)), big) == 3
    assert sorted(seen) == [(0, 0, 2), (1, 2, 4), (2, 4, 7)]
    assert _threads.parallel(2, lambda part, a, b: None, big) == 2  # no more parts than items
    assert _threads.parallel(7, lambda part, a, b: None, big - 1) == 1  # too little work

    def fail(part, a, b):
        if part == 1:
            raise ValueError("part 1")

    with pytest.raises(ValueError, match="part 1"):
        _threads.parallel(4, fail, big)


def test_threads_follow_the_blas_setting(monkeypatch):
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert _threads.threads() == 1
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "100000")  # never more than the CPUs
    assert _threads.threads() == cpus
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _threads.threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert _threads.threads() == cpus
