"""Initialisers. Each takes the shape, an explicit ``numpy.random.Generator`` and a dtype.

For a weight of shape ``(out, in)`` or ``(C_out, C_in, kh, kw)``:
``fan_in = in * kh * kw`` and ``fan_out = out * kh * kw``.

- He (Kaiming, for ReLU): ``Var[w] = 2 / fan_in`` (He et al., 2015).
- Xavier (Glorot, for tanh/sigmoid): ``Var[w] = 2 / (fan_in + fan_out)`` (Glorot & Bengio,
  2010).
- torch: PyTorch's default for ``nn.Linear`` and ``nn.Conv2d``, ``w ~ U(-a, a)`` with
  ``a = 1 / sqrt(fan_in)``, i.e. ``Var[w] = 1 / (3 fan_in)`` (He's uniform rule with leaky-ReLU
  slope sqrt(5)); six times smaller than He's, it tolerates larger learning rates at the start.

A uniform draw on ``[-a, a]`` has variance ``a^2 / 3``, so ``a = sqrt(3 Var)``.
"""

from __future__ import annotations

import math

import numpy as np


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a linear ``(out, in)`` or conv ``(O, C, kh, kw)`` weight."""
    if len(shape) < 2:
        raise ValueError(f"fans need a weight of at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _draw(shape, variance, rng, dtype, distribution):
    if distribution == "normal":
        return (rng.standard_normal(shape) * math.sqrt(variance)).astype(dtype)
    if distribution == "uniform":
        bound = math.sqrt(3.0 * variance)
        return rng.uniform(-bound, bound, shape).astype(dtype)
    raise ValueError(f"unknown distribution {distribution!r}; choose 'uniform' or 'normal'")


def he(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    dtype=np.float32,
    distribution: str = "uniform",
) -> np.ndarray:
    """He initialisation: ``Var[w] = 2 / fan_in``."""
    return _draw(shape, 2.0 / fans(shape)[0], rng, dtype, distribution)


def xavier(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    dtype=np.float32,
    distribution: str = "uniform",
) -> np.ndarray:
    """Xavier initialisation: ``Var[w] = 2 / (fan_in + fan_out)``."""
    fan_in, fan_out = fans(shape)
    return _draw(shape, 2.0 / (fan_in + fan_out), rng, dtype, distribution)


def torch_default(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    dtype=np.float32,
    distribution: str = "uniform",
) -> np.ndarray:
    """PyTorch's default: ``Var[w] = 1 / (3 fan_in)`` (uniform on ``+-1 / sqrt(fan_in)``)."""
    return _draw(shape, 1.0 / (3.0 * fans(shape)[0]), rng, dtype, distribution)


_seeded: np.random.Generator | None = None  # the default generator once manual_seed() ran


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the generator that layers built without ``rng=`` draw from, as
    ``torch.manual_seed``: after ``manual_seed(n)``, building a model gives the same weights
    each time (and Dropout layers built then draw the same masks). Returns that generator.

    Until it is called, each such layer draws fresh entropy; an explicit ``rng=`` still wins.
    """
    global _seeded
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"manual_seed needs an integer >= 0, got {seed!r}")
    _seeded = np.random.default_rng(int(seed))
    return _seeded


def generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """An explicit Generator as given, a seed, or None: the generator :func:`manual_seed`
    set, else fresh entropy (like PyTorch's global RNG). What every layer's ``rng=`` takes."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None and _seeded is not None:
        return _seeded
    return np.random.default_rng(rng)


INITIALISERS = {"torch": torch_default, "he": he, "xavier": xavier}


def initialise(
    name: str, shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32
) -> np.ndarray:
    """Draw a weight with the initialiser called ``name`` ("torch", "he" or "xavier")."""
    if name not in INITIALISERS:
        raise ValueError(f"unknown initialiser {name!r}; choose one of {sorted(INITIALISERS)}")
    return INITIALISERS[name](shape, rng, dtype)


def initial_bias(
    name: str, fan_in: int, size: int, rng: np.random.Generator, dtype=np.float32
) -> np.ndarray:
    """Biases start at zero, except under "torch", which draws them like its weights."""
    if name == "torch":
        bound = 1.0 / math.sqrt(fan_in)
        return rng.uniform(-bound, bound, size).astype(dtype)
    return np.zeros(size, dtype=dtype)
