"""Running one candidate: the trainer call and its failure reasons, in the master or in a child.

:func:`evaluate` turns whatever a trainer does (returns numbers, raises, returns rubbish) into an
:class:`Outcome` with a one-line reason. :func:`child_main` is the body of a process executor's
child: it sets its environment (``CUDA_VISIBLE_DEVICES``) before importing anything heavy,
imports the trainer, reports ready, runs one job, reports, and exits, so memory never grows from
candidate to candidate. It ignores Ctrl-C and SIGTERM (the master owns the search and kills its
children itself) and exits within a second if the master dies, even by ``kill -9``.

With ``reuse`` > 1 (``evolve --candidates-per-child N``) a child serves up to N jobs, clearing
Keras' session between them, and retires early once its resident memory has grown by more than
``memory_growth_mb`` since its first job. That saves the framework import per candidate (3.5
CPU-s for TensorFlow on the 2-core development machine, more than a small candidate's training),
at the price of weaker isolation: a leak can accumulate up to the growth limit, and a crash still
takes down only the candidate it was running. The child decides whether it will take another job
*before* it reports, and says so (``result`` or ``result+``), so the master never sends a job to
a child that is about to exit.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from nuclassify.errors import OutputError, SpecError, TrainingDivergedError, UsageError
from nuclassify.search._candidate import FAILED, FINISHED, Job, Outcome

__all__ = ["resolve_trainer", "evaluate", "child_main", "Trainer", "backend_name", "unused_frameworks",
           "block_for_life", "resident_mb", "LAST_RESULT", "RESULT_AND_READY"]

Trainer = Callable[[dict, dict], dict]


def resolve_trainer(path: str) -> Trainer:
    """The function named ``"package.module:function"``.

    Raises:
        UsageError: malformed path, module not importable, or not a callable.
    """
    module_name, _, attr = str(path).partition(":")
    if not module_name or not attr:
        raise UsageError(f"trainer {path!r}: expected 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"trainer {path!r}: cannot import {module_name} ({exc})") from exc
    trainer = getattr(module, attr, None)
    if not callable(trainer):
        raise UsageError(f"trainer {path!r}: {module_name} has no function {attr}")
    return trainer


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: the reason prefix of a candidate that could not write its files (full disk, size limit, ...):
#: not the network's fault, so the search stops and ``--resume`` trains it again (see _loop)
OUTPUT_FAILURE = "output: "


def failure_reason(exc: BaseException) -> str:
    """``invalid spec: ...``, ``nan: ...``, ``out of memory: ...``, ``output: ...`` or ``error: Type: message``."""
    if isinstance(exc, OutputError):
        return _one_line(f"{OUTPUT_FAILURE}{exc}")
    if isinstance(exc, SpecError):
        return _one_line(f"invalid spec: {exc}")
    if isinstance(exc, TrainingDivergedError):
        return _one_line(f"nan: {exc}")
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower() or "OOM" in str(exc):
        return _one_line(f"out of memory: {type(exc).__name__}: {exc}")
    return _one_line(f"error: {type(exc).__name__}: {exc}")


def _numbers(result: Any) -> dict[str, float]:
    if not isinstance(result, dict):
        raise TypeError(f"trainer returned {type(result).__name__}, expected a dict of numbers")
    out = {}
    for key, value in result.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"trainer returned {key}={value!r}, expected a number")
        out[str(key)] = float(value)
    return out


def evaluate(trainer: Trainer, job: Job, worker: str) -> Outcome:
    """Run ``trainer`` on ``job``; an exception (not Ctrl-C) becomes a failed outcome."""
    start = time.time()
    try:
        values = _numbers(trainer(job.genome, job.task))
    except Exception as exc:
        return Outcome(job.id, FAILED, {}, failure_reason(exc), worker, start, time.time(), time.time() - start)
    end = time.time()
    seconds = values.pop("train_seconds", end - start)
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        return Outcome(job.id, FAILED, values, f"nan: {bad[0]} = {values[bad[0]]}", worker, start, end, seconds)
    return Outcome(job.id, FINISHED, values, "", worker, start, end, seconds)


#: Keras' backends and the framework module each one needs
FRAMEWORKS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def backend_name() -> str:
    """The Keras backend this process will start, found as Keras finds it.

    ``KERAS_BACKEND`` first (a child inherits the master's environment, so
    ``KERAS_BACKEND=jax nuclassify evolve ...`` reaches every candidate), else the ``backend`` of
    ``keras.json`` in ``KERAS_HOME`` or ``~/.keras``, else Keras' default, TensorFlow.
    """
    name = os.environ.get("KERAS_BACKEND")
    if not name:
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
        try:
            with open(os.path.join(home, "keras.json")) as fh:
                name = json.load(fh).get("backend")
        except (OSError, ValueError, AttributeError):
            name = None
    return str(name or "tensorflow").strip().lower()


def unused_frameworks(backend: str) -> tuple[str, ...]:
    """The frameworks a candidate on ``backend`` never needs (none for a backend we do not know)."""
    if backend not in FRAMEWORKS:
        return ()
    return tuple(module for name, module in FRAMEWORKS.items() if name != backend)


def block_for_life(names: tuple[str, ...]) -> None:
    """Make ``import name`` raise ImportError in this process from now on (unless already imported)."""
    for name in names:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]


def _watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Exit at once when the master is gone (we are re-parented), so no orphan holds a GPU."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(70)
            time.sleep(interval)

    threading.Thread(target=watch, name="nuclassify-watch-master", daemon=True).start()


def resident_mb() -> float:
    """This process's resident memory now, in MiB (its peak where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _between_candidates() -> None:
    """Free what one candidate left behind before the next runs in the same process."""
    import gc

    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()
    gc.collect()


#: what a child sends with its outcome: it exits now, or it waits for another job
LAST_RESULT, RESULT_AND_READY = "result", "result+"


def child_main(conn: Connection, trainer_path: str, env: dict[str, str], preload: tuple[str, ...],
               parent_pid: int, worker: str, reuse: int = 1, memory_growth_mb: float = 1024.0) -> None:
    """Body of a candidate process: set up, report ready, run up to ``reuse`` jobs, report each, exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})  # blocked by the parent at spawn
    os.environ.update(env)
    _watch_parent(parent_pid)
    try:
        for module in preload:
            importlib.import_module(module)
        trainer = resolve_trainer(trainer_path)
    except BaseException as exc:  # reported to the master, which stops the search
        conn.send(("error", _one_line(str(exc) if isinstance(exc, UsageError) else f"{type(exc).__name__}: {exc}")))
        return
    conn.send(("ready", time.time()))
    first_mb: float | None = None
    for done in range(1, max(1, reuse) + 1):
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            outcome = evaluate(trainer, job, worker)
        except BaseException as exc:  # SystemExit from a trainer is a failure, not our exit
            outcome = Outcome(job.id, FAILED, {}, failure_reason(exc), worker, time.time(), time.time())
        more = done < reuse
        if more:
            _between_candidates()
            now_mb = resident_mb()
            first_mb = now_mb if first_mb is None else first_mb
            more = now_mb - first_mb <= memory_growth_mb
        conn.send((RESULT_AND_READY if more else LAST_RESULT, outcome))
        if not more:
            break
    conn.close()
