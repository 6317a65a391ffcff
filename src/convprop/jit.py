"""Numba, when it is installed (the ``fast`` extra): the one place convprop imports it.

The compiled engines and kernels are plain Python functions written as the seed's index formulas
(loops over ``i, j, k``), handed to :func:`compiled`, which compiles them on first call with
``numba.njit(cache=True)`` (machine code kept on disk beside the module, so later processes skip
the compile) and falls back to nothing: without Numba, :func:`available` is False and the
callers use their NumPy engines. Importing convprop never imports Numba; the first compiled call
does. Inside a compiled function, ``jit.prange`` is Numba's parallel range (``parallel=True``)
and :func:`stack_array` a small array on the stack, which LLVM keeps in registers (the 6x6
tiles of ``numba_winograd``); larger register tiles are :mod:`convprop.simd`'s.

``CONVPROP_NO_NUMBA=1`` in the environment makes :func:`available` False even where Numba is
installed, so the NumPy path can be run and measured on the same machine.
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable
from typing import Any

MISSING = "this needs Numba, the 'fast' extra: pip install 'convprop[fast]'"


@functools.cache
def available() -> bool:
    """Whether compiled kernels can be used: Numba importable and not disabled by
    ``CONVPROP_NO_NUMBA``."""
    if os.environ.get("CONVPROP_NO_NUMBA", "") not in ("", "0"):
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def compiled(fn: Callable | None = None, *, parallel: bool = False, **options: Any) -> Callable:
    """``fn`` compiled by ``numba.njit(cache=True, parallel=parallel, **options)`` on its
    first call (usable as ``@compiled`` or ``@compiled(parallel=True)``).

    A parallel ``fn`` runs on convprop's thread count (:func:`threads`): where that is one,
    it is compiled a second time without ``parallel`` (its ``prange`` a plain range), which
    saves the thread pool's launch and the setting of Numba's thread count around each call
    (the LeNet-5 step 3.72-3.90 -> 3.48-3.55 ms, three interleaved rounds, 2 BLAS threads,
    against the parallel compiles on one thread); that copy is cached under its own name (Numba's
    disk cache does not tell a parallel compile from a serial one).

    The wrapper keeps the Python function as ``.py_func`` (it is the readable reference, and
    runs anywhere); calling the wrapper where Numba is missing raises RuntimeError with
    :data:`MISSING`.
    """
    if fn is None:
        return functools.partial(compiled, parallel=parallel, **options)
    jitted: dict[bool, Callable] = {}  # by whether the compile is parallel

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        par = parallel and threads() > 1
        kernel = jitted.get(par)
        if kernel is None:
            if not available():
                raise RuntimeError(f"{fn.__name__}: {MISSING}")
            import numba

            _compile_stack_array()
            source = fn if par or not parallel else _renamed(fn, "_serial")
            kernel = jitted[par] = numba.njit(cache=True, parallel=par, **options)(source)
        return _run(kernel, args, par)

    call.py_func = fn  # type: ignore[attr-defined]
    return call


def _renamed(fn: Callable, suffix: str) -> Callable:
    """A copy of ``fn`` (the same code, globals and closure) whose qualified name ends in
    ``suffix``."""
    copy = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__
    )
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__module__ = fn.__module__
    return copy


def stack_array(like: Any, size: int) -> Any:
    """A 1-D array of ``size`` elements of ``like``'s dtype: inside a compiled function, on its
    stack (no heap, no reference count; ``size`` must be a constant), where LLVM keeps a
    fixed-size array whose every index is a constant after unrolling in registers (the tile
    of a register-blocked kernel); in plain Python (``.py_func``), an empty NumPy array."""
    import numpy as np

    return np.empty(size, like.dtype)


@functools.cache
def _compile_stack_array() -> None:
    """Teach Numba :func:`stack_array` (once, at the first compile)."""
    from numba import types
    from numba.core import cgutils
    from numba.core.extending import intrinsic, overload

    @intrinsic
    def alloca(typingctx, like, size):
        if not isinstance(like, types.Array) or not isinstance(size, types.IntegerLiteral):
            return None
        n, arytype = size.literal_value, types.Array(like.dtype, 1, "C")

        def codegen(context, builder, sig, args):
            data = cgutils.alloca_once(builder, context.get_data_type(like.dtype), size=n)
            ary = context.make_array(arytype)(context, builder)
            item = context.get_constant(types.intp, context.get_abi_sizeof(data.type.pointee))
            length = context.get_constant(types.intp, n)
            context.populate_array(
                ary, data=data, shape=[length], strides=[item], itemsize=item, meminfo=None
            )
            return ary._getvalue()

        return arytype(like, size), codegen

    @overload(stack_array, prefer_literal=True)
    def typed(like, size):
        if isinstance(size, types.IntegerLiteral):
            return lambda like, size: alloca(like, size)
        return None


def __getattr__(name: str) -> Any:
    """``jit.prange``: Numba's parallel range inside a compiled function (resolved when it is
    compiled, so importing this module imports no Numba), plain ``range`` without Numba."""
    if name == "prange":
        if available():
            import numba

            return numba.prange
        return range
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_THREADS: list[int | None] = [None]  # convprop's thread count (None: not chosen yet)


def _run(jitted: Callable, args: tuple, parallel: bool) -> Any:
    """``jitted(*args)``; a parallel one on convprop's thread count (:func:`threads`), the
    caller's Numba setting restored after (0.6 us to read it, 1.1 us for each change)."""
    if not parallel:
        return jitted(*args)
    import numba

    before, ours = numba.get_num_threads(), threads()
    if before == ours:
        return jitted(*args)
    numba.set_num_threads(ours)
    try:
        return jitted(*args)
    finally:
        numba.set_num_threads(before)


def threads() -> int:
    """The number of threads convprop's parallel compiled loops use (1 where Numba is
    missing): :func:`set_threads`'s, else ``NUMBA_NUM_THREADS``'s where it is set, else one.

    One by default: a library leaves the process as it found it. Parallel compiled loops
    between the BLAS's multithreaded GEMMs contend with its threads (both spin while they
    wait: the LeNet-5 step 8.1 ms on 2 threads against 2.5 on one), so the thread count is
    raised together with the BLAS's lowered, by :func:`convprop.cores.share_cores`, which the
    command line's entry points call (the step then 1.9-2.0 ms). The choice applies to
    convprop's own loops only: each parallel call sets it and gives the caller's Numba setting
    back after, so code of the caller's that uses Numba is not changed."""
    if not available():
        return 1
    if _THREADS[0] is None:
        import numba

        _THREADS[0] = numba.config.NUMBA_NUM_THREADS if "NUMBA_NUM_THREADS" in os.environ else 1
    return _THREADS[0]


def set_threads(n: int) -> None:
    """Use ``n`` threads in convprop's parallel compiled loops (called by the CLI's entry
    points and the bench, or by a library caller who asks; Numba's own setting for other
    code is left as it is)."""
    if available():
        import numba

        _THREADS[0] = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
