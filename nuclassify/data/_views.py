"""Per-layout image sources: read a sorted set of events into memory once, then hand out batches.

Reading is split in two steps because h5py's per-call overhead and chunk decompression, not
the bytes, dominate: ``load(events)`` reads a whole window of events (sorted, unique) with a few
large contiguous slab reads; the returned pool then builds any number of batches from memory
with ``take(positions)``. For the sparse form a pool holds only hit lists (~3 KB per event), so
windows of thousands of events are cheap, and densification happens per batch.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from nuclassify.data._h5 import read_error
from nuclassify.errors import DataFileError
from nuclassify.events import SparseImages

__all__ = ["SparseSource", "DenseSource", "NovaSource", "ImageSource", "BufferRing", "ranges", "runs"]

_SLAB_BYTES = 32 << 20  # largest contiguous dense slab read in one h5py call
_PIXEL_WORD = {1: np.dtype(np.uint32), 2: np.dtype(np.uint64)}  # one pixel's channels as one word


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for each (s, c), without a Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts)
    return shift + np.arange(total, dtype=np.int64)


def runs(events: np.ndarray, max_gap: int, max_span: int) -> list[tuple[int, int]]:
    """Split sorted ``events`` into (start, stop) position runs, each read as one contiguous slab."""
    if len(events) == 0:
        return []
    cuts = np.flatnonzero(np.diff(events) > max_gap) + 1
    bounds = [0, *cuts.tolist(), len(events)]
    out: list[tuple[int, int]] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        while a < b:
            # Largest stop such that the slab events[a]..events[stop-1] spans at most max_span.
            stop = int(np.searchsorted(events[a:b], events[a] + max_span, side="left")) + a
            stop = max(stop, a + 1)
            out.append((a, stop))
            a = stop
    return out


def _is_contiguous(pos: np.ndarray) -> bool:
    return len(pos) > 0 and int(pos[-1]) - int(pos[0]) == len(pos) - 1 and bool(np.all(np.diff(pos) == 1))


def _nonfinite(path: str | os.PathLike, view: str, event: int) -> DataFileError:
    return DataFileError(path, f"event {event}: NaN or infinite pixel value in view {view}")


class SparseSource:
    """A view stored as the project's hit lists: group with offsets / pixel / values."""

    def __init__(self, path: str | os.PathLike, group: h5py.Group, view: str) -> None:
        self.path, self.view, self.name = path, view, group.name.lstrip("/")
        try:
            shape = tuple(int(s) for s in group.attrs["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFileError(path, f"{self.name}: sparse view has no valid 'shape' attribute") from exc
        if len(shape) != 3 or min(shape) <= 0:
            raise DataFileError(path, f"{self.name}: shape attribute {shape} is not (C, rows, cols)")
        self.c, self.rows, self.cols = shape
        for key in ("offsets", "pixel", "values"):
            if key not in group or not isinstance(group[key], h5py.Dataset):
                raise DataFileError(path, f"missing dataset {self.name}/{key}")
        self.pixel, self.values = group["pixel"], group["values"]
        try:
            self.offsets = np.asarray(group["offsets"][:], dtype=np.int64)
        except OSError as exc:
            raise read_error(path, f"{self.name}/offsets", exc) from exc
        n_hits = self.pixel.shape[0] if self.pixel.ndim == 1 else -1
        if self.offsets.ndim != 1 or len(self.offsets) < 1:
            raise DataFileError(path, f"{self.name}/offsets: expected shape (N + 1,), found {self.offsets.shape}")
        if self.pixel.ndim != 1 or self.values.shape != (n_hits, self.c):
            raise DataFileError(path, f"{self.name}: pixel {self.pixel.shape} and values {self.values.shape} "
                                      f"do not match (n_hits,) and (n_hits, {self.c})")
        if self.offsets[0] != 0 or np.any(np.diff(self.offsets) < 0) or self.offsets[-1] != n_hits:
            raise DataFileError(path, f"{self.name}/offsets: not a non-decreasing index from 0 to {n_hits} hits")
        self.n_events = len(self.offsets) - 1
        self.names = (view,)
        self.shapes = ((self.rows, self.cols, self.c),)
        self.stored_bytes_per_event = 6.0 * n_hits / max(1, self.n_events)

    def load(self, events: np.ndarray) -> _SparsePool:
        counts = self.offsets[events + 1] - self.offsets[events]
        pix_parts, val_parts = [], []
        for a, b in runs(events, max_gap=256, max_span=1 << 15):
            lo, hi = int(events[a]), int(events[b - 1]) + 1
            h0, h1 = int(self.offsets[lo]), int(self.offsets[hi])
            try:
                pix = self.pixel[h0:h1]
                val = self.values[h0:h1]
            except OSError as exc:
                raise read_error(self.path, f"{self.name} (events {lo}-{hi - 1})", exc) from exc
            if hi - lo != b - a:  # a run with holes: keep only the selected events' hits
                keep = ranges(self.offsets[events[a:b]] - h0, counts[a:b])
                pix, val = pix[keep], val[keep]
            pix_parts.append(pix)
            val_parts.append(val)
        pixel = np.concatenate(pix_parts) if pix_parts else np.zeros(0, np.int32)
        values = np.concatenate(val_parts) if val_parts else np.zeros((0, self.c), np.float32)
        values = np.ascontiguousarray(values, dtype=np.float32)  # once per window, not per batch
        local = np.zeros(len(events) + 1, dtype=np.int64)
        np.cumsum(counts, out=local[1:])
        if len(pixel) and (int(pixel.max()) >= self.rows * self.cols or int(pixel.min()) < 0):
            bad = int(np.flatnonzero((pixel >= self.rows * self.cols) | (pixel < 0))[0])
            event = int(events[np.searchsorted(local, bad, side="right") - 1])
            raise DataFileError(self.path, f"event {event}: pixel index outside the {self.rows}x{self.cols} "
                                           f"image in {self.name}")
        finite = np.isfinite(values)
        if not finite.all():
            bad = int(np.flatnonzero(~finite.all(axis=1))[0])
            raise _nonfinite(self.path, self.view, int(events[np.searchsorted(local, bad, side="right") - 1]))
        return _SparsePool(self, local, pixel, values)


class BufferRing:
    """Output buffers recycled across batches (opt-in): a batch's arrays are overwritten ``size`` batches later.

    Freshly allocated output costs a page fault and a kernel zeroing per 4 KB, which dominates
    densifying (191 KB per MINERvA event). A recycled buffer is cleared by zeroing only the hits
    its previous batch wrote, so a batch costs little more than its ~500 hits per event.
    """

    def __init__(self, size: int) -> None:
        if size < 2:
            raise ValueError(f"a buffer ring needs at least 2 slots, got {size}")
        self.size = size
        self._slots: dict[tuple, list[list]] = {}
        self._turn: dict[tuple, int] = {}

    def acquire(self, key: tuple, n_items: int, dtype: np.dtype) -> tuple[np.ndarray, list]:
        """A zeroed buffer of ``n_items`` for ``key`` and its slot (store the written indices in slot[1])."""
        slots = self._slots.setdefault(key, [])
        turn = self._turn.get(key, 0)
        self._turn[key] = (turn + 1) % self.size
        if turn >= len(slots):
            slots.append([np.zeros(n_items, dtype=dtype), None])
        slot = slots[turn]
        if slot[1] is not None:
            slot[0][slot[1]] = 0
        return slot[0], slot


class _SparsePool:
    def __init__(self, src: SparseSource, local: np.ndarray, pixel: np.ndarray, values: np.ndarray) -> None:
        self.src, self.local, self.pixel = src, local, pixel
        # Each hit's channels as one machine word, so gathers and scatters move one item per hit.
        self.word = _PIXEL_WORD.get(src.c) or np.dtype((np.void, 4 * src.c))
        self.words = values.view(self.word).reshape(-1)

    def _hits(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts = self.local[pos + 1] - self.local[pos]
        if _is_contiguous(pos):
            sl = slice(int(self.local[pos[0]]), int(self.local[pos[-1] + 1]))
            return counts, self.pixel[sl], self.words[sl]
        keep = ranges(self.local[pos], counts)
        return counts, self.pixel[keep], self.words[keep]

    def take(self, pos: np.ndarray, ring: BufferRing | None = None) -> list[np.ndarray]:
        s = self.src
        m, area = len(pos), s.rows * s.cols
        counts, pixel, words = self._hits(pos)
        flat = np.repeat(np.arange(0, m * area, area, dtype=np.int64), counts)
        flat += pixel
        # Scatter whole pixels (all channels at once) as single machine words: several times
        # faster than a 2-D fancy assignment. np.zeros pages are zeroed lazily by the kernel.
        if ring is None:
            out = np.zeros(m * area, dtype=self.word)
        else:
            out, slot = ring.acquire((s.view, m), m * area, self.word)
            slot[1] = flat
        out[flat] = words
        return [out.view(np.float32).reshape(m, s.rows, s.cols, s.c)]

    def take_sparse(self, pos: np.ndarray) -> list[SparseImages]:
        counts, pixel, words = self._hits(pos)
        offsets = np.zeros(len(pos) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        s = self.src
        values = np.ascontiguousarray(words).view(np.float32).reshape(len(words), s.c)
        return [SparseImages((s.c, s.rows, s.cols), offsets, pixel.astype(np.int32), values)]


class _DensePool:
    """Dense channels-last float32 arrays, one per view, already converted at load time."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays

    def take(self, pos: np.ndarray, ring: BufferRing | None = None) -> list[np.ndarray]:
        if _is_contiguous(pos):
            return [a[int(pos[0]):int(pos[-1]) + 1].copy() for a in self.arrays]
        return [a[pos] for a in self.arrays]

    def take_sparse(self, pos: np.ndarray) -> list[SparseImages]:
        return [SparseImages.from_dense(np.moveaxis(a, -1, 1)) for a in self.take(pos)]


class _SlabSource:
    """Shared slab reading for datasets whose first axis is the event."""

    dset: h5py.Dataset
    path: str | os.PathLike
    name: str

    def _read(self, events: np.ndarray) -> np.ndarray:
        per_event = max(1, int(np.prod(self.dset.shape[1:])) * self.dset.dtype.itemsize)
        span = max(1, _SLAB_BYTES // per_event)
        parts = []
        for a, b in runs(events, max_gap=max(1, span // 8), max_span=span):
            lo, hi = int(events[a]), int(events[b - 1]) + 1
            try:
                slab = self.dset[lo:hi]
            except OSError as exc:
                raise read_error(self.path, f"{self.name} (events {lo}-{hi - 1})", exc) from exc
            parts.append(slab if hi - lo == b - a else slab[events[a:b] - lo])
        return np.concatenate(parts) if len(parts) != 1 else parts[0]

    def _check_finite(self, arr: np.ndarray, events: np.ndarray, view: str) -> None:
        if arr.dtype.kind == "f":
            finite = np.isfinite(arr).reshape(len(arr), -1).all(axis=1)
            if not finite.all():
                raise _nonfinite(self.path, view, int(events[np.flatnonzero(~finite)[0]]))


class DenseSource(_SlabSource):
    """A MINERvA view stored as the experiment's dense channels-first (N, C, rows, cols) dataset."""

    def __init__(self, path: str | os.PathLike, dset: h5py.Dataset, view: str) -> None:
        self.path, self.dset, self.view, self.name = path, dset, view, dset.name.lstrip("/")
        if dset.ndim != 4:
            raise DataFileError(path, f"{self.name}: expected 4 dimensions (N, C, rows, cols), "
                                      f"found shape {dset.shape}")
        if dset.dtype.kind not in "fiu":
            raise DataFileError(path, f"{self.name}: expected numeric pixels, found dtype {dset.dtype}")
        self.n_events, self.c, self.rows, self.cols = (int(s) for s in dset.shape)
        self.names = (view,)
        self.shapes = ((self.rows, self.cols, self.c),)

    def load(self, events: np.ndarray) -> _DensePool:
        arr = self._read(events)
        self._check_finite(arr, events, self.view)
        return _DensePool([np.ascontiguousarray(arr.transpose(0, 2, 3, 1), dtype=np.float32)])


class NovaSource(_SlabSource):
    """Both NOvA views from the flat uint8 cvnmap (N, 16000) = (view, plane, cell).

    Each view is handed out as (80 cells, 100 planes, 1): rows transverse and columns along z,
    the same orientation as the MINERvA images.
    """

    def __init__(self, path: str | os.PathLike, dset: h5py.Dataset) -> None:
        self.path, self.dset, self.name = path, dset, dset.name.lstrip("/")
        if dset.shape[1:] not in ((16000,), (2, 100, 80)):
            raise DataFileError(path, f"{self.name}: expected shape (N, 16000), found {dset.shape}")
        self.n_events = int(dset.shape[0])
        self.names = ("xz", "yz")
        self.shapes = ((80, 100, 1), (80, 100, 1))

    def load(self, events: np.ndarray) -> _NovaPool:
        arr = self._read(events).reshape(len(events), 2, 100, 80)
        self._check_finite(arr, events, "xz/yz")
        return _NovaPool(arr)


class _NovaPool:
    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr

    def take(self, pos: np.ndarray, ring: BufferRing | None = None) -> list[np.ndarray]:
        sel = self.arr[pos]
        return [np.ascontiguousarray(sel[:, k].transpose(0, 2, 1), dtype=np.float32)[..., None] for k in (0, 1)]

    def take_sparse(self, pos: np.ndarray) -> list[SparseImages]:
        return [SparseImages.from_dense(np.moveaxis(a, -1, 1)) for a in self.take(pos)]


class ImageSource(_SlabSource):
    """Generic images (N, H, W, C) (or (N, H, W) as C = 1) in any numeric dtype."""

    def __init__(self, path: str | os.PathLike, dset: h5py.Dataset) -> None:
        self.path, self.dset, self.name = path, dset, dset.name.lstrip("/")
        if dset.ndim not in (3, 4):
            raise DataFileError(path, f"{self.name}: expected 4 dimensions (N, H, W, C), found shape {dset.shape}")
        if dset.dtype.kind not in "fiub":
            raise DataFileError(path, f"{self.name}: expected numeric pixels, found dtype {dset.dtype}")
        self.n_events = int(dset.shape[0])
        shape = tuple(int(s) for s in dset.shape[1:])
        self.names = ("image",)
        self.shapes = (shape if len(shape) == 3 else shape + (1,),)

    def load(self, events: np.ndarray) -> _DensePool:
        arr = self._read(events)
        self._check_finite(arr, events, "image")
        return _DensePool([np.asarray(arr, dtype=np.float32).reshape((len(events),) + self.shapes[0])])
