"""Arguments of :meth:`convprop.grading.Submission.invoke` as the worker's JSON specs.

An argument is an array (sent as ``.npy`` bytes beside the header), a scalar or string, a dict
or tuple of arguments, or a :class:`Handle`: an object an earlier call returned that stayed in
the child process (a cs231n ``cache``). The child's side is ``_worker.unpack``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Handle:
    """An object a user function returned that stays in the child (a cs231n ``cache``).

    Pass it back to :meth:`Submission.invoke`; it is valid while that child lives
    (``generation`` counts the child's starts).
    """

    id: int
    generation: int


def encode(value: Any, arrays: list[np.ndarray], generation: int) -> dict[str, Any]:
    """The JSON spec of one argument of :meth:`Submission.invoke` (see ``_worker.unpack``)."""
    if isinstance(value, Handle):
        if value.generation != generation:
            raise LookupError("an object from an earlier call is lost: its process was restarted")
        return {"h": value.id}
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"a": len(arrays) - 1}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"v": value}
    if isinstance(value, dict):
        return {"d": {str(k): encode(v, arrays, generation) for k, v in value.items()}}
    if isinstance(value, (tuple, list)):
        return {"t": [encode(v, arrays, generation) for v in value]}
    raise TypeError(f"cannot pass a {type(value).__name__} to a submission")
