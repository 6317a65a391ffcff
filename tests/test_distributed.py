"""Data-parallel SGD over MPI: results independent of P, one rank without mpiexec, faults."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from convprop.checkpoint import load_checkpoint

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent))
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec (the mpi extra) not installed")
TRAIN = ["-m", "convprop.cli", "train", "--model", "mlp", "--batch-size", "32", "--seed", "3"]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}


def _run(args, processes=None, timeout=300):
    command = [sys.executable, *TRAIN, *args]
    if processes:
        command = [MPIEXEC, "-n", str(processes), *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=ENV)


@needs_mpi
@pytest.mark.slow
def test_two_ranks_end_with_the_weights_of_one(tmp_path):
    # 5 epochs of 45 steps: 225 steps with the same seed and global batch size
    one = _run(["--epochs", "5", "--out", str(tmp_path / "one")])
    two = _run(["--epochs", "5", "--out", str(tmp_path / "two"), "--distributed"], processes=2)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert "distributed over 2 processes" in two.stdout
    a = load_checkpoint(tmp_path / "one" / "model.npz").model
    b = load_checkpoint(tmp_path / "two" / "model.npz").model
    worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    assert worst <= 1e-5, worst
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["processes"] == 2
    assert summary["communicate_s_per_step"] > 0 and summary["compute_s_per_step"] > 0
    assert "communicate_s_per_step" in (tmp_path / "two" / "metrics.csv").read_text()
    assert not (tmp_path / "one" / "metrics.csv").read_text().count("communicate")


@needs_mpi
def test_a_checkpoint_from_two_ranks_resumes_on_one(tmp_path):
    two = _run(["--epochs", "1", "--out", str(tmp_path / "run"), "--distributed"], processes=2)
    assert two.returncode == 0, two.stderr
    one = subprocess.run(
        [
            sys.executable,
            "-m",
            "convprop.cli",
            "train",
            "--resume",
            str(tmp_path / "run" / "model.npz"),
            "--epochs",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert one.returncode == 0, one.stderr
    assert load_checkpoint(tmp_path / "run" / "model.npz").progress["epoch"] == 2


def test_distributed_without_mpiexec_runs_as_one_rank(tmp_path):
    done = _run(["--epochs", "1", "--out", str(tmp_path / "run"), "--distributed"])
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["processes"] == 1


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout.split()
    children = [int(p) for p in out]
    return children + [d for c in children for d in _descendants(c)]


def _python_ranks(pid: int) -> list[int]:
    ranks = []
    for p in _descendants(pid):
        try:
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        if b"convprop.cli" in cmdline and b"mpiexec" not in cmdline.split(b"\0")[0]:
            ranks.append(p)
    return ranks


@needs_mpi
def test_killing_one_rank_ends_the_whole_job_quickly(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            MPIEXEC,
            "-n",
            "2",
            sys.executable,
            *TRAIN,
            "--epochs",
            "1000",
            "--out",
            str(out),
            "--distributed",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    deadline = time.time() + 120
    while not (out / "model.npz").exists() and time.time() < deadline:
        time.sleep(0.1)
    ranks = _python_ranks(proc.pid)
    assert len(ranks) == 2, ranks
    victim = ranks[-1]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    output, _ = proc.communicate(timeout=60)
    assert time.time() - killed_at < 30
    assert proc.returncode != 0
    # Either the surviving rank names the dead one, or mpiexec names its PID, which the first
    # line of the run maps to a rank (whichever notices first).
    rank = re.search(rf"rank (\d): pid {victim} on ", output)
    assert rank, output[:500]
    named = re.search(rf"rank {rank.group(1)} \(pid {victim} on .*\) died", output)
    assert named or f"PID {victim}" in output, output[-2000:]
    load_checkpoint(out / "model.npz")  # the last checkpoint stays valid


def test_a_killed_process_not_yet_collected_counts_as_dead():
    """A zombie (killed, not yet reaped by its parent) must be named as dead, not alive."""
    from convprop.distributed import _alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _alive(child.pid)
        child.kill()
        deadline = time.time() + 10
        while _alive(child.pid) and time.time() < deadline:  # a zombie until we wait()
            time.sleep(0.01)
        assert not _alive(child.pid)
        assert Path(f"/proc/{child.pid}").exists()  # still there: it was judged as a zombie
    finally:
        child.kill()
        child.wait()


def test_limiting_blas_threads_limits_the_engines_worker_threads_too(monkeypatch):
    """Each MPI rank on its own core: the fft engine's worker threads follow the BLAS's (the
    BLAS itself is left alone here: threadpoolctl blocked)."""
    from convprop import distributed
    from convprop.conv.engines import _threads

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    assert "unchanged" in distributed.limit_blas_threads(1)
    assert _threads.threads() == 1
