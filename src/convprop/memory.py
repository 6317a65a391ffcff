"""Keep freed memory for reuse: what a training loop needs from the C allocator.

A training step allocates and frees the same large arrays (activations, gradients, patch
matrices) every time. glibc's ``malloc`` serves blocks of 128 KiB and up (a threshold it
raises on its own, up to 32 MiB) with fresh ``mmap`` pages, and returns freed memory at the
top of the heap to the system once more than 128 KiB of it is free; the next step then
touches fresh pages again, one page fault per 4 KiB. Measured on LeNet-5 at batch 64, 2
threads: about 650 page faults and 3-5 ms of a 13-18 ms step. PyTorch avoids this with its
own caching allocator; NumPy has none, so :func:`retain_freed_memory` asks glibc to keep
what it frees (``mallopt``: arrays below 64 MiB from the heap, the heap trimmed only when
256 MiB lie free at its top). Peak memory does not grow; memory is kept at its peak.

It changes the allocator of the whole process, so no library function calls it on its own:
the command line's entry points do (``convprop train``, ``demo`` and ``experiment``, and the
convprop side of ``convprop bench``). In a script or notebook of your own, call it once at the
start, or pass ``retain_memory=True`` to :func:`convprop.train.fit`. Elsewhere than glibc
(macOS, musl, Windows) it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20  # blocks below this come from the heap (reused, not re-faulted)
TRIM_THRESHOLD = 256 << 20  # free memory at the heap's top kept up to this

_done: bool | None = None


def retain_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed memory for reuse; True if it took the settings.

    Idempotent; False (and nothing changed) where the C library is not glibc.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _done
