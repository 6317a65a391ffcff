"""Sources of the layer gallery: for each layer, right cores (loops and vectorised) and the
adapters that expose a core in each convention's signatures.

A core is a few plain functions of the math (``conv_out``, ``conv_back``, ...); an adapter
defines the functions a convention asks for (``conv_forward_naive``, ``F``, ...) by calling
them. A slip replaces one core function (a later ``def`` wins), so every slip runs in both
conventions.
"""

from __future__ import annotations

CONV_LOOPS = """
import numpy as np


def conv_out(x, w, b, s, p):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = 1 + (H + 2 * p - HH) // s, 1 + (W + 2 * p - WW) // s
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, f, i, j] = np.sum(xp[n, :, i*s:i*s+HH, j*s:j*s+WW] * w[f]) + b[f]
    return out


def conv_back(dout, x, w, s, p):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    dxp[n, :, i*s:i*s+HH, j*s:j*s+WW] += w[f] * dout[n, f, i, j]
                    dw[f] += xp[n, :, i*s:i*s+HH, j*s:j*s+WW] * dout[n, f, i, j]
    return dxp[:, :, p:p+H, p:p+W], dw, db
"""

CONV_VECTORISED = """
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def windows(xp, HH, WW, s):
    return sliding_window_view(xp, (HH, WW), axis=(2, 3))[:, :, ::s, ::s]


def conv_out(x, w, b, s, p):
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    v = windows(xp, *w.shape[2:], s)  # (N, C, Ho, Wo, HH, WW)
    return np.einsum("ncijab,fcab->nfij", v, w) + b[None, :, None, None]


def conv_back(dout, x, w, s, p):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dw = np.einsum("ncijab,nfij->fcab", windows(xp, HH, WW, s), dout)
    dxp = np.zeros_like(xp)
    for a in range(HH):
        for c in range(WW):
            dxp[:, :, a:a + s*Ho:s, c:c + s*Wo:s] += np.einsum("nfij,fk->nkij", dout, w[..., a, c])
    return dxp[:, :, p:p+H, p:p+W], dw, dout.sum(axis=(0, 2, 3))
"""

LINEAR_LOOPS = """
import numpy as np


def affine_out(x, w, b):
    x2 = x.reshape(x.shape[0], -1)
    out = np.zeros((x2.shape[0], w.shape[1]))
    for n in range(x2.shape[0]):
        for m in range(w.shape[1]):
            for d in range(w.shape[0]):
                out[n, m] += x2[n, d] * w[d, m]
            out[n, m] += b[m]
    return out


def affine_back(dout, x, w):
    x2 = x.reshape(x.shape[0], -1)
    dx, dw = np.zeros_like(x2), np.zeros_like(w)
    for n in range(x2.shape[0]):
        for m in range(w.shape[1]):
            for d in range(w.shape[0]):
                dx[n, d] += dout[n, m] * w[d, m]
                dw[d, m] += x2[n, d] * dout[n, m]
    return dx.reshape(x.shape), dw, dout.sum(axis=0)
"""

LINEAR_VECTORISED = """
import numpy as np


def affine_out(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b


def affine_back(dout, x, w):
    x2 = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), x2.T @ dout, dout.sum(axis=0)
"""

RELU_LOOPS = """
import numpy as np


def relu_out(x):
    out = x.copy().ravel()
    for i in range(out.size):
        if out[i] < 0:
            out[i] = 0.0
    return out.reshape(x.shape)


def relu_back(dout, x):
    dx, flat = dout.copy().ravel(), x.ravel()
    for i in range(dx.size):
        if flat[i] <= 0:
            dx[i] = 0.0
    return dx.reshape(x.shape)
"""

RELU_VECTORISED = """
import numpy as np


def relu_out(x):
    return np.maximum(x, 0)


def relu_back(dout, x):
    return dout * (x > 0)
"""

POOL_LOOPS = """
import numpy as np


def pool_out(x, ph, pw, s):
    N, C, H, W = x.shape
    Ho, Wo = 1 + (H - ph) // s, 1 + (W - pw) // s
    out = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = np.max(x[n, c, i*s:i*s+ph, j*s:j*s+pw])
    return out


def pool_back(dout, x, ph, pw, s):
    N, C, Ho, Wo = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    win = x[n, c, i*s:i*s+ph, j*s:j*s+pw]
                    a, b = np.unravel_index(np.argmax(win), win.shape)
                    dx[n, c, i*s + a, j*s + b] += dout[n, c, i, j]
    return dx
"""

