"""LeNet-5 training throughput of one process, for the data-parallel benchmark row.

``[mpiexec -n P] python -m convprop.bench.throughput STEPS`` trains LeNet-5 on random 28x28
images with global batch 64 (each of the P processes computes its share, one Allreduce sums
the gradients) and prints, on rank 0, one JSON line: images per second over the timed steps,
and the compute and communication seconds per step.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    from convprop import optim
    from convprop.distributed import communicator
    from convprop.models import build_model
    from convprop.train import train_step

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


if __name__ == "__main__":
    main()
