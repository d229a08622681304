"""The MPI executor's worker side: a rank >= 1 serves candidates until the master says stop.

A worker rank runs its candidates exactly as ``--executor process`` does, through a one-worker
:class:`ProcessExecutor` (a fresh spawned child per candidate, the next one started ahead, the
candidate timeout), so the rank itself never imports the trainer or Keras and never grows.

Its GPU comes from its node-local rank among the workers: the workers (not the master, see
``_mpi``) form their own communicator with ``Create_group`` (collective over the workers only),
split it by shared memory (``COMM_TYPE_SHARED``), and local worker ``i`` takes detected GPU
``i mod n``; workers that share a GPU are told not to grab all its memory.

A worker must not outlive its master (it would keep a GPU busy or write into RUN_DIR). ``mpiexec``
kills every rank when one dies; a watchdog thread exits anyway when the worker's parent (the MPI
daemon) goes, when the master's process is gone (same host), or when a started worker has heard
nothing from the master, not even a heartbeat, for ``silence`` seconds. The rank exits with
``os._exit``, and its candidate children, which watch their parent, follow within a second.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import replace
from typing import Any

from nuclassify.errors import UsageError
from nuclassify.search._executors import detect_gpus
from nuclassify.search._mpi import TAG_DOWN, TAG_UP, mpi_comm
from nuclassify.search._process import SHARED_GPU_ENV, ProcessExecutor

__all__ = ["run_mpi_worker", "node_local_rank", "gpu_for"]

# What tells a process it is an MPI rank: a candidate child must not believe it is one (it
# would join the job as this rank); the rank itself read these when MPI started, not after.
_LAUNCHER_PREFIXES = ("OMPI_", "PMIX_", "PMI_", "MPI_LOCAL", "HYDRA_", "I_MPI_")
EXIT_ORPHANED = 70


def node_local_rank(comm: Any) -> tuple[int, int]:
    """(index, count) of this worker among the worker ranks on its node; workers only."""
    from mpi4py import MPI

    workers = comm.Create_group(comm.Get_group().Excl([0]))
    try:
        local = workers.Split_type(MPI.COMM_TYPE_SHARED, key=workers.Get_rank())
        try:
            return local.Get_rank(), local.Get_size()
        finally:
            local.Free()
    finally:
        workers.Free()


def gpu_for(local: int, local_size: int, gpus: list[str]) -> tuple[str | None, dict[str, str]]:
    """The GPU of local worker ``local`` (``None`` without GPUs) and the environment its children need."""
    if not gpus:
        return None, {}
    gpu = gpus[local % len(gpus)]
    shared = local_size > len(gpus)
    return gpu, ({k: v for k, v in SHARED_GPU_ENV.items() if k not in os.environ} if shared else {})


class _Watchdog:
    """Exits the rank (``os._exit``) when the master is gone; a daemon thread, so it also runs
    while the main thread blocks (e.g. waiting for the first child to import the trainer)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.parent = os.getppid()
        self.master_pid: int | None = None
        self.silence: float | None = None  # armed once the worker has started
        self.heard = time.monotonic()
        self.interval = interval
        threading.Thread(target=self._run, name="nuclassify-mpi-watchdog", daemon=True).start()

    def master(self, payload: dict) -> None:
        if payload.get("host") == socket.gethostname():
            self.master_pid = int(payload["pid"])

    def _master_gone(self) -> bool:
        if self.master_pid is None:
            return False
        try:
            os.kill(self.master_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            silent = self.silence is not None and time.monotonic() - self.heard > self.silence
            if os.getppid() != self.parent or self._master_gone() or silent:
                os._exit(EXIT_ORPHANED)


def _forget_launcher() -> None:
    for key in [k for k in os.environ if k.startswith(_LAUNCHER_PREFIXES)]:
        del os.environ[key]


def _start(options: dict, gpu: str | None, env: dict[str, str]) -> ProcessExecutor:
    """A one-worker process executor with this rank's GPU, its first child's trainer loaded."""
    os.environ.update(env)  # the children inherit it: shared-GPU memory settings
    executor = ProcessExecutor(1, timeout=options.get("timeout"), prestart=bool(options.get("prestart", True)),
                               gpus=[gpu] if gpu is not None else [], preload=tuple(options.get("preload", ())),
                               start_timeout=float(options.get("start_timeout", 300.0)),
                               reuse=int(options.get("reuse", 1)))
    executor.start(str(options["trainer"]))
    return executor


def run_mpi_worker(gpus: list[str] | None = None) -> None:
    """Serve the master (rank 0) until it says stop: the body of every rank >= 1 under ``--executor mpi``.

    Args:
        gpus: GPU ids to choose from (``None``: :func:`detect_gpus` on this node).

    Raises:
        UsageError: called on rank 0, or without mpi4py.
    """
    comm = mpi_comm()
    rank = comm.Get_rank()
    if rank == 0:
        raise UsageError("run_mpi_worker runs on ranks >= 1; rank 0 runs the search with --executor mpi")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the master's: it stops us cleanly
    watchdog = _Watchdog()
    local, local_size = node_local_rank(comm)
    gpu, env = gpu_for(local, local_size, detect_gpus() if gpus is None else list(gpus))
    name = f"rank{rank}" + (f":gpu{gpu}" if gpu is not None else "")
    _forget_launcher()
    executor: ProcessExecutor | None = None
    delay = 0.001
    try:
        while True:
            message = comm.improbe(source=0, tag=TAG_DOWN)
            if message is not None:
                kind, payload = message.recv()
                watchdog.heard, delay = time.monotonic(), 0.001
                if kind == "stop":
                    return
                if kind == "hello":
                    watchdog.master(payload)
                elif kind == "start" and executor is None:
                    try:
                        executor = _start(payload, gpu, env)
                    except UsageError as exc:
                        comm.send(("error", str(exc)), dest=0, tag=TAG_UP)
                        continue
                    comm.send(("ready", name), dest=0, tag=TAG_UP)
                    watchdog.heard, watchdog.silence = time.monotonic(), float(payload.get("silence", 30.0))
                elif kind == "job" and executor is not None:
                    executor.submit(payload)
                continue
            if executor is not None and executor.busy():
                for outcome in executor.wait(0.05):
                    comm.send(("result", replace(outcome, worker=name)), dest=0, tag=TAG_UP)
            else:
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
    finally:
        if executor is not None:
            executor.close()
