"""Where candidates run, behind one interface: ``serial`` here, ``process`` in children (``_process``),
``mpi`` on worker ranks (``_mpi`` for the master, ``_mpiworker`` for the ranks).

The loop talks to an executor through five calls: ``start(trainer)``, ``free()`` (workers
ready for a job), ``submit(job)`` (returns the worker's name), ``wait(timeout)`` (the outcomes
that have arrived, possibly none), ``close()``. An executor never decides anything about the
search, and reports every job it accepted exactly once, unless it is closed first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from abc import ABC, abstractmethod

from nuclassify.errors import UsageError
from nuclassify.search._candidate import Job, Outcome
from nuclassify.search._child import Trainer, evaluate, resolve_trainer
from nuclassify.search._genome import clone

__all__ = ["Executor", "SerialExecutor", "make_executor", "detect_gpus", "EXECUTORS"]

EXECUTORS = ("serial", "process", "mpi")


class Executor(ABC):
    """Runs jobs; see the module docstring for the protocol."""

    workers: int = 1
    kind: str = "serial"  # the --executor that names it, for the search's record of how it was run

    @abstractmethod
    def start(self, trainer: str) -> None:
        """Load (or have the workers load) the trainer ``"module:function"``."""

    @abstractmethod
    def free(self) -> int:
        """How many more jobs :meth:`submit` accepts now."""

    @abstractmethod
    def submit(self, job: Job) -> str:
        """Hand ``job`` to a free worker; return the worker's name."""

    @abstractmethod
    def wait(self, timeout: float) -> list[Outcome]:
        """Outcomes that arrive within ``timeout`` seconds (return early on the first)."""

    @abstractmethod
    def close(self) -> None:
        """Stop every worker; jobs still running are abandoned (a resume re-issues them)."""

    def busy(self) -> int:
        return self.workers - self.free()


class SerialExecutor(Executor):
    """Jobs run one after another in this process: for debugging, tests and the master benchmark.

    The trainer runs in the master, so there is no timeout and a crash takes the search down
    (``--resume`` then re-issues the candidate); ``process --workers 1`` isolates each candidate.
    With ``workers`` > 1 it accepts that many jobs per turn and reports them together, as many
    real workers finishing at once would: the benchmark's model of a master at scale.
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise UsageError(f"--workers must be at least 1; received {workers}")
        self.workers = workers
        self._trainer: Trainer | None = None
        self._jobs: list[tuple[Job, str]] = []

    def start(self, trainer: str) -> None:
        self._trainer = resolve_trainer(trainer)

    def free(self) -> int:
        return self.workers - len(self._jobs)

    def submit(self, job: Job) -> str:
        if len(self._jobs) >= self.workers:
            raise RuntimeError("every serial worker is busy")
        name = "serial" if self.workers == 1 else f"serial{len(self._jobs)}"
        self._jobs.append((Job(job.id, clone(job.genome), job.task), name))  # a trainer may edit its spec
        return name

    def wait(self, timeout: float) -> list[Outcome]:
        if self._trainer is None:
            return []
        outcomes = []
        while self._jobs:
            job, name = self._jobs.pop(0)
            outcomes.append(evaluate(self._trainer, job, name))
        return outcomes

    def close(self) -> None:
        self._jobs = []


def detect_gpus() -> list[str]:
    """GPU ids for ``CUDA_VISIBLE_DEVICES``, without importing any framework.

    ``CUDA_VISIBLE_DEVICES`` as already set wins (empty or ``-1``: no GPU); else one id per
    ``GPU n:`` line of ``nvidia-smi -L``; else none.
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, _ in enumerate(line for line in out.splitlines() if line.startswith("GPU "))]


def make_executor(kind: str, workers: int = 1, timeout: float | None = None, **options: object) -> Executor:
    """``serial``, ``process`` (``workers`` children, ``timeout`` seconds per candidate) or ``mpi``.

    ``mpi`` is the master side, on rank 0 of an ``mpiexec`` launch: the worker count is the
    number of other ranks (``workers`` is ignored), and ``options`` go to :class:`MPIExecutor`.
    """
    if kind == "serial":
        return SerialExecutor(workers)
    if kind == "process":
        from nuclassify.search._process import ProcessExecutor

        return ProcessExecutor(workers, timeout=timeout, **options)  # type: ignore[arg-type]
    if kind == "mpi":
        from nuclassify.search._mpi import MPIExecutor

        return MPIExecutor(timeout=timeout, **options)  # type: ignore[arg-type]
    raise UsageError(f"unknown executor {kind!r} (known: {', '.join(EXECUTORS)})")
