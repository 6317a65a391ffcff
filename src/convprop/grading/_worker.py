"""The child side of ``convprop check``: import one user file and serve calls to its functions.

Run as a script, ``python _worker.py SUBMISSION.py``, by :class:`convprop.grading.Submission`; it
needs only the standard library and NumPy (not convprop), so it works whatever ``sys.path`` the
parent had. The parent's per-call time limit, and killing, live in the parent.

Channels. The protocol runs over private duplicates of fds 0 and 1; fd 0 then reads
``/dev/null`` (an ``input()`` gets EOF) and fd 1 joins fd 2, which the parent drains and bounds.
Python-level ``print`` goes to a :class:`Bounded` buffer that keeps the first ``HEAD`` characters
of each call and counts the rest, so a submission that prints megabytes costs no memory.

Messages, both ways: a 4-byte little-endian length, a JSON header, then ``header["arrays"]``
arrays, each an 8-byte length and ``.npy`` bytes written and read with ``allow_pickle=False``:
no pickle crosses the boundary, so a hostile file cannot make the parent run code by its replies.

Two forms of call. The first, ``{"name", "pair", "max_size"}``, calls ``name(*arrays)`` and wants
an array (or a pair). The second, with ``"args"``, passes structured arguments and takes
structured results (:func:`unpack`, :func:`pack`): an argument is ``{"a": i}`` (the i-th array),
``{"v": scalar}``, ``{"d": {key: arg}}``, ``{"t": [arg, ...]}`` (a tuple) or ``{"h": id}``, an
object an earlier call returned and this process kept (a cs231n ``cache``, a ``config``). A
result named ``any`` that is not an array stays here as such a handle: it never crosses.

A Jupyter notebook (``.ipynb``, read as JSON) is loaded from its code cells in order, each
compiled under the name ``PATH:cell N`` (N counts every cell from 1) so that tracebacks name the
cell; IPython lines (``%magic``, ``!shell``) are left out and a ``%%`` cell magic drops its
cell. A cell that raises stops the loading there: the functions defined before it are served,
and the reply to the import says which cell raised (its ``note``).

The conversion of what a user function returns (:func:`convert`) and the one-line description
of an exception (:func:`describe_exception`) are shared with the in-process path.
"""

from __future__ import annotations

import importlib.util
import io
import json
import linecache
import os
import struct
import sys
import time
import traceback
import types
from typing import Any, BinaryIO

import numpy as np

HEAD = 2000  # characters of printed output kept per call
MAX_HEADER = 1 << 20  # bytes; a longer header is a broken or hostile child
MODULE_NAME = "_convprop_submission"
CELL_ERRORS: list[str] = []  # a notebook's cell that raised while loading


# ------------------------------------------------------------------ framing


def write_message(
    f: BinaryIO, header: dict[str, Any], arrays: tuple[np.ndarray, ...] = ()
) -> None:
    """Write one framed message: JSON header, then each array as ``.npy`` bytes."""
    head = json.dumps({**header, "arrays": len(arrays)}).encode()
    parts = [struct.pack("<I", len(head)), head]
    for a in arrays:
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        parts += [struct.pack("<Q", buf.tell()), buf.getvalue()]
    f.write(b"".join(parts))
    f.flush()


def read_message(f: BinaryIO, max_bytes: int = 1 << 31) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Read one framed message; raises EOFError at the end of the stream, ValueError if broken."""
    (size,) = struct.unpack("<I", _read_exact(f, 4))
    if size > MAX_HEADER:
        raise ValueError(f"message header of {size} bytes")
    header = json.loads(_read_exact(f, size))
    arrays = []
    for _ in range(int(header.get("arrays", 0))):
        (n,) = struct.unpack("<Q", _read_exact(f, 8))
        if n > max_bytes:
            raise ValueError(f"array of {n} bytes")
        arrays.append(np.load(io.BytesIO(_read_exact(f, n)), allow_pickle=False))
    return header, arrays


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if data is None or len(data) < n:
        raise EOFError
    return data


# ------------------------------------------------------------------ output and results


class Bounded(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and counts all of them."""

    def __init__(self, limit: int = HEAD) -> None:
        self.limit, self.head, self.kept, self.count = limit, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        s = str(s)
        if self.kept < self.limit:
            self.head.append(s[: self.limit - self.kept])
            self.kept += len(self.head[-1])
        self.count += len(s)
        return len(s)

    def take(self) -> tuple[int, str]:
        """(characters written, the first ``limit`` of them) since the last take."""
        out = self.count, "".join(self.head)
        self.head, self.kept, self.count = [], 0, 0
        return out


