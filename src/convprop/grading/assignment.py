"""The assignment file of ``convprop grade``: questions, their points, and their settings.

A TOML file (read with ``tomllib``, or ``tomli`` before Python 3.11)::

    [assignment]
    name = "cnn-backprop-midterm"
    seed = 0                          # the random inputs of every setting derive from it

    [[question]]
    id = "conv"                       # the gradebook's column prefix: conv.forward, conv.dx ...
    layer = "conv2d"                  # a layer of convprop.grading.layers.LAYER_PARTS
    convention = "cs231n"             # seed (default) or cs231n
    forward = "conv_forward_naive"    # function names (forward/backward, or function)
    backward = "conv_backward_naive"
    kind = "correlation"              # conv2d only
    bias = true                       # conv2d and linear
    points = { forward = 4, dx = 3, dw = 3, db = 2 }

    [[question.setting]]              # one or more; passed to the layer's judge as is
    input_shape = [2, 3, 8, 10]
    kernel_shape = [4, 3, 3, 3]
    stride = 1
    padding = 1

:func:`load` reads and checks it; anything wrong raises :class:`AssignmentError`, one line
naming the key and the problem. The setting tables' own keys are checked by the layer's judge
when grading starts (``convprop grade`` stops at the first such error).
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUESTION_KEYS = ("id", "layer", "convention", "forward", "backward", "function", "kind")
QUESTION_KEYS += ("bias", "timeout", "points", "setting")
NAME_KEYS = ("forward", "backward", "function")
CONVENTIONS = ("seed", "cs231n")


class AssignmentError(ValueError):
    """A bad assignment file; the message is one line naming the key."""


@dataclass(frozen=True)
class Question:
    """One question: a layer in a convention, the points of its parts, and its settings."""

    id: str
    layer: str
    convention: str
    options: dict[str, Any]  # forward, backward, function, kind, bias, timeout: as given
    points: dict[str, float]  # part -> points, in the layer's order of parts
    settings: tuple[dict[str, Any], ...]

    @property
    def columns(self) -> list[str]:
        return [f"{self.id}.{part}" for part in self.points]


@dataclass(frozen=True)
class Assignment:
    """A whole assignment file, checked; ``sha256`` is that of the file's bytes."""

    name: str
    seed: int
    questions: tuple[Question, ...]
    sha256: str
    source: str = ""

    @property
    def columns(self) -> list[str]:
        """``QUESTION.PART`` for every part that earns points, in the file's order."""
        return [c for q in self.questions for c in q.columns]

    @property
    def max_points(self) -> float:
        return sum(p for q in self.questions for p in q.points.values())


def load(path: str | os.PathLike) -> Assignment:
    """Read and check an assignment file (:class:`AssignmentError` if anything is wrong)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AssignmentError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        table = _toml().loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:  # TOMLDecodeError is a ValueError
        raise AssignmentError(f"{path}: not valid TOML: {error}") from None
    try:
        return parse(table, hashlib.sha256(data).hexdigest(), str(path))
    except AssignmentError as error:
        raise AssignmentError(f"{path}: {error}") from None


def parse(table: dict[str, Any], sha256: str = "", source: str = "") -> Assignment:
    """An :class:`Assignment` from the file's parsed table (the checks of :func:`load`)."""
    _known(table, ("assignment", "question"), "the top level")
    head = table.get("assignment")
    if not isinstance(head, dict):
        raise AssignmentError("[assignment]: missing (a table with name and seed)")
    _known(head, ("name", "seed"), "[assignment]")
    name = _typed(head, "name", str, "[assignment]")
    seed = _typed(head, "seed", int, "[assignment]", default=0)
    if seed < 0:
        raise AssignmentError(f"[assignment] seed: must be >= 0, got {seed}")
    questions = table.get("question")
    if not isinstance(questions, list) or not questions:
        raise AssignmentError("[[question]]: none given (at least one [[question]] table)")
    parsed, seen = [], set()
    for i, q in enumerate(questions, 1):
        question = _question(q, i)
        if question.id in seen:
            raise AssignmentError(f"question {i} id: {question.id!r} is used twice")
        seen.add(question.id)
        parsed.append(question)
    return Assignment(name, seed, tuple(parsed), sha256, source)


