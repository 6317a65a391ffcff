# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The seed's experiments: gradient noise, the batch-size trade-off, momentum
#
# The seed's Q4 and Q5 make claims about stochastic gradient descent: the noise of a
# mini-batch gradient falls as `1 / sqrt(K_b)`; large batches compute faster per example but
# make fewer updates; momentum speeds up descent on ill-conditioned problems. This notebook
# measures each with the functions behind `convprop experiment noise`, `batch-size` and
# `momentum` (in `convprop.experiments`), at a size that runs in seconds. The full runs and
# their figures are in [Experiments](../../experiments/).

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

from convprop.data import load_dataset
from convprop.experiments import noise, quadratic
from convprop.experiments.common import train_curves
from convprop.models import build_model

split = load_dataset("digits")

# %% [markdown]
# ## Gradient noise against the batch size (Q4.2)
#
# The full gradient is the mean `g = (1/K) sum_k g_k` of the `K` per-example gradients. A
# mini-batch of `K_b` examples drawn independently (with replacement) estimates it with noise
# of root-mean-square size `sigma / sqrt(K_b)`, `sigma^2 = tr(Sigma)` the trace of the
# per-example covariance: doubling the batch divides the noise by `sqrt(2)`. A `DataLoader`
# draws *without* replacement, and its noise is smaller still, by
# `sqrt((K - K_b) / (K - 1))`.
#
# We compute the gradient of each of 400 training digits for the `cnn` at initialisation,
# then the noise of 200 mini-batches at each batch size.

# %%
K = 400
model = build_model("cnn", split.input_shape, split.num_classes, np.random.default_rng(0))
G = noise.per_example_gradients(model, split.train.images[:K], split.train.labels[:K])
print("per-example gradients:", G.shape, "(examples, parameters)")

batch_sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256]
result = noise.measure_noise(G, batch_sizes, draws=200, seed=0)
summary = result.summary()
print(
    f"log-log slope, with replacement:    {summary['slope_with_replacement']:.3f} (-0.5 predicted)"
)
print(f"noise ratio per doubling:           {summary['doubling_ratio_with_replacement']:.3f}")
print(f"gradient noise scale B_noise = tr(Sigma)/|g|^2: {summary['b_noise']:.0f}")

# %%
fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(batch_sizes, result.rms_with, "o", label="measured, with replacement")
ax.loglog(batch_sizes, result.rms_without, "s", label="measured, DataLoader (without)")
fine = np.geomspace(1, 256, 50)
ax.loglog(fine, [result.predicted(b, True) for b in fine], "-", label="sigma / sqrt(K_b)")
ax.loglog(
    fine, [result.predicted(b, False) for b in fine], "--", label="... x sqrt((K-K_b)/(K-1))"
)
ax.set(xlabel="batch size K_b", ylabel="RMS |g_b - g|", title="Gradient noise at initialisation")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The `1 / sqrt(K_b)` law holds for independent draws; without replacement the noise bends
# below it as `K_b` approaches `K` (at `K_b = K` a batch *is* the full gradient). The gradient
# noise scale `B_noise` (McCandlish et al., 2018) marks roughly where larger batches stop
# paying: below it, noise dominates the step; above it, a larger batch gives little more.

# %% [markdown]
# ## The batch-size trade-off (Q4.3, Q4.4)
#
# A larger batch computes faster per example (one big matrix product instead of many small
# ones) but makes fewer updates per epoch. The same `cnn`, from the same initial weights,
# trained for 3 epochs by plain SGD at `lr = 0.05` with three batch sizes:

# %%
runs = {
    k_b: train_curves(split, batch_size=k_b, lr=0.05, momentum=0.0, epochs=3, seed=0)
    for k_b in (4, 32, 256)
}
for k_b, run in runs.items():
    last = run["epochs"][-1]
    print(
        f"K_b {k_b:>3}: {last['updates']:>4} updates, {last['seconds']:5.2f} s, "
        f"test accuracy {last['test_accuracy']:.1%}"
    )

