"""The engines' worker threads: a range of work split over the cores the BLAS would use.

For engines whose work is NumPy calls that release the GIL (numpy.fft's transforms, compiled
loops with ``nogil``, GEMMs): ``fft``, and ``winograd`` and ``numba_winograd``, whose parts
call the BLAS (``gemms=True``: one BLAS thread in each part). Each thread has its own workspace
(:mod:`convprop.conv.workspace` is per thread), so the parts may take scratch arrays freely.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from convprop.cores import blas_on, engine_threads

SPLIT_WORK = 1 << 16  # values touched: less runs on one thread (the GIL's hand-offs cost more)

_POOL: dict[int, ThreadPoolExecutor] = {}  # worker pools by size, started on first use
if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
    os.register_at_fork(after_in_child=_POOL.clear)


def threads() -> int:
    """The threads :func:`parallel` splits work over: :func:`convprop.cores.engine_threads`
    (as many as the BLAS is told to use, or :func:`convprop.cores.share_cores`' count).

    numpy.fft runs on one thread; with its transforms split so, the fft engine takes the
    cores a GEMM engine's BLAS would (and PyTorch's threads in the bench)."""
    return engine_threads()


def parallel(
    count: int,
    task: Callable[[int, int, int], None],
    work: int,
    parts: int | None = None,
    gemms: bool = False,
) -> int:
    """``task(part, start, stop)`` for ``range(count)`` cut into at most ``parts`` (default
    :func:`threads`) nearly equal parts, the first on the calling thread and the others on
    worker threads kept for the next call; one part where ``work`` (the number of values the
    task touches) is under :data:`SPLIT_WORK`. Returns the number of parts. Each thread has its
    own scratch; an exception in any part is raised here once every part has ended.

    ``gemms=True`` (the parts call the BLAS): the BLAS is set to one thread while the parts
    run (:func:`convprop.cores.blas_on`), so that ``parts`` threads each running a GEMM do not
    ask for ``parts`` BLAS threads each; where it cannot be set, one part.

    A static split: pieces taken in turn (4 per thread, per image on the large row) measured
    slower, 7.7 ms against 5.7, as the threads then wait more often for the GIL between
    their NumPy calls."""
    if work < SPLIT_WORK:
        parts = 1
    parts = max(1, min(count, threads() if parts is None else parts))
    if parts > 1 and gemms:
        with blas_on(1) as each:
            return parallel(count, task, work, parts if each else 1)
    bounds = [count * t // parts for t in range(parts + 1)]
    if parts == 1:
        task(0, 0, count)
        return 1
    pool = _POOL.get(parts - 1)
    if pool is None:
        pool = _POOL[parts - 1] = ThreadPoolExecutor(parts - 1, thread_name_prefix="convprop-conv")
    futures = [pool.submit(task, t, bounds[t], bounds[t + 1]) for t in range(1, parts)]
    try:
        task(0, bounds[0], bounds[1])
    finally:
        for future in futures:
            future.exception()  # wait for every part before its arrays are released
    for future in futures:
        future.result()
    return parts