def _question(q: Any, i: int) -> Question:
    from convprop.grading.layers import LAYER_PARTS

    where = f"question {i}"
    if not isinstance(q, dict):
        raise AssignmentError(f"{where}: not a table")
    _known(q, QUESTION_KEYS, where)
    qid = _typed(q, "id", str, where)
    if not qid or any(c in qid for c in " \t,.\"'/\\"):
        raise AssignmentError(f"{where} id: {qid!r} must be a word without spaces, dots or commas")
    where = f"question {qid!r}"
    layer = _typed(q, "layer", str, where)
    if layer not in LAYER_PARTS:
        raise AssignmentError(
            f"{where} layer: unknown layer {layer!r}; choose one of {', '.join(LAYER_PARTS)}"
        )
    convention = _typed(q, "convention", str, where, default="seed")
    if convention not in CONVENTIONS:
        raise AssignmentError(f"{where} convention: {convention!r} is not seed or cs231n")
    options: dict[str, Any] = {}
    for key in NAME_KEYS + ("kind",):
        if key in q:
            options[key] = _typed(q, key, str, where)
    if "bias" in q:
        options["bias"] = _typed(q, "bias", bool, where)
    if "timeout" in q:
        timeout = _typed(q, "timeout", (int, float), where)
        if not timeout > 0 or not math.isfinite(timeout):
            raise AssignmentError(f"{where} timeout: must be a positive number of seconds")
        options["timeout"] = float(timeout)
    points = _points(
        q, where, layer, LAYER_PARTS[layer], options.get("bias", convention == "cs231n")
    )
    settings = q.get("setting")
    if settings is None:
        raise AssignmentError(f"{where} setting: missing (at least one [[question.setting]])")
    if not isinstance(settings, list) or not settings:
        raise AssignmentError(f"{where} setting: must be one or more [[question.setting]] tables")
    for n, s in enumerate(settings, 1):
        if not isinstance(s, dict):
            raise AssignmentError(f"{where} setting {n}: not a table")
        for key, value in s.items():
            if not _plain(value):
                raise AssignmentError(
                    f"{where} setting {n} {key}: {value!r} is not a number, a boolean or a list "
                    "of numbers"
                )
    return Question(qid, layer, convention, options, points, tuple(dict(s) for s in settings))


def _points(
    q: dict, where: str, layer: str, parts: tuple[str, ...], bias: bool
) -> dict[str, float]:
    given = q.get("points")
    if given is None:
        raise AssignmentError(f"{where} points: missing (e.g. points = {{ {parts[0]} = 1 }})")
    if not isinstance(given, dict) or not given:
        raise AssignmentError(f"{where} points: must be a table of part = points, not {given!r}")
    for part, value in given.items():
        if part not in parts:
            raise AssignmentError(
                f"{where} points.{part}: {layer} has no part {part!r}; its parts are "
                f"{', '.join(parts)}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AssignmentError(f"{where} points.{part}: must be a number, got {value!r}")
        if not value >= 0 or not math.isfinite(value):
            raise AssignmentError(f"{where} points.{part}: must be >= 0, got {value!r}")
    if "db" in given and not bias:
        raise AssignmentError(f"{where} points.db: the question has no bias (set bias = true)")
    return {part: float(given[part]) for part in parts if part in given}


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_plain(v) and not isinstance(v, list) for v in value)
    return isinstance(value, (bool, int, float))


def _known(table: dict, keys: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in keys:
            raise AssignmentError(f"{where}: unknown key {key!r}; the keys are {', '.join(keys)}")


def _typed(table: dict, key: str, kind: Any, where: str, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise AssignmentError(f"{where} {key}: missing")
        return default
    value = table[key]
    wrong = isinstance(value, bool) and kind is not bool
    if wrong or not isinstance(value, kind):
        names = {str: "a string", int: "an integer", bool: "true or false"}
        want = names.get(kind, "a number")
        raise AssignmentError(f"{where} {key}: must be {want}, got {value!r}")
    return value


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ImportError:  # pragma: no cover - the grade extra installs it
        raise AssignmentError(
            "reading TOML on Python 3.10 needs tomli (pip install tomli)"
        ) from None
    return tomli
