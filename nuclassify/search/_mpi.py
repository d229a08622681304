"""The MPI executor's master side: rank 0 hands jobs to worker ranks 1..N-1 (``--executor mpi``).

Launched as ``mpiexec -n N nuclassify evolve --executor mpi ...``: every rank runs the same
command; rank 0 runs the search loop with an :class:`MPIExecutor`, the others call
:func:`~nuclassify.search._mpiworker.run_mpi_worker` and serve jobs until told to stop. Nothing
is spawned through MPI (many batch systems refuse ``MPI_Comm_spawn``), and only plain
point-to-point messages are used, never a collective that involves the master: a master that
fails before it starts serving must not leave workers stuck in a collective it never joins.

Messages are pickled tuples ``(kind, payload)`` on COMM_WORLD with two private tags, one per
direction (MPI keeps each pair's messages in order). Down: ``hello`` (master pid and host, for
the workers' watchdog), ``start`` (trainer and options), ``job``, ``ping`` (a heartbeat),
``stop``. Up: ``ready`` (the worker's name) or ``error`` (it cannot load the trainer),
``result`` (an :class:`Outcome`). The master only ever isends, so a slow or dead worker never
blocks it; mpi4py has no fault tolerance, so a lost rank ends the job (``mpiexec`` kills the
rest) and the search continues with ``--resume``, which re-issues the candidates that were running.

mpi4py is imported only inside the functions here, so the package imports without it.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from nuclassify.errors import UsageError
from nuclassify.search._candidate import Job, Outcome
from nuclassify.search._executors import Executor

__all__ = ["MPIExecutor", "mpi_rank", "mpi_comm", "TAG_DOWN", "TAG_UP"]

TAG_DOWN, TAG_UP = 7301, 7302  # private tags: master -> worker, worker -> master


def mpi_comm() -> Any:
    """``MPI.COMM_WORLD`` (importing mpi4py initialises MPI).

    Raises:
        UsageError: mpi4py is not installed.
    """
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise UsageError("--executor mpi needs mpi4py and an MPI library (pip install 'nuclassify[mpi]', "
                         "or mpi4py built against the cluster's MPI)") from exc
    return MPI.COMM_WORLD


def mpi_rank() -> int:
    """This process's rank in COMM_WORLD: 0 runs the search, the others :func:`run_mpi_worker`."""
    return int(mpi_comm().Get_rank())


