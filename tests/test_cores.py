"""convprop.cores: the BLAS's threads and convprop's own, set only when asked."""

import os

import numpy as np
import pytest

from convprop import cores
from convprop.conv.engines import _threads
from tests.test_jit import run_fresh


def _openblas() -> None:
    if cores.blas_threads() is None:
        pytest.skip("the BLAS here is not an OpenBLAS whose thread count can be set")


def test_share_cores_puts_convprop_on_the_cores_and_the_blas_on_one_each():
    pytest.importorskip("numba")
    _openblas()
    code = (
        "from convprop import cores, jit; import os; "
        "print(cores.blas_threads(), jit.threads(), cores.engine_threads()); "
        "line = cores.share_cores(2); "
        "print(cores.blas_threads(), jit.threads(), cores.engine_threads(), "
        "os.environ['OPENBLAS_NUM_THREADS']); "
        "cores.share_cores(); print(jit.threads()); print(line)"
    )
    before, after, again, line = run_fresh(code, OPENBLAS_NUM_THREADS="2").splitlines()
    cpus = min(2, os.cpu_count() or 1)
    assert before == f"{cpus} 1 {cpus}"  # nothing changed on import: convprop's loops on one
    assert after == f"1 {cpus} 2 2"
    assert again == str(cpus)  # a second call keeps the count, not the BLAS's one
    assert line == "2 threads for convprop's loops, the BLAS on one in each"


def test_share_cores_without_numba_sets_only_the_blas():
    _openblas()
    code = (
        "from convprop import cores, jit; "
        "print(cores.share_cores(1)); print(cores.blas_threads(), jit.threads())"
    )
    out = run_fresh(code, OPENBLAS_NUM_THREADS="2", CONVPROP_NO_NUMBA="1").splitlines()
    assert out == ["1 BLAS thread; no compiled loops (no Numba)", "1 1"]


def test_share_cores_where_the_blas_cannot_be_told_keeps_one_loop_thread(monkeypatch):
    pytest.importorskip("numba")
    from convprop import jit

    monkeypatch.setattr(cores, "_function", lambda name: None)
    monkeypatch.setattr(cores, "_SHARED", [None])
    before = jit.threads()
    try:
        line = cores.share_cores(2)
        assert jit.threads() == 1 and cores.engine_threads() != 0
        assert line == "compiled loops on one thread (the BLAS's thread count cannot be set)"
    finally:
        jit.set_threads(before)


def test_blas_on_sets_and_gives_back_the_count():
    _openblas()
    before = cores.blas_threads()
    with cores.blas_on(1) as set_:
        assert set_ and cores.blas_threads() == 1
    assert cores.blas_threads() == before


def test_engine_threads_follow_the_blas_variables(monkeypatch):
    monkeypatch.setattr(cores, "_SHARED", [None])
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert cores.engine_threads() == 1
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cores.engine_threads() == 1
    monkeypatch.setattr(cores, "_SHARED", [3])
    assert cores.engine_threads() == 3


def test_parallel_gemm_work_runs_on_one_blas_thread_each(monkeypatch):
    """Work that calls the BLAS, split over the engines' threads: each part sees a BLAS of
    one thread, the count is given back after; where it cannot be set, one part."""
    _openblas()
    monkeypatch.setattr(_threads, "engine_threads", lambda: 2)
    seen = []

    def task(part, start, stop):
        seen.append((part, cores.blas_threads()))
        np.ones((64, 64)) @ np.ones((64, 64))

    before = cores.blas_threads()
    assert _threads.parallel(4, task, work=1 << 20, gemms=True) == 2
    assert sorted(seen) == [(0, 1), (1, 1)] and cores.blas_threads() == before
    monkeypatch.setattr(cores, "_function", lambda name: None)
    seen.clear()
    assert _threads.parallel(4, task, work=1 << 20, gemms=True) == 1
    assert len(seen) == 1
