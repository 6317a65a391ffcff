"""A small, learnable, made-up image dataset for tests and quick demos: no files, no download.

Each class has a random prototype image; a sample is its class's prototype plus Gaussian noise,
quantised to 8-bit pixels, so it goes through the same pipeline as MNIST.
"""

from __future__ import annotations

import numpy as np

from .dataset import Split, split_from_pixels

__all__ = ["make_synthetic"]


def make_synthetic(
    *,
    num_classes: int = 3,
    n_train: int = 96,
    n_test: int = 48,
    image_size: int = 8,
    noise: float = 0.2,
    standardize: bool = True,
    seed: int = 0,
) -> Split:
    """A ``Split`` named ``"synthetic"`` of ``(N, 1, image_size, image_size)`` float32 images.

    Labels cycle through the classes (``i % num_classes``), so both sets are balanced. With the
    default noise a small network separates the classes within a few epochs.
    """
    if num_classes < 2 or n_train < 1 or n_test < 1 or image_size < 1 or noise < 0:
        raise ValueError(
            "need num_classes >= 2, n_train >= 1, n_test >= 1, image_size >= 1, noise >= 0"
        )
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0.0, 1.0, size=(num_classes, image_size, image_size))

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % num_classes
        x = prototypes[labels] + noise * rng.standard_normal((n, image_size, image_size))
        pixels = np.rint(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)  # (N, H, W)
        return pixels, labels

    train, test = sample(n_train), sample(n_test)
    return split_from_pixels(
        "synthetic",
        train,
        test,
        max_value=255,
        num_classes=num_classes,
        class_names=tuple(f"class {k}" for k in range(num_classes)),
        standardize=standardize,
    )
