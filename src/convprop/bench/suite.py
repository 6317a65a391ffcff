"""The benchmark suite: two worker processes, alternating rounds, one table and ``bench.json``.

Method. Each side runs in its own worker process (:mod:`convprop.bench.worker`): the convprop
side never imports PyTorch, and the two never run at the same time. For every row the suite
alternates between them for a few rounds (convprop first in odd rounds, PyTorch first in even
ones, a pause between them so that spinning BLAS/OpenMP threads go to sleep) and keeps each
side's best time: on a shared or throttled machine the best of alternating rounds is the
fairest estimate of both. Both sides get the same number of threads, ``CONVPROP_BENCH_THREADS``
(default: every core): ``torch.set_num_threads`` and ``OPENBLAS_NUM_THREADS`` for NumPy.

The float32 matrix-multiply peak of NumPy's BLAS and the memory bandwidth (a large array copy)
are measured by the convprop worker at the start and the end of the run; each row's GFLOP/s
and GB/s are given as fractions of them, and the seed's layer against its two bounds
(:mod:`convprop.bench.report`). For every conv row the engine table times each engine of
:data:`convprop.conv.ENGINES` that can compute it, role by role, and marks auto's pick.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from convprop.bench import report
from convprop.conv import ENGINES as CONV_ENGINES

GROUPS = ("conv", "ops", "train", "recipe", "mpi")
ENGINES = tuple(CONV_ENGINES)  # the conv engine table's names, each forced in turn
PAUSE_S = 0.25  # between the two sides: long enough for idle BLAS threads to stop spinning
NOISE = report.NOISE


@dataclass
class Row:
    """One benchmark: the same work done by convprop and by PyTorch."""

    name: str
    convprop_s: float
    torch_s: float
    gflop: float = 0.0  # floating-point work of one run, in 1e9 operations
    note: str = ""
    gbytes: float = 0.0  # least memory traffic of one run, in 1e9 bytes (0: not counted)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.convprop_s / self.torch_s

    def as_dict(self, peak_gflops: float, bandwidth_gbs: float) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        r = report.rates(self.gflop, self.gbytes, self.convprop_s, peak_gflops, bandwidth_gbs)
        if "gflops" in r:
            out.update(convprop_gflops=r["gflops"], fraction_of_peak=r["fraction_of_peak"])
        if "gbs" in r:
            out.update(convprop_gbs=r["gbs"], fraction_of_bandwidth=r["fraction_of_bandwidth"])
        return out


def side_env(side: str, threads: int) -> dict[str, str]:
    """The environment of a benchmark process for ``side``: ``threads`` threads for it."""
    env = dict(os.environ, CONVPROP_BENCH_THREADS=str(threads))
    if side == "convprop":
        env.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    return env


class Worker:
    """A ``convprop.bench.worker`` process for one side, answering JSON requests."""

    def __init__(self, side: str, threads: int) -> None:
        self.side = side
        self.process = subprocess.Popen(
            [sys.executable, "-m", "convprop.bench.worker", side],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=side_env(side, threads),
        )

    def call(self, **request: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.side} benchmark worker exited (see its stderr)")
        return json.loads(line)

    def time(self, row: str, variant: str = "auto", **options: Any) -> float:
        return self.call(op="time", row=row, variant=variant, **options)["seconds"]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def alternate(workers: dict[str, Worker], row: str, rounds: int, **options: Any):
    """Best seconds of each side over ``rounds`` alternating rounds."""
    best = {side: float("inf") for side in workers}
    for r in range(rounds):
        order = ("convprop", "torch") if r % 2 == 0 else ("torch", "convprop")
        for side in order:
            best[side] = min(best[side], workers[side].time(row, **options))
            time.sleep(PAUSE_S)
    return best["convprop"], best["torch"]


def engine_table(worker: Worker, key: str, quick: bool) -> dict[str, Any]:
    """Each engine's time for each role of conv row ``key``, and what "auto" picks."""
    from convprop.bench import rows

    # Rounds over all engines in turn, best of each: a burst of noise on a shared machine then
    # slows one round of every engine rather than every round of one.
    engines = rows.engines_for(rows.CONV_CASES[key])  # those that can compute this row
    times = {engine: dict.fromkeys(rows.ROLES, float("inf")) for engine in engines}
    for _ in range(2 if quick else 3):
        for engine in engines:
            for role in rows.ROLES:
                seconds = worker.time(
                    key, f"{engine}/{role}", repeat=3, min_seconds=0.02 if quick else 0.05
                )
                times[engine][role] = min(times[engine][role], seconds)
    auto = rows.auto_methods(rows.CONV_CASES[key])
    fastest = {role: min(engines, key=lambda e, r=role: times[e][r]) for role in rows.ROLES}
    ok = {r: times[auto[r]][r] <= (1 + NOISE) * times[fastest[r]][r] for r in rows.ROLES}
    return {
        "seconds": times,
        "auto": auto,
        "fastest": fastest,
        "auto_within_noise": ok,
        "role_gflop": rows.CONV_CASES[key].role_gflop,
    }


