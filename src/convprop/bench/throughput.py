"""LeNet-5 training throughput of one process, for the data-parallel benchmark row.

``[mpiexec -n P] python -m convprop.bench.throughput STEPS`` trains LeNet-5 on random 28x28
images with global batch 64 (each of the P processes computes its share, one Allreduce sums
the gradients) and prints, on rank 0, one JSON line: images per second over the timed steps,
and the compute and communication seconds per step.

:func:`distributed_row` is the suite's data-parallel row: the same cores used two ways, one
process with T BLAS threads against T MPI ranks with one BLAS thread each (T =
``CONVPROP_BENCH_THREADS``, default every core), in images per second.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    from convprop import optim
    from convprop.distributed import communicator
    from convprop.memory import retain_freed_memory
    from convprop.models import build_model
    from convprop.train import train_step

    retain_freed_memory()  # as convprop train does
    comm = communicator(distributed=True)
    model = build_model("lenet5", (1, 28, 28), 10, np.random.default_rng(0))
    comm.broadcast_parameters(model.parameters())
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    share = comm.share(np.arange(64))
    for _ in range(3):  # warm-up
        train_step(model, opt, x[share], y[share], comm=comm, global_size=64)
    timing: dict[str, float] = {}
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, x[share], y[share], comm=comm, global_size=64, timing=timing)
    seconds = time.perf_counter() - start
    if comm.rank == 0:
        print(
            json.dumps(
                {
                    "processes": comm.size,
                    "images_per_second": 64 * steps / seconds,
                    "compute_s_per_step": timing["compute"] / steps,
                    "communicate_s_per_step": timing["communicate"] / steps,
                }
            )
        )


def _throughput(processes: int, threads: int, steps: int) -> dict[str, Any]:
    from convprop.bench.rows import Skip

    command = [sys.executable, "-m", "convprop.bench.throughput", str(steps)]
    if processes > 1:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent))
        if mpiexec is None:
            raise Skip("data-parallel row: mpiexec not found (pip install 'convprop[mpi]')")
        command = [mpiexec, "-n", str(processes), *command]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise Skip(f"data-parallel row ({processes} ranks) failed: {done.stderr[-300:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def distributed_row(quick: bool = False) -> dict[str, Any]:
    """One process x T threads against T ranks x 1 thread: LeNet-5 images/s, best of rounds."""
    from convprop.bench.rows import Skip

    cores = int(os.environ.get("CONVPROP_BENCH_THREADS", os.cpu_count() or 1))
    if cores < 2:
        raise Skip("data-parallel row: needs at least 2 cores")
    steps, rounds = (30, 2) if quick else (100, 3)
    runs: dict[str, list[dict[str, Any]]] = {"threads": [], "ranks": []}
    for r in range(rounds):
        for way in ("threads", "ranks") if r % 2 == 0 else ("ranks", "threads"):
            shape = (1, cores) if way == "threads" else (cores, 1)
            runs[way].append(_throughput(*shape, steps))
    best = {way: max(rs, key=lambda x: x["images_per_second"]) for way, rs in runs.items()}
    return {
        "name": f"LeNet-5 step, 1 process x {cores} threads vs {cores} MPI ranks x 1 thread",
        "cores": cores,
        "steps": steps,
        "images_per_second": {w: b["images_per_second"] for w, b in best.items()},
        "communicate_s_per_step": best["ranks"]["communicate_s_per_step"],
        "compute_s_per_step": best["ranks"]["compute_s_per_step"],
        "runs": runs,
    }


if __name__ == "__main__":
    main()
