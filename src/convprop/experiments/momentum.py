"""momentum (Q5): iterations to a tolerance on an ill-conditioned quadratic, and real training

Two parts. On the quadratic ``f = 1/2 (theta_1^2 + kappa theta_2^2)`` (``--kappa``, default
100), each momentum ``gamma`` in ``--momenta`` is run with its best step size, found on a grid,
and the iterations until ``f <= tol f(theta_0)`` are counted; ``gamma = 0`` is plain gradient
descent. The seed's pseudo-code is run exactly as written beside the standard heavy ball, to
show what it is: the heavy ball with step ``alpha^2``. Then the ``cnn`` is trained on the
digits once per momentum (same seed, same learning rate) and its loss curves are recorded.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from convprop.data import DATASETS
from convprop.experiments import common, figures
from convprop.experiments import quadratic as quad
from convprop.models import MODELS
from convprop.optim import classical_momentum_step, seed_momentum_step

SEED_PSEUDO_CODE = """\
Init  v <- 0, gamma, alpha
Repeat until converged{
     d <- -grad L(theta)
     v <- gamma v + alpha d
     theta <- theta + alpha v^t
}"""

HEAVY_BALL = """\
Init  v <- 0, gamma, alpha
Repeat until converged{
     d <- -grad L(theta)
     v <- gamma v + alpha d
     theta <- theta + v
}"""


def start_point(kappa: float) -> np.ndarray:
    """``theta_0 = (1, 1/sqrt(kappa))``: both eigendirections start with the same loss, 1/2."""
    return np.array([1.0, 1.0 / math.sqrt(kappa)])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_output_arguments(parser, "momentum")
    parser.add_argument("--kappa", type=float, default=100.0, help="condition number (100)")
    parser.add_argument(
        "--momenta",
        type=common.float_list,
        default=[0.0, 0.5, 0.9, 0.99],
        help="gamma values, comma-separated (0,0.5,0.9,0.99)",
    )
    parser.add_argument("--tol", type=float, default=1e-6, help="reach f <= tol f(theta_0) (1e-6)")
    parser.add_argument("--max-iters", type=int, default=10000, help="per run (10000)")
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn", help="model (cnn)")
    parser.add_argument("--dataset", choices=DATASETS, default="digits", help="data set (digits)")
    parser.add_argument("--data-dir", help="folder with the IDX files (mnist, fashion-mnist)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs; 0 skips it (5)")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size (32)")
    parser.add_argument("--lr", type=float, default=0.01, help="training learning rate (0.01)")


def _validate(args: argparse.Namespace) -> None:
    if not (math.isfinite(args.kappa) and args.kappa >= 1):
        raise ValueError(f"--kappa must be a number >= 1, got {args.kappa}")
    if not all(0 <= g < 1 for g in args.momenta):
        raise ValueError(f"every --momenta value must lie in [0, 1), got {args.momenta}")
    if not 0 < args.tol < 1:
        raise ValueError(f"--tol must lie in (0, 1), got {args.tol}")
    if args.max_iters < 1 or args.epochs < 0 or args.batch_size < 1:
        raise ValueError("--max-iters and --batch-size must be >= 1, --epochs >= 0")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise ValueError(f"--lr must be a positive number, got {args.lr}")


def step_grid(kappa: float) -> np.ndarray:
    """Step sizes from 0.001 / kappa to 4 / kappa (the heavy ball diverges beyond
    2 (1 + gamma) / kappa), 161 of them, evenly spaced in log."""
    return np.geomspace(1e-3, 4.0, 161) / kappa


def compare_on_quadratic(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tune each momentum and the seed's written form; returns (summary part, plot data)."""
    lam, theta0 = quad.eigenvalues(args.kappa), start_point(args.kappa)
    grid = step_grid(args.kappa)
    rows, tuned, paths = [], {}, {}
    for gamma in args.momenta:
        t = quad.tune(lam, theta0, gamma, tol=args.tol, iterations=args.max_iters, grid=grid)
        tuned[gamma] = t
        rate = quad.theory_rate(args.kappa, gamma, t.best_alpha) if t.best_iterations > 0 else 1
        rows.append(
            {
                "momentum": gamma,
                "best_alpha": t.best_alpha,
                "iterations": t.best_iterations if t.best_iterations > 0 else None,
                "theory_rate_at_best_alpha": rate,
                "theory_iterations": quad.predicted_iterations(rate, args.tol),
            }
        )
        common.log(
            f"  gamma {gamma:<5g}: best alpha {t.best_alpha:.4g}, "
            f"{t.best_iterations} iterations to f <= {args.tol:g} f(theta_0)"
        )
        if t.best_iterations > 0:
            losses, path = quad.heavy_ball(
                lam, theta0, [t.best_alpha], gamma, t.best_iterations, keep_path=True
            )
            paths[gamma] = (losses[0], path[0])
    by = {r["momentum"]: r for r in rows}
    gd = by.get(0.0)
    seed = seed_form_study(args, lam, theta0, grid, tuned)
    seed_losses = seed.pop("losses")
    polyak = ((math.sqrt(args.kappa) - 1) / (math.sqrt(args.kappa) + 1)) ** 2
    polyak_alpha = (1 + math.sqrt(polyak)) ** 2 / args.kappa
    summary = {
        "kappa": args.kappa,
        "tol": args.tol,
        "start": theta0.tolist(),
        "max_iterations": args.max_iters,
        "methods": rows,
        "gd_best_alpha": gd["best_alpha"] if gd else None,
        "gd_iterations": gd["iterations"] if gd else None,
        "iterations_by_momentum": {f"{r['momentum']:g}": r["iterations"] for r in rows},
        "polyak_optimum": {
            "momentum": polyak,
            "alpha": polyak_alpha,
            "theory_rate": math.sqrt(polyak),
            "theory_iterations": quad.predicted_iterations(math.sqrt(polyak), args.tol),
        },
        "seed_pseudo_code": SEED_PSEUDO_CODE,
        "heavy_ball_pseudo_code": HEAVY_BALL,
        "seed_form": seed,
    }
    if gd and 0.9 in by:
        m = by[0.9]["iterations"]
        summary["momentum_0.9_beats_gd"] = bool(
            m is not None and (gd["iterations"] is None or m < gd["iterations"])
        )
    return summary, {
        "tuned": tuned,
        "paths": paths,
        "seed": seed,
        "seed_losses": seed_losses,
        "lam": lam,
    }


