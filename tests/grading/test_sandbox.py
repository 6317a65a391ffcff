"""Hostile submissions under the bubblewrap sandbox: each contained and reported, the grader
neither hangs nor crashes, and nothing outside changes."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from convprop.cli import main
from convprop.grading import Submission, sandbox
from tests.grading.grade_gallery import SEED_ASSIGNMENT
from tests.grading.submissions.gallery import VECTORISED

BOX, WHY = sandbox.make("auto")
pytestmark = pytest.mark.skipif(BOX is None, reason=f"no sandbox here: {WHY}")
ONE = np.ones(3)


def _sub(tmp_path, source: str, name: str = "hostile", **kw) -> Submission:
    path = tmp_path / "class" / f"{name}_{uuid.uuid4().hex[:8]}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text("import os, signal, socket, sys, time\nimport numpy as np\n" + source)
    return Submission(path, sandbox=BOX, **kw)


def test_no_network_even_to_a_listener_on_this_machine(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: _accept(listener, accepted), daemon=True)
    thread.start()
    source = f"def f(z):\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
    with _sub(tmp_path, source) as sub:
        out = sub.call("f", ONE)
    thread.join(10)
    listener.close()
    assert out.failure == "raises" and "ConnectionRefusedError" in out.message
    assert accepted == []


def _accept(listener: socket.socket, accepted: list) -> None:
    try:
        accepted.append(listener.accept())
    except OSError:
        pass


def test_writes_outside_and_to_home_change_nothing(tmp_path):
    home = os.path.expanduser("~")
    outside = tmp_path / "outside"
    outside.mkdir()
    before = (sorted(os.listdir(outside)), sorted(os.listdir(home)))
    source = f"""
def f(z):
    failed = 0
    for path in [{str(outside / "pwned")!r}, {home + "/pwned-convprop"!r}, "/usr/pwned",
                 os.path.expanduser("~/.bashrc"), "/pwned"]:
        try:
            with open(path, "w") as f:
                f.write("x")
        except OSError:
            failed += 1
    return np.array([failed, os.path.expanduser("~") == "/tmp"], float)
"""
    with _sub(tmp_path, source) as sub:
        out = sub.call("f", ONE)
    assert out.failure == "", out.message
    # all fail but ~/.bashrc, which is the sandbox's own /tmp/.bashrc
    assert list(out.arrays[0]) == [4.0, 1.0]
    assert (sorted(os.listdir(outside)), sorted(os.listdir(home))) == before


def test_a_classmates_file_the_submissions_folder_and_home_are_not_visible(tmp_path):
    classmate = tmp_path / "class" / "classmate.py"
    classmate.parent.mkdir()
    classmate.write_text("ANSWER = 42\n")
    home = os.path.expanduser("~")
    source = f"""
def f(z):
    seen = [os.path.exists(p) for p in [{str(classmate)!r}, {str(classmate.parent)!r},
            {str(tmp_path)!r}, {str(Path.cwd() / "pyproject.toml")!r}]]
    home = os.listdir({home!r}) if os.path.isdir({home!r}) else []
    return np.array([sum(seen), len(os.listdir("/submission")), len(home)], float)
"""
    # what of home is inside: only the folders on the way to Python's, if it lives there
    on_the_way = {
        os.path.relpath(b, home).split(os.sep)[0]
        for b in sandbox.bound_folders()
        if b.startswith(home.rstrip("/") + "/")
    }
    with _sub(tmp_path, source) as sub:
        out = sub.call("f", ONE)
    assert out.failure == "", out.message
    assert list(out.arrays[0]) == [0.0, 1.0, len(on_the_way)]  # its own file alone


def _processes_running(fragment: str) -> int:
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                count += fragment.encode() in f.read()
        except OSError:
            pass
    return count


def test_a_fork_storm_is_contained_and_leaves_nothing_behind(tmp_path):
    source = """
def f(z):
    made = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            made += 1
    except OSError:
        pass
    return np.array([made], float)
