"""Stopping cleanly on SIGINT / SIGTERM: finish the step, write a checkpoint, say how to resume."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any


class StopFlag:
    """While active, SIGINT and SIGTERM only set ``self.signal``; the loop checks it.

    ``enabled=False`` installs no handler (``signal`` then stays None): a library function
    changes signal handling only when its caller asks (``fit(handle_signals=True)``).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.signal: int | None = None
        self.enabled = enabled
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM) if self.enabled else ():
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Interrupted(Exception):
    """Training stopped on a signal after writing a checkpoint."""

    def __init__(self, checkpoint: Path | None, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}; checkpoint written to {checkpoint}")
        self.checkpoint, self.signum = checkpoint, signum
