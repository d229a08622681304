"""Feeding Keras from an HDF5 file: a PyDataset over the data layer's batches, read ahead by a thread.

Batch ``i`` of epoch ``e`` is a pure function of (seed, e, i): the data layer's shuffle depends
only on (seed, epoch). So a resumed run can start mid-epoch at exactly the batch after the last
checkpoint, and a peek by Keras (for the input signature) costs one re-read, not a wrong order.

A background thread reads and densifies the batches of the current epoch in order into a bounded
queue while the model trains, so reading overlaps compute; the TensorFlow backend adds its own
``tf.data`` prefetch on top.
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["make_feed", "StreamSpec"]


class StreamSpec:
    """What to stream: a dataset, its events, and how (batch size, target, shuffle seed)."""

    def __init__(self, ds: Any, indices: np.ndarray, batch_size: int, target: str, views: Sequence[str],
                 shuffle: bool, seed: int) -> None:
        self.ds = ds
        self.indices = indices
        self.batch_size = int(batch_size)
        self.target = target
        self.views = list(views)
        self.shuffle = shuffle
        self.seed = seed
        self.n_steps = math.ceil(len(indices) / self.batch_size)
        self._pick = [list(ds.view_names).index(v) for v in self.views]

    def stream(self, epoch: int, start: int, sparse: bool = False) -> Any:
        """Batches ``start, start+1, ...`` of ``epoch`` as (dict view -> array, labels).

        With ``sparse`` each view is a :class:`~nuclassify.data.SparseImages` hit list instead.
        """
        read = self.ds.sparse_batches if sparse else self.ds.batches
        it = read(self.batch_size, target=self.target, indices=self.indices, shuffle=self.shuffle,
                             seed=self.seed, epoch=epoch, drop_remainder=False, with_labels=True)
        for xs, y in itertools.islice(it, start, None):
            yield {v: xs[k] for v, k in zip(self.views, self._pick, strict=True)}, y


class _Reader:
    """One epoch's batches, read in order by a daemon thread into a bounded queue."""

    _DONE = object()

    def __init__(self, spec: StreamSpec, epoch: int, start: int, depth: int) -> None:
        self.epoch, self.next = epoch, start
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(spec, epoch, start), daemon=True,
                                        name=f"nuclassify-feed-e{epoch}")
        self._thread.start()

    def _run(self, spec: StreamSpec, epoch: int, start: int) -> None:
        try:
            for item in spec.stream(epoch, start):
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
        item = self._q.get()
        if item is self._DONE:
            raise IndexError(f"epoch {self.epoch} has no batch {self.next}")
        if isinstance(item, BaseException):
            raise item
        self.next += 1
        return item

    def close(self) -> None:
        self._stop.set()


def make_feed(spec: StreamSpec, *, epoch: int, start_step: int = 0, depth: int = 6,
              class_weight: dict[int, float] | None = None) -> Any:
    """A ``keras.utils.PyDataset`` of ``spec``'s batches starting at ``epoch`` (and ``start_step``).

    ``start_step`` skips the first batches of the first epoch only (resume mid-epoch): that epoch
    is then shorter, so it is run by its own ``fit`` call; later epochs use ``start_step=0``.
    """
    import keras

    class _Feed(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = epoch
            self.start = start_step
            self._reader: _Reader | None = None
            self._lock = threading.Lock()
            self._weights = None
            if class_weight:
                k = max(class_weight) + 1
                self._weights = np.array([class_weight.get(c, 1.0) for c in range(k)], dtype=np.float32)

        def __len__(self) -> int:
            return spec.n_steps - self.start

        def __getitem__(self, i: int) -> tuple:
            if i >= len(self):
                raise IndexError(i)
            with self._lock:
                r = self._reader
                if r is None or r.epoch != self.epoch or r.next != i + self.start:
                    if r is not None:
                        r.close()
                    r = self._reader = _Reader(spec, self.epoch, i + self.start, depth)
                x, y = r.get()
            if self._weights is not None:
                return x, y, self._weights[y]
            return x, y

        def on_epoch_end(self) -> None:
            with self._lock:
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None
                self.epoch += 1
                self.start = 0

        def close(self) -> None:
            with self._lock:
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None

    return _Feed()