"""
    with _sub(tmp_path, source, name="storm") as sub:
        out = sub.call("f", ONE)
        assert out.failure == "", out.message
        assert out.arrays[0][0] < sandbox.DEFAULT_PROCESSES
        name = sub.path.name
        assert _processes_running(name) > 10
    deadline = time.monotonic() + 10
    while _processes_running(name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_running(name) == 0


def test_eight_gigabytes_is_refused_by_the_memory_limit(tmp_path):
    source = "def f(z):\n    a = np.ones(8 * 10**9 // 8)\n    return a[:3]\n"
    with _sub(tmp_path, source) as sub:
        out = sub.call("f", ONE)
    assert out.failure == "raises" and "Unable to allocate 7.45 GiB" in out.message
    with _sub(tmp_path, source, memory=16 << 30) as sub:  # --memory: a larger limit
        assert sub.sandbox.memory == 16 << 30


def test_a_spin_times_out_and_the_next_call_runs(tmp_path):
    source = "def spin(z):\n    while True:\n        pass\n\ndef f(z):\n    return z\n"
    with _sub(tmp_path, source, timeout=1.0) as sub:
        start = time.monotonic()
        assert sub.call("spin", ONE).failure == "timeout"
        assert time.monotonic() - start < 5
        assert sub.call("f", ONE).failure == ""


def test_killing_its_parent_or_everything_kills_only_itself(tmp_path):
    source = """
def parent(z):
    os.kill(os.getppid(), signal.SIGKILL)
    return z

def everyone(z):
    os.kill(-1, signal.SIGKILL)
    return z

def group(z):
    os.killpg(os.getpgrp(), signal.SIGKILL)
    return z

def f(z):
    return z
"""
    with _sub(tmp_path, source) as sub:
        assert sub.call("parent", ONE).failure == "raises"  # PermissionError: not its to kill
        assert sub.call("everyone", ONE).failure in ("raises", "crashed")  # none but itself
        assert sub.call("group", ONE).failure in ("raises", "crashed")
        assert sub.call("f", ONE).failure == ""  # a fresh child
    assert os.getpid() and threading.main_thread().is_alive()  # the grader lives on


def test_two_hundred_megabytes_of_output_are_counted_and_capped(tmp_path):
    source = """
def printed(z):
    print("x" * 200_000_000)
    return z

def written(z):
    os.write(1, b"y" * 200_000_000)
    return z
"""
    with _sub(tmp_path, source, timeout=60) as sub:  # 1.4 s alone; the suite's load varies
        out = sub.call("printed", ONE)
        assert out.failure == "" and out.printed > 200_000_000 and len(out.head) <= 2000
        assert sub.call("written", ONE).failure == ""
        count, sample = sub.stray_output
        assert count == 200_000_000 and len(sample) <= 2000


def test_the_cpu_time_limit_ends_a_spin_before_the_wall_clock_does(tmp_path):
    source = "def spin(z):\n    while True:\n        pass\n"
    path = tmp_path / "spin.py"
    path.write_text(source)
    box = dataclasses.replace(BOX, cpu_seconds=1)
    with Submission(path, sandbox=box, timeout=60) as sub:
        out = sub.call("spin", ONE)
    assert out.failure == "crashed" and "SIGXCPU: the CPU-time limit" in out.message


def test_auto_says_why_there_is_no_sandbox_and_on_refuses(monkeypatch):
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: ["/bin/false"])
    sandbox.available.cache_clear()
    try:
        box, note = sandbox.make("auto")
        assert box is None and note.startswith("no sandbox (/bin/false failed: status 1)")
        with pytest.raises(sandbox.SandboxUnavailable, match="no sandbox can be made"):
            Submission(__file__, sandbox="on")
        assert sandbox.make("off") == (None, "")
        with pytest.raises(ValueError, match="sandbox mode must be one of auto, on, off"):
            sandbox.make("maybe")
    finally:
        sandbox.available.cache_clear()


def test_sys_exit_and_a_full_tmp(tmp_path):
    source = """
def leaves(z):
    sys.exit(3)

def fills(z):
    with open("/tmp/big", "wb") as f:
        f.write(b"z" * (1 << 30))
    return z
