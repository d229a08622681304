"""Writers for the project's own files, in the experiments' layouts (see data/README.md).

Every writer streams: blocks arrive one at a time and are appended to resizable, chunked,
compressed datasets, so a file of millions of events never sits in memory. Files are written to
a temporary name and renamed into place only when complete (``atomic_h5``), so an
interrupted simulation never leaves a half-written file behind, and a full disk or a file-size
limit ends in one line saying how far the write got (``OutputError``). A simulation's size is
known in advance, so it is refused at once when it cannot fit (:func:`_check_room`). Every file
records how it was made (``nuclassify_provenance``, see :mod:`nuclassify.data._provenance`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nuclassify import __version__
from nuclassify._diskfaults import check_room
from nuclassify._fileio import atomic_h5
from nuclassify.data._provenance import encode_provenance, provenance_record, write_provenance
from nuclassify.data._schema import MINERVA_VIEWS, NOVA_NAMINGS, SPARSE_FORMAT, minerva_paths
from nuclassify.errors import DataFileError, UsageError
from nuclassify.events import MinervaBlock, NovaBlock, SparseImages

__all__ = ["write_minerva", "write_nova", "write_images"]

# gzip + byte shuffle for everything small (labels, truth, offsets): readable by any HDF5 tool
# (lzf is h5py-only). The hit lists themselves are stored uncompressed by default: the hit-list
# form is already ~75x smaller than dense images, and gzip would save another 1.6x at the cost of
# roughly halving the reader's speed (measured in benchmarks/bench_read.py).
_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
_DENSE_COMPRESSION = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
_HIT_CHUNK = 1 << 16  # hits per chunk of pixel/values
_EVENT_CHUNK = 1 << 14  # events per chunk of per-event 1-D datasets
_FLOAT16_MAX = float(np.finfo(np.float16).max)

# KiB per simulated event on disk: the growth of the file from 10,000 to 20,000 events of
# `simulate_minerva` / `simulate_nova` defaults (seed 1, os.path.getsize): MINERvA 2018 sparse hit
# lists by filter; float32 values and dense images relative to float16 hit lists; the 2016
# layout's narrower images relative to 2018 (the same within 5% for every filter); NOvA maps.
_MINERVA_KIB = {"none": 3.24, "lzf": 2.72, "gzip": 2.15}
_FLOAT32_FACTOR = 5.37 / 3.24
_DENSE_KIB = 10.5
_LAYOUT_2016_FACTOR = 2.20 / 3.24
_NOVA_KIB = 0.38
# The pre-check refuses only a clear shortfall, less than half the typical size: events vary with
# the options (noise, pile-up) and the simulator's detail changes between versions. A write that
# passes it and still meets a full disk fails cleanly, saying how far it got.
_LOW_SIDE = 0.5


class _Progress:
    """How far a writer got, for the message of a failed write: "after 11,520 of 20,000 events"."""

    def __init__(self, expected: int | None) -> None:
        self.expected = expected
        self.events = 0

    def __call__(self) -> str:
        of = f" of {self.expected:,}" if self.expected else ""
        return f"after {self.events:,}{of} events"


def _planned_events(blocks: object) -> tuple[int | None, bool]:
    """(events the blocks will bring or None, whether they come from our simulator).

    A simulation's blocks carry their ``n_events`` in ``provenance``; a list of blocks is counted.
    """
    provenance = getattr(blocks, "provenance", None)
    if isinstance(provenance, Mapping) and isinstance(provenance.get("n_events"), int):
        return int(provenance["n_events"]), "simulator" in provenance
    if isinstance(blocks, (list, tuple)):
        return sum(int(getattr(b, "n_events", 0)) for b in blocks), False
    return None, False


def _check_room(path: str | os.PathLike, n_events: int | None, simulated: bool, kib_per_event: float) -> None:
    """Refuse a simulation that cannot fit (free space, ``ulimit -f``) before its first event."""
    if not simulated or not n_events:
        return
    check_room(path, int(n_events * kib_per_event * 1024 * _LOW_SIDE),
               f"{n_events:,} events (typically {kib_per_event:.1f} KiB each)")


class _Appender:
    """Appends arrays to resizable datasets, creating each on first use with the first array's dtype."""

    def __init__(self, h5: h5py.File, path: str | os.PathLike) -> None:
        self.h5 = h5
        self.path = path
        self.per_event: set[str] = set()

    def check_complete(self, n_events: int) -> None:
        """Every per-event dataset must have one row per event (a field missing from a block would not)."""
        for name in sorted(self.per_event):
            if self.h5[name].shape[0] != n_events:
                raise DataFileError(self.path, f"{name} has {self.h5[name].shape[0]} rows for {n_events} events "
                                               "(every block must carry the same fields)")

    def append(self, name: str, data: np.ndarray, *, chunk_rows: int | None = None,
               options: dict | None = None, per_event: bool = True) -> h5py.Dataset:
        data = np.asarray(data)
        if per_event:
            self.per_event.add(name)
        if name not in self.h5:
            rows = chunk_rows or _EVENT_CHUNK
            self.h5.create_dataset(name, shape=(0,) + data.shape[1:], maxshape=(None,) + data.shape[1:],
                                   dtype=data.dtype, chunks=(rows,) + data.shape[1:],
                                   **(_COMPRESSION if options is None else options))
        dset = self.h5[name]
        if dset.shape[1:] != data.shape[1:]:
            raise DataFileError(self.path, f"{name}: block has per-event shape {data.shape[1:]}, "
                                           f"earlier blocks had {dset.shape[1:]}")
        start = dset.shape[0]
        dset.resize(start + len(data), axis=0)
        dset[start:] = data.astype(dset.dtype, copy=False)
        return dset


