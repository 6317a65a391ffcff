"""The experiments' figures: one function per experiment, each one PNG, none without
matplotlib (the ``plot`` extra): they return None and the experiment still writes its tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from convprop.experiments import common
from convprop.experiments import quadratic as quad


def plot_noise(result: Any, path: Path, title: str = "") -> Any | None:
    """Both measured curves against both predictions (log-log), and each over sigma/sqrt(K_b).

    ``result`` is a :class:`convprop.experiments.noise.NoiseResult`.
    """
    plt = common.pyplot()
    if plt is None:
        return None
    b = np.array(result.batch_sizes)
    fine = np.unique(np.geomspace(b[0], b[-1], 200))
    iid = np.array([result.predicted(k, True) for k in fine])
    fpc = np.array([result.predicted(k, False) for k in fine])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot(fine, iid, "-", color="C0", label=r"$\sigma/\sqrt{K_b}$ (i.i.d.)")
    left.plot(fine, fpc, "--", color="C1", label=r"$\times\sqrt{(K-K_b)/(K-1)}$")
    left.plot(b, result.rms_with, "o", color="C0", label="measured, with replacement")
    left.plot(b, result.rms_without, "s", color="C1", mfc="none", label="measured, DataLoader")
    left.set(xscale="log", yscale="log", xlabel="batch size $K_b$", ylabel=r"RMS $\|g_b - g\|$")
    left.set_xscale("log", base=2)
    left.legend(fontsize=7)
    iid_at_b = np.array([result.predicted(k, True) for k in b])
    right.axhline(1.0, color="C0")
    right.plot(fine, fpc / iid, "--", color="C1", label="finite-population factor")
    right.plot(b, result.rms_with / iid_at_b, "o", color="C0", label="with replacement")
    right.plot(b, result.rms_without / iid_at_b, "s", color="C1", mfc="none", label="DataLoader")
    right.set(xlabel="batch size $K_b$", ylabel=r"measured / $(\sigma/\sqrt{K_b})$")
    right.set_xscale("log", base=2)
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    common.plain_ticks(left, right)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return common.save_figure(fig, path)


def plot_batch_size(
    args: argparse.Namespace, name: str, table: list[dict], curves: list[dict], path: Path
) -> Path | None:
    """Test accuracy against epochs and wall time, and the cost per epoch, in one figure."""
    plt = common.pyplot()
    if plt is None:
        return None
    fig, (by_epoch, by_time, cost) = plt.subplots(1, 3, figsize=(11, 3.6))
    for i, row in enumerate(table):
        k_b = row["batch_size"]
        mine = [r for r in curves if r["batch_size"] == k_b]
        acc = [100 * r["test_accuracy"] for r in mine]
        by_epoch.plot(
            [r["epoch"] for r in mine], acc, "o-", ms=3, color=f"C{i}", label=f"$K_b$={k_b}"
        )
        by_time.plot([r["seconds"] for r in mine], acc, "o-", ms=3, color=f"C{i}")
    by_epoch.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy per epoch")
    by_epoch.legend(fontsize=7)
    by_time.axhline(100 * args.target, color="0.5", lw=0.6, ls=":")
    by_time.set(xscale="log", xlabel="training wall time (s)", title="accuracy against wall time")
    sizes = [r["batch_size"] for r in table]
    cost.plot(
        sizes, [r["examples_per_second"] for r in table], "o-", color="k", label="examples / s"
    )
    cost.set(
        xscale="log",
        yscale="log",
        xlabel="batch size $K_b$",
        ylabel="examples / s",
        title="throughput and updates",
    )
    cost.set_xscale("log", base=2)
    twin = cost.twinx()
    twin.plot(
        sizes,
        [r["updates_per_epoch"] for r in table],
        "s--",
        color="C3",
        mfc="none",
        label="updates / epoch",
    )
    twin.set(yscale="log", ylabel="updates / epoch")
    lines = cost.get_lines() + twin.get_lines()
    cost.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="center left")
    for ax in (by_epoch, by_time, cost):
        ax.grid(alpha=0.3)
    common.plain_ticks(by_time, cost, twin)
    fig.suptitle(
        f"{args.model} on {name}, {args.epochs} epochs, SGD lr {args.lr:g}, "
        f"momentum {args.momentum:g}",
        fontsize=9,
    )
    fig.tight_layout()
    return common.save_figure(fig, path)


def _smooth(values: list[float], width: int) -> np.ndarray:
    """Moving average over ``width`` steps (shorter at the start)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0 or width <= 1:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - width, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_momentum(
    args: argparse.Namespace, data: dict[str, Any], training: list[dict[str, Any]], path: Path
) -> Path | None:
    plt = common.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(2, 2, figsize=(9.6, 7))
    (paths_ax, loss_ax), (grid_ax, train_ax) = axes
    colors = {g: f"C{i}" for i, g in enumerate(data["tuned"])}
    lam = data["lam"]

    # (a) trajectories on the contours of f
    ends = np.concatenate([p for _, p in data["paths"].values()] or [np.zeros((1, 2))])
    lo, hi = ends.min(axis=0), ends.max(axis=0)
    pad = 0.08 * (hi - lo + 1e-12)
    t1, t2 = np.meshgrid(
        np.linspace(lo[0] - pad[0], hi[0] + pad[0], 200),
        np.linspace(lo[1] - pad[1], hi[1] + pad[1], 200),
    )
    f = quad.loss(lam, np.stack([t1, t2], axis=-1))
    f0 = quad.loss(lam, ends[0])
    paths_ax.contour(
        t1, t2, f, levels=f0 * np.geomspace(1e-3, 4, 10), colors="0.75", linewidths=0.6
    )
    for gamma, (_, p) in data["paths"].items():
        paths_ax.plot(
            p[:, 0], p[:, 1], "-", lw=0.8, color=colors[gamma], label=f"$\\gamma$={gamma:g}"
        )
    paths_ax.plot(*ends[0], "k.")
    paths_ax.plot(0, 0, "k*")
    paths_ax.set(
        xlabel=r"$\theta_1$ ($\lambda$=1)",
        ylabel=rf"$\theta_2$ ($\lambda$={args.kappa:g})",
        title="paths at each method's best step size",
    )
    paths_ax.legend(fontsize=7, loc="lower right")

    # (b) loss against iteration at the best step size, and the seed's written form
    for gamma, (losses, _) in data["paths"].items():
        t = data["tuned"][gamma]
        loss_ax.plot(
            np.arange(len(losses)),
            losses / losses[0],
            color=colors[gamma],
            label=f"$\\gamma$={gamma:g}, $\\alpha$={t.best_alpha:.3g}: {t.best_iterations}",
        )
    seed = data["seed"]
    written = data["seed_losses"]
    loss_ax.plot(
        np.arange(len(written)),
        written / written[0],
        "k--",
        lw=1,
        label=f"seed as written, $\\gamma$={seed['gamma']:g}, $\\alpha$={seed['alpha']:.3g}",
    )
    loss_ax.axhline(args.tol, color="0.5", lw=0.6)
    loss_ax.set(
        yscale="log",
        xscale="log",
        xlabel="iteration",
        ylabel=r"$f(\theta_t)/f(\theta_0)$",
        title=f"quadratic, $\\kappa$={args.kappa:g}: iterations to {args.tol:g}",
    )
    loss_ax.set_ylim(args.tol * 1e-2, 10)
    loss_ax.legend(fontsize=7)

    # (c) iterations to tolerance against step size: the tuning
    for gamma, t in data["tuned"].items():
        ok = t.iterations > 0
        grid_ax.plot(
            t.alphas[ok],
            t.iterations[ok],
            ".-",
            ms=2,
            lw=0.8,
            color=colors[gamma],
            label=f"$\\gamma$={gamma:g}",
        )
        if t.best_iterations > 0:
            grid_ax.plot(t.best_alpha, t.best_iterations, "o", color=colors[gamma])
    grid_ax.set(
        xscale="log",
        yscale="log",
        xlabel=r"step size $\alpha$",
        ylabel="iterations to tolerance",
        title="tuning the step size",
    )
    grid_ax.legend(fontsize=7)

    # (d) a real training run per momentum
    for run in training:
        steps = run["steps"]
        if not steps:
            continue
        per_epoch = max(1, run["epochs"][0]["updates"]) if run["epochs"] else len(steps)
        x = np.arange(1, len(steps) + 1) / per_epoch
        label = f"$\\gamma$={run['momentum']:g}"
        if run["diverged_at"]:
            label += f" (diverged, epoch {run['diverged_at']})"
        train_ax.plot(
            x,
            _smooth(steps, max(1, per_epoch // 8)),
            color=colors.get(run["momentum"]),
            lw=1,
            label=label,
        )
    train_ax.set(
        yscale="log",
        xlabel="epoch",
        ylabel="training loss (moving average)",
        title=f"{args.model} on {args.dataset}, lr {args.lr:g}, batch {args.batch_size}",
    )
    train_ax.legend(fontsize=7)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    common.plain_ticks(loss_ax, grid_ax, train_ax)
    fig.tight_layout()
    return common.save_figure(fig, path)
