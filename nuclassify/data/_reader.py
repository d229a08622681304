"""The streaming reader: ``open_dataset(path)`` gives a :class:`Dataset` over any supported layout.

Batches are read window by window (a few thousand events, a few contiguous slabs per window),
densified per batch into channels-last float32 arrays for Keras, and never hold the whole file.

A file that is truncated or rewritten while it is streamed (a copy still running, a full disk's
clean-up, another job) is noticed before and after every window: the open file's size and
modification time must stay as they were at opening, so no batch read from a changed file is
handed out (:meth:`Dataset._check_intact`). A file deleted or replaced by a rename is not
changed for us: the open file still reads the original data, so the stream goes on.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nuclassify.data._h5 import open_h5, read_error
from nuclassify.data._layouts import detect
from nuclassify.data._order import epoch_order, resolve_indices
from nuclassify.data._provenance import read_provenance
from nuclassify.data._views import BufferRing, SparseSource
from nuclassify.errors import DataFileError, UsageError
from nuclassify.events import SparseImages

__all__ = ["Dataset", "open_dataset"]

# Truth datasets the schema defines per event (data/README.md): a wrong length is a damaged file.
_PER_EVENT_TRUTH = ("vtx_data/zs", "zs")

_SPARSE_WINDOW = 8192  # events per read window when every view is stored sparse
_DENSE_WINDOW_BYTES = 256 << 20  # memory budget of a window of dense events


def open_dataset(path: str | os.PathLike) -> Dataset:
    """Open an HDF5 data file in any supported layout (detected from its contents).

    Raises:
        DataFileError: one line naming the file and the problem (missing, not HDF5, corrupt,
            missing datasets, inconsistent event counts, bad shapes, labels out of range, empty).
    """
    return Dataset(path)


class Dataset:
    """An open data file: metadata, labels and streaming access to the images.

    Use as a context manager (``with open_dataset(p) as ds:``) or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._h5: h5py.File | None = open_h5(path)
        try:
            self._layout = detect(self._h5, path)
        except BaseException:
            self._h5.close()
            raise
        lay = self._layout
        self.layout: str = lay.name
        self.n_events: int = lay.n_events
        self._sources = lay.sources
        self.view_names: tuple[str, ...] = tuple(n for s in self._sources for n in s.names)
        self.view_shapes: dict[str, tuple[int, int, int]] = {
            n: tuple(sh) for s in self._sources for n, sh in zip(s.names, s.shapes, strict=True)}
        self.targets: tuple[str, ...] = tuple(lay.labels)
        self.default_target: str = lay.default_target
        self.sparse = all(isinstance(s, SparseSource) for s in self._sources)
        self._truth = self._find_truth()
        self._provenance: dict[str, Any] | None = None
        self._opened = self._fstat()
        # Why the last stream stopped, if the file failed it: a framework that runs the stream
        # (TF's py_function under Keras fit) hands the caller its own error type instead.
        self.stream_error: DataFileError | None = None

    # --- bookkeeping -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the underlying HDF5 file (idempotent)."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def _fstat(self) -> tuple[int, int] | None:
        """(size, mtime in ns) of the open file itself (not of whatever the path names now)."""
        try:
            st = os.fstat(self.h5.id.get_vfd_handle())
        except (OSError, ValueError, TypeError, RuntimeError):  # a driver without a descriptor
            return None
        return st.st_size, st.st_mtime_ns

    def _check_intact(self, event: int) -> None:
        """Refuse to go on reading a file that was truncated or rewritten since it was opened.

        Why: past its end HDF5 reads zeros for uncompressed data, so a truncated hit list would
        be read as empty images without an error; a rewritten file mixes two files' events.
        """
        now = self._fstat()
        if now is None or self._opened is None or now == self._opened:
            return
        (size0, _), (size, _) = self._opened, now
        if size < size0:
            raise DataFileError(self.path, f"truncated while being read ({size0:,} -> {size:,} bytes), at event "
                                           f"{event:,}; restore the file and run again")
        raise DataFileError(self.path, f"changed on disk while being read (size {size0:,} -> {size:,} bytes or a "
                                       f"new modification time), at event {event:,}; run again on a file that stays "
                                       "unchanged")

    def _load_window(self, events: np.ndarray) -> tuple[list, np.ndarray]:
        """``_pools`` of a window, between two checks that the file is as it was at opening."""
        first = int(events[0])
        try:
            self._check_intact(first)
            try:
                pools = self._pools(events)
            except DataFileError:
                self._check_intact(first)  # a read that failed because the file shrank says so
                raise
            self._check_intact(first)
        except DataFileError as exc:
            self.stream_error = exc
            raise
        return pools

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.n_events

    def __repr__(self) -> str:
        views = ", ".join(f"{v}{self.view_shapes[v]}" for v in self.view_names)
        return f"Dataset({str(self.path)!r}, layout={self.layout}, n_events={self.n_events}, views=[{views}])"

    @property
    def h5(self) -> h5py.File:
        if self._h5 is None:
            raise UsageError(f"{self.path}: dataset is closed")
        return self._h5

    @property
    def provenance(self) -> dict[str, Any]:
        """How the file was made: seed, options, nuclassify version, creation time (data/README.md).

        Read from the ``nuclassify_provenance`` attribute that the project's writers store; ``{}``
        for files without one (the experiments' own files, and ours from before it existed).
        A fresh copy each time, so a caller may add to it (``train`` does, for its run record).

        Raises:
            DataFileError: if the attribute is present but is not a JSON object.
        """
        if self._provenance is None:
            self._provenance = read_provenance(self.h5, self.path)
        return copy.deepcopy(self._provenance)

    def _indices(self, indices: object) -> np.ndarray:
        return resolve_indices(indices, self.n_events, self.path)

    def _target(self, target: str | None) -> str:
        target = self.default_target if target is None else target
        if target not in self._layout.labels:
            raise UsageError(f"{self.path}: no target {target!r} in a {self.layout} file "
                             f"(available: {', '.join(self.targets)})")
        return target

    # --- labels and truth ----------------------------------------------------------------------
    def n_classes(self, target: str | None = None) -> int:
        """Number of classes of ``target`` (e.g. 11 segments, 4 NOvA flavours)."""
        return len(self._layout.class_names[self._target(target)])

    def class_names(self, target: str | None = None) -> tuple[str, ...]:
        """Human-readable class names of ``target``, indexed by label."""
        return self._layout.class_names[self._target(target)]

    def labels(self, target: str | None = None, indices: object = None) -> np.ndarray:
        """int64 labels of ``target``; -1 marks unlabelled (0xFF / 0xFFFF) or excluded events."""
        return self._layout.labels[self._target(target)][self._indices(indices)]

    def labelled(self, target: str | None = None) -> bool:
        """Whether any event carries a label for ``target`` (real data files carry none)."""
        return bool(np.any(self._layout.labels[self._target(target)] >= 0))

    def labelled_indices(self, target: str | None = None, indices: object = None) -> np.ndarray:
        """The subset of ``indices`` (default all) whose ``target`` label is known."""
        idx = self._indices(indices)
        return idx[self._layout.labels[self._target(target)][idx] >= 0]

    def event_ids(self, indices: object = None) -> np.ndarray:
        """Event ids (MINERvA run/subrun/gate/slice as uint64); the event index where the file has none."""
        idx = self._indices(indices)
        if self._layout.eventids is None:
            return idx.copy()
        ids = self.h5[self._layout.eventids]
        return self._read_rows(ids, idx, self._layout.eventids).reshape(len(idx))

    def _find_truth(self) -> list[str]:
        skip = self._layout.image_paths
        found: list[str] = []

        def visit(name: str, obj: object) -> None:
            if any(name == p or name.startswith(p + "/") for p in skip):
                return
            if isinstance(obj, h5py.Dataset) and obj.ndim >= 1 and obj.shape[0] == self.n_events:
                found.append(name)
            elif name in _PER_EVENT_TRUTH:  # the vertex z that evaluate measures: short means damaged, not absent
                raise DataFileError(self.path, f"truth dataset {name} has shape {getattr(obj, 'shape', None)}; "
                                               f"expected one number per event ({self.n_events})")

        self.h5.visititems(visit)
        return sorted(found)

    @property
    def truth_fields(self) -> list[str]:
        """Per-event datasets other than images, as "group/name" (labels, vertex z, generator truth)."""
        return list(self._truth)

    def read_truth(self, name: str, indices: object = None) -> np.ndarray:
        """Read a truth field by full name ("gen_data/W") or by a unique bare name ("W")."""
        matches = [f for f in self._truth if f == name] or [f for f in self._truth if f.rsplit("/", 1)[-1] == name]
        if len(matches) != 1:
            what = "is ambiguous" if matches else "not found"
            raise UsageError(f"{self.path}: truth field {name!r} {what} (available: {', '.join(self._truth)})")
        dset = self.h5[matches[0]]
        # Every listed field has one row per event (_find_truth); one of strings used to surface as
        # numpy's own error deep inside evaluate.
        if dset.dtype.kind not in "biuf":
            raise DataFileError(self.path, f"truth dataset {matches[0]} is {dset.dtype.name} {dset.shape}; expected "
                                           f"numbers, one per event ({self.n_events})")
        return self._read_rows(dset, self._indices(indices), matches[0])

    def _read_rows(self, dset: h5py.Dataset, idx: np.ndarray, name: str) -> np.ndarray:
        try:
            if len(idx) and _is_range(idx):
                return dset[int(idx[0]):int(idx[-1]) + 1]
            if len(idx) and len(idx) * 4 > self.n_events:
                return dset[:][idx]
            uniq, inv = np.unique(idx, return_inverse=True)
            return dset[uniq][inv] if len(uniq) else dset[0:0]
        except OSError as exc:
            self._check_intact(int(idx[0]) if len(idx) else 0)  # a file cut short while open says so
            raise read_error(self.path, name, exc) from exc

    # --- images ----------------------------------------------------------------------------------
    def window_size(self, batch_size: int = 1) -> int:
        """Events read per window: a multiple of ``batch_size`` sized to a memory budget."""
        if self.sparse:
            target = _SPARSE_WINDOW
        else:
            per_event = sum(int(np.prod(s)) * 4 for s in self.view_shapes.values())
            target = max(1, _DENSE_WINDOW_BYTES // per_event)
        return max(batch_size, (target // batch_size) * batch_size)

    def _pools(self, events: np.ndarray) -> tuple[list, np.ndarray]:
        uniq, inv = np.unique(events, return_inverse=True)
        return [s.load(uniq) for s in self._sources], inv.reshape(-1)

    def read_views(self, indices: object) -> tuple[np.ndarray, ...]:
        """Dense channels-last float32 images of the given events, one array per view."""
        idx = self._indices(indices)
        if len(idx) == 0:
            return tuple(np.zeros((0,) + self.view_shapes[v], np.float32) for v in self.view_names)
        self.h5  # noqa: B018 - raises if closed
        pools, inv = self._load_window(idx)
        return tuple(a for p in pools for a in p.take(inv))

    def _iterate(self, batch_size: int, target: str | None, indices: object, shuffle: bool, seed: int,
                 epoch: int, drop_remainder: bool, with_labels: bool, sparse: bool,
                 reuse_buffers: int = 0) -> Iterator[tuple]:
        for name, value, least in (("batch size", batch_size, 1), ("seed", seed, 0), ("epoch", epoch, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise UsageError(f"{name} must be an integer >= {least}, got {value!r}")
        if reuse_buffers and int(reuse_buffers) < 2:
            raise UsageError(f"reuse_buffers must be 0 (off) or >= 2, got {reuse_buffers}")
        ring = BufferRing(int(reuse_buffers)) if reuse_buffers else None
        batch_size = int(batch_size)
        labels = self._layout.labels[self._target(target)] if with_labels else None
        window = self.window_size(batch_size)
        order = epoch_order(self._indices(indices), shuffle, seed, epoch, window, batch_size)
        self.h5  # noqa: B018 - raises if closed
        for w0 in range(0, len(order), window):
            events = order[w0:w0 + window]
            if drop_remainder:
                events = events[:len(events) // batch_size * batch_size]
            if len(events) == 0:
                break
            pools, inv = self._load_window(events)
            for b0 in range(0, len(events), batch_size):
                pos = inv[b0:b0 + batch_size]
                views = tuple(x for p in pools for x in (p.take_sparse(pos) if sparse else p.take(pos, ring)))
                yield views, (labels[events[b0:b0 + batch_size]] if labels is not None else None)

    def batches(self, batch_size: int, *, target: str | None = None, indices: object = None, shuffle: bool = False,
                seed: int = 0, epoch: int = 0, drop_remainder: bool = False, with_labels: bool = True,
                reuse_buffers: int = 0) -> Iterator[tuple[tuple[np.ndarray, ...], np.ndarray | None]]:
        """Stream ``(views, labels)`` batches: views a tuple of (B, H, W, C) float32 arrays.

        Args:
            batch_size: events per batch (the last one may be smaller unless ``drop_remainder``).
            target: label target (default :attr:`default_target`); labels are int64, -1 unlabelled.
            indices: which events (None = all; range, slice, int array or boolean mask), so
                train/valid/test can come from one file.
            shuffle: visit events in an order drawn from (seed, epoch): blocks of consecutive
                events in random order, shuffled again within each read window.
            seed, epoch: the shuffle is a pure function of these.
            drop_remainder: skip a final short batch.
            with_labels: yield ``None`` instead of labels.
            reuse_buffers: 0 (default) gives every batch fresh arrays. k >= 2 recycles k sets of
                output arrays for sparse files: a batch's arrays are overwritten k batches
                later, so use it only when each batch is consumed (e.g. copied to a device)
                before k more are drawn. Several times faster: fresh memory costs a page fault
                and a kernel zeroing per 4 KB, a recycled buffer only clears its old hits.

        Raises:
            DataFileError: if a pixel read is NaN or infinite (naming the file and the event).
        """
        return self._iterate(batch_size, target, indices, shuffle, seed, epoch, drop_remainder, with_labels, False,
                             reuse_buffers)

    def sparse_batches(self, batch_size: int, *, target: str | None = None, indices: object = None,
                       shuffle: bool = False, seed: int = 0, epoch: int = 0, drop_remainder: bool = False,
                       with_labels: bool = True) -> Iterator[tuple[tuple[SparseImages, ...], np.ndarray | None]]:
        """As :meth:`batches`, but each view is a :class:`SparseImages` (hit list) for on-device densifying."""
        return self._iterate(batch_size, target, indices, shuffle, seed, epoch, drop_remainder, with_labels, True)

    def n_batches(self, batch_size: int, indices: object = None, drop_remainder: bool = False) -> int:
        """How many batches :meth:`batches` yields for these arguments."""
        n = len(self._indices(indices))
        return n // batch_size if drop_remainder else -(-n // batch_size)


def _is_range(idx: np.ndarray) -> bool:
    return int(idx[-1]) - int(idx[0]) == len(idx) - 1 and bool(np.all(np.diff(idx) == 1))