"""
    with _sub(tmp_path, source) as sub:
        out = sub.call("leaves", ONE)
        assert out.failure == "exits" and "sys.exit(3)" in out.message
        out = sub.call("fills", ONE)
        assert out.failure == "raises" and "No space left on device" in out.message


HOSTILE = {  # F misbehaves when the judge calls it; G is right
    "network": "F = lambda z, w: socket.create_connection(('1.1.1.1', 80), timeout=2)",
    "spin": "def F(z, w):\n    while True:\n        pass",
    "storm": "def F(z, w):\n    while True:\n        os.fork()",
    "memory": "def F(z, w):\n    return np.ones(8 * 10**9 // 8)",
    "kills": "def F(z, w):\n    os.kill(-1, signal.SIGKILL)",
    "prints": "def F(z, w):\n    print('x' * 200_000_000)",
    "exits": "def F(z, w):\n    sys.exit(0)",
    "numpy": "np.allclose = lambda *a, **k: True\ndef F(z, w):\n    return np.zeros((8, 8))",
    "at_import": "os.fork() if os.fork() else os.fork()\nprint('x' * 10**8)\nsys.exit(1)",
}


def test_a_hostile_class_is_graded_without_hanging_or_crashing(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    for name, source in HOSTILE.items():
        head = "import os, signal, socket, sys\nimport numpy as np\n"
        (folder / f"{name}.py").write_text(head + VECTORISED + "\n\n" + source + "\n")
    (tmp_path / "a.toml").write_text(SEED_ASSIGNMENT)
    out = tmp_path / "out"
    args = ["grade", str(folder), "--assignment", str(tmp_path / "a.toml"), "--out", str(out)]
    start = time.monotonic()
    assert main([*args, "--sandbox", "on", "--timeout", "3", "--jobs", "2"]) == 0
    assert time.monotonic() - start < 120
    with open(out / "gradebook.csv", newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(HOSTILE)
    for name, row in rows.items():
        expected = "0" if name == "at_import" else "1"  # G is right, F is not
        assert (row["conv.forward"], row["conv.dx"], row["conv.dw"]) == ("0", expected, expected)
    assert "timeout" in (out / "feedback" / "spin.md").read_text()
    assert sorted(os.listdir(tmp_path)) == ["a.toml", "class", "out"]


def test_a_hidden_folder_inside_a_mounted_one_is_covered_and_sizes_parse(tmp_path):
    inside = os.path.join(sandbox.bound_folders()[-1], "class-of-2026")
    argv, fd = dataclasses.replace(BOX, hide=(inside, str(tmp_path))).command(__file__, __file__)
    os.close(fd)
    assert argv[argv.index(inside) - 1] == "--tmpfs"  # covered by an empty folder
    assert str(tmp_path) not in argv  # not mounted at all: nothing to cover
    assert "--unshare-net" in argv and "--die-with-parent" in argv
    assert [sandbox.parse_size(s) for s in ("2G", "512M", "1.5GiB", "4096")] == [
        2 << 30,
        512 << 20,
        3 << 29,
        4096,
    ]
    for bad in ("lots", "-1G", "0"):
        with pytest.raises(ValueError):
            sandbox.parse_size(bad)


AS_NOBODY = """
import os, numpy as np
from convprop.grading import Submission, sandbox
source = '''import os, time, numpy as np
def storm(z):
    made = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            made += 1
    except OSError:
        pass
    return np.array([made, os.getuid(), os.path.exists("/root/.bashrc")], float)
'''
with open("sub.py", "w") as f:
    f.write(source)
with Submission("sub.py", sandbox="on") as sub:
    print(sub.call("storm", np.ones(2)).arrays[0].tolist())
"""


def _python_for_nobody(env: dict) -> str | None:
    """A Python that user nobody can run with NumPy and convprop, in the sandbox, or None."""
    for python in (sys.executable, f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"):
        probe = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c"]
        try:
            done = subprocess.run(
                [*probe, "from convprop.grading import sandbox; sandbox.make('on')"],
                env=env,
                capture_output=True,
                timeout=60,
            )
        except OSError:
            return None
        if done.returncode == 0:
            return python
    return None


def test_as_an_ordinary_user_the_limits_hold_per_sandbox():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to become an ordinary user")
    import convprop

    numpy_site = os.path.dirname(os.path.dirname(np.__file__))
    source = os.path.dirname(os.path.dirname(convprop.__file__))
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    env["PYTHONPATH"] = f"{numpy_site}:{source}"
    python = _python_for_nobody(env)
    if python is None:
        pytest.skip("no Python with NumPy that user nobody can run in a sandbox here")
    folder = tempfile.mkdtemp(prefix="convprop-nobody-")  # pytest's tmp_path is root's alone
    os.chmod(folder, 0o777)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c"]
    try:
        done = subprocess.run(
            [*nobody, AS_NOBODY], env=env, cwd=folder, capture_output=True, text=True, timeout=120
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    made, uid, saw_root = json.loads(done.stdout.strip().splitlines()[-1])
    assert made < sandbox.DEFAULT_PROCESSES and uid == 65534 and saw_root == 0
