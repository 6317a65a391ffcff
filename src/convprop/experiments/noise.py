"""gradient noise versus batch size (Q4.2): RMS of ||g_b - g||, its slope, and B_noise

The seed's answer to Q4.2: the noise of a mini-batch gradient has standard deviation
``sigma / sqrt(K_b)``, so doubling the batch divides it by ``sqrt(2)``. Here it is measured on a
real model, exactly:

    g_k   = grad of -log f_theta(m_k^* | y_k)         per example, k = 0 .. K-1   (K, P) float64
    g     = (1/K) sum_k g_k                           the full-batch gradient
    g_b   = (1/K_b) sum_{k in b} g_k                  a mini-batch's gradient
    noise = ||g_b - g||,  RMS = sqrt(mean over draws of noise^2)

With ``tr(Sigma) = (1/K) sum_k ||g_k - g||^2`` (the trace of the per-example covariance over
the training set), the expected squared noise is

    with replacement (i.i.d. draws, the seed's model):   tr(Sigma) / K_b
    without replacement (the DataLoader's batches):      tr(Sigma) / K_b * (K - K_b) / (K - 1)

so the first has slope -1/2 in log-log and ratio sqrt(2) per doubling, and the second falls
faster as ``K_b`` approaches ``K`` (it is 0 at ``K_b = K``). The gradient noise scale of
McCandlish et al. (2018), ``B_noise = tr(Sigma) / |g|^2``, is the batch size at which the noise
and the signal are equal in size; beyond it larger batches buy little.

Every mini-batch noise comes from the Gram matrix ``M = D D^T`` of the centred per-example
gradients ``D = G - g``: ``||g_b - g||^2 = (1/K_b^2) sum_{i, j in b} M_ij``, exact, so a draw
costs ``K_b^2`` additions instead of ``K_b * P``.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from convprop.checkpoint import load_checkpoint
from convprop.data import DATASETS, DataLoader
from convprop.experiments import common, figures
from convprop.models import MODELS, build_model
from convprop.nn import Module
from convprop.ops import cross_entropy
from convprop.tensor import Tensor

DEFAULT_BATCH_SIZES = [2**i for i in range(10)]  # 1, 2, 4, ..., 512
MAX_GRADIENT_BYTES = 2 * 2**30  # the (K, P) float64 matrix of per-example gradients


# -- the estimators, on a (K, P) matrix of per-example gradients -------------------------------
def per_example_gradients(model: Module, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``G[k]``: the gradient of example k's loss ``-log f_theta(m_k^* | y_k)``, float64 (K, P).

    The parameters are flattened in ``model.parameters()`` order. The model's parameters are
    converted to float64 in place first, so every statistic below is computed in float64.
    """
    params = model.parameters()
    for p in params:
        p.data = p.data.astype(np.float64)
    G = np.empty((len(labels), sum(p.size for p in params)))  # (K, P)
    for k in range(len(labels)):
        model.zero_grad()
        logits = model(Tensor(images[k : k + 1], dtype=np.float64))
        cross_entropy(logits, labels[k : k + 1]).backward()
        G[k] = np.concatenate(
            [(np.zeros(p.size) if p.grad is None else p.grad.ravel()) for p in params]
        )
    return G


