"""The process executor: each candidate trains in a fresh spawned child, one per worker at a time.

Why a fresh child per candidate: a crash, an out-of-memory kill or a leak takes down that
candidate only, and memory never grows from one candidate to the next. Children are started
with the ``spawn`` method (never ``fork``: forking after TensorFlow or MPI started is unsafe).
Spawning costs the imports (seconds for TensorFlow), so each worker keeps one child started
ahead of time, its imports done, waiting for its job (``prestart``).

``reuse`` > 1 (``evolve --candidates-per-child N``) lets a child serve up to N candidates in turn
(see :mod:`nuclassify.search._child`): the import is paid once per N candidates instead of once
per candidate, which is what makes 2 workers faster than one on a 2-core machine. The child says
with each result whether it takes another job; a slot prestarts its next child only for a child's
last job.

Each worker may get its own GPU through ``CUDA_VISIBLE_DEVICES`` (found by :func:`detect_gpus`,
no framework imported here); workers sharing a GPU are told not to grab all its memory. A child
past ``timeout`` seconds is killed (SIGKILL) and its candidate fails with reason ``timeout``;
a child that dies without a result fails its candidate with its exit code or signal.

Each child is also told how many threads it may use: the machine's cores shared out over the
workers (:func:`thread_limits`). Left alone, every child's TensorFlow sizes its intra- and
inter-op pools to the whole machine, so 2 workers on 2 cores run twice as many compute threads
as there are cores, pre-empting one another.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from nuclassify.errors import UsageError
from nuclassify.search._candidate import FAILED, Job, Outcome
from nuclassify.search._child import LAST_RESULT, RESULT_AND_READY, child_main
from nuclassify.search._executors import Executor, detect_gpus

_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}

__all__ = ["ProcessExecutor", "thread_limits", "usable_cores"]

SHARED_GPU_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_limits(workers: int, cores: int | None = None) -> dict[str, str]:
    """Environment variables that give each of ``workers`` children ``cores // workers`` threads (at least 1).

    Read by the frameworks as they start, so they go into the child's environment before its imports:
    ``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS`` (TensorFlow's
    ``core/common_runtime/process_util.cc``), ``OMP_NUM_THREADS`` (OpenMP: oneDNN, torch),
    ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` (numpy's BLAS) and, for one thread, XLA's
    ``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` (JAX on the CPU).
    A variable the user has set is kept (see :class:`ProcessExecutor`).
    """
    n = max(1, (usable_cores() if cores is None else cores) // max(1, workers))
    env = {name: str(n) for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                                     "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    if n == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


@dataclass
class _Child:
    proc: BaseProcess
    conn: Connection
    jobs: int = 0  # jobs sent to it


@dataclass
class _Running:
    child: _Child
    job: Job
    sent: float  # monotonic, for the timeout
    sent_wall: float


@dataclass(eq=False)
class _Slot:
    name: str
    env: dict[str, str]
    standby: _Child | None = None
    running: _Running | None = None
    spawned: int = field(default=0)


def _crash_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"crash: killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    if code == 0:
        return "crash: the process exited without a result"
    return f"crash: exit code {code}"


class ProcessExecutor(Executor):
    kind = "process"
    """``workers`` slots, each running one spawned child per candidate.

    Args:
        workers: how many candidates run at once.
        timeout: seconds a candidate may run before it is killed (``None``: no limit).
        prestart: keep the next child of each slot started ahead, imports done.
        gpus: GPU ids to share out round-robin (``None``: detect; ``[]``: none).
        preload: modules a child imports before reporting ready (e.g. ``("keras",)``).
        start_timeout: seconds to wait for the first child to load the trainer.
        limit_threads: give each child its share of the cores (:func:`thread_limits`), except
            for variables already set in this process's environment.
        reuse: candidates one child may train in turn (1: a fresh process per candidate).
        memory_growth_mb: a reused child retires once its resident memory has grown by more than
            this since its first candidate.
    """

    EXIT_GRACE = 30.0  # seconds a child that has reported may take to exit before it is killed

    def __init__(self, workers: int = 2, timeout: float | None = None, prestart: bool = True,
                 gpus: list[str] | None = None, preload: tuple[str, ...] = (), start_timeout: float = 300.0,
                 limit_threads: bool = True, reuse: int = 1, memory_growth_mb: float = 1024.0) -> None:
        if workers < 1:
            raise UsageError(f"--workers must be at least 1; received {workers}")
        if isinstance(reuse, bool) or not isinstance(reuse, int) or reuse < 1:
            raise UsageError(f"--candidates-per-child must be a positive integer; received {reuse!r}")
        self.reuse, self.memory_growth_mb = reuse, float(memory_growth_mb)
        if timeout is not None and timeout <= 0:
            raise UsageError(f"--candidate-timeout must be positive; received {timeout}")
        self.workers, self.timeout, self.prestart = workers, timeout, prestart
        self.preload, self.start_timeout = tuple(preload), start_timeout
        self._ctx = mp.get_context("spawn")
        self._trainer = ""
        self._exiting: list[tuple[_Child, float]] = []
        gpus = detect_gpus() if gpus is None else list(gpus)
        shared = bool(gpus) and workers > len(gpus)
        threads = {k: v for k, v in thread_limits(workers).items() if k not in os.environ} if limit_threads else {}
        self._slots = []
        for i in range(workers):
            env = dict(threads)
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
            if shared:
                env.update({k: v for k, v in SHARED_GPU_ENV.items() if k not in os.environ})
            name = f"w{i}" + (f":gpu{gpus[i % len(gpus)]}" if gpus else "")
            self._slots.append(_Slot(name, env))

    def _spawn(self, slot: _Slot) -> _Child:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=child_main, name=f"nuclassify-{slot.name}", daemon=True,
                                 args=(child, self._trainer, slot.env, self.preload, os.getpid(), slot.name,
                                       self.reuse, self.memory_growth_mb))
        # The child ignores Ctrl-C (the parent stops the search), but a spawned child first re-imports
        # the command's modules, and a Ctrl-C to the whole process group in that window printed
        # its KeyboardInterrupt traceback. Blocked here, the signal waits in the parent (handled on
        # unblocking) and the child inherits the block until it has set SIG_IGN (child_main).
        main_thread = threading.current_thread() is threading.main_thread()
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS) if main_thread else None
        try:
            proc.start()
        finally:
            if held is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
        child.close()
        slot.spawned += 1
        return _Child(proc, parent)

    @staticmethod
    def _drain(child: _Child) -> str | None:
        """Read an idle child's status messages: ``"dead"``, ``"error: ..."`` (it could not load
        the trainer), or ``None`` (alive: starting or ready)."""
        try:
            while child.conn.poll():
                kind, payload = child.conn.recv()
                if kind == "error":
                    return f"error: {payload}"
        except (EOFError, OSError):
            return "dead"
        return None

    def start(self, trainer: str) -> None:
        """Spawn every worker's first child; wait for one to load the trainer, so a bad trainer
        is one UsageError now rather than a failed candidate per worker."""
        self._trainer = trainer
        for slot in self._slots:
            slot.standby = self._spawn(slot)
        first = self._slots[0].standby
        if first is None:
            return
        if not first.conn.poll(self.start_timeout):
            self.close()
            raise UsageError(f"trainer {trainer}: the first worker did not start within {self.start_timeout:g} s")
        status = self._drain(first)
        if status == "dead":
            first.proc.join(5)
            status = f"the first worker died while starting ({_crash_reason(first.proc.exitcode)})"
        if status is not None:
            self.close()
            raise UsageError(f"trainer {trainer}: {status.removeprefix('error: ')}")

    def free(self) -> int:
        return sum(slot.running is None for slot in self._slots)

    def submit(self, job: Job) -> str:
        slot = next(s for s in self._slots if s.running is None)
        child, slot.standby = slot.standby, None
        if child is None or self._drain(child) is not None:  # gone, or failed to load: a fresh one
            if child is not None:
                self._kill(child)
            child = self._spawn(slot)
        child.conn.send(job)
        child.jobs += 1
        slot.running = _Running(child, job, time.monotonic(), time.time())
        if self.prestart and child.jobs >= self.reuse:  # its last job: have the next child ready
            slot.standby = self._spawn(slot)
        return slot.name

    def wait(self, timeout: float) -> list[Outcome]:
        running = [s for s in self._slots if s.running is not None]
        if not running:
            return []
        limit = timeout
        if self.timeout is not None:
            now = time.monotonic()
            limit = min(limit, max(0.0, min(s.running.sent + self.timeout - now for s in running)))  # type: ignore[union-attr]
        handles: dict[object, _Slot] = {}
        for s in running:
            handles[s.running.child.conn] = s  # type: ignore[union-attr]
            handles[s.running.child.proc.sentinel] = s  # type: ignore[union-attr]
        ready = wait(list(handles), timeout=limit)
        outcomes = []
        for slot in dict.fromkeys(handles[h] for h in ready):
            outcome = self._collect(slot)
            if outcome is not None:
                outcomes.append(outcome)
        outcomes.extend(self._expire())
        self._reap_exited()
        return outcomes

    def _collect(self, slot: _Slot) -> Outcome | None:
        run = slot.running
        if run is None:
            return None
        conn, eof = run.child.conn, False
        try:
            while conn.poll():
                kind, payload = conn.recv()
                if kind == RESULT_AND_READY and slot.standby is None:  # it waits for the next job
                    slot.running = None
                    slot.standby = run.child
                    return payload
                if kind in (LAST_RESULT, RESULT_AND_READY):
                    slot.running = None
                    self._reap(run.child)
                    return payload
                if kind == "error":
                    slot.running = None
                    self._reap(run.child)
                    now = time.time()
                    return Outcome(run.job.id, FAILED, {}, f"error: the worker could not load the trainer: {payload}",
                                   slot.name, run.sent_wall, now, now - run.sent_wall)
        except (EOFError, OSError):
            eof = True
        if eof:
            run.child.proc.join(5)
        if run.child.proc.is_alive():
            return None
        slot.running = None
        self._reap(run.child)
        now = time.time()
        return Outcome(run.job.id, FAILED, {}, _crash_reason(run.child.proc.exitcode), slot.name, run.sent_wall, now,
                       now - run.sent_wall)

    def _expire(self) -> list[Outcome]:
        if self.timeout is None:
            return []
        outcomes, now = [], time.monotonic()
        for slot in self._slots:
            run = slot.running
            if run is not None and now - run.sent > self.timeout:
                late = self._collect(slot)  # a result that raced the deadline still counts
                if late is not None:
                    outcomes.append(late)
                    continue
                slot.running = None
                self._kill(run.child)
                end = time.time()
                outcomes.append(Outcome(run.job.id, FAILED, {}, f"timeout: still running after {self.timeout:g} s",
                                        slot.name, run.sent_wall, end, end - run.sent_wall))
        return outcomes

    def _reap(self, child: _Child) -> None:
        """Let a child that has reported exit on its own, without blocking the master on it."""
        child.conn.close()
        self._exiting.append((child, time.monotonic() + self.EXIT_GRACE))
        self._reap_exited()

    def _reap_exited(self) -> None:
        """Join children that have exited; kill those still alive past their grace period."""
        now, left = time.monotonic(), []
        for child, deadline in self._exiting:
            if child.proc.is_alive() and now < deadline:
                left.append((child, deadline))
            elif child.proc.is_alive():
                self._kill(child)
            else:
                child.proc.join(0)
        self._exiting = left

    @staticmethod
    def _kill(child: _Child) -> None:
        if child.proc.is_alive():
            child.proc.kill()
        child.proc.join(5)
        if not child.conn.closed:
            child.conn.close()

    def close(self) -> None:
        for child, _ in self._exiting:
            self._kill(child)
        self._exiting = []
        for slot in self._slots:
            for child in (slot.standby, slot.running.child if slot.running else None):
                if child is not None:
                    self._kill(child)
            slot.standby, slot.running = None, None
