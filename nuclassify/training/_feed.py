"""Feeding Keras from an HDF5 file: a PyDataset over the data layer's batches, read ahead by a thread.

Item ``i`` of a feed is a pure function of its index: it is batch ``(start + i) mod n`` of epoch
``epoch + (start + i) // n`` (``n`` steps per epoch), and the data layer's shuffle depends only on
(seed, epoch). So

- a resumed run starts mid-epoch at exactly the batch after the last checkpoint;
- Keras may peek at items (for the input signature), restart its iterator (``reset``) or read
  ahead across an epoch boundary (``tf.data`` prefetch) without changing what any step sees;
- a training feed is endless and ``fit`` gets ``steps_per_epoch``, so one Keras iterator runs
  through all epochs without a stall at each epoch start.

A background thread reads and densifies the batches in order into a bounded queue while the
model trains, so reading overlaps compute. Asking for an item out of order (a peek, a restart)
restarts the thread there.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from nuclassify._readahead import ReadAhead

__all__ = ["make_feed", "StreamSpec"]


class StreamSpec:
    """What to stream: a dataset, its events, and how (batch size, target, shuffle seed).

    ``drop_remainder`` leaves out a final short batch: data-parallel training splits every batch
    evenly over the replicas, which a short batch may not allow. With a shuffled stream each
    epoch leaves out different events.
    """

    def __init__(self, ds: Any, indices: np.ndarray, batch_size: int, target: str, views: Sequence[str],
                 shuffle: bool, seed: int, drop_remainder: bool = False) -> None:
        self.ds = ds
        self.indices = indices
        self.batch_size = int(batch_size)
        self.target = target
        self.views = list(views)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_remainder = drop_remainder
        self.n_steps = (len(indices) // self.batch_size if drop_remainder
                        else math.ceil(len(indices) / self.batch_size))
        self._pick = [list(ds.view_names).index(v) for v in self.views]

    def stream(self, epoch: int, start: int, sparse: bool = False) -> Iterator[tuple[dict, np.ndarray]]:
        """Batches ``start, start+1, ...`` of ``epoch`` as (dict view -> array, labels).

        With ``sparse`` each view is a :class:`~nuclassify.data.SparseImages` hit list instead.
        """
        read = self.ds.sparse_batches if sparse else self.ds.batches
        it = read(self.batch_size, target=self.target, indices=self.indices, shuffle=self.shuffle,
                  seed=self.seed, epoch=epoch, drop_remainder=self.drop_remainder, with_labels=True)
        for xs, y in itertools.islice(it, start, None):
            yield {v: xs[k] for v, k in zip(self.views, self._pick, strict=True)}, y

    def endless(self, epoch: int, start: int) -> Iterator[tuple[dict, np.ndarray]]:
        """Batches from ``start`` of ``epoch`` on, running on into the following epochs forever."""
        yield from self.stream(epoch, start)
        for later in itertools.count(epoch + 1):
            yield from self.stream(later, 0)


def make_feed(spec: StreamSpec, *, epoch: int, start_step: int = 0, endless: bool = True, depth: int = 6,
              class_weight: dict[int, float] | None = None, domain: Any = None) -> Any:
    """A ``keras.utils.PyDataset`` of ``spec``'s batches from ``start_step`` of ``epoch`` on.

    ``endless`` (training): the feed runs on through later epochs and has no length; pass
    ``steps_per_epoch`` to ``fit`` (``spec.n_steps - start_step`` for a resumed partial epoch,
    which therefore gets its own ``fit`` call, and ``spec.n_steps`` after it). Otherwise
    (validation) the feed is the ``spec.n_steps - start_step`` batches of that one epoch.

    ``domain`` (a :class:`~nuclassify.training._domain.DomainStream`, ``--domain-adapt``): items
    are for the two-output model; a training item appends the target batch of the same global
    step (see ``_domain``), a validation item gets the domain loss weighted 0.
    """
    import keras

    n = spec.n_steps
    weights = None
    if class_weight:
        weights = np.array([class_weight.get(c, 1.0) for c in range(max(class_weight) + 1)], dtype=np.float32)

    class _Feed(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self._reader: ReadAhead | None = None
            self._lock = threading.Lock()

        @property
        def num_batches(self) -> int | None:
            return None if endless else n - start_step

        def __len__(self) -> int:
            return n - start_step

        def _open(self, i: int) -> ReadAhead:
            position = start_step + i
            batches = (spec.endless(epoch + position // n, position % n) if endless
                       else spec.stream(epoch, position))
            if domain is not None and endless:  # each source batch with its step's target batch, read ahead together
                batches = zip(batches, domain.from_position(epoch * n + position), strict=False)  # both endless
            return ReadAhead(batches, i, depth)

        def __getitem__(self, i: int) -> tuple:
            if not endless and i >= n - start_step:
                raise IndexError(i)
            with self._lock:
                if self._reader is None or self._reader.next != i:
                    if self._reader is not None:
                        self._reader.close()
                    self._reader = self._open(i)
                x, y = self._reader.get()
            if domain is not None:
                from nuclassify.training._domain import paired_item, valid_item

                if endless:
                    (source_x, source_y), target_x = x, y  # the zip of _open
                    return paired_item(source_x, source_y, target_x, weights)
                return valid_item(x, y)
            if weights is not None:
                return x, y, weights[y]
            return x, y

        def close(self) -> None:
            """Stop the read-ahead thread (without waiting for a batch being handed out)."""
            reader = self._reader
            if reader is not None:
                reader.close()

    return _Feed()