_COMPRESSIONS = {
    "gzip": _COMPRESSION,
    "lzf": {"compression": "lzf", "shuffle": True},
    "none": {},
}


def _append_sparse(app: _Appender, name: str, hits: SparseImages, values_dtype: np.dtype,
                   options: dict | None = None) -> None:
    """Append one block of hits to the sparse view group ``name`` (offsets shifted to file positions)."""
    c, rows, cols = hits.shape
    if name not in app.h5:
        group = app.h5.create_group(name)
        group.attrs["format"] = SPARSE_FORMAT
        group.attrs["shape"] = np.asarray(hits.shape, dtype=np.int64)
        group.attrs["channels"] = _channel_names(c)
        group.create_dataset("offsets", data=np.zeros(1, dtype=np.int64), maxshape=(None,),
                             chunks=(_EVENT_CHUNK,), **_COMPRESSION)
    group = app.h5[name]
    if tuple(int(s) for s in group.attrs["shape"]) != tuple(hits.shape):
        raise DataFileError(app.path, f"{name}: block has image shape {hits.shape}, "
                                      f"earlier blocks had {tuple(group.attrs['shape'])}")
    values = np.asarray(hits.values, dtype=np.float32).reshape(len(hits.pixel), c)
    if values_dtype == np.float16 and values.size and float(np.max(np.abs(values))) > _FLOAT16_MAX:
        raise DataFileError(app.path, f"{name}: a pixel value exceeds the float16 range; "
                                      "write with values_dtype='float32'")
    pixel_dtype = np.uint16 if rows * cols <= 1 << 16 else np.int32
    offsets = group["offsets"]
    base = int(offsets[-1])
    app.append(f"{name}/offsets", np.asarray(hits.offsets[1:], dtype=np.int64) - int(hits.offsets[0]) + base,
               per_event=False)
    app.append(f"{name}/pixel", np.asarray(hits.pixel).astype(pixel_dtype), chunk_rows=_HIT_CHUNK,
               options=options, per_event=False)
    app.append(f"{name}/values", values.astype(values_dtype), chunk_rows=_HIT_CHUNK, options=options,
               per_event=False)


def _channel_names(c: int) -> np.ndarray:
    names = ["energy", "time"][:c] + [f"ch{i}" for i in range(2, c)]
    return np.asarray(names, dtype=h5py.string_dtype())


def _append_truth(app: _Appender, truth: dict[str, dict[str, np.ndarray]], reserved: set[str], n: int) -> None:
    for group, fields in truth.items():
        for name, values in fields.items():
            full = f"{group}/{name}"
            if full in reserved:
                raise DataFileError(app.path, f"truth field {full} collides with a layout dataset")
            values = np.asarray(values)
            if values.shape[:1] != (n,):
                raise DataFileError(app.path, f"truth field {full} has {values.shape[:1]} rows, block has {n} events")
            app.append(full, values)


def _check_on_block(on_block: Callable[[int], None] | None, n: int) -> None:
    if on_block is not None:
        on_block(n)


