"""LeNet-5 training on Fashion-MNIST, each side in its own process: one epoch, or the recipe.

``python -m convprop.bench.epoch convprop|torch LIMIT [BATCH_SIZE [EPOCHS]]`` trains LeNet-5
(SGD, lr 0.05, momentum 0.9, batch 64, the same initial weights and batch order on both sides:
the DataLoader's permutation for seed 0 at each epoch) over the first LIMIT training images
for EPOCHS epochs (default 1) and prints one JSON line: the training seconds (data loading
excluded, batch indexing included; after one untimed warm-up step on a copy of the model, on
both sides, whose seconds are reported apart), the test accuracy at the end on the 10,000 test
images, and the peak resident memory of the process.

Two rows of the suite use it: the epoch row (one epoch over all 60,000 images: time and
memory) and the recipe row (10 epochs, the training issue's recipe: test accuracy of both).
"""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def run_epoch(side: str, limit: int, batch_size: int = 64, epochs: int = 1) -> dict[str, float]:
    from convprop.data import epoch_permutation, load_fashion_mnist
    from convprop.memory import retain_freed_memory
    from convprop.models import build_model

    if side == "convprop":
        from convprop.cores import share_cores

        retain_freed_memory()  # as convprop train does
        share_cores()

    split = load_fashion_mnist()
    limit = min(limit, len(split.train))
    x_all, y_all = split.train[np.arange(limit)]
    batches = []
    for epoch in range(epochs):  # the DataLoader's order for seed 0 at each epoch
        order = epoch_permutation(limit, 0, epoch)
        batches += [order[i : i + batch_size] for i in range(0, limit, batch_size)]
    model = build_model("lenet5", split.input_shape, 10, np.random.default_rng(0))
    if side == "torch":
        import torch

        from convprop.bench.twin import torch_accuracy, torch_twin

        torch.set_num_threads(int(os.environ.get("CONVPROP_BENCH_THREADS", os.cpu_count())))
        net = torch_twin(model)

        def step(net, opt, b):  # as convprop's train_step: the batch's loss and correct count
            y = torch.from_numpy(y_all[b])
            logits = net(torch.from_numpy(x_all[b]))
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            _ = (loss.item(), int((logits.argmax(1) == y).sum()))
            opt.step()

        warmup = _warm_up(net, lambda m: torch.optim.SGD(m.parameters(), lr=0.05), step, batches)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        start = time.perf_counter()
        for b in batches:
            step(net, opt, b)
        seconds = time.perf_counter() - start
        accuracy = torch_accuracy(net, split.test.images, split.test.labels)
    else:
        from convprop import optim
        from convprop.train import evaluate, train_step

        def step(model, opt, b):
            train_step(model, opt, x_all[b], y_all[b])

        warmup = _warm_up(model, lambda m: optim.SGD(m.parameters(), lr=0.05), step, batches)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        start = time.perf_counter()
        for b in batches:
            step(model, opt, b)
        seconds = time.perf_counter() - start
        accuracy = evaluate(model, split.test.images, split.test.labels)[1]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "warmup_seconds": warmup,
        "accuracy": accuracy,
        "max_rss_mb": rss_mb,
        "images": limit,
        "epochs": epochs,
        "batches": len(batches),
    }


def _warm_up(model, make_optimizer, step, batches) -> float:
    """Seconds of one untimed step on a copy of ``model`` (the trained model is untouched),
    the same on both sides: each side's first-call costs (convprop's compiled kernels loaded
    from Numba's cache, PyTorch's first-call setup) are reported apart from the epoch's time."""
    twin = copy.deepcopy(model)
    start = time.perf_counter()
    step(twin, make_optimizer(twin), batches[0])
    return time.perf_counter() - start


