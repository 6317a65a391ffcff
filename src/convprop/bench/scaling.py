"""Scaling figures: ``python -m convprop.bench.scaling [--quick] [--out FIGURE.png]``.

Three panels, convprop against PyTorch CPU, each side in its own worker process and the best
of alternating rounds, as in :mod:`convprop.bench.suite`:

1. F + both adjoints of the seed's layer (one image, one channel, 3x3 kernel, valid) as the
   image side doubles from 64 to 1024;
2. F + both adjoints of the large-kernel row's layer (8x3x64x64 -> 16 channels, valid) as the
   kernel grows from 3x3 to 15x15, with convprop's three engines forced one at a time beside
   ``method="auto"``;
3. one LeNet-5 training epoch on Fashion-MNIST (batch 64) against the number of training
   images (skipped where the data set is not installed).

Writes the PNG (small: dpi 80) and the numbers as JSON beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from convprop.bench.rows import Skip, conv_key, engines_for, parse_conv_key
from convprop.bench.suite import ENGINES, Worker, alternate

SIDES = (64, 128, 256, 512, 1024)
KERNELS = (3, 5, 7, 9, 11, 13, 15)
IMAGES = (2000, 5000, 10000, 20000, 60000)


def image_side(workers: dict[str, Worker], sides, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"side": list(sides), "convprop": [], "torch": []}
    for n in sides:
        ours, theirs = alternate(workers, conv_key((1, 1, n, n), (1, 1, 3, 3)), rounds, repeat=3)
        out["convprop"].append(ours)
        out["torch"].append(theirs)
        print(f"  image {n}x{n}: convprop {ours * 1e3:.3f} ms, PyTorch {theirs * 1e3:.3f} ms")
    return out


def kernel_size(workers: dict[str, Worker], kernels, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"kernel": list(kernels), "convprop": [], "torch": []}
    out.update({engine: [] for engine in ENGINES})
    for k in kernels:
        key = conv_key((8, 3, 64, 64), (16, 3, k, k))
        ours, theirs = alternate(workers, key, rounds, repeat=3)
        out["convprop"].append(ours)
        out["torch"].append(theirs)
        for engine in engines_for(parse_conv_key(key)):  # best of `rounds` too, each forced
            times = [
                workers["convprop"].time(key, engine, repeat=3, min_seconds=0.05)
                for _ in range(rounds)
            ]
            out[engine].append(min(times))
        engines = ", ".join(f"{e} {out[e][-1] * 1e3:.1f}" for e in ENGINES if out[e])
        print(
            f"  kernel {k}x{k}: convprop {ours * 1e3:.2f} ms ({engines}), "
            f"PyTorch {theirs * 1e3:.2f} ms"
        )
    return out


def epochs(images) -> dict[str, list[float]]:
    from convprop.bench.epoch import epoch_in_process

    out: dict[str, list[float]] = {"images": list(images), "convprop": [], "torch": []}
    for i, n in enumerate(images):
        order = ("convprop", "torch") if i % 2 == 0 else ("torch", "convprop")
        for side in order:
            out[side].append(epoch_in_process(side, n)["seconds"])
        print(
            f"  epoch of {n} images: convprop {out['convprop'][-1]:.2f} s, "
            f"PyTorch {out['torch'][-1]:.2f} s"
        )
    return out


def plot(results: dict[str, Any], path: Path, threads: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in ("image", "kernel", "epoch") if p in results]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    axes = [axes] if len(panels) == 1 else list(axes)
    style = {
        "convprop": ("C0", "-", "convprop (auto)"),
        "torch": ("C3", "-", "PyTorch CPU"),
        "direct": ("C0", ":", "direct"),
        "im2col": ("C0", "--", "im2col"),
        "batch_last": ("C2", "--", "batch_last"),
        "shifted_runs": ("C2", ":", "shifted_runs"),
        "fft": ("C0", "-.", "fft"),
    }
    for ax, panel in zip(axes, panels, strict=True):
        data = results[panel]
        x = data[{"image": "side", "kernel": "kernel", "epoch": "images"}[panel]]
        for name in ("convprop", "torch", *ENGINES):
            if data.get(name):
                color, line, label = style[name]
                scale = 1 if panel == "epoch" else 1e3
                width = 2 if name in ("convprop", "torch") else 1
                ax.plot(
                    x,
                    [t * scale for t in data[name]],
                    line,
                    color=color,
                    marker=".",
                    lw=width,
                    label=label,
                )
        if panel == "image":
            ax.set(
                xscale="log",
                yscale="log",
                xlabel="image side (1x1xNxN, 3x3 kernel)",
                ylabel="F + G, ms",
                title="seed's layer, image side doubling",
            )
            ax.set_xticks(x, [str(v) for v in x])
        elif panel == "kernel":
            ax.set(
                yscale="log",
                xlabel="kernel size k (8x3x64x64 -> 16, kxk)",
                ylabel="F + G, ms",
                title="kernel growing",
            )
        else:
            ax.set(
                xlabel="training images",
                ylabel="seconds per epoch",
                title="LeNet-5 epoch, Fashion-MNIST",
            )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"convprop (NumPy) vs PyTorch CPU, {threads} threads each", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m convprop.bench.scaling", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", default="docs/figures/scaling.png", help="the PNG to write")
    parser.add_argument("--quick", action="store_true", help="fewer points and rounds")
    parser.add_argument("--no-epoch", action="store_true", help="skip the epoch panel")
    args = parser.parse_args(argv)
    threads = int(os.environ.get("CONVPROP_BENCH_THREADS", os.cpu_count() or 1))
    rounds = 1 if args.quick else 3
    results: dict[str, Any] = {"threads": threads, "rounds": rounds}
    workers = {side: Worker(side, threads) for side in ("convprop", "torch")}
    try:
        print("F + G as the image side doubles:")
        results["image"] = image_side(workers, SIDES[:3] if args.quick else SIDES, rounds)
        print("F + G as the kernel grows:")
        results["kernel"] = kernel_size(workers, KERNELS[::3] if args.quick else KERNELS, rounds)
    finally:
        for w in workers.values():
            w.close()
    if not args.no_epoch:
        print("epoch time against the number of training images:")
        try:
            results["epoch"] = epochs((1000, 3000) if args.quick else IMAGES)
        except Skip as reason:
            print(f"  skipped: {reason}")
    out = Path(args.out)
    plot(results, out, threads)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
