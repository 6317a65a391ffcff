"""convprop.simd: register tiles compiled (Numba) give the NumPy formulas of their plain form."""

import numpy as np
import pytest

from convprop import jit, simd
from convprop.simd import fill, move, outer, products, store, totals, zeros


def _tile_program(values, w, z, e, out, sums):
    """Every operation once: a 3 x 2 tile filled, two outer products, two products, stored
    and summed."""
    t = fill(values, 1, 3, 2)
    t = outer(t, w, 2, z, 5)
    t = outer(t, w, 0, z, 1)
    u = fill(values, 0, 3, 2)
    u = products(u, e, 3, 7, z, 2, 4)
    u = products(u, e, 0, 5, z, 0, 9)
    store(t, out, 4, out.size // 3 - 4)
    totals(u, sums, 1, 2, 1)


def test_operations_in_plain_python_are_their_formulas():
    L = simd.lanes(np.float64)
    width = simd.registers()[0]  # 64 bytes with AVX-512, else 32
    assert (L, simd.lanes(np.float32)) == (width // 8, width // 4)
    r = np.random.default_rng(0)
    values, w, z = r.standard_normal(4), r.standard_normal(5), r.standard_normal(60)
    t = outer(fill(values, 1, 3, 2), w, 2, z, 5)
    np.testing.assert_allclose(t, values[1:4, None] + np.outer(w[2:5], z[5 : 5 + 2 * L]))
    e = r.standard_normal(40)
    u = products(np.zeros((3, 2 * L)), e, 3, 7, z, 2, 4)
    for i in range(3):
        for c in range(2):
            want = e[3 + 7 * i :][:L] * z[2 + 4 * c :][:L]
            np.testing.assert_allclose(u[i, c * L : (c + 1) * L], want)
    sums = np.zeros(8)
    totals(u, sums, 1, 2, 1)
    np.testing.assert_allclose(sums[1:7], u.reshape(3, 2, L).sum(axis=2).reshape(-1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_tiles_match_the_python_formulas(dtype):
    pytest.importorskip("numba")
    if not jit.available():
        pytest.skip("CONVPROP_NO_NUMBA is set")
    simd.register()
    program = jit.compiled(_tile_program)
    r = np.random.default_rng(1)
    values, w = r.standard_normal(4).astype(dtype), r.standard_normal(5).astype(dtype)
    z, e = r.standard_normal(80).astype(dtype), r.standard_normal(60).astype(dtype)
    width = 2 * simd.lanes(dtype)
    out, ref = np.zeros(3 * (width + 8), dtype), np.zeros(3 * (width + 8), dtype)
    sums, ref_sums = np.zeros(8, dtype), np.zeros(8, dtype)
    program(values, w, z, e, out, sums)
    _tile_program(values, w, z, e, ref, ref_sums)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(sums, ref_sums, rtol=tol, atol=tol)
    assert out.any() and sums[1:7].all() and not sums[0] and not sums[7:].any()


def _move_program(src, dst, runs, width):
    """``move`` of each run ``(di, si, n)`` of ``runs``; and the address of a fresh
    ``zeros`` modulo the vector width, with its length and whether it is all zero."""
    for k in range(runs.shape[0]):
        move(dst, runs[k, 0], src, runs[k, 1], runs[k, 2])
    fresh = zeros(37, src)
    return fresh.ctypes.data % width, fresh.size, not fresh.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_move_and_aligned_zeros_compiled_match_their_formulas(dtype):
    """Runs shorter than a vector, of one, and of several with a shifted-back last one (the
    overlap rewrites the same values), to offsets that are not multiples of a vector; and
    ``zeros`` starts on a vector boundary, compiled and in plain Python."""
    pytest.importorskip("numba")
    if not jit.available():
        pytest.skip("CONVPROP_NO_NUMBA is set")
    simd.register()
    L = simd.lanes(dtype)
    runs = np.array([[1, 3, L - 3], [L + 1, 2, L], [3 * L, 5, 2 * L + 3], [6 * L, 1, 3]])
    src = np.random.default_rng(2).standard_normal(4 * L).astype(dtype)
    dst, ref = np.zeros(8 * L, dtype), np.zeros(8 * L, dtype)
    width = simd.registers()[0]
    assert jit.compiled(_move_program)(src, dst, runs, width) == (0, 37, True)
    assert _move_program(src, ref, runs, width) == (0, 37, True)
    for di, si, n in runs:
        np.testing.assert_array_equal(dst[di : di + n], src[si : si + n])
    np.testing.assert_array_equal(dst, ref)
    assert (dst != 0).sum() == runs[:, 2].sum() and width in (32, 64)