def epoch_in_process(
    side: str, limit: int, batch_size: int = 64, epochs: int = 1
) -> dict[str, float]:
    """:func:`run_epoch` in a fresh process (so its peak memory is its own)."""
    from convprop.bench.rows import Skip
    from convprop.bench.suite import side_env

    threads = int(os.environ.get("CONVPROP_BENCH_THREADS", os.cpu_count() or 1))
    done = subprocess.run(
        [sys.executable, "-m", "convprop.bench.epoch", side, str(limit), str(batch_size)]
        + [str(epochs)],
        capture_output=True,
        text=True,
        check=False,
        env=side_env(side, threads),
    )
    if done.returncode != 0:
        raise Skip(f"LeNet-5 epoch ({side}) failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _need_data(what: str) -> None:
    from convprop.bench.rows import Skip
    from convprop.data import FASHION_MNIST_DIR

    if not Path(FASHION_MNIST_DIR).is_dir():
        raise Skip(
            f"{what}: {FASHION_MNIST_DIR} not found (install Debian's dataset-fashion-mnist; "
            f"make bench tries)"
        )


def epoch_row(quick: bool = False):
    """The epoch row: both sides alternately (three times each unless quick), best of each."""
    from convprop.bench.suite import Row

    _need_data("LeNet-5 Fashion-MNIST epoch")
    limit = 6000 if quick else 60000
    runs: dict[str, list[dict[str, float]]] = {"convprop": [], "torch": []}
    for r in range(1 if quick else 3):
        for side in ("convprop", "torch") if r % 2 == 0 else ("torch", "convprop"):
            runs[side].append(epoch_in_process(side, limit))
    ours, theirs = (min(runs[s], key=lambda r: r["seconds"]) for s in ("convprop", "torch"))
    rss = ours["max_rss_mb"] / theirs["max_rss_mb"]
    return Row(
        f"LeNet-5 epoch, {limit:,} Fashion-MNIST images",
        ours["seconds"],
        theirs["seconds"],
        note=f"peak RSS {ours['max_rss_mb']:.0f} MB vs {theirs['max_rss_mb']:.0f} MB "
        f"({rss:.2f}x); test acc {ours['accuracy']:.3f} vs {theirs['accuracy']:.3f}; "
        f"warm-up step {ours.get('warmup_seconds', 0):.2f} s vs "
        f"{theirs.get('warmup_seconds', 0):.2f} s",
        extra={"convprop": runs["convprop"], "torch": runs["torch"], "rss_ratio": rss},
    )


RECIPE_EPOCHS = 10


def recipe_row(quick: bool = False):
    """The recipe row: LeNet-5, batch 64, lr 0.05, momentum 0.9, 10 epochs on all 60,000
    images, once per side; its point is the test accuracy of both (the training issue asks
    for convprop within one point of PyTorch), its time the whole run's. Not in ``quick``."""
    from convprop.bench.rows import Skip
    from convprop.bench.suite import Row

    if quick:  # measured 127 s for convprop, 86 s for PyTorch
        raise Skip(
            f"LeNet-5 {RECIPE_EPOCHS}-epoch recipe: not in --quick (about 2 minutes a side)"
        )
    _need_data(f"LeNet-5 {RECIPE_EPOCHS}-epoch recipe")
    ours, theirs = (epoch_in_process(s, 60000, 64, RECIPE_EPOCHS) for s in ("convprop", "torch"))
    gap = 100 * (ours["accuracy"] - theirs["accuracy"])
    return Row(
        f"LeNet-5 recipe, {RECIPE_EPOCHS} epochs x 60,000 images",
        ours["seconds"],
        theirs["seconds"],
        note=f"test acc {ours['accuracy']:.4f} vs {theirs['accuracy']:.4f} ({gap:+.2f} points)",
        extra={"convprop": ours, "torch": theirs, "accuracy_gap_points": gap},
    )


def main() -> None:
    side, limit = sys.argv[1], int(sys.argv[2])
    batch_size = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    print(json.dumps(run_epoch(side, limit, batch_size, epochs)))


if __name__ == "__main__":
    main()
