"""Ctrl-C and SIGTERM (a batch system's notice before it kills), handled the same way everywhere.

Two policies, one module:

- :func:`terminate_as_interrupt`: SIGTERM raises KeyboardInterrupt like Ctrl-C, so a writer's
  ``atomic_output`` removes its half-written temporary file. The CLI's entry runs every command
  inside it; the policies below take over where they apply.
- :func:`stop_on_signals`: long resumable work (training, a search) stops at a safe point.
  The first signal asks training to stop: at the end of the current batch the resume
  checkpoint is written at exactly that step, and :func:`~nuclassify.training.fit` raises
  :class:`~nuclassify.errors.TrainingInterrupted`, so ``train --resume`` loses no finished
  batch. A second signal stops at once (KeyboardInterrupt); the last periodic checkpoint is
  then what is left.
- :func:`deferred_interrupts`: while native libraries start (importing TensorFlow, JAX), a
  signal is only noted and raised as KeyboardInterrupt once the block is done.
- :func:`held_inside`: a signal that arrives while Python code called back from a native
  library runs (the file object HDF5 writes through) is held, and the handler it would have
  met runs at the caller's next safe point (:meth:`HeldSignals.deliver`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["HeldSignals", "deferred_interrupts", "held_inside", "stop_on_signals", "terminate_as_interrupt",
           "wait_interruptibly"]


def _in_main_thread() -> bool:
    """Python installs signal handlers only in the main thread; elsewhere these helpers do nothing."""
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C (KeyboardInterrupt) inside the block (an ignored SIGTERM stays ignored)."""
    if not _in_main_thread() or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
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


class HeldSignals:
    """The signals :func:`held_inside` held back, and :meth:`deliver` to act on them at a safe point."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, Any]] = []  # (signal, the handler it would have met)

    def deliver(self) -> None:
        """Run the handler the first held signal would have met (KeyboardInterrupt for Ctrl-C)."""
        if not self.pending:
            return
        signum, handler = self.pending[0]
        self.pending.clear()
        _run_handler(signum, handler, None)


def _run_handler(signum: int, handler: Any, frame: object) -> None:
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)  # the default action: end by the signal, as unhandled
        os.kill(os.getpid(), signum)


@contextlib.contextmanager
def held_inside(codes: set[Any]) -> Iterator[HeldSignals]:
    """Hold Ctrl-C and SIGTERM that arrive while a function whose code object is in ``codes`` runs.

    Why: Python runs a signal's handler at the next bytecode of the main thread, wherever that is.
    When HDF5 writes through a Python file object, that can be inside the object's ``write``,
    called back from HDF5's C code: the KeyboardInterrupt then unwinds into HDF5, which cannot
    undo half a write. h5py prints "Exception ignored" and carries on, the file is silently
    incomplete, and a later close may crash the process. Held, the signal is acted on when the
    writer calls :meth:`HeldSignals.deliver` between blocks, where the temporary file is removed
    cleanly. A signal that arrives anywhere else meets its handler at once, as usual.
    """
    held = HeldSignals()
    if not _in_main_thread():
        yield held
        return

    def hold_or_run(previous: Any) -> Callable[[int, Any], None]:
        def handler(signum: int, frame: Any) -> None:
            inner = frame
            while inner is not None:
                if inner.f_code in codes:
                    held.pending.append((signum, previous))
                    return
                inner = inner.f_back
            _run_handler(signum, previous, frame)
        return handler

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    watched = {sig: old for sig, old in previous.items() if old not in (signal.SIG_IGN, None)}
    for sig, old in watched.items():
        signal.signal(sig, hold_or_run(old))
    try:
        yield held
    finally:
        for sig, old in watched.items():
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
