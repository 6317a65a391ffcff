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
# # The seed's layer, end to end: F, G, and where the solution is wrong
#
# The exam behind convprop (midterm II, question 2) asks for one layer: a 2-D **true
# convolution** (kernel flipped, not correlation) of a 128x128 single-channel image `z` with a
# 3x3 kernel `w`, "valid" boundaries, stride 1. Two functions implement it:
#
# - the forward model `x = F(z, w) = z * w`;
# - back-propagation `(delta, g_w) = G(eps, z, w)`, with `eps = dL/dx` the error arriving at
#   the output, `delta = G_delta(eps, w) = dL/dz` and `g_w = G_gw(eps, z) = dL/dw`.
#
# `G` is the **adjoint** (transpose) of `F`: for every `z`, `w` and `eps`,
# `<F(z, w), eps> = <z, G_delta(eps, w)> = <w, G_gw(eps, z)>`. This notebook builds both from
# the formulas, checks them, and reads the seed's written solution against them.
#
# This page is a notebook that ran when the site was built; download it (the `.py` file is a
# jupytext notebook, which Jupyter opens) and run it yourself.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

from convprop import conv
from convprop.check import adjoint_test

rng = np.random.default_rng(0)
z = rng.standard_normal((128, 128))  # the input image
w = rng.standard_normal((3, 3))  # the kernel

# %% [markdown]
# ## F, written out (Q2.3)
#
# True convolution flips the kernel. With `k - 1 = 2`, the seed's Q2.3 (correct) is
#
# `x(j1, j2) = sum_{k1, k2 = 0..2} w(k1, k2) z(j1 + 2 - k1, j2 + 2 - k2)`, for `0 <= j < 126`.
#
# As NumPy, one shifted slice of `z` per kernel tap:


# %%
def F(z, w):
    """x = z * w, true convolution, "valid": (128, 128), (3, 3) -> (126, 126)."""
    kh, kw = w.shape
    ho, wo = z.shape[0] - kh + 1, z.shape[1] - kw + 1
    x = np.zeros((ho, wo))
    for k1 in range(kh):
        for k2 in range(kw):
            x += w[k1, k2] * z[kh - 1 - k1 : kh - 1 - k1 + ho, kw - 1 - k2 : kw - 1 - k2 + wo]
    return x


x = F(z, w)
print("F agrees with convprop.conv.conv2d:", np.allclose(x, conv.conv2d(z, w)))

# %% [markdown]
# ## The shapes (Q2.2)
#
# "Valid" keeps only the positions where the kernel fits: 128 - 3 + 1 = 126. The error `eps`
# has the output's shape, `delta` the input's and `g_w` the kernel's; that is what lets G be
# the adjoint of F.

# %%
eps = rng.standard_normal(x.shape)  # the error dL/dx arriving from the layers above
delta, g_w = conv.conv2d_backward(eps, z, w)
for name, array in [("z", z), ("w", w), ("x", x), ("eps", eps), ("delta", delta), ("g_w", g_w)]:
    print(f"{name:>5}: {array.shape}")

# %% [markdown]
# The seed writes `g_w` as `3 x 3 x 1 x 1`, the shape with its channel axes: convprop's
# batched layout is `(C_out, C_in, kh, kw) = (1, 1, 3, 3)`.

# %% [markdown]
# ## G, written out
#
# Differentiate `L(x(z, w))` by the chain rule. Every `z(n)` enters `x(j)` where
# `n = j + 2 - k`, so `delta(n) = sum_k w(k) eps(n - 2 + k)`, with `eps` zero outside its
# 126x126 range: `eps` padded by 2 on every side and **correlated** with `w` (no flip). Every
# `w(k)` multiplies `z(j + 2 - k)` in `x(j)`, so `g_w(k) = sum_j eps(j) z(j + 2 - k)`.


