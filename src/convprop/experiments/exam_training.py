"""``convprop exam``, questions 3 to 5: likelihood, epochs, gradient noise and momentum.

Q3's expressions are evaluated literally (products and double sums, in float64) on a real
batch of the digits and the logits of the ``cnn`` at initialisation, and compared with
convprop's ``softmax``, ``one_hot`` and ``cross_entropy``. Q4.1 is checked on the
``DataLoader``; Q4.2 is the measurement of ``convprop experiment noise`` on its defaults; Q5
runs the pseudo-code as written beside the standard heavy ball.
"""

from __future__ import annotations

import math

import numpy as np

from convprop import ops, optim
from convprop.data import DataLoader, DatasetNotFoundError, Split, load_dataset, make_synthetic
from convprop.experiments import noise
from convprop.experiments import quadratic as quad
from convprop.experiments.finding import Finding, compare
from convprop.models import build_model
from convprop.nn import Module
from convprop.tensor import Tensor, no_grad
from convprop.train import train_step

BATCH = 64  # the "real batch" of Q3 and Q4.1


def _data(seed: int) -> tuple[Split, str]:
    """The digits; a synthetic stand-in (said so in every row) if their file is missing."""
    try:
        return load_dataset("digits"), "the digits"
    except DatasetNotFoundError:
        split = make_synthetic(num_classes=10, n_train=300, n_test=60, seed=seed)
        return split, "synthetic digits (the digits file is missing)"


def _model(split: Split, seed: int) -> Module:
    """The ``cnn`` at initialisation (the weights of ``--seed``), in float64."""
    model = build_model("cnn", split.input_shape, split.num_classes, np.random.default_rng(seed))
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    return model


def _flat_grad(model: Module) -> np.ndarray:
    return np.concatenate([p.grad.ravel() for p in model.parameters()])


@no_grad()
def _neg_log_likelihood(model: Module, images: np.ndarray, labels: np.ndarray) -> float:
    logits = model(Tensor(images, dtype=np.float64))
    return float(ops.cross_entropy(logits, labels, reduction="sum").data)


def check_q3(seed: int) -> list[Finding]:
    split, where = _data(seed)
    model = _model(split, seed)
    images, labels = split.train[np.arange(BATCH)]
    K, M = len(labels), split.num_classes
    with no_grad():
        logits = model(Tensor(images, dtype=np.float64)).data  # (K_b, M)
    f = ops.softmax(Tensor(logits, dtype=np.float64)).data
    x = ops.one_hot(labels, M, dtype=np.float64)
    on = f"the cnn's logits for {K} training images of {where}"

    delta = np.array([[1.0 if m == labels[k] else 0.0 for m in range(M)] for k in range(K)])
    rows = [compare("Q3.1", "x_{k,m} = delta(m - m_k^*): one-hot encoding", x, delta)]
    rows[0].measured = f"convprop.ops.one_hot on the {K} labels: one 1 per row, at the label"

    extreme = ops.softmax(Tensor([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], dtype=np.float64)).data
    sums = np.concatenate([f.sum(axis=1), extreme.sum(axis=1)])
    lowest = min(f.min(), extreme.min())
    rows.append(
        Finding(
            "Q3.2",
            "f_theta(m | y_k) >= 0 and sum_m f_theta(m | y_k) = 1 (the softmax)",
            lowest >= 0 and np.max(np.abs(sums - 1)) <= 1e-12,
            np.max(np.abs(sums - 1)),
            measured=f"min f = {lowest:.1e}, max |sum_m f - 1| = "
            f"{np.max(np.abs(sums - 1)):.1e}, on {on} and on logits of +-1e4",
        )
    )
    product = np.array([math.prod(f[k, m] ** x[k, m] for m in range(M)) for k in range(K)])
    selected = f[np.arange(K), labels]
    rows.append(compare("Q3.3", "prod_m f(m | y_k)^{x_{k,m}} = f(m_k^* | y_k)", product, selected))
    log_pk = np.array([sum(x[k, m] * np.log(f[k, m]) for m in range(M)) for k in range(K)])
    rho = ops.cross_entropy(Tensor(logits, dtype=np.float64), labels, reduction="none").data
    rows.append(
        compare("Q3.4", "log p(x_k | y_k) = sum_m x_{k,m} log f(m | y_k) = -rho_CE", log_pk, -rho)
    )
    log_p = sum(sum(x[k, m] * np.log(f[k, m]) for m in range(M)) for k in range(K))
    L_CE = ops.cross_entropy(Tensor(logits, dtype=np.float64), labels, reduction="sum").data
    rows.append(
        compare("Q3.5", "log p(x | y) = sum_k sum_m x_{k,m} log f(m | y_k) = -L_CE", log_p, -L_CE)
    )
    rows[-1].measured = f"log p = {log_p:.6f} on {on}"

    model.zero_grad()  # the literal -(1/K_b) log p_theta(x | y), built from primitives
    literal = ops.sum(Tensor(x) * ops.log_softmax(model(Tensor(images, dtype=np.float64))))
    (-literal / K).backward()
    g_literal = _flat_grad(model)
    train_step(model, optim.SGD(model.parameters(), lr=0.0), images, labels)  # lr 0: no move
    rows.append(
        compare(
            "Q3.6",
            "minimising -log p(x | y) is minimising L_CE: the gradient training follows is "
            "that of -(1/K_b) log p(x | y)",
            g_literal,
            _flat_grad(model),
        )
    )
    rows[
        -1
    ].measured = (
        f"train_step's gradient vs autodiff of the literal sum, {g_literal.size:,} weights"
    )

    before = _neg_log_likelihood(model, split.train.images, split.train.labels)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for index in DataLoader(split.train, BATCH, seed=seed).batch_indices(0):
        train_step(model, opt, *split.train[index])
    after = _neg_log_likelihood(model, split.train.images, split.train.labels)
    rows.append(
        Finding(
            "Q3.7",
            "SGD on the cross-entropy, gradients by back propagation, maximises the likelihood",
            after < before,
            measured=f"-log p(x | y) over the {len(split.train)} training examples: "
            f"{before:.1f} before, {after:.1f} after one epoch (batch {BATCH}, lr 0.05, "
            f"momentum 0.9)",
        )
    )
    return rows


