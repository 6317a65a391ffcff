"""One checked claim of the seed's solution: what ``convprop exam`` prints, row by row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Finding:
    """One checked claim of the seed's solution."""

    question: str
    claim: str
    agrees: bool
    max_abs_error: float | None = None
    measured: str = ""
    correct: str = ""

    def __post_init__(self) -> None:  # NumPy scalars in, plain JSON-able values out
        self.agrees = bool(self.agrees)
        if self.max_abs_error is not None:
            self.max_abs_error = float(self.max_abs_error)


def compare(
    question: str, claim: str, seed: np.ndarray, verified: np.ndarray, correct: str = ""
) -> Finding:
    """A row comparing the seed's expression, evaluated, with the verified value: it agrees
    when they are equal to 1e-9 relative to the verified value's size."""
    seed, verified = np.asarray(seed, dtype=np.float64), np.asarray(verified, dtype=np.float64)
    error = float(np.max(np.abs(seed - verified)))
    agrees = error <= 1e-9 * max(1.0, float(np.max(np.abs(verified))))
    return Finding(question, claim, agrees, error, correct="" if agrees else correct)
