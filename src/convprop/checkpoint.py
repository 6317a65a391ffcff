"""Checkpoints: one ``.npz`` file, written atomically, verified on load, never pickled.

Layout of the archive:

- ``model/<name>``: each array of ``Module.state_dict()`` (parameters, frozen ones too, and
  persistent buffers, each in its own dtype);
- ``optimizer/<key>``: each array of the optimizer's flat state;
- ``__meta__``: UTF-8 JSON (as a uint8 array) with the format name and version, the run's
  configuration, progress (epoch, step), the optimizer's scalar state, the scheduler's
  state, and the SHA-256 of everything above.

Writing goes to a temporary file in the same folder, is flushed and fsynced, then renamed
over the target, so a crash or ``kill -9`` at any moment leaves either the previous good
checkpoint or the new one, never half of one. Loading uses ``allow_pickle=False`` and checks
the format, the version and the hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "convprop-checkpoint"
VERSION = 1
_META = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt, of a newer version, or not one of ours."""


@dataclass
class Checkpoint:
    """What a checkpoint holds."""

    model: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    config: dict[str, Any]
    progress: dict[str, Any] = field(default_factory=dict)
    scheduler: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _digest(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    arrays = {f"model/{k}": np.asarray(v) for k, v in ckpt.model.items()}
    scalars = {}
    for k, v in ckpt.optimizer.items():
        if isinstance(v, np.ndarray):
            arrays[f"optimizer/{k}"] = v
        else:
            scalars[k] = v
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config": ckpt.config,
        "progress": ckpt.progress,
        "optimizer_scalars": scalars,
        "scheduler": ckpt.scheduler,
        "extra": ckpt.extra,
    }
    meta["sha256"] = _digest(arrays, meta)
    arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and verify a checkpoint; every failure is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    data = path.read_bytes()
    if data[:4] != b"PK\x03\x04":  # never let np.load fall back to reading a pickle
        kind = (
            "truncated (empty)" if not data else "not a convprop checkpoint (not an .npz archive)"
        )
        raise CheckpointError(f"{path}: {kind}")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        NotImplementedError,
        RuntimeError,
        struct.error,
        OverflowError,
        zlib.error,
    ) as error:  # what zip can say
        raise CheckpointError(
            f"{path}: truncated or corrupt ({type(error).__name__}: {error})"
        ) from None
    if _META not in arrays:
        raise CheckpointError(f"{path}: not a convprop checkpoint (no {_META} entry)")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: corrupt metadata ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a convprop checkpoint")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path}: format version {version} is newer than this convprop "
            f"reads ({VERSION}); upgrade convprop"
        )
    stored = meta.pop("sha256", None)
    if stored != _digest(arrays, meta):
        raise CheckpointError(f"{path}: SHA-256 mismatch: the file is corrupt or was edited")
    optimizer = dict(meta.get("optimizer_scalars") or {})
    optimizer.update(
        {k[len("optimizer/") :]: v for k, v in arrays.items() if k.startswith("optimizer/")}
    )
    model = {k[len("model/") :]: v for k, v in arrays.items() if k.startswith("model/")}
    return Checkpoint(
        model=model,
        optimizer=optimizer,
        config=meta.get("config") or {},
        progress=meta.get("progress") or {},
        scheduler=meta.get("scheduler"),
        extra=meta.get("extra") or {},
    )