def check_q4(seed: int) -> list[Finding]:
    split, where = _data(seed)
    K = len(split.train)
    loader = DataLoader(split.train, BATCH, seed=seed)
    visited = np.sort(np.concatenate(loader.batch_indices(0)))
    counted = sum(len(y) for _, y in loader)
    rows = [
        Finding(
            "Q4.1",
            "one full pass through the training data is an epoch",
            np.array_equal(visited, np.arange(K)) and counted == K and loader.epoch == 1,
            measured=f"DataLoader, K = {K}, K_b = {BATCH}: one epoch is {len(loader)} batches, "
            f"{counted} examples, each exactly once; its epoch counter went 0 -> {loader.epoch}",
        )
    ]
    model = _model(split, seed)
    sizes = [b for b in noise.DEFAULT_BATCH_SIZES if 2 * b <= K] or [1, 2]
    G = noise.per_example_gradients(model, split.train.images, split.train.labels)
    result = noise.measure_noise(G, sizes, 200, seed)
    s, sqrt2 = result.summary(), math.sqrt(2)
    setting = f"cnn at initialisation on {where}, K = {K}, 200 draws per K_b"
    ratio = s["doubling_ratio_with_replacement"]
    rows.append(
        Finding(
            "Q4.2",
            "doubling K_b divides the noise's standard deviation by sqrt(2) (i.i.d. batches)",
            abs(ratio - sqrt2) <= 0.05,
            abs(ratio - sqrt2),
            measured=f"ratio per doubling {ratio:.3f}, slope {s['slope_with_replacement']:.3f} "
            f"over K_b = {sizes[0]}..{sizes[-1]} drawn with replacement; {setting}",
        )
    )
    small = [i for i, b in enumerate(sizes) if b <= K // 20]
    small_ratio = noise.doubling_ratio([sizes[i] for i in small], result.rms_without[small])
    rows.append(
        Finding(
            "Q4.2",
            "the same for the DataLoader's batches (without replacement) when K_b << K",
            abs(small_ratio - sqrt2) <= 0.05,
            abs(small_ratio - sqrt2),
            measured=f"ratio per doubling {small_ratio:.3f} over K_b = {sizes[0]}.."
            f"{sizes[small[-1]]}",
        )
    )
    b = sizes[-1] // 2
    big = result.rms_without[-2] / result.rms_without[-1]
    predicted = math.sqrt(2 * (K - b) / (K - 2 * b))
    rows.append(
        Finding(
            "Q4.2",
            f"the same for the DataLoader's batches, K_b = {b} -> {2 * b} of K = {K}",
            abs(big - sqrt2) <= 0.05,
            abs(big - sqrt2),
            measured=f"ratio {big:.3f}; the finite-population prediction "
            f"sqrt(2 (K - K_b) / (K - 2 K_b)) = {predicted:.3f}",
            correct="without replacement the std is sigma / sqrt(K_b) * sqrt((K - K_b) / "
            "(K - 1)): doubling divides it by sqrt(2 (K - K_b) / (K - 2 K_b)), which is "
            "sqrt(2) only for K_b << K",
        )
    )
    return rows


def check_q5(seed: int) -> list[Finding]:
    """The pseudo-code as written against the standard heavy ball, on the kappa = 100
    quadratic and on the cnn's weights."""
    kappa, gamma, alpha, steps = 100.0, 0.9, 0.01, 100
    lam, theta0 = quad.eigenvalues(kappa), np.array([1.0, 0.1])
    written, v = theta0.copy(), np.zeros(2)
    once, v_once, twice, v_twice = theta0.copy(), None, theta0.copy(), None
    gap_once = gap_twice = 0.0
    for _ in range(steps):
        optim.seed_momentum_step(written, lam * written, v, gamma=gamma, alpha=alpha)
        v_once = optim.classical_momentum_step(once, lam * once, v_once, lr=alpha, momentum=gamma)
        v_twice = optim.classical_momentum_step(
            twice, lam * twice, v_twice, lr=alpha**2, momentum=gamma
        )
        gap_once = max(gap_once, float(np.max(np.abs(written - once))))
        gap_twice = max(gap_twice, float(np.max(np.abs(written - twice))))
    runs = [quad.heavy_ball(lam, theta0, [alpha], gamma, 20000, seed_form=s)[0] for s in (1, 0)]
    n_written, n_standard = (int(quad.iterations_to_tolerance(r, 1e-6)[0]) for r in runs)
    gap_net = _seed_form_on_network(seed, gamma, alpha)
    setting = f"gamma {gamma:g}, alpha {alpha:g}, {steps} steps on the kappa = {kappa:g} quadratic"
    return [
        Finding(
            "Q5",
            "v <- gamma v + alpha d; theta <- theta + alpha v is gradient descent with "
            "momentum, step alpha",
            gap_once <= 1e-12,
            gap_once,
            measured=f"max |theta_written - theta_heavy_ball(alpha)| = {gap_once:.3f}, "
            f"{setting}; to reach f <= 1e-6 f(theta_0): {n_written} iterations as written, "
            f"{n_standard} standard",
            correct="theta <- theta + v (alpha once); as written alpha is applied twice",
        ),
        Finding(
            "Q5",
            "as written it is the heavy ball with step alpha^2 (u = alpha v)",
            max(gap_twice, gap_net) <= 1e-12,
            max(gap_twice, gap_net),
            measured=f"max |theta_written - theta_heavy_ball(alpha^2)| = {gap_twice:.1e} "
            f"({setting}), {gap_net:.1e} on the cnn's weights (5 steps, SGD classical form)",
        ),
    ]


def _seed_form_on_network(seed: int, gamma: float, alpha: float, steps: int = 5) -> float:
    """Max |difference| of the weights after ``steps`` steps: the written form with ``alpha``
    against ``optim.SGD(form="classical", lr=alpha**2)``, on one fixed batch."""
    split, _ = _data(seed)
    images, labels = split.train[np.arange(BATCH)]
    written, standard = _model(split, seed), _model(split, seed)
    opt = optim.SGD(standard.parameters(), lr=alpha**2, momentum=gamma, form="classical")
    velocities = [np.zeros_like(p.data) for p in written.parameters()]
    for _ in range(steps):
        for net in (written, standard):
            net.zero_grad()
            ops.cross_entropy(net(Tensor(images, dtype=np.float64)), labels).backward()
        for p, v in zip(written.parameters(), velocities, strict=True):
            optim.seed_momentum_step(p.data, p.grad, v, gamma=gamma, alpha=alpha)
        opt.step()
    pairs = zip(written.parameters(), standard.parameters(), strict=True)
    return max(float(np.max(np.abs(a.data - b.data))) for a, b in pairs)
