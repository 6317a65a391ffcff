"""One side of the benchmark in its own process: ``python -m convprop.bench.worker SIDE``.

SIDE is ``convprop`` (PyTorch never imported) or ``torch``. The worker reads one JSON request
per line on stdin and answers one JSON line on stdout:

    {"op": "time", "row": KEY, "variant": V, "repeat": R, "min_seconds": S}  -> {"seconds": t}
    {"op": "peak"}                                 -> {"gflops": float32 matmul GFLOP/s}
    {"op": "bandwidth"}                            -> {"gbs": GB/s of a large array copy}
    {"op": "info"}                                 -> thread counts and versions

The suite starts one worker per side and alternates between them, so that each side runs on
an otherwise idle machine and neither inherits the other's spinning threads.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any


def best_time(fn: Callable[[], Any], *, repeat: int = 7, min_seconds: float = 0.2) -> float:
    """Best wall time of one call: warm up twice, then ``repeat`` rounds of enough calls."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(min_seconds / repeat / once))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def matmul_peak_gflops(n: int = 1024) -> float:
    """Float32 matrix-multiply throughput of NumPy's BLAS on this machine, now, on the
    threads convprop's work runs on (:func:`convprop.cores.share_cores` leaves the BLAS on
    one thread in each of convprop's: the peak is measured on all of them)."""
    import numpy as np

    from convprop.cores import blas_on, engine_threads

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, n, n), dtype=np.float32)
    with blas_on(engine_threads()):
        return 2 * n**3 / best_time(lambda: a @ b, repeat=5) / 1e9


def copy_bandwidth_gbs(nbytes: int = 1 << 28) -> float:
    """Memory bandwidth now: bytes read and written per second by NumPy copying a float32
    array of ``nbytes`` (256 MB: far beyond the caches) into another, best of a few."""
    import numpy as np

    a = np.ones(nbytes // 4, np.float32)
    b = np.empty_like(a)
    return 2 * nbytes / best_time(lambda: np.copyto(b, a), repeat=5, min_seconds=0.0) / 1e9


def info(side: str) -> dict[str, Any]:
    import numpy as np

    out = {
        "side": side,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    if side == "torch":
        import torch

        out.update(torch=torch.__version__, threads=torch.get_num_threads())
    else:
        from convprop import jit
        from convprop.cores import blas_threads, engine_threads

        out["threads"], out["blas_threads"] = engine_threads(), blas_threads()
        out["numba_threads"] = jit.threads() if jit.available() else None
    return out


def main() -> None:
    side = sys.argv[1]
    if side == "torch":
        import torch

        torch.set_num_threads(int(os.environ.get("CONVPROP_BENCH_THREADS", os.cpu_count())))
    else:  # as convprop train does (PyTorch has its own caching allocator)
        from convprop.cores import share_cores
        from convprop.memory import retain_freed_memory

        retain_freed_memory()
        share_cores()  # as convprop train does: the compiled loops on the BLAS's threads
    from convprop.bench import rows

    built: dict[tuple[str, str], Callable[[], Any]] = {}
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "time":
            key = (request["row"], request.get("variant", "auto"))
            if key not in built:
                built[key] = rows.build(key[0], side, key[1])
            seconds = best_time(
                built[key],
                repeat=request.get("repeat", 7),
                min_seconds=request.get("min_seconds", 0.2),
            )
            reply: dict[str, Any] = {"seconds": seconds}
        elif op == "peak":
            reply = {"gflops": matmul_peak_gflops()}
        elif op == "bandwidth":
            reply = {"gbs": copy_bandwidth_gbs()}
        elif op == "info":
            reply = info(side)
        else:
            reply = {"error": f"unknown op {op!r}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