def write_minerva(path: str | os.PathLike, blocks: Iterable[MinervaBlock], *, layout: str = "2018",
                  overwrite: bool = False, dense: bool = False, on_block: Callable[[int], None] | None = None,
                  values_dtype: str = "float16", compression: str = "none",
                  provenance: Mapping[str, Any] | None = None) -> Path:
    """Write MINERvA events in the experiment's 2018 (grouped) or 2016 (flat) layout.

    By default each view is stored in the compact sparse hit-list form (a group per view with
    ``offsets``/``pixel``/``values``; data/README.md shows how to densify it with plain h5py),
    which keeps simulated files near 2.5 KB per event. ``dense=True`` writes the experiment's own
    float32 channels-first ``hitimes-*`` datasets (gzip-chunked) instead.

    Args:
        path: output file; must be new unless ``overwrite``.
        blocks: blocks of events, consumed one at a time.
        layout: "2018" (``img_data/``, ``vtx_data/``, ``event_data/`` groups) or "2016" (flat).
        overwrite: replace an existing file.
        dense: write dense float32 images rather than hit lists.
        on_block: called with the number of events after each block is written (progress).
        values_dtype: "float16" (default; energy in MeV and time in ns fit well) or "float32"
            for the sparse hit values.
        compression: filter of the sparse hit datasets: "none" (default: fastest to read,
            ~2.5 KB/event), "gzip" (level 4 + shuffle, ~1.6 KB/event, about half the read
            speed) or "lzf" (h5py only, in between).
        provenance: how the events were made (JSON-serialisable values), stored in the file's
            ``nuclassify_provenance`` attribute together with ``created`` and
            ``nuclassify_version``. The ``provenance`` of ``blocks`` itself, when it has one (as
            :func:`nuclassify.simulate.simulate_minerva` does), is recorded too; keys given here win.

    Returns:
        The path written.
    """
    if layout not in ("2018", "2016"):
        raise UsageError(f"layout must be '2018' or '2016', got {layout!r}")
    if compression not in _COMPRESSIONS:
        raise UsageError(f"compression must be one of {', '.join(_COMPRESSIONS)}, got {compression!r}")
    vdtype = np.dtype(values_dtype)
    if vdtype not in (np.float16, np.float32):
        raise UsageError(f"values_dtype must be 'float16' or 'float32', got {values_dtype!r}")
    layout_name = f"minerva-{layout}"
    paths = minerva_paths(layout_name)
    reserved = {paths[k] for k in ("segments", "planecodes", "zs", "eventids")}
    record = encode_provenance(provenance_record(provenance, blocks))
    planned, simulated = _planned_events(blocks)
    kib = _DENSE_KIB if dense else _MINERVA_KIB[compression] * (_FLOAT32_FACTOR if vdtype == np.float32 else 1.0)
    _check_room(path, planned, simulated, kib * (_LAYOUT_2016_FACTOR if layout == "2016" else 1.0))
    done = _Progress(planned)
    with atomic_h5(path, overwrite, progress=done) as out:
        h5 = out.file
        h5.attrs["nuclassify_layout"] = layout_name
        h5.attrs["nuclassify_version"] = __version__
        write_provenance(h5, record)
        app = _Appender(h5, path)
        total = 0
        for block in blocks:
            n = block.n_events
            missing = [v for v in MINERVA_VIEWS if v not in block.views]
            if missing:
                raise DataFileError(path, f"block lacks view(s) {', '.join(missing)}")
            for view in MINERVA_VIEWS:
                hits = block.views[view]
                if hits.n_events != n:
                    raise DataFileError(path, f"view {view} has {hits.n_events} events, labels have {n}")
                if dense:
                    app.append(paths[view], hits.to_dense(channels_last=False),
                               chunk_rows=8, options=_DENSE_COMPRESSION)
                else:
                    _append_sparse(app, paths[view], hits, vdtype, _COMPRESSIONS[compression])
            app.append(paths["segments"], np.asarray(block.segments).astype(np.uint8))
            app.append(paths["planecodes"], np.asarray(block.planecodes).astype(np.uint16))
            app.append(paths["zs"], np.asarray(block.zs).astype(np.float32))
            app.append(paths["eventids"], np.asarray(block.eventids).astype(np.uint64))
            _append_truth(app, block.truth, reserved, n)
            out.check()  # a write of this block failed: stop here, saying how far the file got
            total += n
            done.events = total
            _check_on_block(on_block, n)
        if total == 0:
            raise UsageError(f"{path}: no events to write")
        app.check_complete(total)
        if dense:
            for view in MINERVA_VIEWS:
                h5[paths[view]].attrs["channels"] = _channel_names(h5[paths[view]].shape[1])
    return Path(path)