class MPIExecutor(Executor):
    kind = "mpi"
    """Master side of ``--executor mpi``: one worker per rank 1..N-1, one candidate each at a time.

    Each worker rank trains its candidates in fresh child processes (a one-worker process
    executor), with the GPU its node-local rank picks, so a crash, a leak or an out-of-memory
    kill takes down one candidate only, as with ``--executor process``.

    Args:
        timeout: seconds a candidate may run before its worker kills it (``None``: no limit).
        prestart: each worker keeps its next child started ahead, imports done.
        reuse: candidates one child process may train in turn (see :class:`ProcessExecutor`).
        preload: modules a worker's child imports before reporting ready.
        start_timeout: seconds to wait for every worker to load the trainer.
        ping: seconds between heartbeats to the workers.
        silence: seconds without a word from the master after which a started worker assumes
            it is gone and exits (a backup: ``mpiexec`` normally kills every rank when one dies).
        comm: the communicator (default COMM_WORLD); the master is its rank 0.
    """

    def __init__(self, timeout: float | None = None, prestart: bool = True, preload: tuple[str, ...] = (),
                 start_timeout: float = 300.0, ping: float = 2.0, silence: float = 30.0, comm: Any = None,
                 reuse: int = 1) -> None:
        if timeout is not None and timeout <= 0:
            raise UsageError(f"--candidate-timeout must be positive; received {timeout}")
        if silence <= 2 * ping:
            raise UsageError(f"the workers' silence limit ({silence:g} s) must exceed two heartbeats ({ping:g} s)")
        self._comm = mpi_comm() if comm is None else comm
        rank, size = self._comm.Get_rank(), self._comm.Get_size()
        if rank != 0:
            raise UsageError(f"--executor mpi: rank {rank} is a worker; only rank 0 runs the search "
                             "(workers call run_mpi_worker)")
        if size < 2:
            raise UsageError("--executor mpi needs worker ranks: launch it as 'mpiexec -n N nuclassify evolve "
                             "--executor mpi ...' with N >= 2 (rank 0 is the master)")
        self.workers = size - 1
        self.options = {"timeout": timeout, "prestart": prestart, "preload": tuple(preload),
                        "start_timeout": start_timeout, "silence": silence, "reuse": reuse}
        self.ping, self.start_timeout = ping, start_timeout
        self._names: dict[int, str] = {}
        self._jobs: dict[int, int | None] = {r: None for r in range(1, size)}  # rank -> running job id
        self._sends: list[Any] = []
        self._last_ping = time.monotonic()
        self._closed = False
        self._broadcast("hello", {"pid": os.getpid(), "host": socket.gethostname()})

    def _isend(self, rank: int, kind: str, payload: object = None) -> None:
        self._sends.append(self._comm.isend((kind, payload), dest=rank, tag=TAG_DOWN))

    def _broadcast(self, kind: str, payload: object = None) -> None:
        for rank in self._jobs:
            self._isend(rank, kind, payload)
        self._sends = [r for r in self._sends if not r.Test()]

    def _receive(self) -> tuple[int, str, Any] | None:
        """One message from any worker, if one has arrived."""
        from mpi4py import MPI  # already imported by mpi_comm: a dictionary look-up

        status = MPI.Status()
        message = self._comm.improbe(source=MPI.ANY_SOURCE, tag=TAG_UP, status=status)
        if message is None:
            return None
        kind, payload = message.recv()
        return status.Get_source(), kind, payload

    def start(self, trainer: str) -> None:
        """Have every worker rank load the trainer; a worker that cannot is one UsageError."""
        if self._closed:
            raise UsageError("--executor mpi: the worker ranks were stopped; one mpiexec runs one search")
        self._broadcast("start", {"trainer": trainer, **self.options})
        deadline, waiting = time.monotonic() + self.start_timeout + 10, set(self._jobs)
        while waiting:
            got = self._receive()
            if got is None:
                if time.monotonic() > deadline:
                    raise UsageError(f"trainer {trainer}: worker ranks {sorted(waiting)} did not start within "
                                     f"{self.start_timeout:g} s")
                time.sleep(0.005)
                continue
            rank, kind, payload = got
            if kind == "error":
                raise UsageError(f"{payload} (on worker rank {rank})")
            if kind == "ready":
                self._names[rank] = str(payload)
                waiting.discard(rank)

    def free(self) -> int:
        return sum(job is None for rank, job in self._jobs.items() if rank in self._names)

    def submit(self, job: Job) -> str:
        rank = next((r for r, j in self._jobs.items() if j is None and r in self._names), None)
        if rank is None:
            raise RuntimeError("every MPI worker is busy")
        self._isend(rank, "job", job)
        self._jobs[rank] = job.id
        return self._names[rank]

    def wait(self, timeout: float) -> list[Outcome]:
        """Results that arrive within ``timeout``; every waiting message is taken in one call,
        so a master at scale drains a burst of results in one turn (and one journal commit)."""
        deadline, delay, outcomes = time.monotonic() + timeout, 0.0005, []
        while True:
            now = time.monotonic()
            if now - self._last_ping >= self.ping:
                self._last_ping = now
                self._broadcast("ping")
            while (got := self._receive()) is not None:
                rank, kind, payload = got
                if kind == "result" and self._jobs.get(rank) == payload.id:
                    self._jobs[rank] = None
                    outcomes.append(payload)
            if outcomes or now >= deadline or not any(j is not None for j in self._jobs.values()):
                return outcomes
            time.sleep(min(delay, max(deadline - now, 0.0)))
            delay = min(delay * 2, 0.01)

    def close(self) -> None:
        """Tell every worker to stop (killing its running candidate); a resume re-issues those."""
        if self._closed:
            return
        self._closed = True
        self._broadcast("stop")
        deadline = time.monotonic() + 10
        while self._sends and time.monotonic() < deadline:
            self._sends = [r for r in self._sends if not r.Test()]
            time.sleep(0.005)
        self._jobs = {r: None for r in self._jobs}
