"""Predicted data-parallel speed-up from the ring-allreduce cost model and a measured step.

``python -m convprop.bench.cost_model`` measures one training step (batch 64, this machine, one
process) of LeNet-5 and of a wider CNN, then predicts, for P = 2 ... 64 processes each holding
64 examples (global batch 64 P) over 10 and 100 Gbit/s links,

    T_allreduce(P) = 2 (P - 1) / P * bytes / bandwidth + 2 (P - 1) * latency
    speed-up(P)    = P * T_step / (T_step + T_allreduce(P)),   efficiency = speed-up / P,

in images per second, with no overlap of computation and communication. It prints the tables
in Markdown (they are docs/scaling.md's).
"""

from __future__ import annotations

import time

import numpy as np

LINKS = {
    "10 Gbit/s (Ethernet, ~25 us latency)": (10e9 / 8, 25e-6),
    "100 Gbit/s (InfiniBand, ~2 us latency)": (100e9 / 8, 2e-6),
}
PROCESSES = (2, 4, 8, 16, 32, 64)


def allreduce_seconds(processes: int, nbytes: float, bandwidth: float, latency: float) -> float:
    """Ring allreduce: a reduce-scatter and an all-gather, each P - 1 rounds of bytes / P."""
    p = processes
    return 2 * (p - 1) / p * nbytes / bandwidth + 2 * (p - 1) * latency


def speedup(step: float, processes: int, nbytes: float, bandwidth: float, latency: float) -> float:
    return processes * step / (step + allreduce_seconds(processes, nbytes, bandwidth, latency))


def wide_cnn(rng: np.random.Generator):
    from convprop import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 256, rng=rng),
        nn.ReLU(),
        nn.Linear(256, 10, rng=rng),
    )


def measure_step(model, steps: int = 20) -> float:
    from convprop import optim
    from convprop.train import train_step

    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    for _ in range(3):
        train_step(model, opt, x, y)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, x, y)
    return (time.perf_counter() - start) / steps


def main() -> None:
    from convprop.models import build_model

    models = {
        "LeNet-5": build_model("lenet5", (1, 28, 28), 10, np.random.default_rng(0)),
        "wider CNN (32-64 channels, 256 hidden)": wide_cnn(np.random.default_rng(0)),
    }
    for name, model in models.items():
        step = measure_step(model)
        nbytes = 4 * model.num_parameters()
        print(
            f"\n### {name}: {model.num_parameters():,} parameters ({nbytes / 1e6:.2f} MB of "
            f"float32 gradient), measured step {1e3 * step:.1f} ms at batch 64 "
            f"({64 / step:,.0f} images/s on one process)\n"
        )
        print("| link | " + " | ".join(f"P = {p}" for p in PROCESSES) + " |")
        print("| --- |" + " --- |" * len(PROCESSES))
        for link, (bandwidth, latency) in LINKS.items():
            cells = []
            for p in PROCESSES:
                s = speedup(step, p, nbytes, bandwidth, latency)
                cells.append(f"{s:.1f}x ({100 * s / p:.0f}%)")
            print(f"| {link} | " + " | ".join(cells) + " |")
        comm = {p: allreduce_seconds(p, nbytes, *LINKS[next(iter(LINKS))]) for p in PROCESSES}
        print(
            "\nallreduce at 10 Gbit/s: "
            + ", ".join(f"P={p}: {1e3 * t:.2f} ms" for p, t in comm.items())
        )


if __name__ == "__main__":
    main()