def write_nova(path: str | os.PathLike, blocks: Iterable[NovaBlock], *, naming: str = "cvnmap",
               overwrite: bool = False, on_block: Callable[[int], None] | None = None,
               provenance: Mapping[str, Any] | None = None) -> Path:
    """Write NOvA CVN pixel maps: flat uint8 (N, 16000) plus interaction codes 0-15.

    ``naming`` picks the dataset names: "cvnmap" (``cvnmap`` + ``neutrino/interaction``) or
    "rec.training" (``rec.training.cvnmaps/cvnmap`` + ``rec.training.trainingdata/interaction``).
    ``provenance`` is recorded as in :func:`write_minerva` (with that of ``blocks``, if any).
    """
    if naming not in NOVA_NAMINGS:
        raise UsageError(f"naming must be one of {', '.join(NOVA_NAMINGS)}, got {naming!r}")
    map_path, label_path = NOVA_NAMINGS[naming]
    record = encode_provenance(provenance_record(provenance, blocks))
    planned, simulated = _planned_events(blocks)
    _check_room(path, planned, simulated, _NOVA_KIB)
    done = _Progress(planned)
    with atomic_h5(path, overwrite, progress=done) as out:
        h5 = out.file
        h5.attrs["nuclassify_layout"] = "nova-cvn"
        h5.attrs["nuclassify_version"] = __version__
        write_provenance(h5, record)
        app = _Appender(h5, path)
        total = 0
        for block in blocks:
            cvnmap = np.asarray(block.cvnmap)
            n = block.n_events
            if cvnmap.shape != (n, 16000):
                raise DataFileError(path, f"cvnmap block has shape {cvnmap.shape}, expected ({n}, 16000)")
            if cvnmap.dtype != np.uint8:
                if cvnmap.size and (cvnmap.min() < 0 or cvnmap.max() > 255):
                    raise DataFileError(path, "cvnmap values must fit in uint8 (0-255)")
                cvnmap = cvnmap.astype(np.uint8)
            app.append(map_path, cvnmap, chunk_rows=64)
            app.append(label_path, np.asarray(block.interaction).astype(np.int32))
            _append_truth(app, block.truth, {map_path, label_path}, n)
            out.check()
            total += n
            done.events = total
            _check_on_block(on_block, n)
        if total == 0:
            raise UsageError(f"{path}: no events to write")
        app.check_complete(total)
    return Path(path)


def write_images(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray, *,
                 overwrite: bool = False, class_names: list[str] | None = None,
                 provenance: Mapping[str, Any] | None = None) -> Path:
    """Write the generic layout: ``images`` (N, H, W, C) in their own dtype and ``labels`` (N,) int64.

    A (N, H, W) array is stored as C = 1. ``class_names`` (optional) is kept as an attribute of
    ``labels`` and fixes the number of classes. ``provenance`` (e.g. where the images came from)
    is recorded as in :func:`write_minerva`.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise UsageError(f"images must be (N, H, W, C), got shape {images.shape}")
    if labels.shape != (len(images),):
        raise UsageError(f"labels must be ({len(images)},), got shape {labels.shape}")
    if len(images) == 0:
        raise UsageError(f"{path}: no events to write")
    per_event = max(1, images[0].nbytes)
    chunk = (max(1, min(len(images), (1 << 20) // per_event)),) + images.shape[1:]
    record = encode_provenance(provenance_record(provenance))
    with atomic_h5(path, overwrite, progress=lambda: f"writing {len(images):,} events") as out:
        h5 = out.file
        h5.attrs["nuclassify_layout"] = "images"
        h5.attrs["nuclassify_version"] = __version__
        write_provenance(h5, record)
        h5.create_dataset("images", data=images, chunks=chunk, **_COMPRESSION)
        lab = h5.create_dataset("labels", data=labels.astype(np.int64), **_COMPRESSION)
        if class_names is not None:
            lab.attrs["class_names"] = np.asarray(list(class_names), dtype=h5py.string_dtype())
    return Path(path)
