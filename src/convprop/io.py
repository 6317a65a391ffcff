"""Weights in and out: safetensors files, and state dicts that PyTorch reads and writes.

* :func:`save_safetensors` / :func:`load_safetensors`: a ``{name: array}`` dict to and from a
  ``.safetensors`` file, dtypes kept (needs the ``safetensors`` package: ``convprop[io]``).
* :func:`from_torch`: a PyTorch ``state_dict`` (NumPy arrays, torch tensors, or a
  ``.safetensors`` file) into a convprop model of the same structure.
* :func:`to_torch`: the model's ``state_dict`` as PyTorch's ``load_state_dict`` takes it, after
  ``{k: torch.from_numpy(v) for k, v in d.items()}``.

The kernel flip: a true-convolution layer (``kind="convolution"``, convprop's default)
computes ``x = z * w`` with the kernel flipped, ``x[i, j] = sum_{a, b} z[i + a, j + b]
w[kh-1-a, kw-1-b]``; PyTorch's layers compute the correlation ``x = z (star) w``, the same
sum with ``w[a, b]``. So PyTorch's kernel ``w`` is convprop's ``flip(w)`` (axes 2 and 3), and
both functions here flip the 4-D ``weight`` of every module whose ``kind`` is
``"convolution"``. A ``kind="correlation"`` layer takes PyTorch's kernel as it is.

This module never imports torch; ``safetensors`` is imported only when a file is read or
written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convprop.nn.module import Module
from convprop.tensor import Tensor

__all__ = ["from_torch", "load_safetensors", "save_safetensors", "to_torch"]

INSTALL_HINT = "pip install convprop[io]"
PathLike = str | os.PathLike


def _safetensors_numpy() -> Any:
    """The ``safetensors.numpy`` module, or one clear line saying how to install it."""
    try:
        from safetensors import numpy as st_numpy
    except ImportError:
        raise ImportError(
            f"reading or writing .safetensors files needs the safetensors package: {INSTALL_HINT}"
        ) from None
    return st_numpy


def _as_numpy(value: Any, name: str = "value") -> np.ndarray:
    """``value`` as a NumPy array: a convprop Tensor's data, a torch tensor detached (one that
    requires grad included) and moved to the CPU, or anything ``np.asarray`` takes.

    Shape: unchanged. The array may share memory with ``value``.
    """
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, not imported here
        value = value.detach().cpu()
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name}: dtype {array.dtype} is not a number type")
    return array


# -- safetensors files ----------------------------------------------------------------------
def save_safetensors(state_dict: Mapping[str, Any], path: PathLike) -> None:
    """Write ``state_dict`` (name -> array) to ``path`` in the safetensors format, dtypes kept.

    Atomic: the file is written beside ``path`` under a temporary name and renamed over it, so
    a failed write leaves whatever was saved at ``path`` before untouched.
    """
    st_numpy = _safetensors_numpy()
    arrays = {}
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"safetensors keys are strings, got {key!r}")
        # the writer reads raw memory: C order (np.ascontiguousarray would make 0-d arrays 1-d)
        arrays[key] = np.asarray(_as_numpy(value, key), order="C")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save {path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        st_numpy.save_file(arrays, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_safetensors(path: PathLike) -> dict[str, np.ndarray]:
    """Read a safetensors file: ``{name: array}`` with the file's dtypes and shapes.

    The arrays are the caller's own copies (writable, not tied to the file).
    """
    st_numpy = _safetensors_numpy()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no safetensors file at {path}")
    try:
        loaded = st_numpy.load_file(path)
    except Exception as e:  # safetensors raises its own error type for a bad header or size
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path} is not a readable safetensors file ({reason})") from None
    return {key: np.array(value) for key, value in loaded.items()}


# -- PyTorch state dicts --------------------------------------------------------------------
def from_torch(model: Module, state_dict_or_path: Mapping[str, Any] | PathLike) -> Module:
    """Load a PyTorch ``state_dict`` into ``model`` (same structure, same keys), in place.

    ``state_dict_or_path`` maps PyTorch's keys to NumPy arrays or torch tensors, or is the
    path of a ``.safetensors`` file. The kernel of every true-convolution layer is flipped
    (``w -> w[:, :, ::-1, ::-1]``, see the module docstring), so the model's outputs equal
    PyTorch's; every other value is copied as it is, cast to the dtype of the model's own
    parameter or buffer. Buffers (running statistics, counters) are loaded too.

    Every key must fit: keys missing from the dict, keys the model lacks, and shapes that
    differ are all named in one ValueError, and then the model is left unchanged.
    Returns ``model``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"from_torch loads into a convprop nn.Module, got {type(model).__name__}")
    if isinstance(state_dict_or_path, str | os.PathLike):
        path = Path(state_dict_or_path)
        if path.suffix != ".safetensors":
            raise ValueError(
                f"from_torch reads .safetensors files, not {path.name}: for a torch.save file, "
                f"pass torch.load(path) (a dict) instead"
            )
        state: Mapping[str, Any] = load_safetensors(path)
    else:
        state = state_dict_or_path
    targets = {key: _resolve(model, key) for key in model.state_dict()}
    missing = [k for k in targets if k not in state]
    unexpected = [k for k in state if k not in targets]
    problems = [f"missing {k!r}" for k in missing] + [f"unexpected {k!r}" for k in unexpected]
    new = {}
    for key, (owner, leaf, array) in targets.items():
        if key not in state:
            continue
        value = _as_numpy(state[key], key)
        if value.shape != array.shape:
            problems.append(f"{key!r} has shape {value.shape}, the model's is {array.shape}")
            continue
        if _is_flipped(owner, leaf, array):
            value = value[:, :, ::-1, ::-1]
        new[key] = value.astype(array.dtype, copy=False)
    if problems:
        raise ValueError(
            f"state dict does not fit this {type(model).__name__}: " + "; ".join(problems)
        )
    for key, (_, _, array) in targets.items():  # every key checked: now write them all
        np.copyto(array, new[key])
    return model