def describe_exception(error: BaseException, path: str | None = None) -> str:
    """One line: ``ZeroDivisionError: division by zero (line 7 in F)``."""
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})"
    text = traceback.format_exception_only(type(error), error)[-1].strip()
    if isinstance(error, SyntaxError) and error.lineno:
        cell = (
            str(error.filename).rpartition(":")[2] + ", "
            if ":cell " in str(error.filename)
            else ""
        )
        return f"{text} ({cell}line {error.lineno})"
    frames = traceback.extract_tb(error.__traceback__)
    if path is not None:  # the deepest frame in the user's own file, if any
        frames = [f for f in frames if _own(f.filename, path)]
    if not frames:
        return text
    where = f"{os.path.basename(path)} " if path is not None else ""
    cell = frames[-1].filename.rpartition(":")[2] + ", " if ":cell " in frames[-1].filename else ""
    return f"{text} ({where}{cell}line {frames[-1].lineno} in {frames[-1].name})"


def _own(filename: str, path: str) -> bool:
    """Is ``filename`` the user's file, or one of its notebook cells (``PATH:cell N``)?"""
    mine = os.path.abspath(path)
    return os.path.abspath(filename) == mine or filename.startswith(mine + ":cell ")


def convert(value: Any, pair: bool, max_size: int) -> tuple[tuple[np.ndarray, ...] | None, str]:
    """A user function's return value as float64 arrays, and a note if it was not as required.

    The required form is a real floating-point ``np.ndarray`` (``pair``: a tuple or list of
    two). Anything that NumPy can still read as real numbers (a list, an int or complex array)
    is converted and noted, so the diagnosis goes on; otherwise the arrays are ``None``.
    """
    if pair:
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            n = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
            return None, f"returned {_a(value)}{n}, not a pair (delta, g_w)"
        (a, note_a), (b, note_b) = (_one(v, max_size) for v in value)
        notes = [f"{name} {n}" for name, n in (("delta", note_a), ("g_w", note_b)) if n]
        return (None if a is None or b is None else (a, b)), "; ".join(notes)
    a, note = _one(value, max_size)
    return (None if a is None else (a,)), note


def _a(value: Any) -> str:
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _one(value: Any, max_size: int) -> tuple[np.ndarray | None, str]:
    if value is None:
        return None, "returned None (a missing return statement?)"
    if isinstance(value, np.ndarray) and value.size > max_size:
        return None, f"returned an array of shape {value.shape}, far larger than any answer"
    note = ""
    if not isinstance(value, np.ndarray):
        note = f"returned {_a(value)}, not a NumPy array"
    try:
        a = np.asarray(value)
    except Exception as error:  # ragged lists and the like
        return None, f"{note}, which NumPy cannot read as an array ({error})"
    if a.size > max_size:
        return None, f"returned {a.size} values, far more than any answer"
    if a.dtype.kind == "c":
        note = note or f"returned a complex array ({a.dtype}); the real part is used"
        a = a.real
    elif a.dtype.kind in "biu":
        note = note or f"returned an integer array ({a.dtype}): values truncated?"
    elif a.dtype.kind != "f":
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError):
            return None, note or f"returned an array of dtype {a.dtype}, not numbers"
        note = note or f"returned an array of dtype {a.dtype}"
    return np.array(a, dtype=np.float64, copy=True) if note else np.array(a), note


def unpack(spec: Any, arrays: list[np.ndarray], handles: dict[int, Any]) -> Any:
    """An argument from its JSON ``spec`` (see the module docstring); KeyError: a lost handle."""
    if "a" in spec:
        return arrays[spec["a"]]
    if "h" in spec:
        return handles[spec["h"]]
    if "d" in spec:
        return {k: unpack(v, arrays, handles) for k, v in spec["d"].items()}
    if "t" in spec:
        return tuple(unpack(v, arrays, handles) for v in spec["t"])
    return spec["v"]


def pack(
    value: Any, returns: list, single: bool, max_size: int, handles: dict[int, Any]
) -> tuple[list | None, list[np.ndarray], dict[str, str]]:
    """(result specs, arrays, notes by item name) for a returned value.

    The specs are ``None`` if the value has no such form (the note is then under ``""``).

    ``returns`` lists ``[name, kind]``: kind ``array`` (converted as :func:`convert` does),
    ``number`` (a real scalar, no note) or ``any`` (an array crosses, anything else is kept).
    """
    names = ", ".join(name for name, _ in returns)
    if single:
        items = [value]
    elif isinstance(value, (tuple, list)) and len(value) == len(returns):
        items = list(value)
    else:
        n = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
        return None, [], {"": f"returned {_a(value)}{n}, not a tuple ({names})"}
    specs, arrays, notes = [], [], {}
    for item, (name, kind) in zip(items, returns, strict=True):
        if kind == "any" and not isinstance(item, np.ndarray):
            handles[len(handles) + 1] = item
            specs.append({"h": len(handles)})
            continue
        scalar = isinstance(item, (int, float, np.integer, np.floating))
        if kind == "number" and scalar and not isinstance(item, bool):
            a, note = np.asarray(float(item)), ""
        else:
            a, note = _one(item, max_size)
        if a is None:
            return None, [], {"": f"{name} {note}"}
        if note:
            notes[name] = f"{name} {note}"
        specs.append({"a": len(arrays)})
        arrays.append(a)
    return specs, arrays, notes


