"""Batch transforms: ``Compose``, ``Normalize``, ``RandomCrop``, ``RandomHorizontalFlip``.

A transform maps a float batch ``x`` of shape ``(N, C, H, W)`` to a new batch (the input is never
changed in place) and draws its randomness from the generator it is given, ``t(x, rng)``::

    augment = Compose([RandomCrop(padding=2), RandomHorizontalFlip()])
    x = augment(x, np.random.default_rng(0))

A ``DataLoader`` with a transform gives batch ``k`` of epoch ``e`` the generator
``DataLoader.batch_generator(e, k)``, a pure function of ``(seed, e, k)``: a run is reproducible,
a resumed run draws what the uninterrupted one drew, and nothing needs to be checkpointed.
``parse_augment("crop=2,hflip")`` builds the transform of the command line's ``--augment``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "AUGMENTATIONS",
    "Compose",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Transform",
    "channel_stats",
    "parse_augment",
]


class Transform(Protocol):
    """``t(x, rng)``: a batch ``(N, C, H, W)`` in, a new batch out; randomness from ``rng``."""

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray: ...


def _generator(rng: np.random.Generator | None, name: str) -> np.random.Generator:
    if rng is None:
        raise ValueError(
            f"{name} is random: pass a generator, t(x, np.random.default_rng(seed)), or use it "
            "as a DataLoader's transform (which draws from its seeded generator)"
        )
    return rng


def _check_batch(x: np.ndarray, name: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name} takes a batch (N, C, H, W), got an array of shape {x.shape}")


class Compose:
    """Apply ``transforms`` in order, each drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class Normalize:
    """``x[:, c] = (x[:, c] - mean[c]) / std[c]`` per channel (a scalar applies to all).

    Shape: ``(N, C, H, W) -> (N, C, H, W)``, in ``x``'s float dtype.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError("Normalize: mean and std must be numbers or one per channel")
        if not (np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ValueError(f"Normalize: std must be positive and finite, got {self.std}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check_batch(x, "Normalize")
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, x.shape[1]):
                raise ValueError(
                    f"Normalize: {len(v)} {name} values for a batch of {x.shape[1]} channels"
                )
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)
        mean = self.mean.astype(dtype)[None, :, None, None]
        std = self.std.astype(dtype)[None, :, None, None]
        return (x.astype(dtype, copy=False) - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCrop:
    """Pad each image by ``padding`` zeros on every side, then cut a random ``size`` window.

    ``size`` is ``(h, w)``, an int for a square, or None for the input's own ``(H, W)`` (the usual
    "shift by up to ``padding`` pixels"). Each image's offsets are drawn uniformly from
    ``rng.integers(0, H + 2 padding - h + 1)`` (and the same for the columns).

    Shape: ``(N, C, H, W) -> (N, C, h, w)``.
    """

    def __init__(self, size: int | Sequence[int] | None = None, padding: int = 0) -> None:
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"RandomCrop: padding must be an int >= 0, got {padding!r}")
        if size is not None:
            size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"RandomCrop: size must be positive (h, w), got {size!r}")
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.padding = int(padding)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = _generator(rng, "RandomCrop")
        _check_batch(x, "RandomCrop")
        p = self.padding
        h, w = self.size or x.shape[2:]
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        room_h, room_w = padded.shape[2] - h + 1, padded.shape[3] - w + 1
        if room_h < 1 or room_w < 1:
            raise ValueError(
                f"RandomCrop: a {h}x{w} crop does not fit a {x.shape[2]}x{x.shape[3]} image "
                f"padded by {p}"
            )
        top = rng.integers(0, room_h, size=len(x))
        left = rng.integers(0, room_w, size=len(x))
        windows = sliding_window_view(padded, (h, w), axis=(2, 3))  # (N, C, room_h, room_w, h, w)
        return np.ascontiguousarray(windows[np.arange(len(x)), :, top, left])  # (N, C, h, w)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p`` (drawn as ``rng.random(N) < p``).

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, p: float = 0.5) -> None:
        if not (0.0 <= p <= 1.0):
            raise ValueError(f"RandomHorizontalFlip: p must lie in [0, 1], got {p!r}")
        self.p = float(p)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = _generator(rng, "RandomHorizontalFlip")
        _check_batch(x, "RandomHorizontalFlip")
        flip = rng.random(len(x)) < self.p
        return np.where(flip[:, None, None, None], x[..., ::-1], x)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


AUGMENTATIONS = ("crop=PADDING", "hflip[=P]")  # what --augment accepts, comma-separated


def parse_augment(spec: str | None) -> Compose | None:
    """The transform of ``--augment``: e.g. ``"crop=2,hflip"`` is ``Compose([RandomCrop(padding=2),
    RandomHorizontalFlip(0.5)])``; ``hflip=0.3`` sets the probability. None or "" gives None.

    Raises:
        ValueError: one line naming the part of ``spec`` that is wrong.
    """
    if not spec:
        return None
    parts: list[Transform] = []
    for item in spec.split(","):
        name, _, value = item.strip().partition("=")
        try:
            if name == "crop" and value:
                parts.append(RandomCrop(padding=int(value)))
            elif name == "hflip":
                parts.append(RandomHorizontalFlip(float(value) if value else 0.5))
            else:
                raise ValueError("not one of them")
        except ValueError as error:
            raise ValueError(
                f"--augment {spec!r}: cannot read {item.strip()!r} ({error}); it takes a "
                f"comma-separated list of {', '.join(AUGMENTATIONS)}, e.g. crop=2,hflip"
            ) from None
    return Compose(parts)


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of ``images`` ``(N, C, H, W)``, in float64.

    Summed in chunks of samples (no float64 copy of the whole set); a constant channel gets
    std 1.0 (left unscaled)."""
    _check_batch(images, "channel_stats")
    total = np.zeros(images.shape[1])
    squares = np.zeros(images.shape[1])
    for start in range(0, len(images), 4096):
        chunk = images[start : start + 4096].astype(np.float64)
        total += chunk.sum(axis=(0, 2, 3))
        squares += np.square(chunk).sum(axis=(0, 2, 3))
    count = max(len(images) * images.shape[2] * images.shape[3], 1)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std[~(std > 1e-12)] = 1.0
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)
