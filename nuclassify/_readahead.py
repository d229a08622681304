"""Reading ahead in a background thread: one reader for training feeds and evaluation alike.

Reading HDF5, densifying hits or copying to a device inside the thread overlaps the consumer's
work (a training or prediction step). The queue is bounded, so memory holds at most ``depth``
items; an error in the thread is re-raised in the consumer; ``close`` stops the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["ReadAhead", "prefetch"]


class ReadAhead:
    """Items of an iterator, produced in order by a daemon thread into a bounded queue.

    The iterator runs in the thread, so reading, densifying or a device transfer done inside it
    overlaps the consumer's work. ``position`` is the index of the first item (for ``next``).
    """

    _DONE = object()

    def __init__(self, batches: Iterator, position: int = 0, depth: int = 2) -> None:
        self.next = position
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(batches,), daemon=True, name="nuclassify-feed")
        self._thread.start()

    def _run(self, batches: Iterator) -> None:
        try:
            for item in batches:
                while not self._stop.is_set():
                    try:
                        self._q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._q.put(self._DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._q.put(exc)

    def get(self) -> Any:
        while True:
            try:
                item = self._q.get(timeout=0.1)
                break
            except queue.Empty:
                if self._stop.is_set():
                    raise IndexError(f"feed closed before batch {self.next}") from None
        if item is self._DONE:
            raise IndexError(f"no batch {self.next}")
        if isinstance(item, BaseException):
            raise item
        self.next += 1
        return item

    def __iter__(self) -> Iterator:
        """The remaining items in order, until the source is exhausted."""
        while True:
            try:
                yield self.get()
            except IndexError:
                return

    def close(self) -> None:
        self._stop.set()


def prefetch(iterable: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Iterate ``iterable`` in a background thread, ``depth`` items ahead (errors re-raised here)."""
    reader = ReadAhead(iter(iterable), 0, depth)
    try:
        yield from reader
    finally:
        reader.close()