def to_torch(model: Module) -> dict[str, np.ndarray]:
    """The model's weights as PyTorch's ``load_state_dict`` takes them, keyed as PyTorch keys
    them: kernels of true-convolution layers flipped back, parameters in their own float
    dtype, integer buffers (``num_batches_tracked``) as int64, PyTorch's counter dtype.

    Every array is a fresh C-contiguous copy (``torch.from_numpy`` takes it as it is).
    """
    if not isinstance(model, Module):
        raise TypeError(f"to_torch takes a convprop nn.Module, got {type(model).__name__}")
    out = {}
    for key, value in model.state_dict().items():
        owner, leaf, array = _resolve(model, key)
        if _is_flipped(owner, leaf, array):
            value = value[:, :, ::-1, ::-1]
        if value.dtype.kind in "iu":
            value = value.astype(np.int64, copy=False)
        out[key] = np.array(value, order="C")  # a copy; 0-d stays 0-d (num_batches_tracked)
    return out


def _resolve(model: Module, key: str) -> tuple[Module, str, np.ndarray]:
    """The module holding ``key`` ("features.3.weight"), the leaf name, and its live array."""
    *path, leaf = key.split(".")
    owner = model
    for name in path:
        owner = getattr(owner, name)
    value = getattr(owner, leaf)
    return owner, leaf, value.data if isinstance(value, Tensor) else value


def _is_flipped(owner: Module, leaf: str, array: np.ndarray) -> bool:
    """True for the 4-D ``weight`` of a true-convolution layer (Conv2d, ConvTranspose2d)."""
    kind = getattr(owner, "kind", None)
    options = getattr(owner, "options", None)
    if kind is None and isinstance(options, dict):
        kind = options.get("kind")  # Conv2d keeps it among its options
    return kind == "convolution" and leaf == "weight" and array.ndim == 4