def centred_gram(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(g, M)``: the full gradient ``g = mean_k G[k]`` and ``M = D D^T`` with ``D = G - g``."""
    g = G.mean(axis=0)
    D = G - g  # (K, P)
    return g, D @ D.T  # (P,), (K, K)


def trace_sigma(gram: np.ndarray) -> float:
    """``tr(Sigma) = (1/K) sum_k ||g_k - g||^2``, the per-example covariance's trace."""
    return float(np.trace(gram) / len(gram))


def gradient_noise_scale(G: np.ndarray) -> float:
    """``B_noise = tr(Sigma) / |g|^2`` (McCandlish et al., 2018, their B_simple)."""
    g, gram = centred_gram(G)
    return trace_sigma(gram) / float(g @ g)


def batch_noise(gram: np.ndarray, batches: np.ndarray) -> np.ndarray:
    """``||g_b - g||`` for each row ``b`` of ``batches`` (draws, K_b), repeats allowed.

    With ``c`` the count of each example in the batch, ``g_b - g = D^T c / K_b``, so
    ``||g_b - g||^2 = c^T M c / K_b^2``: one (draws, K) x (K, K) product for all draws.
    """
    draws, k_b = batches.shape
    counts = np.zeros((draws, len(gram)))  # (draws, K)
    np.add.at(counts, (np.repeat(np.arange(draws), k_b), batches.ravel()), 1.0)
    squared = np.einsum("dk,dk->d", counts @ gram, counts) / k_b**2
    return np.sqrt(np.maximum(squared, 0.0))


def predicted_rms(trace: float, K: int, k_b: int, replacement: bool) -> float:
    """``sigma / sqrt(K_b)``, times ``sqrt((K - K_b) / (K - 1))`` without replacement."""
    rms = math.sqrt(trace / k_b)
    if not replacement:
        rms *= math.sqrt((K - k_b) / (K - 1)) if K > 1 else 0.0
    return rms


def draws_with_replacement(K: int, k_b: int, draws: int, seed: int) -> np.ndarray:
    """``draws`` batches of ``k_b`` indices, each drawn uniformly and independently."""
    return np.random.default_rng([seed, k_b]).integers(0, K, size=(draws, k_b))


def draws_from_loader(K: int, k_b: int, draws: int, seed: int) -> np.ndarray:
    """The first ``draws`` full batches that convprop's ``DataLoader`` yields, epoch after
    epoch: uniform samples without replacement (disjoint within an epoch)."""
    loader = DataLoader(np.arange(K), k_b, shuffle=True, drop_last=True, seed=seed)
    batches: list[np.ndarray] = []
    epoch = 0
    while len(batches) < draws:
        batches += loader.batch_indices(epoch)
        epoch += 1
    return np.stack(batches[:draws])


def loglog_slope(batch_sizes: list[int], rms: np.ndarray) -> float:
    """Least-squares slope of log(RMS) against log(K_b)."""
    return float(np.polyfit(np.log(batch_sizes), np.log(rms), 1)[0])


def doubling_ratio(batch_sizes: list[int], rms: np.ndarray) -> float:
    """The mean factor by which RMS falls per doubling of K_b, smallest to largest batch."""
    doublings = math.log2(batch_sizes[-1] / batch_sizes[0])
    return float((rms[0] / rms[-1]) ** (1 / doublings))


@dataclass
class NoiseResult:
    """The measurement at one point ``theta``."""

    batch_sizes: list[int]
    rms_with: np.ndarray  # measured, i.i.d. draws
    rms_without: np.ndarray  # measured, the DataLoader's batches
    trace: float  # tr(Sigma)
    gradient_norm: float  # |g|
    K: int

    def predicted(self, k_b: float, replacement: bool) -> float:
        return predicted_rms(self.trace, self.K, k_b, replacement)

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for i, k_b in enumerate(self.batch_sizes):
            row = {
                "batch_size": k_b,
                "rms_with_replacement": self.rms_with[i],
                "predicted_with_replacement": self.predicted(k_b, True),
                "rms_without_replacement": self.rms_without[i],
                "predicted_without_replacement": self.predicted(k_b, False),
            }
            if i > 0:
                per = 1 / math.log2(k_b / self.batch_sizes[i - 1])
                row["ratio_with_replacement"] = (self.rms_with[i - 1] / self.rms_with[i]) ** per
                row["ratio_without_replacement"] = (
                    self.rms_without[i - 1] / self.rms_without[i]
                ) ** per
            rows.append(row)
        return rows

    def summary(self) -> dict[str, Any]:
        def worst(measured: np.ndarray, replacement: bool) -> float:
            predicted = [
                predicted_rms(self.trace, self.K, b, replacement) for b in self.batch_sizes
            ]
            return float(np.max(np.abs(measured / np.array(predicted) - 1)))

        return {
            "slope_with_replacement": loglog_slope(self.batch_sizes, self.rms_with),
            "slope_without_replacement": loglog_slope(self.batch_sizes, self.rms_without),
            "doubling_ratio_with_replacement": doubling_ratio(self.batch_sizes, self.rms_with),
            "doubling_ratio_without_replacement": doubling_ratio(
                self.batch_sizes, self.rms_without
            ),
            "b_noise": self.trace / self.gradient_norm**2,
            "trace_sigma": self.trace,
            "full_gradient_norm": self.gradient_norm,
            "max_relative_error_with_replacement": worst(self.rms_with, True),
            "max_relative_error_without_replacement": worst(self.rms_without, False),
        }


def measure_noise(
    G: np.ndarray, batch_sizes: list[int], draws: int, seed: int, log: Any = None
) -> NoiseResult:
    """RMS noise per batch size, with and without replacement, from per-example gradients."""
    K = len(G)
    g, gram = centred_gram(G)
    rms_with, rms_without = [], []
    for k_b in batch_sizes:
        noise_with = batch_noise(gram, draws_with_replacement(K, k_b, draws, seed))
        noise_without = batch_noise(gram, draws_from_loader(K, k_b, draws, seed))
        rms_with.append(math.sqrt(np.mean(noise_with**2)))
        rms_without.append(math.sqrt(np.mean(noise_without**2)))
        if log is not None:
            log(f"  K_b {k_b:>4}: RMS {rms_with[-1]:.4f} (with), {rms_without[-1]:.4f} (without)")
    return NoiseResult(
        batch_sizes,
        np.array(rms_with),
        np.array(rms_without),
        trace_sigma(gram),
        float(np.linalg.norm(g)),
        K,
    )


# -- the command ---------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_output_arguments(parser, "noise")
    parser.add_argument("--model", choices=sorted(MODELS), help="model (cnn; or the checkpoint's)")
    parser.add_argument(
        "--dataset", choices=DATASETS, help="data set (digits; or the checkpoint's)"
    )
    parser.add_argument("--data-dir", help="folder with the IDX files (mnist, fashion-mnist)")
    parser.add_argument("--checkpoint", help="measure at this model.npz, not at initialisation")
    parser.add_argument(
        "--batch-sizes",
        type=common.int_list,
        default=DEFAULT_BATCH_SIZES,
        help="K_b values, comma-separated (1,2,4,...,512)",
    )
    parser.add_argument("--draws", type=int, default=200, help="mini-batches per K_b (200)")
    parser.add_argument("--examples", type=int, help="use the first N training examples (all)")


def _model_and_split(args: argparse.Namespace) -> tuple[Module, str, Any, str]:
    """The model (at initialisation, or the checkpoint's weights), its name, the data, where."""
    ckpt = load_checkpoint(args.checkpoint) if args.checkpoint else None
    config = ckpt.config if ckpt else {}
    model_name = args.model or config.get("model", "cnn")
    dataset = args.dataset or config.get("dataset", "digits")
    split = common.load_split(dataset, args.data_dir or config.get("data_dir"))
    model = build_model(
        model_name, split.input_shape, split.num_classes, np.random.default_rng(args.seed)
    )
    if ckpt is not None:
        model.load_state_dict(ckpt.model)
    where = f"checkpoint {args.checkpoint}" if ckpt else f"initialisation (seed {args.seed})"
    return model, model_name, split, where


def run(args: argparse.Namespace) -> int:
    with common.validating():
        if args.draws < 2:
            raise ValueError(f"--draws must be at least 2, got {args.draws}")
        model, model_name, split, where = _model_and_split(args)
        K = len(split.train) if args.examples is None else args.examples
        if not 2 <= K <= len(split.train):
            raise ValueError(f"--examples must lie in [2, {len(split.train)}], got {K}")
        if args.batch_sizes[-1] >= K:
            raise ValueError(f"every --batch-sizes value must be below K = {K} examples")
        P = model.num_parameters()
        if 8 * K * P > MAX_GRADIENT_BYTES:
            raise ValueError(
                f"{K} x {P} per-example gradients need {8 * K * P / 2**30:.1f} GiB; "
                f"pass --examples with fewer"
            )
    out = common.prepare_out(args)
    start = time.perf_counter()
    common.log(f"noise: {K} per-example gradients of the {P:,}-parameter model at {where}")
    images, labels = split.train.images[:K], split.train.labels[:K]
    G = per_example_gradients(model, images, labels)
    gradient_seconds = time.perf_counter() - start
    model.zero_grad()
    cross_entropy(model(Tensor(images, dtype=np.float64)), labels).backward()
    full = np.concatenate([p.grad.ravel() for p in model.parameters()])
    result = measure_noise(G, args.batch_sizes, args.draws, args.seed, log=common.log)
    summary = {
        "model": model_name,
        "at": where,
        "dataset": split.name,
        "examples": K,
        "parameters": P,
        "batch_sizes": args.batch_sizes,
        "draws": args.draws,
        "seed": args.seed,
        **result.summary(),
        "predicted_slope_with_replacement": -0.5,
        "predicted_doubling_ratio_with_replacement": math.sqrt(2),
        "mean_of_per_example_vs_full_batch_gradient": float(np.max(np.abs(G.mean(0) - full))),
        "per_example_gradient_seconds": gradient_seconds,
        "seconds": time.perf_counter() - start,
    }
    common.write_csv(out / "noise.csv", result.rows())
    common.write_json(out / "summary.json", summary)
    title = f"{model_name} on {split.name} at {where}: K = {K}, {args.draws} draws per $K_b$"
    figure = figures.plot_noise(result, out / "noise.png", title=title)
    common.log(
        f"slope {summary['slope_with_replacement']:.3f} with replacement (i.i.d. model: -0.5), "
        f"{summary['slope_without_replacement']:.3f} without; ratio per doubling "
        f"{summary['doubling_ratio_with_replacement']:.3f} (sqrt 2 = 1.414); "
        f"B_noise = {summary['b_noise']:.1f}; {summary['seconds']:.1f} s; results in {out}/"
        + ("" if figure else " (no figure: matplotlib missing)")
    )
    return 0
