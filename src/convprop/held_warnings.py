"""Warnings held back while a block runs: shown at its end, or dropped if it fails."""

from __future__ import annotations

import warnings
from typing import Any


class HeldWarnings:
    """Warnings shown when the block ends, or dropped if it raises ``drop_on``.

    Around one training step: a diverging step's NumPy RuntimeWarnings (overflow, invalid
    value) would print before the one-line divergence message. Only ``warnings.showwarning``
    is swapped for the block, so filters and once-per-place registries work as before.
    """

    def __init__(self, drop_on: type[BaseException]) -> None:
        self.drop_on = drop_on
        self.held: list[tuple[Any, ...]] = []

    def __enter__(self) -> HeldWarnings:
        self.show = warnings.showwarning
        warnings.showwarning = lambda *args: self.held.append(args)
        return self

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        warnings.showwarning = self.show
        if not isinstance(error, self.drop_on):
            for args in self.held:
                self.show(*args)
        self.held.clear()
