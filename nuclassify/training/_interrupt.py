"""Stopping a training run cleanly on Ctrl-C or SIGTERM (a batch system's notice before it kills).

The first signal asks training to stop: at the end of the current batch the resume checkpoint
is written at exactly that step, and :func:`~nuclassify.training.fit` raises
:class:`~nuclassify.training.TrainingInterrupted`, so ``train --resume`` loses no finished batch. A second signal
stops at once (KeyboardInterrupt); the last periodic checkpoint is then what is left.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["stop_on_signals"]


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Yield an event that SIGINT/SIGTERM set; a second signal raises KeyboardInterrupt.

    Outside the main thread (where Python cannot install handlers) the event simply never fires.
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
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