def seed_form_study(
    args: argparse.Namespace, lam: np.ndarray, theta0: np.ndarray, grid: np.ndarray, tuned: dict
) -> dict[str, Any]:
    """Run the written form beside the heavy ball, step by step, with convprop.optim's pure
    functions: it equals the heavy ball with step alpha^2, not with alpha."""
    gamma = 0.9 if 0.9 in tuned else max(tuned)
    alpha = tuned[gamma].best_alpha if tuned[gamma].best_iterations > 0 else 1 / args.kappa
    steps = min(args.max_iters, 300)
    seed_theta, seed_v = theta0.copy(), np.zeros(2)
    hb_sq, hb_sq_v = theta0.copy(), None
    hb, hb_v = theta0.copy(), None
    gap_sq = gap = 0.0
    for _ in range(steps):
        seed_momentum_step(seed_theta, lam * seed_theta, seed_v, gamma=gamma, alpha=alpha)
        hb_sq_v = classical_momentum_step(hb_sq, lam * hb_sq, hb_sq_v, lr=alpha**2, momentum=gamma)
        hb_v = classical_momentum_step(hb, lam * hb, hb_v, lr=alpha, momentum=gamma)
        gap_sq = max(gap_sq, float(np.max(np.abs(seed_theta - hb_sq))))
        gap = max(gap, float(np.max(np.abs(seed_theta - hb))))
    at_alpha = quad.heavy_ball(lam, theta0, [alpha], gamma, args.max_iters, seed_form=True)[0]
    own = quad.tune(
        lam,
        theta0,
        gamma,
        tol=args.tol,
        iterations=args.max_iters,
        grid=np.sqrt(grid),
        seed_form=True,
    )
    at = int(quad.iterations_to_tolerance(at_alpha, args.tol)[0])
    common.log(
        f"  the seed's form, gamma {gamma:g}, alpha {alpha:.4g}: max |theta - heavy ball at "
        f"alpha^2| = {gap_sq:.1e}, at alpha {gap:.2g}; "
        + (f"{at} iterations" if at > 0 else f"not at tol after {args.max_iters} iterations")
        + f" (the heavy ball: {tuned[gamma].best_iterations}); tuned on its own: alpha "
        f"{own.best_alpha:.4g} = sqrt({own.best_alpha**2:.4g}), {own.best_iterations} iterations"
    )
    return {
        "equivalent_to": "the heavy ball with step alpha^2 (u = alpha v: u <- gamma u + "
        "alpha^2 d; theta <- theta + u)",
        "gamma": gamma,
        "alpha": alpha,
        "steps_compared": steps,
        "max_abs_diff_vs_heavy_ball_alpha_squared": gap_sq,
        "max_abs_diff_vs_heavy_ball_alpha": gap,
        "iterations_at_heavy_ball_best_alpha": at if at > 0 else None,
        "own_best_alpha": own.best_alpha,
        "own_best_alpha_squared": own.best_alpha**2,
        "own_best_iterations": own.best_iterations if own.best_iterations > 0 else None,
        "losses": at_alpha[0],
    }


