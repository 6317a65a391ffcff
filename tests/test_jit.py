"""convprop.jit: Numba behind one switch, a clear error without it, threads as the BLAS's."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convprop as cp
from convprop import jit


def run_fresh(code: str, **env: str) -> str:
    """``code`` in a fresh Python process (this convprop, ``env`` added, no ``*_NUM_THREADS``
    inherited); its stripped output."""
    src = str(Path(cp.__file__).parents[1])
    full = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    full.update(env, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_without_numba_prange_is_range_and_a_compiled_call_names_the_extra(monkeypatch):
    monkeypatch.setattr(jit, "available", lambda: False)
    assert jit.prange is range and jit.threads() == 1

    @jit.compiled
    def double(a):
        for i in jit.prange(a.size):
            a[i] *= 2

    a = np.arange(3.0)
    double.py_func(a)  # the readable reference runs anywhere
    assert a.tolist() == [0.0, 2.0, 4.0]
    with pytest.raises(RuntimeError, match=r"double: .*convprop\[fast\]"):
        double(a)


def test_no_numba_switch_and_importing_convprop_imports_no_numba():
    code = (
        "import sys, convprop; from convprop import jit; "
        "print(jit.available(), 'numba' in sys.modules)"
    )
    assert run_fresh(code, CONVPROP_NO_NUMBA="1") == "False False"


def test_compiled_loops_run_on_one_thread_unless_asked():
    pytest.importorskip("numba")
    code = "from convprop import jit; print(jit.threads())"
    assert run_fresh(code) == "1"
    assert run_fresh(code, OPENBLAS_NUM_THREADS="2") == "1"
    assert run_fresh(code, NUMBA_NUM_THREADS="2") == str(min(2, os.cpu_count()))
    set_first = "from convprop import jit; jit.set_threads(2); print(jit.threads())"
    assert run_fresh(set_first) == str(min(2, os.cpu_count()))


def test_the_callers_numba_threads_are_left_as_they_are():
    """convprop's one thread applies to its own parallel loops: a caller's Numba setting is
    the same after a compiled convolution whose loops are parallel."""
    pytest.importorskip("numba")
    if os.cpu_count() < 2:
        pytest.skip("needs 2 cores")
    code = (
        "import numba, numpy as np; numba.set_num_threads(2)\n"
        "from convprop import conv, jit\n"
        "z, w = np.ones((64, 6, 14, 14), np.float32), np.ones((16, 6, 5, 5), np.float32)\n"
        "x = conv.conv2d(z, w, method='numba_batch_direct')\n"
        "print(numba.get_num_threads(), jit.threads(), float(x[0, 0, 0, 0]))"
    )
    assert run_fresh(code) == "2 1 150.0"


@jit.compiled
def _tile_sums(a, out):
    """Sums of ``a``'s rows of 8 in a stack tile (the pattern of numba_winograd's tiles)."""
    tile = jit.stack_array(a, 8)
    for t in range(8):
        tile[t] = 0
    for r in range(a.shape[0]):
        for t in range(8):
            tile[t] += a[r, t]
    for t in range(8):
        out[t] = tile[t]


def test_stack_array_without_numba_is_an_empty_array(monkeypatch):
    monkeypatch.setattr(jit, "available", lambda: False)
    tile = jit.stack_array(np.zeros(2, np.float32), 5)
    assert tile.shape == (5,) and tile.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stack_array_tile_compiled_matches_the_python_loops(dtype):
    pytest.importorskip("numba")
    if not jit.available():
        pytest.skip("CONVPROP_NO_NUMBA is set")
    a = np.random.default_rng(0).standard_normal((5, 8)).astype(dtype)
    out, ref = np.empty(8, dtype), np.empty(8, dtype)
    _tile_sums(a, out)
    _tile_sums.py_func(a, ref)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    np.testing.assert_allclose(out, a.sum(axis=0), rtol=1e-5)