POOL_VECTORISED = """
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pool_out(x, ph, pw, s):
    return sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s].max(axis=(4, 5))


def pool_back(dout, x, ph, pw, s):
    v = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
    N, C, Ho, Wo = dout.shape
    flat = v.reshape(N, C, Ho, Wo, ph * pw).argmax(axis=-1)
    a, b = np.divmod(flat, pw)
    n, c, i, j = np.indices(dout.shape)
    dx = np.zeros_like(x)
    np.add.at(dx, (n, c, i * s + a, j * s + b), dout)
    return dx
"""

SOFTMAX_LOOPS = """
import math

import numpy as np


def softmax_ce(x, y):
    N, K = x.shape
    loss, dx = 0.0, np.zeros_like(x)
    for n in range(N):
        top = max(x[n])
        e = [math.exp(v - top) for v in x[n]]
        total = sum(e)
        loss -= x[n, y[n]] - top - math.log(total)
        for k in range(K):
            dx[n, k] = (e[k] / total - (k == y[n])) / N
    return loss / N, dx
"""

SOFTMAX_VECTORISED = """
import numpy as np


def softmax_ce(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    dx = np.exp(logp)
    dx[np.arange(N), y] -= 1
    return -logp[np.arange(N), y].mean(), dx / N
"""

MOMENTUM_LOOPS = """
import numpy as np


def step(w, dw, v, lr, mu):
    v, w = v.copy(), w.copy()
    for i in np.ndindex(w.shape):
        v[i] = mu * v[i] - lr * dw[i]
        w[i] = w[i] + v[i]
    return w, v
"""

MOMENTUM_VECTORISED = """
import numpy as np


def step(w, dw, v, lr, mu):
    v = mu * v - lr * dw
    return w + v, v
"""

# layer -> convention -> the adapter defining that convention's functions through the core
ADAPTERS = {
    "conv2d": {
        "cs231n": """

def conv_forward_naive(x, w, b, conv_param):
    return conv_out(x, w, b, conv_param["stride"], conv_param["pad"]), (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    return conv_back(dout, x, w, conv_param["stride"], conv_param["pad"])
""",
        # the seed's true convolution: the core's correlation with the kernel flipped
        "seed": """

def F(z, w, b, stride=1, padding=0):
    return conv_out(z, w[:, :, ::-1, ::-1], b, stride, padding)


def G(eps, z, w, stride=1, padding=0):
    delta, g_w, g_b = conv_back(eps, z, w[:, :, ::-1, ::-1], stride, padding)
    return delta, g_w[:, :, ::-1, ::-1], g_b
""",
    },
    "linear": {
        "cs231n": """

def affine_forward(x, w, b):
    return affine_out(x, w, b), (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    return affine_back(dout, x, w)
""",
        "seed": """

def linear_forward(z, w, b):
    return affine_out(z, w, b)


def linear_backward(eps, z, w):
    return affine_back(eps, z, w)
""",
    },
    "relu": {
        "cs231n": """

def relu_forward(x):
    return relu_out(x), x


def relu_backward(dout, cache):
    return relu_back(dout, cache)
""",
        "seed": """

def relu_forward(z):
    return relu_out(z)


def relu_backward(eps, z):
    return relu_back(eps, z)
""",
    },
    "max_pool2d": {
        "cs231n": """

def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    return pool_out(x, ph, pw, s), (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pp = cache
    return pool_back(dout, x, pp["pool_height"], pp["pool_width"], pp["stride"])
""",
        "seed": """

def max_pool_forward(z, kernel_size, stride):
    return pool_out(z, *kernel_size, stride)


def max_pool_backward(eps, z, kernel_size, stride):
    return pool_back(eps, z, *kernel_size, stride)
""",
    },
    "softmax_cross_entropy": {
        "cs231n": "\n\ndef softmax_loss(x, y):\n    return softmax_ce(x, y)\n",
        "seed": "\n\ndef softmax_cross_entropy(x, y):\n    return softmax_ce(x, y)\n",
    },
    "sgd_momentum": {
        "cs231n": """

def sgd_momentum(w, dw, config):
    v = config.get("velocity", np.zeros_like(w))
    next_w, v = step(w, dw, v, config["learning_rate"], config["momentum"])
    config["velocity"] = v
    return next_w, config
""",
        "seed": """

def momentum_step(theta, g, v, alpha, gamma):
    return step(theta, g, v, alpha, gamma)
""",
    },
}

CORES = {
    "conv2d": (CONV_LOOPS, CONV_VECTORISED),
    "linear": (LINEAR_LOOPS, LINEAR_VECTORISED),
    "relu": (RELU_LOOPS, RELU_VECTORISED),
    "max_pool2d": (POOL_LOOPS, POOL_VECTORISED),
    "softmax_cross_entropy": (SOFTMAX_LOOPS, SOFTMAX_VECTORISED),
    "sgd_momentum": (MOMENTUM_LOOPS, MOMENTUM_VECTORISED),
}
