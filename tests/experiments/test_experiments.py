"""The experiments' estimators on cases with known answers, then the commands on tiny settings.

Gradient noise: per-example gradients of models whose gradients have a closed form (softmax
regression, linear least squares); the noise RMS formulas with and without replacement, exact
by enumerating every batch of a tiny set; B_noise on a constructed case. Momentum: the heavy
ball against convprop.optim's step functions, the seed's form against the heavy ball with
step alpha^2, and gradient descent's exactly known iteration count on the quadratic.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from convprop import nn, optim
from convprop.cli import main
from convprop.data import DataLoader
from convprop.experiments import noise
from convprop.experiments import quadratic as quad

RNG = np.random.default_rng(0)


# -- per-example gradients ---------------------------------------------------------------
def test_per_example_gradients_of_softmax_regression_match_the_closed_form():
    K, D, M = 7, 5, 3
    images, labels = RNG.standard_normal((K, 1, 1, D)), RNG.integers(0, M, K)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, M, rng=np.random.default_rng(1)))
    G = noise.per_example_gradients(model, images, labels)
    W, b = (p.data for p in model.parameters())  # (M, D) as in PyTorch, and (M,)
    assert G.dtype == np.float64 and G.shape == (K, W.size + b.size)
    x = images.reshape(K, D)
    for k in range(K):
        z = W @ x[k] + b
        e = np.exp(z - z.max()) / np.exp(z - z.max()).sum() - np.eye(M)[labels[k]]  # f - x
        np.testing.assert_allclose(
            G[k], np.concatenate([np.outer(e, x[k]).ravel(), e]), atol=1e-14
        )


def least_squares_gradients(K: int, P: int, rng: np.random.Generator) -> np.ndarray:
    """g_k = (x_k . theta - y_k) x_k, the gradient of 1/2 (x_k . theta - y_k)^2."""
    x, y, theta = rng.standard_normal((K, P)), rng.standard_normal(K), rng.standard_normal(P)
    return (x @ theta - y)[:, None] * x


# -- the noise formulas, exactly --------------------------------------------------------
@pytest.mark.parametrize("k_b", [1, 2, 3, 4])
def test_mean_squared_noise_is_exactly_the_formula_over_every_batch(k_b):
    K = 5
    G = least_squares_gradients(K, 3, RNG)
    g, gram = noise.centred_gram(G)
    trace = noise.trace_sigma(gram)
    assert trace == pytest.approx(np.mean(np.sum((G - g) ** 2, axis=1)), rel=1e-12)
    every_tuple = np.array(list(itertools.product(range(K), repeat=k_b)))  # with replacement
    every_subset = np.array(list(itertools.combinations(range(K), k_b)))  # without
    for batches, replacement in ((every_tuple, True), (every_subset, False)):
        mean_square = np.mean(noise.batch_noise(gram, batches) ** 2)
        predicted = noise.predicted_rms(trace, K, k_b, replacement) ** 2
        assert mean_square == pytest.approx(predicted, rel=1e-12)


def test_batch_noise_from_the_gram_matrix_equals_the_direct_norm():
    G = least_squares_gradients(40, 6, RNG)
    g, gram = noise.centred_gram(G)
    batches = noise.draws_with_replacement(40, 9, 25, seed=3)  # repeats included
    direct = [np.linalg.norm(G[b].mean(axis=0) - g) for b in batches]
    np.testing.assert_allclose(noise.batch_noise(gram, batches), direct, rtol=1e-10)


def test_gradient_noise_scale_on_a_constructed_case():
    # rows g + a u and g - a u: |g|^2 = 9 + 16 = 25, tr(Sigma) = a^2 |u|^2 = 4 * 2
    g, u, a = np.array([3.0, 4.0, 0.0]), np.array([0.0, 1.0, 1.0]), 2.0
    G = np.stack([g + a * u, g - a * u])
    assert noise.gradient_noise_scale(G) == pytest.approx(8.0 / 25.0, rel=1e-14)


def test_slope_and_doubling_ratio_of_an_exact_power_law():
    sizes = [1, 2, 4, 8, 16]
    rms = 3.0 / np.sqrt(sizes)
    assert noise.loglog_slope(sizes, rms) == pytest.approx(-0.5, abs=1e-12)
    assert noise.doubling_ratio(sizes, rms) == pytest.approx(math.sqrt(2), abs=1e-12)


def test_loader_draws_are_the_dataloaders_batches_without_replacement():
    K, k_b = 50, 8
    batches = noise.draws_from_loader(K, k_b, 12, seed=4)
    loader = DataLoader(np.arange(K), k_b, drop_last=True, seed=4)
    first_epoch = loader.batch_indices(0)
    np.testing.assert_array_equal(batches[: len(first_epoch)], np.stack(first_epoch))
    assert all(len(set(b)) == k_b for b in batches)  # no repeats within a batch
    assert len(set(batches[: len(first_epoch)].ravel())) == len(first_epoch) * k_b  # disjoint


def test_measured_noise_of_least_squares_follows_both_predictions():
    K = 400
    G = least_squares_gradients(K, 20, np.random.default_rng(5))
    sizes = [1, 2, 4, 8, 16, 32, 64, 128]
    result = noise.measure_noise(G, sizes, draws=2000, seed=0)
    s = result.summary()
    assert s["slope_with_replacement"] == pytest.approx(-0.5, abs=0.03)
    assert s["doubling_ratio_with_replacement"] == pytest.approx(math.sqrt(2), abs=0.05)
    assert s["max_relative_error_with_replacement"] < 0.08
    assert s["max_relative_error_without_replacement"] < 0.08
    # at K_b = 128 of 400 the finite-population factor is sqrt(272/399) = 0.83: visible
    assert result.rms_without[-1] / result.rms_with[-1] == pytest.approx(0.826, abs=0.06)
    assert s["b_noise"] == pytest.approx(noise.gradient_noise_scale(G), rel=1e-12)


# -- momentum on the quadratic ------------------------------------------------------------
def test_heavy_ball_matches_convprops_classical_step_and_the_seed_form_is_alpha_squared():
    lam, theta0, gamma, alpha = quad.eigenvalues(50.0), np.array([1.0, 0.3]), 0.8, 0.03
    _, path = quad.heavy_ball(lam, theta0, [alpha], gamma, 60, keep_path=True)
    _, written = quad.heavy_ball(
        lam, theta0, [math.sqrt(alpha)], gamma, 60, seed_form=True, keep_path=True
    )
    theta, v = theta0.copy(), None
    for t in range(1, 61):
        v = optim.classical_momentum_step(theta, lam * theta, v, lr=alpha, momentum=gamma)
        np.testing.assert_allclose(path[0, t], theta, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(written[0], path[0], rtol=1e-12, atol=1e-15)


def test_iterations_to_tolerance_counts_the_last_crossing():
    losses = np.array(
        [
            [1.0, 0.1, 1e-7, 1e-3, 1e-7, 1e-8],  # dips, comes back, then stays: 4
            [1.0, 0.5, 0.2, 0.1, 0.05, 0.01],  # never reaches 1e-6: -1
            [1.0, 1e-7, np.nan, 1e-7, 1e-7, 1e-7],  # NaN counts as above: 3
            [1.0, 1e-7, 1e-7, 1e-7, 1e-7, 2e-6],  # above at the end: -1
        ]
    )
    assert quad.iterations_to_tolerance(losses, 1e-6).tolist() == [4, -1, 3, -1]


def test_gradient_descent_at_two_over_one_plus_kappa_takes_the_known_iterations():
    # both modes contract by r = (kappa - 1) / (kappa + 1): f_t / f_0 = r^(2t) exactly
    kappa, tol = 100.0, 1e-6
    r = (kappa - 1) / (kappa + 1)
    losses, _ = quad.heavy_ball(quad.eigenvalues(kappa), [1.0, 0.1], [2 / (1 + kappa)], 0.0, 600)
    expected = math.ceil(math.log(tol) / (2 * math.log(r)))
    assert int(quad.iterations_to_tolerance(losses, tol)[0]) == expected
    assert quad.theory_rate(kappa, 0.0, 2 / (1 + kappa)) == pytest.approx(r, rel=1e-12)
    assert quad.theory_rate(kappa, 0.9, 0.01) == pytest.approx(math.sqrt(0.9), rel=1e-9)


def test_tuning_finds_the_best_gd_step_and_momentum_09_beats_it():
    kappa, lam, theta0 = 100.0, quad.eigenvalues(100.0), np.array([1.0, 0.1])
    grid = np.geomspace(1e-3, 4.0, 81) / kappa
    gd = quad.tune(lam, theta0, 0.0, tol=1e-6, iterations=3000, grid=grid)
    heavy = quad.tune(lam, theta0, 0.9, tol=1e-6, iterations=3000, grid=grid)
    assert gd.best_alpha == pytest.approx(2 / (1 + kappa), rel=0.02)
    assert 0 < heavy.best_iterations < gd.best_iterations


# -- the commands, on tiny settings --------------------------------------------------------
def _summary(out):
    return json.loads((out / "summary.json").read_text())


def test_noise_command_writes_its_files_and_is_deterministic(tmp_path, capsys):
    args = [
        "experiment",
        "noise",
        "--model",
        "mlp",
        "--examples",
        "120",
        "--draws",
        "30",
        "--batch-sizes",
        "1,2,4,8,16",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = _summary(tmp_path / "a"), _summary(tmp_path / "b")
    keys = (
        "slope_with_replacement",
        "slope_without_replacement",
        "doubling_ratio_with_replacement",
        "b_noise",
    )
    assert all(a[k] == b[k] and math.isfinite(a[k]) for k in keys)
    assert a["mean_of_per_example_vs_full_batch_gradient"] < 1e-12
    assert {p.name for p in (tmp_path / "a").iterdir()} >= {
        "summary.json",
        "noise.csv",
        "noise.png",
    }
    assert main([*args, "--out", str(tmp_path / "a")]) == 2  # results there, no --overwrite
    assert "already holds results" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--batch-sizes", "1,200"], "below K"),
        (["--draws", "1"], "--draws"),
        (["--checkpoint", "missing.npz"], "no such checkpoint"),
    ],
)
def test_noise_command_rejects_bad_input_with_exit_code_2(tmp_path, capsys, extra, message):
    args = ["experiment", "noise", "--model", "mlp", "--examples", "100", *extra]
    assert main([*args, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err


def test_noise_command_reads_a_checkpoint(tmp_path):
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "t")]) == 0
    out = tmp_path / "n"
    args = [
        "experiment",
        "noise",
        "--checkpoint",
        str(tmp_path / "t" / "model.npz"),
        "--examples",
        "100",
        "--draws",
        "20",
        "--batch-sizes",
        "1,4,16",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    s = _summary(out)
    assert s["model"] == "mlp" and "checkpoint" in s["at"] and s["b_noise"] > 0


def test_momentum_command_on_the_quadratic_and_a_short_run(tmp_path):
    out = tmp_path / "m"
    args = [
        "experiment",
        "momentum",
        "--momenta",
        "0,0.9",
        "--max-iters",
        "3000",
        "--epochs",
        "1",
        "--model",
        "mlp",
        "--batch-size",
        "128",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    s = _summary(out)
    assert s["momentum_0.9_beats_gd"] and s["gd_iterations"] > s["iterations_by_momentum"]["0.9"]
    assert s["seed_form"]["max_abs_diff_vs_heavy_ball_alpha_squared"] < 1e-12
    assert s["seed_form"]["max_abs_diff_vs_heavy_ball_alpha"] > 1e-3
    assert s["seed_form"]["own_best_iterations"] == s["iterations_by_momentum"]["0.9"]
    assert "theta <- theta + alpha v^t" in s["seed_pseudo_code"]
    assert [t["momentum"] for t in s["training"]] == [0.0, 0.9]
    files = {p.name for p in out.iterdir()}
    assert {
        "summary.json",
        "quadratic.csv",
        "step_sizes.csv",
        "training.csv",
        "momentum.png",
    } <= files


def test_batch_size_command_reports_each_batch_size(tmp_path):
    out = tmp_path / "b"
    args = [
        "experiment",
        "batch-size",
        "--batch-sizes",
        "64,512",
        "--epochs",
        "2",
        "--model",
        "mlp",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    rows = _summary(out)["batch_sizes"]
    assert [r["batch_size"] for r in rows] == [64, 512]
    assert [r["updates_per_epoch"] for r in rows] == [23, 3]  # ceil(1438 / K_b)
    assert all(r["examples_per_second"] > 0 and 0 <= r["test_accuracy"] <= 1 for r in rows)
    assert all(r["target_accuracy"] == 0.95 and "seconds_to_target" in r for r in rows)
    assert {p.name for p in out.iterdir()} >= {"batch_size.csv", "curves.csv", "batch_size.png"}
    assert main([*args[:-2], "--batch-sizes", "9999", "--out", str(tmp_path / "c")]) == 2


def test_batch_size_command_says_when_no_batch_size_reached_the_target(tmp_path, capsys):
    args = ["experiment", "batch-size", "--batch-sizes", "512", "--epochs", "1"]
    args += ["--model", "mlp", "--target", "1", "--out", str(tmp_path / "b")]
    assert main(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "no batch size reached 100% test accuracy" in last and "None" not in last
    assert _summary(tmp_path / "b")["soonest_to_target_batch_size"] is None
