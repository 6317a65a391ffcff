"""The engines' one workspace: work arrays reused across calls, and what F keeps for G.

A training loop calls the same convolutions step after step. Fresh work arrays (patch
matrices, padded copies, GEMM outputs) would be paged in anew each time: glibc returns large
freed blocks to the system, and touching them again costs a page fault per 4 KiB (measured
1,500 faults, several ms, per LeNet-5 step). So the engines take them from here, per thread:

* :func:`scratch` ``(name, shape, dtype)``: an uninitialised array, valid until the next
  request for the same ``name`` in this thread. Never handed to a caller.
* :func:`keep` ``(key, shape, dtype)``: an array that outlives the call, untagged until
  :func:`mark` ``(key, tag)`` says what it now holds (call it once the array is filled, so an
  interrupted fill leaves no tag); :func:`kept` ``(key, tag)`` returns the array only while the
  tag still matches, compared by identity item by item (arrays held weakly: a kept patch keeps
  no input alive). The batch-last engine's F keeps its patch matrix, marks it ``(z, geometry)``
  when filled, and its G_gw reuses it when called with that same z and geometry object (as the
  autodiff op does); a later F of the same key takes it over. At most :data:`KEEP_LIMIT` keys
  are kept per thread, the least recently kept dropped first.
* :func:`clear`: release this thread's workspace (the engines rebuild it on demand).

Arrays over :data:`SCRATCH_LIMIT` bytes are not pooled: scratch allocates them afresh, keep
refuses them (None).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from math import prod

import numpy as np
from numpy.typing import DTypeLike

SCRATCH_LIMIT = 1 << 26  # larger work arrays are allocated afresh and not kept
KEEP_LIMIT = 8  # kept arrays per thread (a model's conv layers, train and eval batch sizes)

_local = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
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


def keep(key: Hashable, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray | None:
    """A work array kept under ``key`` (hashable) until the next ``keep`` of that key, untagged
    until :func:`mark`; None when larger than :data:`SCRATCH_LIMIT`."""
    dtype = np.dtype(dtype)
    if prod(shape) * dtype.itemsize > SCRATCH_LIMIT:
        return None
    store = _local.__dict__.setdefault("kept", {})
    entry = store.pop(key, None)  # re-inserted last: the most recently kept
    if entry is None or entry[0].shape != shape or entry[0].dtype != dtype:
        entry = [np.empty(shape, dtype), None]
    entry[1] = None
    store[key] = entry
    while len(store) > KEEP_LIMIT:
        del store[next(iter(store))]
    return entry[0]


def mark(key: Hashable, tag: tuple) -> None:
    """Record that the array kept under ``key`` now holds what ``tag`` describes."""
    entry = _local.__dict__.get("kept", {}).get(key)
    if entry is not None:
        entry[1] = tuple(_weak(item) for item in tag)


def kept(key: Hashable, tag: tuple) -> np.ndarray | None:
    """The array kept under ``key`` if it was marked with this very ``tag``, else None."""
    entry = _local.__dict__.get("kept", {}).get(key)
    if entry is None or entry[1] is None or len(entry[1]) != len(tag):
        return None
    return entry[0] if all(ref() is t for ref, t in zip(entry[1], tag, strict=True)) else None


def kept_keys() -> list[Hashable]:
    """The keys of this thread's kept arrays, least recently kept first."""
    return list(_local.__dict__.get("kept", {}))


def _weak(item: object) -> Callable[[], object]:
    """A weak reference to ``item`` where it takes one (arrays), else a strong one."""
    try:
        return weakref.ref(item)
    except TypeError:  # tuples (a geometry), numbers
        return lambda: item


def clear() -> None:
    """Release this thread's work arrays and kept arrays."""
    _local.__dict__.pop("buffers", None)
    _local.__dict__.pop("kept", None)
