"""What ``convprop bench`` prints: the rows, the conv engine table and the seed layer's limit.

Every rate is given against a figure measured in the same run: GFLOP/s against the float32
matmul peak of NumPy's BLAS, GB/s (the row's least memory traffic over its time) against the
bandwidth of a large array copy. For the seed's layer, whose arrays are small and whose work is
tiny, the limit is the larger of two bounds: its least traffic at that bandwidth, and its
floating-point work at the matmul peak.
"""

from __future__ import annotations

from typing import Any

NOISE = 0.10  # engines within this fraction of the fastest count as tied in the engine table


def fmt(seconds: float) -> str:
    """``1.23 s``, ``4.56 ms`` or ``789 us``."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def rates(gflop: float, gbytes: float, seconds: float, peak: float, bandwidth: float) -> dict:
    """GFLOP/s and GB/s of ``seconds`` for this work, and their fractions of the machine's."""
    out: dict[str, float] = {}
    if gflop:
        out.update(gflops=gflop / seconds, fraction_of_peak=gflop / seconds / peak)
    if gbytes:
        out.update(gbs=gbytes / seconds, fraction_of_bandwidth=gbytes / seconds / bandwidth)
    return out


def header() -> None:
    print(
        f"{'row':<46} {'convprop':>10} {'PyTorch':>10} {'ratio':>7} {'GFLOP/s':>8} "
        f"{'of peak':>8} {'GB/s':>6} {'of bw':>6}"
    )


def print_row(row: Any, peak: float, bandwidth: float) -> None:
    """One line: both times, the ratio, convprop's rates against the machine's."""
    r = rates(row.gflop, row.gbytes, row.convprop_s, peak, bandwidth)
    flops = f"{r['gflops']:8.1f} {r['fraction_of_peak']:8.1%}" if "gflops" in r else " " * 17
    traffic = f"{r['gbs']:6.1f} {r['fraction_of_bandwidth']:6.1%}" if "gbs" in r else " " * 13
    print(
        f"{row.name:<46} {fmt(row.convprop_s):>10} {fmt(row.torch_s):>10} "
        f"{row.ratio:>6.2f}x {flops} {traffic}  {row.note}",
        flush=True,
    )


def print_engines(engines: dict[str, Any], peak: float) -> None:
    """Per conv row and role: each engine's time (every engine of the table that can compute
    the row, compiled ones included), auto's pick (* or, if slower than the fastest by more
    than the noise, !) and the pick's GFLOP/s and fraction of the matmul peak."""
    names = list(dict.fromkeys(e for t in engines.values() for e in t["seconds"]))
    width = max(9, *(len(e) + 1 for e in names))
    print(
        f"\nengines (convprop, ms; * = auto's pick, ! = auto's pick slower than the fastest by "
        f"more than {NOISE:.0%}, the run-to-run noise; GFLOP/s and of peak: auto's pick)"
    )
    print(
        f"{'row':<8} {'role':<8} "
        + " ".join(f"{e:>{width}}" for e in names)
        + f" {'GFLOP/s':>8} {'of peak':>8}"
    )
    for key, table in engines.items():
        for role, picked in table["auto"].items():
            best = table["seconds"][table["fastest"][role]][role]
            cells = []
            for e in names:
                if e not in table["seconds"]:  # an engine that cannot compute this row
                    cells.append(f"{'-':>{width - 1}} ")
                    continue
                seconds = table["seconds"][e][role]
                mark = "*" if e == picked else " "
                if e == picked and seconds > (1 + NOISE) * best:
                    mark = "!"
                cells.append(f"{seconds * 1e3:{width - 1}.3f}{mark}")
            rate = table["role_gflop"] / table["seconds"][picked][role]
            print(f"{key:<8} {role:<8} " + " ".join(cells) + f" {rate:8.1f} {rate / peak:8.1%}")


def seed_limit(table: dict[str, Any], case: Any, peak: float, bandwidth: float) -> dict:
    """The seed layer's F + G_delta + G_gw against its bounds: auto's engines and the fastest
    engine of each role (the compiled kernels, where present) summed over the three roles."""
    roles = list(table["auto"])
    auto = sum(table["seconds"][table["auto"][r]][r] for r in roles)
    fastest = sum(table["seconds"][table["fastest"][r]][r] for r in roles)
    memory_s, flop_s = case.gbytes / bandwidth, case.gflop / peak
    return {
        "auto_s": auto,
        "fastest_s": fastest,
        "fastest": dict(table["fastest"]),
        "memory_bound_s": memory_s,
        "flop_bound_s": flop_s,
        "bound_s": max(memory_s, flop_s),
        "gbytes": case.gbytes,
        "gflop": case.gflop,
    }


def print_seed_limit(limit: dict[str, Any], bandwidth: float, peak: float) -> None:
    fastest = ", ".join(f"{r} {e}" for r, e in limit["fastest"].items())
    print(
        f"\nseed layer F+G_delta+G_gw: auto's engines {fmt(limit['auto_s'])}, the fastest of "
        f"each role {fmt(limit['fastest_s'])} ({fastest});\n  bounds: memory "
        f"{fmt(limit['memory_bound_s'])} ({limit['gbytes'] * 1e6:.0f} KB at {bandwidth:.1f} "
        f"GB/s), FLOP {fmt(limit['flop_bound_s'])} ({limit['gflop'] * 1e3:.2f} MFLOP at "
        f"{peak:.0f} GFLOP/s): the fastest is {limit['fastest_s'] / limit['bound_s']:.1f}x "
        f"the limit"
    )
