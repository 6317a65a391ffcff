"""The engines' one workspace: work arrays reused across calls, and what F keeps for G.

A training loop calls the same convolutions step after step. Fresh work arrays (patch
matrices, padded copies, GEMM outputs) would be paged in anew each time: glibc returns large
freed blocks to the system, and touching them again costs a page fault per 4 KiB (measured
1,500 faults, several ms, per LeNet-5 step). So the engines take them from here, per thread:

* :func:`scratch` ``(name, shape, dtype)``: an uninitialised array, valid until the next
  request for the same ``name`` in this thread. Never handed to a caller.
* :func:`keep` ``(key, shape, dtype, tag)``: an array that outlives the call, tagged with what
  it was built from; :func:`kept` ``(key, tag)`` returns it only while the tag still matches
  (compared by identity, item by item), else None. The batch-last engine's F keeps its patch
  matrix under the tag ``(z, geometry)``, and its G_gw reuses it when called with that same
  z and geometry object (as the autodiff op does); a later F of the same key takes it over.
* :func:`clear`: release this thread's workspace (the engines rebuild it on demand).

Arrays over :data:`SCRATCH_LIMIT` bytes are not pooled: scratch allocates them afresh, keep
refuses them (None).
"""

from __future__ import annotations

import threading
from math import prod

import numpy as np

SCRATCH_LIMIT = 1 << 26  # larger work arrays are allocated afresh and not kept

_local = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised work array, reused by the next call with the same ``name`` (per thread).

    Valid until the next ``scratch(name, ...)`` in this thread; never handed to a caller.
    """
    dtype = np.dtype(dtype)
    nbytes = prod(shape) * dtype.itemsize
    if nbytes > SCRATCH_LIMIT:
        return np.empty(shape, dtype)
    buffers = _local.__dict__.setdefault("buffers", {})
    buf = buffers.get(name)
    if buf is None or buf.nbytes < nbytes:
        buf = buffers[name] = np.empty(max(nbytes, 4096), np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def keep(key, shape: tuple[int, ...], dtype, tag: tuple) -> np.ndarray | None:
    """A work array kept under ``key`` with ``tag`` until the next ``keep`` of that key;
    None when larger than :data:`SCRATCH_LIMIT`. ``key`` must be hashable."""
    dtype = np.dtype(dtype)
    if prod(shape) * dtype.itemsize > SCRATCH_LIMIT:
        return None
    store = _local.__dict__.setdefault("kept", {})
    entry = store.get(key)
    if entry is None or entry[0].shape != shape or entry[0].dtype != dtype:
        entry = store[key] = [np.empty(shape, dtype), tag]
    entry[1] = tag
    return entry[0]


def kept(key, tag: tuple) -> np.ndarray | None:
    """The array kept under ``key`` if it was kept with this very ``tag``, else None."""
    entry = _local.__dict__.get("kept", {}).get(key)
    if entry is None or len(entry[1]) != len(tag):
        return None
    return entry[0] if all(a is b for a, b in zip(entry[1], tag, strict=True)) else None


def clear() -> None:
    """Release this thread's work arrays and kept arrays."""
    _local.__dict__.pop("buffers", None)
    _local.__dict__.pop("kept", None)