# %%
fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
for k_b, run in runs.items():
    rows = run["epochs"]
    acc = [100 * r["test_accuracy"] for r in rows]
    by_epoch.plot([r["epoch"] for r in rows], acc, "o-", label=f"K_b = {k_b}")
    by_time.plot([r["seconds"] for r in rows], acc, "o-", label=f"K_b = {k_b}")
by_epoch.set(xlabel="epoch", ylabel="test accuracy (%)", title="per epoch")
by_time.set(xlabel="training seconds", title="per second of compute")
by_epoch.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Per epoch, small batches win: many noisy updates beat a few precise ones. Per second the
# gap narrows, because each example costs less in a large batch. Which wins depends on where
# the arithmetic stops being the limit and on how many updates the problem needs; the
# learning rate would have to grow with the batch for large batches to catch up.

# %% [markdown]
# ## Momentum (Q5)
#
# On the ill-conditioned quadratic `f = (theta_1^2 + 100 theta_2^2) / 2` plain gradient
# descent must take a step small enough for the steep direction, and then crawls along the
# shallow one. The heavy ball `v <- gamma v - alpha grad f; theta <- theta + v` carries
# speed along the shallow direction. Each method at its best step size on a grid, iterations
# to reach `1e-6 f(theta_0)`:

# %%
lam = quadratic.eigenvalues(100.0)
theta0 = np.array([1.0, 0.1])
grid = np.geomspace(1e-4, 0.1, 61)
tuned = {
    gamma: quadratic.tune(lam, theta0, gamma, tol=1e-6, iterations=3000, grid=grid)
    for gamma in (0.0, 0.5, 0.9)
}
seed_grid = np.geomspace(1e-3, 1, 61)
seed_form = quadratic.tune(
    lam, theta0, 0.9, tol=1e-6, iterations=3000, grid=seed_grid, seed_form=True
)
for gamma, t in tuned.items():
    print(f"gamma {gamma}: {t.best_iterations:>4} iterations at alpha {t.best_alpha:.4f}")
print(
    f"seed's form, gamma 0.9: {seed_form.best_iterations:>4} iterations at alpha "
    f"{seed_form.best_alpha:.4f} (alpha^2 = {seed_form.best_alpha**2:.4f})"
)
alpha = tuned[0.9].best_alpha
as_written, _ = quadratic.heavy_ball(lam, theta0, np.array([alpha]), 0.9, 3000, seed_form=True)
reached = quadratic.iterations_to_tolerance(as_written, 1e-6)[0]
print(f"seed's form at the heavy ball's alpha {alpha:.4f}: {reached} iterations (-1: not in 3000)")

# %%
fig, ax = plt.subplots(figsize=(6, 3.8))
for gamma, t in tuned.items():
    losses, _ = quadratic.heavy_ball(lam, theta0, np.array([t.best_alpha]), gamma, 400)
    ax.semilogy(losses[0], label=f"gamma = {gamma}, alpha = {t.best_alpha:.4f}")
ax.axhline(1e-6 * losses[0, 0], color="gray", lw=0.8, ls=":")
ax.set(xlabel="iteration", ylabel="f(theta)", title="Momentum on a quadratic, kappa = 100")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Momentum cuts the iterations severalfold (and more momentum is not always better: 0.5
# beats 0.9 here). The seed's written form is the heavy ball with step `alpha^2`, since its
# `alpha` enters twice (see [the seed's layer](../seed_layer/)): it does as well only at an
# `alpha` whose square is a good heavy-ball step, and at the heavy ball's own best `alpha` it
# does not get there. On the `cnn`, momentum 0.9 at the same learning rate
# trains faster than plain SGD:

# %%
for gamma in (0.0, 0.9):
    run = train_curves(split, batch_size=32, lr=0.01, momentum=gamma, epochs=3, seed=0)
    last = run["epochs"][-1]
    loss, acc = last["train_loss"], last["test_accuracy"]
    print(f"momentum {gamma}: train loss {loss:.3f}, test accuracy {acc:.1%}")
