"""The process's cores, shared by the BLAS's threads and convprop's own.

NumPy's GEMMs run on the BLAS's threads (OpenBLAS, in NumPy's wheels); convprop's parallel
compiled loops (:func:`convprop.jit.compiled` with ``parallel=True``) on Numba's, and some
engines split their work over Python threads of their own (:mod:`convprop.conv.engines`'
``_threads``: the fft and Winograd engines, each thread calling the BLAS for its part). Both
kinds of pool wait for work by spinning, and OpenBLAS's idle threads spin for ``2**28``
cycles (about 0.1 s) after every call before they sleep: a compiled loop on two threads that
starts right after a GEMM shares its two cores with a spinning BLAS thread. Measured here (2
cores, LeNet-5's training step, batch 64): 2.5 ms with the BLAS on 2 threads and the loops
on one, 8.1 ms with both on 2; 2.2 ms with OpenBLAS's threads made to sleep after ``2**16``
cycles (``OPENBLAS_THREAD_TIMEOUT``), but the epoch of 60,000 images then 2.6-2.9 s against
2.4-2.6 (each wake-up costs); 2.0 ms, and the epoch 2.1-2.2 s, with the BLAS on one thread
and convprop's threads on two, which is what :func:`share_cores` sets. The large GEMMs of the
engines that split their work (Winograd's 36 products per block of images) then run on every
core, one BLAS thread in each of convprop's threads (the wide conv row 44 -> 27 ms); a large
GEMM called from one thread (a big ``Linear``, the batch-last engines) runs on one core.

Process-wide, so no library function does it on its own: the command line's entry points
call :func:`share_cores` (``convprop train``, ``demo``, ``experiment`` and the convprop side of
``convprop bench``), and a library caller may (or pass ``threads=`` to
:func:`convprop.train.fit`). Where Numba is missing nothing changes (the NumPy engines' GEMMs
keep the BLAS's threads); where the BLAS is not an OpenBLAS that can be told its thread
count, the compiled loops stay on one thread (:func:`convprop.jit.threads`' default).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
from collections.abc import Iterator

from convprop import jit

# the names OpenBLAS's thread-count functions have in its builds: plain, 64-bit integer
# interfaces, and NumPy's wheels (scipy-openblas, prefixed and suffixed)
_PREFIXES, _SUFFIXES = ("", "scipy_"), ("", "64_", "_64")


@functools.cache
def openblas() -> ctypes.CDLL | None:
    """The OpenBLAS library this process has loaded (NumPy's), found among the files it has
    mapped (Linux); None elsewhere, before NumPy is imported, or where the BLAS is another."""
    if not sys.platform.startswith("linux"):
        return None
    import numpy  # noqa: F401  (loads the BLAS)

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        if ".so" in os.path.basename(path):
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None


@functools.cache
def _function(name: str) -> ctypes._CFuncPtr | None:
    """OpenBLAS's function ``openblas_<name>`` under whichever of its builds' names it has."""
    lib = openblas()
    for prefix in _PREFIXES if lib is not None else ():
        for suffix in _SUFFIXES:
            fn = getattr(lib, f"{prefix}openblas_{name}{suffix}", None)
            if fn is not None:
                return fn
    return None


def blas_threads() -> int | None:
    """The number of threads OpenBLAS's GEMMs run on; None where it is not found."""
    get = _function("get_num_threads")
    if get is None:
        return None
    get.restype = ctypes.c_int
    return int(get())


def _set_blas_threads(threads: int) -> bool:
    """Tell OpenBLAS to run its GEMMs on ``threads`` threads; False where it is not found."""
    put = _function("set_num_threads")
    if put is None or blas_threads() is None:
        return False
    put.argtypes = [ctypes.c_int]
    put(threads)
    return True


def share_cores(threads: int | None = None) -> str:
    """Run convprop's own threads (its compiled loops and its engines' threads) on
    ``threads`` cores (default: as many as the BLAS was given) and the BLAS on one thread in
    each, so that no pool spins against another (see the module); one line saying what was
    set. Without Numba, only the BLAS is set, to ``threads`` when given."""
    count = max(1, int(threads or _SHARED[0] or blas_threads() or engine_threads()))
    os.environ["OPENBLAS_NUM_THREADS"] = str(count)  # what child processes start with
    if not jit.available():
        if threads is not None:
            _set_blas_threads(count)
        return f"{count} BLAS thread{'s' if count > 1 else ''}; no compiled loops (no Numba)"
    if not _set_blas_threads(1):
        jit.set_threads(1)
        _SHARED[0] = None
        return "compiled loops on one thread (the BLAS's thread count cannot be set)"
    jit.set_threads(count)
    _SHARED[0] = count
    return (
        f"{count} thread{'s' if count > 1 else ''} for convprop's loops, the BLAS on one in each"
    )


_SHARED: list[int | None] = [None]  # convprop's thread count once share_cores has set it


def engine_threads() -> int:
    """The threads an engine splits its work over (:mod:`convprop.conv.engines`' ``_threads``):
    :func:`share_cores`' count once it has run; else as many as the BLAS is told to use
    (``OPENBLAS_NUM_THREADS``, else ``OMP_NUM_THREADS``), at most the CPUs this process may use,
    else those CPUs (OpenBLAS's own default)."""
    if _SHARED[0] is not None:
        return _SHARED[0]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return min(int(value), cpus)
    return cpus


@contextlib.contextmanager
def blas_on(threads: int) -> Iterator[bool]:
    """OpenBLAS's GEMMs on ``threads`` threads inside the block, its count given back after.
    ``blas_on(1)`` is for work that convprop splits over threads of its own, each calling the
    BLAS (two threads each asking a two-thread BLAS would put four on two cores); the bench
    measures the machine's matmul peak on every core with it. Yields whether it could be set
    (False where OpenBLAS is not found: the caller then keeps its work on one thread)."""
    before = blas_threads()
    if before is None:
        yield False
        return
    if before != threads:
        _set_blas_threads(threads)
    try:
        yield True
    finally:
        if before != threads:
            _set_blas_threads(before)
