"""The ResNet recipe on Fashion-MNIST, each side in its own process: test accuracy and time.

``python -m convprop.bench.recipe convprop|torch`` trains the recipe's residual network
(:data:`RECIPE`: ``--model resnet --width 16 --depth 8``, one BasicBlock per stage; SGD with
Nesterov momentum 0.9, lr 0.1, weight decay 5e-4, a per-epoch cosine schedule, batch 128, no
augmentation) and prints one JSON line: the training seconds (evaluation excluded), the test
accuracy at the end, the images and epochs.

The convprop side is ``convprop train`` itself (:func:`convprop.train.train` with the recipe's
configuration), so the command below reproduces it:

    convprop train --dataset fashion-mnist --model resnet --width 16 --depth 8 --epochs 8 \\
        --batch-size 128 --lr 0.1 --momentum 0.9 --nesterov --weight-decay 5e-4 \\
        --schedule cosine --out runs/resnet-fashion

The PyTorch side trains :class:`convprop.bench.twin.TorchResNet` from the same initial weights,
over the same batches (the DataLoader's order for the seed at each epoch), with
``torch.optim.SGD`` and ``CosineAnnealingLR`` stepped per epoch: the same algorithm.

Sizes, from the environment (the full recipe is the default; a subset checks the plumbing):
``CONVPROP_RECIPE_EPOCHS`` (8), ``CONVPROP_RECIPE_LIMIT`` (training images, 60000) and
``CONVPROP_RECIPE_TEST_LIMIT`` (test images, 10000).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

RECIPE: dict[str, Any] = dict(
    dataset="fashion-mnist",
    model="resnet",
    width=16,
    depth=8,  # 6n+2 with n = 1: one BasicBlock per stage
    epochs=8,
    batch_size=128,
    lr=0.1,
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    schedule="cosine",
    seed=0,
)


def sizes() -> tuple[int, int, int]:
    """Epochs, training images and test images, from the environment (see the docstring)."""
    env = os.environ.get
    return (
        int(env("CONVPROP_RECIPE_EPOCHS", RECIPE["epochs"])),
        int(env("CONVPROP_RECIPE_LIMIT", 60000)),
        int(env("CONVPROP_RECIPE_TEST_LIMIT", 10000)),
    )


def recipe_data(limit: int, test_limit: int):
    """Fashion-MNIST's first ``limit`` training and ``test_limit`` test images."""
    from convprop.data import ArrayDataset, load_fashion_mnist

    split = load_fashion_mnist()
    train = ArrayDataset(*split.train[np.arange(min(limit, len(split.train)))])
    test = ArrayDataset(*split.test[np.arange(min(test_limit, len(split.test)))])
    return dataclasses.replace(split, train=train, test=test)


def run_convprop(epochs: int, limit: int, test_limit: int) -> dict[str, Any]:
    """The recipe through ``convprop.train.train``: what ``convprop train`` runs."""
    from convprop.config import TrainConfig
    from convprop.cores import blas_threads
    from convprop.train import train

    split = recipe_data(limit, test_limit)
    config = TrainConfig(**{**RECIPE, "epochs": epochs})
    with tempfile.TemporaryDirectory() as out:
        summary = train(
            config,
            out,
            split=split,
            progress=False,
            log=lambda line: print(line, file=sys.stderr, flush=True),
            retain_memory=True,
            threads=blas_threads(),  # as convprop train does
        )
    return {
        "seconds": summary["train_seconds"],
        "accuracy": summary["test_accuracy"],
        "images": len(split.train),
        "test_images": len(split.test),
        "epochs": epochs,
        "num_parameters": summary["num_parameters"],
    }


