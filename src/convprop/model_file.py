"""A model from a file of the user's: ``--model PATH.py:FUNCTION``.

``FUNCTION`` is called with the keyword arguments it accepts among ``in_channels``,
``num_classes``, ``image_size`` (a tuple ``(H, W)``) and ``rng`` (a ``numpy.random.Generator``);
all four when it takes ``**kwargs``. It must return a ``convprop.nn.Module``.

The file's bytes are read once, hashed (SHA-256) and executed from those bytes, so the hash a
checkpoint records is the hash of the code that built the model. Rebuilding it later (``convprop
evaluate``, ``--resume``) runs the file again and refuses when its hash differs. Loading a
model file runs its code: only load files you trust.

An exception raised by the file, at import or in ``FUNCTION``, becomes one
:class:`ModelFileError` line naming the file, the line (the last frame of the traceback that
lies in the file) and the message.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convprop.nn import Module

KEYWORDS = ("in_channels", "num_classes", "image_size", "rng")
LOADED: set[str] = set()  # the model files run in this process, for :func:`locate`


class ModelFileError(ValueError):
    """A model file that is missing, changed, fails, or does not build a convprop Module."""


@dataclass(frozen=True)
class ModelFile:
    """Where a model comes from: an absolute path, a function in it, the file's SHA-256."""

    path: str
    function: str
    sha256: str

    @property
    def spec(self) -> str:
        return f"{self.path}:{self.function}"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "function": self.function, "sha256": self.sha256}


def is_model_file(name: str) -> bool:
    """Whether a ``--model`` value names a file (``PATH.py:FUNCTION``) rather than a built-in."""
    path, colon, _ = name.rpartition(":")
    return bool(colon) and path.endswith(".py")


def parse_spec(spec: str) -> tuple[Path, str]:
    """``"PATH.py:FUNCTION"`` -> (absolute path, function name); one line when malformed."""
    path, colon, function = spec.rpartition(":")
    if not (colon and path.endswith(".py") and function.isidentifier()):
        raise ModelFileError(
            f"--model {spec!r}: expected PATH.py:FUNCTION, e.g. my_model.py:build"
        )
    return Path(path).expanduser().resolve(), function


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, in hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def user_frame(error: BaseException, path: str | Path) -> str:
    """``"FILE, line N"`` of the last traceback frame in ``path`` (or ``"FILE"``)."""
    where = str(path)
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename) == Path(path):
            line = frame.lineno
    if isinstance(error, SyntaxError) and error.filename and Path(error.filename) == Path(path):
        line = error.lineno
    return f"{where}, line {line}" if line is not None else where


def locate(error: BaseException) -> str | None:
    """``"FILE, line N"`` of the last traceback frame of ``error`` in a model file this process
    ran (an exception in the model's ``forward``, say); None when no frame is in one."""
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename in LOADED:
            found = f"{frame.filename}, line {frame.lineno}"
    return found


def _fail(error: BaseException, path: Path, doing: str) -> ModelFileError:
    message = error.msg if isinstance(error, SyntaxError) else str(error)
    return ModelFileError(
        f"{user_frame(error, path)}: {type(error).__name__}: {message} ({doing})"
    )


def load_builder(
    spec: str, *, expected_sha256: str | None = None
) -> tuple[Callable[..., Any], ModelFile]:
    """Execute the model file of ``spec`` and return ``FUNCTION`` and the file's record.

    With ``expected_sha256`` (a checkpoint's record), a file whose hash differs is refused
    before any of its code runs.
    """
    path, function = parse_spec(spec)
    if not path.is_file():
        trained = " (the checkpoint was trained with it; restore it to rebuild the model)"
        raise ModelFileError(f"{path}: no such model file" + (trained if expected_sha256 else ""))
    source = path.read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise ModelFileError(
            f"{path}: the model file has changed since the checkpoint was written (SHA-256 "
            f"{digest[:12]}... now, {expected_sha256[:12]}... then); restore that version "
            f"to rebuild the model, or train anew"
        )
    LOADED.add(str(path))
    module = types.ModuleType(f"convprop_model_file_{digest[:16]}")
    module.__file__ = str(path)
    sys.path.insert(0, str(path.parent))  # the file may import its neighbours
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 (the user's file)
    except Exception as error:
        raise _fail(error, path, "while loading the model file") from None
    finally:
        if sys.path and sys.path[0] == str(path.parent):
            del sys.path[0]
    builder = module.__dict__.get(function)
    if not callable(builder):
        raise ModelFileError(
            f"{path}: defines no function {function!r}"
            + ("" if builder is None else f" ({function} is a {type(builder).__name__})")
        )
    return builder, ModelFile(str(path), function, digest)


def keyword_arguments(
    builder: Callable[..., Any], offered: dict[str, Any], name: str = ""
) -> dict[str, Any]:
    """The entries of ``offered`` that ``builder``'s signature accepts (all with ``**kwargs``);
    one line naming a required parameter convprop cannot give."""
    parameters = inspect.signature(builder).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(offered)
    named = {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    unknown = [
        p.name
        for p in parameters
        if p.default is inspect.Parameter.empty
        and p.name not in offered
        and p.kind is not inspect.Parameter.VAR_POSITIONAL
    ]
    if unknown:
        raise ModelFileError(
            f"{name or builder.__name__}: {builder.__name__}() requires "
            f"{', '.join(map(repr, unknown))}, which convprop "
            f"does not give; it passes the keywords {', '.join(KEYWORDS)} (give the others "
            f"defaults)"
        )
    return {k: v for k, v in offered.items() if k in named}


def build_from_file(
    spec: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    rng: np.random.Generator,
    *,
    expected_sha256: str | None = None,
) -> tuple[Module, ModelFile]:
    """Load the model file ``spec`` and call its function; the Module and the file's record."""
    builder, record = load_builder(spec, expected_sha256=expected_sha256)
    c, h, w = (int(v) for v in input_shape)
    offered = {"in_channels": c, "num_classes": int(num_classes), "image_size": (h, w), "rng": rng}
    kwargs = keyword_arguments(builder, offered, record.spec)
    try:
        model = builder(**kwargs)
    except Exception as error:
        raise _fail(error, Path(record.path), f"in {record.function}()") from None
    if not isinstance(model, Module):
        kind = type(model)
        hint = (
            " (a PyTorch module: write it with convprop.nn, the same layer names)"
            if kind.__module__.startswith("torch")
            else ""
        )
        raise ModelFileError(
            f"{record.spec} returned a {kind.__module__}.{kind.__qualname__}, not a "
            f"convprop.nn.Module{hint}"
        )
    return model, record


def record_for(spec: str) -> ModelFile:
    """The record of a model file without running it (for a module built in Python from it)."""
    path, function = parse_spec(spec)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    return ModelFile(str(path), function, file_sha256(path))