# ------------------------------------------------------------------ the child's main loop


def _load(path: str) -> Any:
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    if path.endswith(".ipynb"):
        return _load_notebook(path)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


def notebook_cells(path: str) -> list[tuple[int, str]]:
    """A notebook's code cells as ``(N, source)``, N counted over every cell from 1, with
    IPython's ``%`` and ``!`` lines blanked (line numbers kept) and ``%%`` cells left out."""
    with open(path, encoding="utf-8") as f:
        notebook = json.load(f)
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ValueError("not a Jupyter notebook (nbformat 4): no list of cells")
    code = []
    for n, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        lines = ("".join(source) if isinstance(source, list) else str(source)).splitlines()
        if lines and lines[0].lstrip().startswith("%%"):
            continue
        kept = ["" if line.lstrip().startswith(("%", "!")) else line for line in lines]
        code.append((n, "\n".join(kept) + "\n"))
    return code


def _load_notebook(path: str) -> Any:
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = path
    module.__dict__["__name__"] = "__main__"  # as in Jupyter
    sys.modules[MODULE_NAME] = module
    mine = os.path.abspath(path)
    for n, source in notebook_cells(path):
        name = f"{mine}:cell {n}"
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        try:
            exec(compile(source, name, "exec"), module.__dict__)
        except (Exception, SystemExit) as error:
            CELL_ERRORS.append(
                f"cell {n} failed: {describe_exception(error, path)}; the cells after it were "
                "not run"
            )
            break
    return module


def main(path: str) -> None:
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)  # lives as long as the process
    captured = Bounded()
    owner = os.getpid()  # a process the submission forked must not speak the protocol

    def run(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any, str]:
        sys.stdout = sys.stderr = captured
        try:
            return "ok", fn(*args, **kwargs), ""
        except SystemExit as error:
            return "exits", None, describe_exception(error, path)
        except BaseException as error:  # KeyboardInterrupt too: the parent decides
            return "raises", None, describe_exception(error, path)
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            if os.getpid() != owner:
                os._exit(0)

    start = time.perf_counter()
    status, module, message = run(_load, path)
    names = sorted(k for k, v in vars(module).items() if callable(v)) if module else []
    printed, head = captured.take()
    write_message(
        proto_out,
        {
            "status": status,
            "message": message,
            "note": "; ".join(CELL_ERRORS),
            "names": names,
            "printed": printed,
            "head": head,
            "seconds": time.perf_counter() - start,
        },
    )
    if status != "ok":
        return
    handles: dict[int, Any] = {}  # objects kept for later calls (see unpack and pack)
    while True:
        try:
            request, args = read_message(proto_in)
        except EOFError:
            return
        fn = getattr(module, request["name"], None)
        structured, kwargs, specs = "args" in request, {}, None
        if structured:
            try:
                kwargs = {k: unpack(v, args, handles) for k, v in request["kwargs"].items()}
                args = [unpack(v, args, handles) for v in request["args"]]
            except KeyError:
                args = None
        start = time.perf_counter()
        if args is None:
            status, value, message = "crashed", None, "an object from an earlier call is lost"
        else:
            status, value, message = run(fn, *args, **kwargs)
        seconds = time.perf_counter() - start
        arrays: tuple[np.ndarray, ...] = ()
        note, notes = "", {}
        if status == "ok" and structured:
            specs, out, notes = pack(
                value, request["returns"], request["single"], request["max_size"], handles
            )
            note = "; ".join(notes.values())
            status, arrays = ("ok", tuple(out)) if specs is not None else ("wrong_type", ())
        elif status == "ok":
            converted, note = convert(value, request["pair"], request["max_size"])
            status, arrays = ("ok", converted) if converted is not None else ("wrong_type", ())
        printed, head = captured.take()
        message = message or (note if status == "wrong_type" else "")
        reply = {"status": status, "message": message, "note": note, "printed": printed}
        reply.update({"head": head, "seconds": seconds, "values": specs, "notes": notes})
        write_message(proto_out, reply, arrays)


if __name__ == "__main__":
    main(sys.argv[1])
