"""Loading a user's file and calling its functions without trusting them.

:class:`Submission` imports the file in a child process (``python _worker.py FILE``, a fresh
interpreter in a temporary working directory) and calls its functions there, one request at a
time, each with a time limit. Whatever the file does (raises, loops forever, calls
``sys.exit`` or ``os._exit``, prints megabytes, returns a list) comes back as an
:class:`Outcome`, never as an exception or a hang in the caller; a child that runs past its time
is killed with its whole process group, and the next call starts a fresh one. Arrays cross the
boundary as ``.npy`` bytes, never pickles.

With ``sandbox="off"`` (the default) this is isolation from mistakes, not a sandbox: the child
runs with the caller's permissions and can read and write files and use the network. With
``sandbox="on"`` or ``"auto"`` (or a :class:`~convprop.grading.sandbox.Sandbox`) the child runs
under bubblewrap, with no network, no file but its own, and memory, CPU and process limits
(:mod:`convprop.grading.sandbox`).

:meth:`Submission.invoke` is the general call: arguments may be dicts and tuples, and a
returned object that is not an array (a cs231n ``cache``) stays in the child as a
:class:`~convprop.grading.arguments.Handle` to pass back to a later call.

:func:`call_in_process` gives the same :class:`Outcome` for a Python callable called directly
(exceptions and prints caught; no time limit).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from convprop.grading import sandbox as sandboxing
from convprop.grading._worker import (
    Bounded,
    convert,
    describe_exception,
    read_message,
    write_message,
)
from convprop.grading.arguments import Handle, encode

WORKER = Path(__file__).with_name("_worker.py")
DEFAULT_TIMEOUT = 10.0  # seconds per call


@dataclass
class Outcome:
    """What one call of a user function gave.

    ``failure`` is empty on success, else one of ``"import_error"``, ``"raises"``,
    ``"exits"`` (``sys.exit``, or the process ended), ``"crashed"`` (killed by a signal),
    ``"timeout"`` or ``"wrong_type"`` (nothing NumPy could read); ``arrays`` is then ``None``.
    ``note`` is set when the value was not a real float ``ndarray`` (or pair of them) but was
    converted; ``printed`` counts the characters the call printed, ``head`` keeps the first.
    """

    arrays: tuple[np.ndarray, ...] | None
    failure: str = ""
    message: str = ""
    note: str = ""
    printed: int = 0
    head: str = ""
    seconds: float = 0.0
    notes: dict[str, str] = field(default_factory=dict)  # invoke: each returned item's note


def call_in_process(
    fn: Callable[..., Any], *arrays: np.ndarray, pair: bool = False, max_size: int = 1 << 26
) -> Outcome:
    """Call ``fn`` on copies of ``arrays`` here, catching exceptions, ``sys.exit`` and prints."""
    captured = Bounded()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            value = fn(*(np.array(a) for a in arrays))
    except SystemExit as error:
        return Outcome(None, "exits", describe_exception(error), "", *captured.take())
    except Exception as error:
        return Outcome(None, "raises", describe_exception(error), "", *captured.take())
    seconds = time.perf_counter() - start
    converted, note = convert(value, pair, max_size)
    failure = "" if converted is not None else "wrong_type"
    return Outcome(converted, failure, note if failure else "", note, *captured.take(), seconds)


class _Drain:
    """Reads a stream to its end in a thread, keeping its first and last ``keep`` bytes."""

    def __init__(self, stream: Any, keep: int = 2000) -> None:
        self.keep, self.head, self.tail, self.count = keep, b"", b"", 0
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := stream.read1(1 << 16):
                if len(self.head) < self.keep:
                    self.head += chunk[: self.keep - len(self.head)]
                self.tail = (self.tail + chunk)[-self.keep :]
                self.count += len(chunk)

    def text(self) -> str:
        return (self.tail if self.count > self.keep else self.head).decode(errors="replace")


class Submission:
    """A user's ``.py`` file, imported in a child process; its functions called with a time limit.

    Use as a context manager, or call :meth:`close`. :meth:`open` imports the file and returns
    the import's :class:`Outcome` (``failure`` ``"import_error"``, ``"exits"``, ``"timeout"``
    or ``"crashed"`` if it did not import); :attr:`names` then lists its callables.
    :meth:`call` runs one function. ``timeout`` bounds each call; the import gets
    ``import_timeout`` (default ``max(timeout, 10)`` seconds: starting Python and NumPy takes a
    moment). ``sandbox``: ``"off"``, ``"auto"``, ``"on"`` or a made
    :class:`~convprop.grading.sandbox.Sandbox`; ``memory`` (bytes) bounds a sandboxed child's
    address space. :attr:`sandbox_note` says why ``"auto"`` found no sandbox; ``"on"`` raises
    :class:`~convprop.grading.sandbox.SandboxUnavailable` where none can be made.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        import_timeout: float | None = None,
        sandbox: str | sandboxing.Sandbox | None = "off",
        memory: int | None = None,
    ) -> None:
        self.sandbox_note = ""
        if isinstance(sandbox, str):
            sandbox, self.sandbox_note = sandboxing.make(sandbox, memory=memory)
        elif sandbox is not None and memory is not None:
            sandbox = replace(sandbox, memory=memory)
        self.sandbox: sandboxing.Sandbox | None = sandbox
        self.path = Path(path).resolve()
        self.timeout = float(timeout)
        self.import_timeout = max(self.timeout, 10.0) if import_timeout is None else import_timeout
        self.names: list[str] = []
        self.opened: Outcome | None = None
        self._proc: subprocess.Popen | None = None
        self._replies: queue.Queue = queue.Queue()
        self._stray: _Drain | None = None
        self._header: dict[str, Any] = {}
        self._generation = 0
        self._cwd = tempfile.mkdtemp(prefix="convprop-check-")

    def __enter__(self) -> Submission:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def stray_output(self) -> tuple[int, str]:
        """Bytes written straight to the child's fds (C code, ``os.write``), and a sample."""
        return (0, "") if self._stray is None else (self._stray.count, self._stray.text())

    def open(self) -> Outcome:
        """Start the child and import the file (once; later calls return the first result)."""
        if self.opened is None:
            self.opened = self._start()
        return self.opened

    def call(
        self, name: str, *arrays: np.ndarray, pair: bool = False, timeout: float | None = None
    ) -> Outcome:
        """Call ``name(*arrays)`` in the child; a pair of arrays is expected when ``pair``.

        ``timeout`` overrides the submission's for this call.
        """
        if self.open().failure:
            return self.opened
        if self._proc is None:  # the last call killed the child: start afresh
            restarted = self._start()
            if restarted.failure:
                return Outcome(None, "crashed", f"restarting the file failed: {restarted.message}")
        max_size = 64 * max([a.size for a in arrays] + [1])
        try:
            write_message(
                self._proc.stdin, {"name": name, "pair": pair, "max_size": max_size}, arrays
            )
        except OSError:
            pass  # the child is gone; the reply queue says how
        return self._reply(self.timeout if timeout is None else timeout)

    def invoke(
        self,
        name: str,
        *args: Any,
        kwargs: dict[str, Any] | None = None,
        returns: list[list[str]] = (("value", "array"),),
        single: bool = True,
        timeout: float | None = None,
    ) -> Outcome:
        """Call ``name(*args, **kwargs)`` with structured arguments and results.

        Arguments: arrays, scalars, strings, dicts and tuples of them, and :class:`Handle`.
        ``returns`` lists ``[name, kind]`` for each item of the returned tuple (``single``:
        one value, not a tuple); kind ``"array"``, ``"number"`` or ``"any"`` (an object kept in
        the child: a :class:`Handle` here). ``Outcome.arrays`` holds the values in order.
        ``timeout`` overrides the submission's for this call.
        """
        if self.open().failure:
            return self.opened
        if self._proc is None:
            restarted = self._start()
            if restarted.failure:
                return Outcome(None, "crashed", f"restarting the file failed: {restarted.message}")
        arrays: list[np.ndarray] = []
        try:
            header = {
                "name": name,
                "args": [encode(a, arrays, self._generation) for a in args],
                "kwargs": {k: encode(v, arrays, self._generation) for k, v in kwargs.items()}
                if kwargs
                else {},
                "returns": [list(r) for r in returns],
                "single": single,
                "max_size": 64 * max([a.size for a in arrays] + [1]),
            }
        except LookupError as error:
            return Outcome(None, "crashed", str(error))
        try:
            write_message(self._proc.stdin, header, tuple(arrays))
        except OSError:
            pass  # the child is gone; the reply queue says how
        outcome = self._reply(self.timeout if timeout is None else timeout)
        outcome.notes = {str(k): str(v) for k, v in self._header.get("notes", {}).items()}
        specs = self._header.get("values") if not outcome.failure else None
        if specs is not None and outcome.arrays is not None:
            got = outcome.arrays
            outcome.arrays = tuple(
                got[s["a"]] if "a" in s else Handle(int(s["h"]), self._generation) for s in specs
            )
        return outcome

    def close(self) -> None:
        """End the child (politely, then by force) and remove its working directory."""
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            self._kill()
        shutil.rmtree(self._cwd, ignore_errors=True)

    # -------------------------------------------------------------- the child process

    def _start(self) -> Outcome:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        argv, fds = [sys.executable, str(WORKER), str(self.path)], ()
        if self.sandbox is not None:
            argv, fd = self.sandbox.command(WORKER, self.path)
            fds = (fd,)
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self._cwd,
                env=env,
                start_new_session=os.name == "posix",
                pass_fds=fds,
            )
        finally:
            for fd in fds:
                os.close(fd)
        self._replies = queue.Queue()
        self._generation += 1
        threading.Thread(
            target=self._read, args=(self._proc.stdout, self._replies), daemon=True
        ).start()
        self._stray = _Drain(self._proc.stderr)
        self._header = {}
        outcome = self._reply(self.import_timeout)
        if outcome.failure == "raises":
            outcome.failure = "import_error"
        self.names = [str(n) for n in self._header.get("names", [])]
        return outcome

    @staticmethod
    def _read(stream: Any, replies: queue.Queue) -> None:
        try:
            while True:
                replies.put(read_message(stream))
        except (EOFError, ValueError, OSError):
            replies.put(None)

    def _reply(self, timeout: float) -> Outcome:
        try:
            message = self._replies.get(timeout=timeout)
        except queue.Empty:
            self._kill()
            return Outcome(None, "timeout", f"did not finish within {timeout:g} s")
        if message is None:  # the child died mid-call
            try:
                code = self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            self._kill()
            if self.sandbox is not None and sandboxing.exit_signal(code):
                code = -sandboxing.exit_signal(code)  # bwrap's 128 + signal
            tail = self.stray_output[1].strip().splitlines()[-1:]
            last = f"; its last output: {tail[0][:200]!r}" if tail else ""
            if code is None or code < 0:
                how = f"killed the process ({_signal(-code)})" if code else "stopped answering"
                return Outcome(None, "crashed", how + last)
            return Outcome(None, "exits", f"ended the process with status {code} (os._exit?)")
        header, arrays = message
        self._header = header
        status = header.get("status", "")
        outcome = Outcome(
            tuple(arrays) if status == "ok" else None,
            "" if status == "ok" else status,
            str(header.get("message", "")),
            str(header.get("note", "")),
            int(header.get("printed", 0)),
            str(header.get("head", "")),
            float(header.get("seconds", 0.0)),
        )
        return outcome

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                if os.name == "posix":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
        elif os.name == "posix":  # the child ended; end anything it left in its group
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()


def _signal(number: int) -> str:
    """``signal 9 (SIGKILL)``; SIGXCPU is the sandbox's CPU-time limit."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    limit = ": the CPU-time limit" if name == "SIGXCPU" else ""
    return f"signal {number}, {name}{limit}"
