"""Predicted data-parallel speed-up from the ring-allreduce cost model and a measured step.

``python -m convprop.bench.cost_model`` measures one training step (batch 64, this machine, one
process) of LeNet-5 and of a wider CNN, then predicts, for P = 2 ... 64 processes each holding
64 examples (global batch 64 P) over 10 and 100 Gbit/s links,

    T_allreduce(P) = 2 (P - 1) / P * bytes / bandwidth + 2 (P - 1) * latency
    speed-up(P)    = P * T_step / (T_step + T_allreduce(P)),   efficiency = speed-up / P,

in images per second, with no overlap of computation and communication ("weak scaling": the
global batch grows with P).

A larger global batch B is not free. With the gradient noise scale ``B_noise`` (McCandlish et
al., 2018; ``convprop experiment noise`` measures it), reaching a given loss takes about
``E_min (1 + B / B_noise)`` examples, so images per second overstate the gain once B passes
B_noise; the useful speed-up of weak scaling is

    useful(P) = speed-up(P) * (1 + 64 / B_noise) / (1 + 64 P / B_noise).

The alternative is "strong scaling": keep the global batch at 64 and give each of the P ranks
64 / P examples, so a step takes ``T_step / P + T_allreduce(P)`` (optimistic: small per-rank
batches use the cores less well), and the speed-up is ``T_step / (T_step / P +
T_allreduce(P))``. It prints the tables in Markdown (they are docs/scaling.md's).
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


def useful_speedup(weak: float, processes: int, b_noise: float, batch: int = 64) -> float:
    """Weak-scaling speed-up in time to a given loss: images/s gain over the examples' growth."""
    return weak * (1 + batch / b_noise) / (1 + batch * processes / b_noise)


def strong_speedup(
    step: float, processes: int, nbytes: float, bandwidth: float, latency: float
) -> float:
    """Fixed global batch split over P ranks: ``T / (T / P + T_allreduce(P))``."""
    return step / (step / processes + allreduce_seconds(processes, nbytes, bandwidth, latency))


def wide_cnn(rng: np.random.Generator):
    from convprop import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, rng=rng),
        nn.MaxPool2d(2),  # before ReLU: the same function (max and relu commute), 1/4 the work
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1, rng=rng),
        nn.MaxPool2d(2),
        nn.ReLU(),
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


def _table(title: str, cell) -> None:
    print(f"\n{title}\n")
    print("| link | " + " | ".join(f"P = {p}" for p in PROCESSES) + " |")
    print("| --- |" + " --- |" * len(PROCESSES))
    for link, (bandwidth, latency) in LINKS.items():
        print(f"| {link} | " + " | ".join(cell(p, bandwidth, latency) for p in PROCESSES) + " |")


def main(argv: list[str] | None = None) -> None:
    import argparse

    from convprop.cores import share_cores
    from convprop.memory import retain_freed_memory
    from convprop.models import build_model

    retain_freed_memory()  # as convprop train does
    share_cores()
    parser = argparse.ArgumentParser(prog="python -m convprop.bench.cost_model")
    parser.add_argument(
        "--b-noise",
        type=float,
        default=59.3,
        help="gradient noise scale, from `convprop experiment noise` (default: cnn on digits)",
    )
    b_noise = parser.parse_args(argv).b_noise

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

        def weak(p, bw, lat, step=step, nbytes=nbytes):
            s = speedup(step, p, nbytes, bw, lat)
            return f"{s:.1f}x ({100 * s / p:.0f}%)"

        def useful(p, bw, lat, step=step, nbytes=nbytes):
            return f"{useful_speedup(speedup(step, p, nbytes, bw, lat), p, b_noise):.1f}x"

        def strong(p, bw, lat, step=step, nbytes=nbytes):
            s = strong_speedup(step, p, nbytes, bw, lat)
            return f"{s:.1f}x ({100 * s / p:.0f}%)"

        _table("Weak scaling, 64 examples per rank: speed-up in images/s (efficiency)", weak)
        _table(
            f"The same in time to a given loss, with B_noise = {b_noise:g} (global batch 64 P)",
            useful,
        )
        _table("Strong scaling, global batch 64 split over P ranks: speed-up (efficiency)", strong)
        comm = {p: allreduce_seconds(p, nbytes, *LINKS[next(iter(LINKS))]) for p in PROCESSES}
        print(
            "\nallreduce at 10 Gbit/s: "
            + ", ".join(f"P={p}: {1e3 * t:.2f} ms" for p, t in comm.items())
        )


if __name__ == "__main__":
    main()
