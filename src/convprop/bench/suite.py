"""The benchmark rows, the timing loop and the table."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Row:
    """One benchmark: the same work done by convprop and by PyTorch."""

    name: str
    convprop_s: float
    torch_s: float
    gflop: float = 0.0  # floating-point work of one run, in 1e9 operations
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.convprop_s / self.torch_s

    def as_dict(self, peak_gflops: float) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        if self.gflop:
            out["convprop_gflops"] = self.gflop / self.convprop_s
            out["fraction_of_peak"] = self.gflop / self.convprop_s / peak_gflops
        return out


def best_time(fn: Callable[[], Any], *, repeat: int = 7, min_seconds: float = 0.2) -> float:
    """Best wall time of one call: warm up once, then ``repeat`` rounds of enough calls."""
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
    """Float32 matrix-multiply throughput of NumPy's BLAS on this machine, now."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, n, n), dtype=np.float32)
    return 2 * n**3 / best_time(lambda: a @ b, repeat=5) / 1e9


def threads() -> dict[str, Any]:
    import torch

    blas = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return {
        "torch_threads": torch.get_num_threads(),
        "numpy_blas_threads": int(blas) if blas else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
    }


def run_suite(
    out: Path | None = Path("bench.json"),
    *,
    quick: bool = False,
    groups: tuple[str, ...] = ("conv", "ops", "train"),
) -> dict[str, Any]:
    """Run every row; print the table; write ``bench.json``."""
    try:
        import torch
    except ImportError:
        raise SystemExit("convprop bench needs PyTorch: pip install 'convprop[bench]'") from None
    from convprop.bench import rows as catalogue

    threads_used = int(os.environ.get("CONVPROP_BENCH_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(threads_used)
    peak = matmul_peak_gflops()
    info = {**threads(), "matmul_peak_gflops": peak}
    print(
        f"float32 matmul peak (NumPy BLAS, 1024^3): {peak:.1f} GFLOP/s; threads: PyTorch "
        f"{info['torch_threads']}, NumPy BLAS {info['numpy_blas_threads']}"
    )
    results, skipped = [], []
    for group in groups:
        for make in catalogue.GROUPS[group]:
            try:
                row = make(quick=quick)
            except catalogue.Skip as reason:
                skipped.append(str(reason))
                print(f"  skipped: {reason}")
                continue
            results.append(row)
            _print_row(row, peak)
    report = {"info": info, "rows": [r.as_dict(peak) for r in results], "skipped": skipped}
    if out is not None:
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written to {out}")
    return report


def _print_row(row: Row, peak: float) -> None:
    if not getattr(_print_row, "header", False):
        print(
            f"{'row':<46} {'convprop':>10} {'PyTorch':>10} {'ratio':>7} {'GFLOP/s':>8} "
            f"{'of peak':>8}"
        )
        _print_row.header = True  # type: ignore[attr-defined]
    flops = (
        f"{row.gflop / row.convprop_s:8.1f} {row.gflop / row.convprop_s / peak:8.1%}"
        if row.gflop
        else f"{'':>8} {'':>8}"
    )
    print(
        f"{row.name:<46} {_fmt(row.convprop_s):>10} {_fmt(row.torch_s):>10} "
        f"{row.ratio:>6.2f}x {flops}  {row.note}"
    )


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def add_arguments(parser: Any) -> None:
    """The flags of ``convprop bench``."""
    parser.add_argument("--out", default="bench.json", help="where to write the results")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a smaller epoch")
    parser.add_argument("--only", choices=("conv", "ops", "train"), action="append",
                        help="run only these groups (repeatable)")


def run(args: Any) -> int:
    run_suite(Path(args.out), quick=args.quick,
              groups=tuple(args.only) if args.only else ("conv", "ops", "train"))
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="convprop bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
