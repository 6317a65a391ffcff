"""Tiny image folders and .npz files for the data tests, written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pattern(
    label: int, size: tuple[int, int], rng: np.random.Generator, colour: bool
) -> np.ndarray:
    """A learnable image: noise, plus a bright band whose row says the class."""
    h, w = size
    a = (rng.random((h, w, 3) if colour else (h, w)) * 60).astype(np.uint8)
    row = (2 * label) % max(h - 2, 1)
    a[row : row + 2] = 250
    return a


def write_image(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    from PIL import Image

    image = Image.fromarray(array)
    if mode is not None:
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def write_folder(
    root: Path,
    classes: tuple[str, ...] = ("a", "b", "c"),
    per_class: int = 4,
    size: tuple[int, int] = (8, 8),
    colour: bool = False,
    suffix: str = ".png",
    seed: int = 0,
) -> Path:
    """``root/CLASS/NN.suffix`` images, ``per_class`` of each class."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        for k in range(per_class):
            write_image(root / name / f"{k:02d}{suffix}", pattern(label, size, rng, colour))
    return root


def write_data_dir(
    root: Path, colour: bool = False, test_name: str = "test", **kwargs: object
) -> Path:
    """``root/train/`` and ``root/<test_name>/``, the same classes."""
    write_folder(root / "train", colour=colour, per_class=6, seed=1, **kwargs)  # type: ignore[arg-type]
    write_folder(root / test_name, colour=colour, per_class=2, seed=2, **kwargs)  # type: ignore[arg-type]
    return root


def write_npz(path: Path, **overrides: object) -> Path:
    """An .npz of 3-class 8x8 uint8 images, x_train (24) and x_test (6); overrides replace keys
    (None removes one)."""
    rng = np.random.default_rng(0)
    arrays: dict[str, object] = {}
    for part, n in (("train", 24), ("test", 6)):
        labels = np.arange(n) % 3
        images = np.stack([pattern(int(k), (8, 8), rng, False) for k in labels])
        arrays[f"x_{part}"], arrays[f"y_{part}"] = images, labels
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path