def run_suite(
    out: Path | None = Path("bench.json"),
    *,
    quick: bool = False,
    groups: tuple[str, ...] = GROUPS,
) -> dict[str, Any]:
    """Run every row of ``groups``; print the table; write ``bench.json``."""
    if importlib.util.find_spec("torch") is None:  # fail early; only the workers import it
        raise SystemExit("convprop bench needs PyTorch: pip install 'convprop[bench]'")
    from convprop.bench import rows

    threads = int(os.environ.get("CONVPROP_BENCH_THREADS", os.cpu_count() or 1))
    rounds = 2 if quick else 3
    workers = {side: Worker(side, threads) for side in ("convprop", "torch")}
    try:
        info = {side: w.call(op="info") for side, w in workers.items()}
        peak = workers["convprop"].call(op="peak")["gflops"]
        bandwidth = workers["convprop"].call(op="bandwidth")["gbs"]
        numba = info["convprop"].get("numba_threads")
        print(
            f"float32 matmul peak (NumPy BLAS, 1024^3): {peak:.1f} GFLOP/s; memory bandwidth "
            f"(256 MB copy, read + write): {bandwidth:.1f} GB/s; threads: PyTorch "
            f"{info['torch']['threads']}, convprop {info['convprop']['threads']} (Numba's loops "
            f"{numba if numba else '- (not installed)'}, the BLAS on "
            f"{info['convprop']['blas_threads'] or '?'} in each); best of {rounds} alternating "
            "rounds, each side in its own process"
        )
        results, engines, skipped = [], {}, []
        for spec in (s for s in rows.SPECS if s.group in groups):
            ours, theirs = alternate(workers, spec.key, rounds, repeat=3 if quick else 5)
            row = Row(spec.label, ours, theirs, spec.gflop, gbytes=spec.gbytes)
            if spec.key in rows.CONV_CASES:  # the engine table of a plain conv row
                engines[spec.key] = engine_table(workers["convprop"], spec.key, quick)
                auto = engines[spec.key]["auto"]
                row.note = "auto: " + ", ".join(f"{r} {m}" for r, m in auto.items())
            results.append(row)
            _print_row(row, peak, bandwidth)
        peak_end = workers["convprop"].call(op="peak")["gflops"]
        bandwidth_end = workers["convprop"].call(op="bandwidth")["gbs"]
    finally:
        for w in workers.values():
            w.close()
    from convprop.bench.epoch import epoch_row, recipe_row
    from convprop.bench.recipe import resnet_recipe_row
    from convprop.bench.throughput import distributed_row

    def unless_skipped(make):  # a row that may not run here: its reason is recorded
        try:
            return make()
        except rows.Skip as reason:
            skipped.append(str(reason))
            print(f"  skipped: {reason}")
            return None

    made = (("train", epoch_row), ("recipe", recipe_row), ("recipe", resnet_recipe_row))
    for group, make in made:
        if group in groups and (row := unless_skipped(lambda m=make: m(quick=quick))):
            results.append(row)
            _print_row(row, peak, bandwidth)
    distributed = unless_skipped(lambda: distributed_row(quick=quick)) if "mpi" in groups else None
    if distributed is not None:
        ips = distributed["images_per_second"]
        step = distributed["communicate_s_per_step"] + distributed["compute_s_per_step"]
        print(
            f"{distributed['name']}: {ips['threads']:,.0f} vs {ips['ranks']:,.0f} images/s "
            f"({ips['ranks'] / ips['threads']:.2f}x); allreduce "
            f"{distributed['communicate_s_per_step'] * 1e3:.2f} ms of {step * 1e3:.2f} ms per step"
        )
    limits = {}
    if engines:
        report.print_engines(engines, peak)
    if "seed" in engines:
        limits["seed"] = report.seed_limit(
            engines["seed"], rows.CONV_CASES["seed"], peak, bandwidth
        )
        report.print_seed_limit(limits["seed"], bandwidth, peak)
    print(
        f"float32 matmul peak at the end: {peak_end:.1f} GFLOP/s; "
        f"bandwidth {bandwidth_end:.1f} GB/s"
    )
    summary = {
        "info": {
            **info,
            "matmul_peak_gflops": peak,
            "matmul_peak_gflops_end": peak_end,
            "bandwidth_gbs": bandwidth,
            "bandwidth_gbs_end": bandwidth_end,
            "threads": threads,
            "rounds": rounds,
        },
        "rows": [r.as_dict(peak, bandwidth) for r in results],
        "engines": engines,
        "limits": limits,
        "distributed": distributed,
        "skipped": skipped,
    }
    if out is not None:
        out.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"written to {out}")
    return summary


def _print_row(row: Row, peak: float, bandwidth: float) -> None:
    if not getattr(_print_row, "header", False):
        report.header()
        _print_row.header = True  # type: ignore[attr-defined]
    report.print_row(row, peak, bandwidth)


def check_out(out: Path) -> None:
    """ValueError (one line) unless ``out`` can take the results: a file (new or replaced) in
    an existing folder. Checked before any row runs."""
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder: give the results' file, e.g. {out}/bench.json")
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: folder {out.parent} does not exist")


def add_arguments(parser: Any) -> None:
    """The flags of ``convprop bench``."""
    parser.add_argument("--out", default="bench.json", help="where to write the results")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a smaller epoch")
    parser.add_argument(
        "--only", choices=GROUPS, action="append", help="run only these groups (repeatable)"
    )


def run(args: Any) -> int:
    run_suite(Path(args.out), quick=args.quick, groups=tuple(args.only) if args.only else GROUPS)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="convprop bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
