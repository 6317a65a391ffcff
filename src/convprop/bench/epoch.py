"""One LeNet-5 training epoch on Fashion-MNIST, run in its own process by the benchmark.

``python -m convprop.bench.epoch convprop|torch LIMIT`` prints one JSON line: the epoch's
seconds (loading excluded), the test accuracy after it, and the peak resident memory.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import numpy as np


def main() -> None:
    side, limit = sys.argv[1], int(sys.argv[2])
    from convprop.data import DataLoader, load_fashion_mnist
    from convprop.models import build_model

    split = load_fashion_mnist()
    index = np.arange(min(limit, len(split.train)))
    x_all, y_all = split.train[index]
    loader = DataLoader(split.train, 64, seed=0)
    batches = [b[b < len(index)] for b in loader.batch_indices(0)]
    model = build_model("lenet5", split.input_shape, 10, np.random.default_rng(0))
    if side == "torch":
        import torch

        from convprop.bench.twin import torch_accuracy, torch_twin

        torch.set_num_threads(int(os.environ.get("CONVPROP_BENCH_THREADS", os.cpu_count())))
        net = torch_twin(model)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        start = time.perf_counter()
        for b in batches:
            if len(b) == 0:
                continue
            loss = torch.nn.functional.cross_entropy(
                net(torch.tensor(x_all[b])), torch.tensor(y_all[b])
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        accuracy = torch_accuracy(net, split.test.images, split.test.labels)
    else:
        from convprop import optim
        from convprop.train import evaluate, train_step

        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        start = time.perf_counter()
        for b in batches:
            if len(b):
                train_step(model, opt, x_all[b], y_all[b])
        seconds = time.perf_counter() - start
        accuracy = evaluate(model, split.test.images, split.test.labels)[1]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "accuracy": accuracy, "max_rss_mb": rss_mb}))


if __name__ == "__main__":
    main()
