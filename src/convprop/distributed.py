"""Synchronous data-parallel SGD over MPI (mpi4py and the mpich wheel: the ``mpi`` extra).

Every process holds the whole model. At each step the global mini-batch (the same on every
process: the loader's order is a function of the seed and the epoch alone) is cut into P
contiguous shares; process r computes the gradient of the summed loss over its share,

    g_r = (1 / K_b) sum_{k in share r} grad rho_CE(x_k, f_theta(y_k)),

and one Allreduce over a single flat buffer forms ``g = sum_r g_r``, the full batch's
gradient, on every process, which then applies the identical optimizer step. The result does
not depend on P beyond float rounding. :class:`Serial` is the same interface for one process.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convprop import jit


class Serial:
    """One process: every collective is the identity."""

    rank, size = 0, 1

    def share(self, index: np.ndarray) -> np.ndarray:
        return index

    def sum_gradients(self, params: Sequence[Any], scalars: list[float]) -> list[float]:
        return scalars

    def sum_scalars(self, values: Sequence[float]) -> list[float]:
        return [float(v) for v in values]

    def broadcast_parameters(self, params: Sequence[Any]) -> None:
        return None

    def any(self, flag: bool) -> bool:
        return bool(flag)

    def describe(self) -> str:
        """Which process is which rank (so a launcher's message about a PID names a rank)."""
        return f"rank 0: pid {os.getpid()} on {socket.gethostname()}"

    def failure_message(self, error: BaseException) -> str:
        return str(error)

    def abort(self, code: int = 1) -> None:
        raise SystemExit(code)


Communicator = Serial  # the interface; MPICommunicator implements it over MPI


class MPICommunicator(Serial):
    """The collectives over ``MPI.COMM_WORLD``."""

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self._mpi, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self._buffer: np.ndarray | None = None
        self._ranks: list[tuple[int, str]] = []

    def share(self, index: np.ndarray) -> np.ndarray:
        """Process r's contiguous part of the global batch (sizes differ by at most one)."""
        return np.array_split(index, self.size)[self.rank]

    def sum_gradients(self, params: Sequence[Any], scalars: list[float]) -> list[float]:
        """Sum every ``p.grad`` and the ``scalars`` over all processes: one Allreduce."""
        sizes = [p.data.size for p in params]
        total = sum(sizes) + len(scalars)
        dtype = params[0].data.dtype if params else np.dtype(np.float64)  # all frozen: scalars
        if self._buffer is None or self._buffer.size != total or self._buffer.dtype != dtype:
            self._buffer = np.empty(total, dtype=dtype)  # reused across steps
        flat, offset = self._buffer, 0
        for p, n in zip(params, sizes, strict=True):
            flat[offset : offset + n] = 0 if p.grad is None else p.grad.ravel()
            offset += n
        flat[offset:] = scalars
        self.comm.Allreduce(self._mpi.IN_PLACE, flat, op=self._mpi.SUM)
        offset = 0
        for p, n in zip(params, sizes, strict=True):
            p.grad = flat[offset : offset + n].reshape(p.data.shape).copy()
            offset += n
        return [float(v) for v in flat[offset:]]

    def sum_scalars(self, values: Sequence[float]) -> list[float]:
        buf = np.asarray(values, dtype=np.float64)
        self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        return [float(v) for v in buf]

    def broadcast_parameters(self, params: Sequence[Any]) -> None:
        """Rank 0's initial weights to every process (in place)."""
        for p in params:
            self.comm.Bcast(p.data, root=0)

    def any(self, flag: bool) -> bool:
        return bool(self.comm.allreduce(int(bool(flag)), op=self._mpi.MAX))

    def describe(self) -> str:
        self._ranks = self.comm.allgather((os.getpid(), socket.gethostname()))
        return ", ".join(
            f"rank {r}: pid {pid} on {host}" for r, (pid, host) in enumerate(self._ranks)
        )

    def failure_message(self, error: BaseException) -> str:
        """Name the ranks that died (those on this host whose process is gone)."""
        here = socket.gethostname()
        dead = [
            f"rank {r} (pid {pid} on {host})"
            for r, (pid, host) in enumerate(self._ranks)
            if host == here and r != self.rank and not _alive(pid)
        ]
        who = (", ".join(dead) + " died") if dead else "another process failed"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"rank {self.rank} of {self.size}: {who}; stopping every rank ({first})"

    def abort(self, code: int = 1) -> None:
        """End every process of the job now (a failed rank must not leave the others hung)."""
        sys.stderr.flush()
        self.comm.Abort(code)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs: not gone, and not a zombie (a rank killed a moment
    ago stays one until its parent, MPI's proxy, collects it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: the state is the field after the parenthesised command name
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def limit_blas_threads(threads: int = 1) -> str:
    """Set BLAS to ``threads`` per process (P ranks on P cores must not oversubscribe).

    Process-wide, so only the command line calls it (``convprop train --distributed`` when
    ``OPENBLAS_NUM_THREADS`` is unset); no library function does. It also sets that variable,
    which the engines' own worker threads follow (the fft engine's)."""
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return (
            f"BLAS threads unchanged (threadpoolctl missing: pip install 'convprop[mpi]'); "
            f"OPENBLAS_NUM_THREADS={threads} for the engines' threads"
        )
    threadpool_limits(threads, user_api="blas")
    jit.set_threads(threads)  # the compiled kernels follow the BLAS
    return f"BLAS limited to {threads} thread{'s' if threads > 1 else ''} per process"


def communicator(distributed: bool) -> Serial:
    """The communicator of this process: MPI's when ``distributed`` and MPI is there."""
    if not distributed:
        return Serial()
    try:
        from mpi4py import MPI
    except ImportError:
        if any(k.startswith(("PMI_", "OMPI_", "HYDRA_")) for k in os.environ):
            raise ImportError(
                "--distributed under mpiexec needs mpi4py: pip install 'convprop[mpi]'"
            ) from None
        return Serial()  # no MPI and no mpiexec: one rank
    return MPICommunicator(MPI.COMM_WORLD)
