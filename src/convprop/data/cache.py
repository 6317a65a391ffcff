"""An on-disk cache of decoded images, so that a second run does not decode them again.

A folder's decoded arrays are stored as one ``.npz`` file together with a key: the SHA-256 of
every image file's relative name, size and modification time (in nanoseconds) and of the
decoding options (``image_size``). A changed, added or removed file changes the key, and the
stale entry is decoded again and overwritten.

Where the cache lies:

1. ``$CONVPROP_CACHE`` when set (``CONVPROP_CACHE=off`` turns the cache off);
2. else ``ROOT/.convprop-cache/`` inside the image folder, when it is writable;
3. else the user's cache folder, ``$XDG_CACHE_HOME/convprop`` or ``~/.cache/convprop``.

In 1 and 3 the file name starts with a hash of the folder's absolute path. Writing goes through
a temporary file and a rename; a cache that cannot be written or read is skipped, never an error.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["CACHE_ENV", "CACHE_FOLDER", "cache_file", "fingerprint", "read_cache", "write_cache"]

CACHE_ENV = "CONVPROP_CACHE"  # a folder for every cache file, or "off"
CACHE_FOLDER = ".convprop-cache"  # inside an image folder (hidden: not a class)
_VERSION = 1  # bump when the decoding changes, to invalidate every cache


def fingerprint(root: Path, files: Sequence[Path], options: str) -> str:
    """SHA-256 of the files' names relative to ``root``, sizes and mtimes, and ``options``."""
    h = hashlib.sha256(f"convprop-image-cache {_VERSION} {options}\n".encode())
    for path in files:
        st = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "convprop"


def cache_file(root: Path, name: str) -> Path | None:
    """Where the cache entry ``name`` of image folder ``root`` lies (None: caching is off)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None and chosen.strip().lower() in ("off", "0", "none", ""):
        return None
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    if chosen:
        return Path(chosen) / f"{tag}-{name}"
    if os.access(root, os.W_OK):
        return root / CACHE_FOLDER / name
    return _user_cache() / f"{tag}-{name}"


def read_cache(path: Path | None, key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path`` under ``key``; None when absent, stale or unreadable."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            if str(archive["key"]) != key:
                return None
            return {k: archive[k] for k in archive.files if k != "key"}
    except Exception:  # a damaged cache is decoded again, never an error
        return None


def write_cache(path: Path | None, key: str, arrays: dict[str, np.ndarray]) -> Path | None:
    """Store ``arrays`` under ``key`` at ``path`` atomically; None if it cannot be written."""
    if path is None:
        return None
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), **arrays)
        os.replace(tmp, path)
    except OSError:
        return None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