# %%
def G_delta(eps, w):
    """delta(n) = sum_k w(k) eps(n - 2 + k): (126, 126), (3, 3) -> (128, 128)."""
    kh, kw = w.shape
    padded = np.pad(eps, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    delta = np.zeros((eps.shape[0] + kh - 1, eps.shape[1] + kw - 1))
    for k1 in range(kh):
        for k2 in range(kw):
            delta += w[k1, k2] * padded[k1 : k1 + delta.shape[0], k2 : k2 + delta.shape[1]]
    return delta


def G_gw(eps, z):
    """g_w(k) = sum_j eps(j) z(j + 2 - k): (126, 126), (128, 128) -> (3, 3)."""
    kh, kw = z.shape[0] - eps.shape[0] + 1, z.shape[1] - eps.shape[1] + 1
    g = np.zeros((kh, kw))
    for k1 in range(kh):
        for k2 in range(kw):
            window = z[
                kh - 1 - k1 : kh - 1 - k1 + eps.shape[0], kw - 1 - k2 : kw - 1 - k2 + eps.shape[1]
            ]
            g[k1, k2] = np.sum(eps * window)
    return g


print("G_delta agrees with convprop:", np.allclose(G_delta(eps, w), delta))
print("G_gw agrees with convprop:   ", np.allclose(G_gw(eps, z), g_w))

# %% [markdown]
# ## The adjoint test
#
# A claimed adjoint is checked without derivatives: for random `z` and `eps`,
# `<F(z), eps>` must equal `<z, G_delta(eps)>` to rounding. `convprop.check.adjoint_test`
# draws the random arrays, compares both sides and also measures how far F is from linear
# (the test presumes it).

# %%
print(adjoint_test(lambda z_: F(z_, w), lambda e: G_delta(e, w), z.shape, eps.shape))
print(adjoint_test(lambda w_: F(z, w_), lambda e: G_gw(e, z), w.shape, eps.shape))

# %% [markdown]
# ## Where the seed's solution is wrong
#
# ### Q2.4: the offset `k - 1` is dropped
#
# The seed's Q2.4 ends with `delta(j1, j2) = sum_k w(k1, k2) eps(j1 + k1, j2 + k2)`. The
# correct expression reads `eps(j1 - 2 + k1, j2 - 2 + k2)`: `eps` must be padded by `k - 1 = 2`
# on each side, not read from index 0. The seed's `delta` is the correct one shifted by two
# pixels, and it fails the adjoint test.


# %%
def seed_q24(eps, w):
    """The seed's Q2.4: delta(j) = sum_k w(k) eps(j + k), eps zero outside its range."""
    padded = np.pad(eps, ((0, 4), (0, 4)))  # zero beyond 126, no padding before 0
    out = np.zeros((128, 128))
    for k1 in range(3):
        for k2 in range(3):
            out += w[k1, k2] * padded[k1 : k1 + 128, k2 : k2 + 128]
    return out


wrong = seed_q24(eps, w)
print("seed's Q2.4 == delta:", np.allclose(wrong, delta))
print("seed's Q2.4 == delta shifted by 2:", np.allclose(wrong[:-2, :-2], delta[2:, 2:]))
print(adjoint_test(lambda z_: F(z_, w), lambda e: seed_q24(e, w), z.shape, eps.shape))

# %% [markdown]
# ### Q2.5: the gradient of correlation, not of convolution
#
# The seed's Q2.5 ends with `g_w(j1, j2) = sum_k eps(k1, k2) z(j1 + k1, j2 + k2)`: that is the
# kernel gradient of **correlation**. For the true convolution the question set out to
# differentiate, the kernel enters flipped, and the gradient is that one flipped:
# `g_w(k) = seed(2 - k1, 2 - k2)`.


# %%
def seed_q25(eps, z):
    """The seed's Q2.5: g_w(j) = sum_k eps(k) z(j + k)."""
    n1, n2 = eps.shape
    return np.array(
        [[np.sum(eps * z[j1 : j1 + n1, j2 : j2 + n2]) for j2 in range(3)] for j1 in range(3)]
    )


wrong = seed_q25(eps, z)
print("seed's Q2.5 == g_w:", np.allclose(wrong, g_w))
print("seed's Q2.5 flipped == g_w:", np.allclose(wrong[::-1, ::-1], g_w))
print(
    "...and it is the gradient for correlation:",
    np.allclose(wrong, conv.conv2d_adjoint_weight(eps, z, kind="correlation")),
)

# %% [markdown]
# ### What the wrong G does to training
#
# A gradient in the wrong place is not a harmless typo: plain gradient descent on a small
# least-squares problem (learn a 3x3 kernel from examples of `x = z * w_true`) converges with
# the correct `g_w` and diverges with the seed's (the flipped gradient is not a descent
# direction). The figure is made here, by this code.

# %%
w_true = rng.standard_normal((3, 3))
images = rng.standard_normal((8, 32, 32))
targets = [F(im, w_true) for im in images]


def descend(gradient, steps=60, lr=2e-4):
    w_ = np.zeros((3, 3))
    losses = []
    for _ in range(steps):
        errors = [
            F(im, w_) - t for im, t in zip(images, targets, strict=True)
        ]  # eps = dL/dx for L = |e|^2/2
        losses.append(sum(np.sum(e**2) for e in errors) / 2)
        w_ -= lr * sum(gradient(e, im) for e, im in zip(errors, images, strict=True))
    return losses


fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(descend(G_gw), label="correct g_w")
ax.semilogy(descend(seed_q25), label="seed's Q2.5 (correlation)")
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.set_title("Learning a 3x3 kernel by gradient descent")
ax.legend()
plt.show()
print(f"final loss: correct {descend(G_gw)[-1]:.3g}, seed's {descend(seed_q25)[-1]:.3g}")

# %% [markdown]
# ### Q5: momentum applies the step twice
#
# The seed's pseudo-code for gradient descent with momentum is
#
# ```
# d <- -grad L(theta);  v <- gamma v + alpha d;  theta <- theta + alpha v
# ```
#
# `alpha` enters twice: with `u = alpha v` it is `u <- gamma u + alpha^2 d; theta <- theta + u`,
# the heavy ball with step `alpha^2`, not `alpha`. `convprop.optim.seed_momentum_step` runs it
# as written, for comparison; `convprop.optim.SGD` implements the standard forms. On
# `f = theta^2 / 2` from 1, with `alpha = 0.1` and `gamma = 0.9`:

# %%
from convprop.optim import seed_momentum_step  # noqa: E402

theta_seed, v = np.array([1.0]), np.zeros(1)
theta_ball, u = np.array([1.0]), np.zeros(1)
theta_squared, s = np.array([1.0]), np.zeros(1)
for _ in range(20):
    v = seed_momentum_step(theta_seed, theta_seed.copy(), v, alpha=0.1, gamma=0.9)
    u = 0.9 * u - 0.1 * theta_ball  # the heavy ball, step alpha
    theta_ball = theta_ball + u
    s = 0.9 * s - 0.1**2 * theta_squared  # the heavy ball, step alpha^2
    theta_squared = theta_squared + s
print(f"seed's form       {theta_seed[0]: .6f}")
print(f"heavy ball alpha  {theta_ball[0]: .6f}")
print(f"heavy ball alpha² {theta_squared[0]: .6f}")

# %% [markdown]
# `convprop exam` runs every one of the seed's checkable claims this way, and
# `convprop experiment momentum` measures the consequence at length.

# %% [markdown]
# ## Q2.6: why `G_delta` does not depend on `z`
#
# F is linear in `z`, so its derivative in `z` is the same operator everywhere, and its adjoint
# needs only `w`. Put a nonlinearity after it (`tanh(z * w)`) and the gradient with respect to
# `z` depends on `z` through `tanh'`. Autodiff shows both; `convprop.ops.conv2d` is the same
# F and G wrapped as a differentiable op.

# %%
from convprop import Tensor, ops  # noqa: E402


def input_gradient(z_, nonlinear):
    t = Tensor(z_[None, None], requires_grad=True)
    out = ops.conv2d(t, Tensor(w[None, None]))
    out = out.tanh() if nonlinear else out
    (out * Tensor(eps[None, None])).sum().backward()
    return t.grad[0, 0]


z2 = rng.standard_normal(z.shape)
print(
    "linear:    same delta for two inputs:",
    np.allclose(input_gradient(z, False), input_gradient(z2, False)),
)
print(
    "nonlinear: same delta for two inputs:",
    np.allclose(input_gradient(z, True), input_gradient(z2, True)),
)

# %% [markdown]
# ## A transposed convolution is the adjoint
#
# `G_delta` maps a 126x126 array back to 128x128: it *upsamples*. Used as a layer of its own,
# it is the **transposed convolution** (`convprop.ops.conv_transpose2d`,
# `convprop.nn.ConvTranspose2d`, PyTorch's `ConvTranspose2d` with `kind="correlation"`). With a
# stride it doubles the size of an image; its adjoint is the strided convolution, and the
# adjoint test holds between them.

# %%
from convprop import nn  # noqa: E402

small = rng.standard_normal((1, 1, 4, 4))
kernel = rng.standard_normal((1, 1, 3, 3))


def transposed(e):
    """The transposed convolution in float64: (1, 1, 4, 4) -> (1, 1, 8, 8)."""
    t = ops.conv_transpose2d(
        Tensor(e, dtype=np.float64),
        Tensor(kernel, dtype=np.float64),
        stride=2,
        padding=1,
        output_padding=1,
    )
    return t.numpy()


up = transposed(small)
print("transposed convolution:", small.shape, "->", up.shape)

down = conv.conv2d(up, kernel, stride=2, padding=1)
print("the strided convolution maps it back:", up.shape, "->", down.shape)
print(
    adjoint_test(
        lambda a: conv.conv2d(a, kernel, stride=2, padding=1),
        transposed,
        up.shape,
        small.shape,
    )
)

layer = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1)
print(layer)
print("layer output:", layer(Tensor(small.astype(np.float32))).shape)

# %% [markdown]
# ## Where next
#
# - [Training a CNN](../training/): the layer inside a network, trained.
# - [Checking back-propagation code](../checking/): `convprop check` runs these checks on your
#   own `F` and `G` and names the slip it finds.
# - The [API reference of `convprop.conv`](../../api/conv/): every argument (stride, padding,
#   dilation, groups, batches and channels, the engines).
