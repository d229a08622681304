"""Ctrl-C and SIGTERM (a batch system's notice before it kills), handled the same way everywhere.

Two policies, one module:

- :func:`terminate_as_interrupt`: SIGTERM raises KeyboardInterrupt like Ctrl-C, so a writer's
  ``atomic_output`` removes its half-written temporary file (``simulate``, exports).
- :func:`stop_on_signals`: long resumable work (training, a search) stops at a safe point.
  The first signal asks training to stop: at the end of the current batch the resume
  checkpoint is written at exactly that step, and :func:`~nuclassify.training.fit` raises
  :class:`~nuclassify.errors.TrainingInterrupted`, so ``train --resume`` loses no finished
  batch. A second signal stops at once (KeyboardInterrupt); the last periodic checkpoint is
  then what is left.
- :func:`deferred_interrupts`: while native libraries start (importing TensorFlow, JAX), a
  signal is only noted and raised as KeyboardInterrupt once the block is done.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["deferred_interrupts", "stop_on_signals", "terminate_as_interrupt", "wait_interruptibly"]


def _in_main_thread() -> bool:
    """Python installs signal handlers only in the main thread; elsewhere these helpers do nothing."""
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C (KeyboardInterrupt) inside the block."""
    if not _in_main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back inside the block, then raise KeyboardInterrupt if one came.

    Why: Python raises KeyboardInterrupt wherever the main thread happens to be, and during a
    backend's start-up that can be inside a native library's callback (JAX's garbage-collection
    hook, a nanobind binding). There the exception is either printed as "Exception ignored" and
    lost, so the command runs on as if Ctrl-C had not been pressed, or it aborts the process with
    no message (SIGABRT). Noting the signal and raising it after the import avoids both.
    """
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)

    # A signal this process ignores (a search's candidate process: its parent stops the search) stays ignored.
    watched = [sig for sig in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is not signal.SIG_IGN]
    previous = {sig: signal.signal(sig, handler) for sig in watched}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if received:
        raise KeyboardInterrupt


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Yield an event that SIGINT/SIGTERM set; a second signal raises KeyboardInterrupt.

    Outside the main thread (where Python cannot install handlers) the event simply never fires.
    """
    requested = threading.Event()
    if not _in_main_thread():
        yield requested
        return

    def handler(signum: int, frame: object) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def wait_interruptibly(get: Callable[[float], Any], timeout_error: type[BaseException], poll_s: float = 0.2) -> Any:
    """``get(timeout)`` called in ``poll_s`` slices until it returns (e.g. ``Future.result``,
    ``AsyncResult.get``; ``timeout_error`` is what each raises when a slice runs out).

    Why not one untimed wait: a signal may be delivered to any thread (a pool's helper threads
    too), and CPython runs the Python handler only when the main thread returns to the
    interpreter, which an untimed wait never does; a timed wait returns every ``poll_s`` seconds,
    so Ctrl-C and SIGTERM are handled at once.
    """
    while True:
        try:
            return get(poll_s)
        except timeout_error:
            continue