def run_torch(epochs: int, limit: int, test_limit: int) -> dict[str, Any]:
    """The same training in PyTorch: same initial weights, batches, optimizer and schedule."""
    import torch

    from convprop.bench.twin import torch_resnet_twin
    from convprop.config import TrainConfig
    from convprop.data import DataLoader
    from convprop.models import model_for

    torch.set_num_threads(int(os.environ.get("CONVPROP_BENCH_THREADS", os.cpu_count() or 1)))
    split = recipe_data(limit, test_limit)
    config = TrainConfig(**{**RECIPE, "epochs": epochs})
    rng = np.random.default_rng(config.seed)  # as prepare() builds the model
    model, _ = model_for(dataclasses.asdict(config), split.input_shape, split.num_classes, rng)
    net = torch_resnet_twin(model)
    opt = torch.optim.SGD(
        net.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loader = DataLoader(split.train, config.batch_size, shuffle=True, seed=config.seed)
    seconds = 0.0
    for epoch in range(epochs):
        net.train()
        start = time.perf_counter()
        for index in loader.batch_indices(epoch):
            x, y = split.train[index]
            y = torch.from_numpy(y)
            logits = net(torch.from_numpy(x))
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            _ = (loss.item(), int((logits.argmax(1) == y).sum()))  # as convprop's train_step
            opt.step()
        seconds += time.perf_counter() - start
        schedule.step()
        net.eval()
        accuracy = torch_accuracy_batched(net, split.test.images, split.test.labels)
        print(f"torch epoch {epoch + 1}/{epochs}: test acc {accuracy:.4f}", file=sys.stderr)
    return {
        "seconds": seconds,
        "accuracy": accuracy,
        "images": len(split.train),
        "test_images": len(split.test),
        "epochs": epochs,
        "num_parameters": sum(p.numel() for p in net.parameters()),
    }


def torch_accuracy_batched(net: Any, images: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of a PyTorch model in eval mode, 1,000 images at a time."""
    import torch

    right = 0
    with torch.no_grad():
        for start in range(0, len(labels), 1000):
            logits = net(torch.from_numpy(images[start : start + 1000]))
            right += int((logits.argmax(1).numpy() == labels[start : start + 1000]).sum())
    return right / max(len(labels), 1)


def recipe_in_process(side: str) -> dict[str, Any]:
    """One side of the recipe in a fresh process; :class:`~convprop.bench.rows.Skip` if it
    fails."""
    from convprop.bench.rows import Skip
    from convprop.bench.suite import side_env

    threads = int(os.environ.get("CONVPROP_BENCH_THREADS", os.cpu_count() or 1))
    done = subprocess.run(
        [sys.executable, "-m", "convprop.bench.recipe", side],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
        env=side_env(side, threads),
    )  # stderr passes through: the epochs' lines show progress
    if done.returncode != 0:
        raise Skip(f"ResNet recipe ({side}) failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def resnet_recipe_row(quick: bool = False):
    """The ResNet recipe row: once per side; test accuracy of both and the time ratio."""
    from convprop.bench.epoch import _need_data
    from convprop.bench.rows import Skip
    from convprop.bench.suite import Row

    epochs, limit, test_limit = sizes()
    if quick:
        raise Skip("ResNet recipe: not in --quick (about 30 minutes a side on 2 cores)")
    _need_data("ResNet recipe")
    ours, theirs = (recipe_in_process(side) for side in ("convprop", "torch"))
    gap = 100 * (ours["accuracy"] - theirs["accuracy"])
    return Row(
        f"ResNet-8 w16 recipe, {epochs} epochs x {ours['images']:,} images",
        ours["seconds"],
        theirs["seconds"],
        note=f"test acc {ours['accuracy']:.4f} vs {theirs['accuracy']:.4f} ({gap:+.2f} points) "
        f"on {ours['test_images']:,}",
        extra={"convprop": ours, "torch": theirs, "accuracy_gap_points": gap},
    )


def main() -> None:
    side = sys.argv[1]
    run = run_torch if side == "torch" else run_convprop
    print(json.dumps(run(*sizes())), flush=True)


if __name__ == "__main__":
    main()