def run(args: argparse.Namespace) -> int:
    with common.validating():
        _validate(args)
        split = common.load_split(args.dataset, args.data_dir) if args.epochs else None
    out = common.prepare_out(args)
    start = time.perf_counter()
    common.log(
        f"momentum: quadratic with kappa {args.kappa:g}, start "
        f"{start_point(args.kappa).round(4)}, tol {args.tol:g}"
    )
    summary, plot_data = compare_on_quadratic(args)
    quadratic_seconds = time.perf_counter() - start
    training = []
    for gamma in args.momenta if split is not None else []:
        curves = common.train_curves(
            split,
            model=args.model,
            batch_size=args.batch_size,
            lr=args.lr,
            momentum=gamma,
            epochs=args.epochs,
            seed=args.seed,
            label=f"momentum {gamma:g}",
        )
        training.append({"momentum": gamma, **curves})
        common.log(_training_line(gamma, args.lr, curves))
    summary["training"] = [
        {
            "momentum": t["momentum"],
            "lr": args.lr,
            "effective_lr": args.lr / (1 - t["momentum"]),
            "final_train_loss": t["epochs"][-1]["train_loss"] if t["epochs"] else None,
            "test_accuracy": t["epochs"][-1]["test_accuracy"] if t["epochs"] else None,
            "diverged_at_epoch": t["diverged_at"],
        }
        for t in training
    ]
    summary["training_setup"] = {
        "model": args.model,
        "dataset": args.dataset,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
    }
    summary["seconds"] = {"quadratic": quadratic_seconds, "total": time.perf_counter() - start}
    _write_tables(out, summary, plot_data, training)
    common.write_json(out / "summary.json", summary)
    figure = figures.plot_momentum(args, plot_data, training, out / "momentum.png")
    counts = ", ".join(
        f"{'plain GD' if g == '0' else 'momentum ' + g} {n}"
        for g, n in summary["iterations_by_momentum"].items()
    )
    common.log(
        f"iterations to tol at each best step size: {counts}; the seed's form is the heavy "
        f"ball with step alpha^2; {summary['seconds']['total']:.1f} s; results in {out}/"
        + ("" if figure else " (no figure: matplotlib missing)")
    )
    return 0


def _training_line(gamma: float, lr: float, curves: dict[str, Any]) -> str:
    line = f"  training, momentum {gamma:g} (lr {lr:g}, lr/(1 - gamma) {lr / (1 - gamma):.3g}): "
    if curves["diverged_at"]:
        line += f"diverged in epoch {curves['diverged_at']}; "
    if not curves["epochs"]:
        return line + "no epoch completed"
    last = curves["epochs"][-1]
    return line + f"train loss {last['train_loss']:.4f}, test {100 * last['test_accuracy']:.1f}%"


def _write_tables(out: Any, summary: dict, plot_data: dict, training: list) -> None:
    common.write_csv(out / "quadratic.csv", summary["methods"])
    common.write_csv(
        out / "step_sizes.csv",
        [
            {"momentum": g, "alpha": float(a), "iterations": int(n) if n > 0 else None}
            for g, t in plot_data["tuned"].items()
            for a, n in zip(t.alphas, t.iterations, strict=True)
        ],
    )
    rows = [{"momentum": t["momentum"], **row} for t in training for row in t["epochs"]]
    if rows:
        common.write_csv(out / "training.csv", rows)
