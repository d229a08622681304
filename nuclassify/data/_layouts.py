"""Layout detection and validation: from an open HDF5 file to image sources and label arrays.

The layout is recognised from what the file holds, never declared by the user. Everything that
can be checked cheaply at open time (ranks, shapes, event counts, label ranges) is checked here,
so that a bad file fails before training starts, with one line naming the file and the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from nuclassify.data._h5 import read_error
from nuclassify.data._schema import (
    FLAVOUR_NAMES,
    INTERACTION13_NAMES,
    MINERVA_VIEWS,
    N_SEGMENTS,
    NOVA_NAMINGS,
    PLANECODE_CLASSES,
    SEGMENT_NAMES,
    SPARSE_FORMAT,
    UNLABELLED_U8,
    UNLABELLED_U16,
    minerva_paths,
    nova_flavour,
    nova_interaction13,
)
from nuclassify.data._views import DenseSource, ImageSource, NovaSource, SparseSource
from nuclassify.errors import DataFileError

__all__ = ["Layout", "detect"]


@dataclass
class Layout:
    """What ``detect`` found: the layout name, image sources, labels per target, and where things are."""

    name: str
    n_events: int
    sources: list
    labels: dict[str, np.ndarray]  # target -> int64 (N,), -1 = unlabelled
    class_names: dict[str, tuple[str, ...]]
    default_target: str
    eventids: str | None = None
    image_paths: set[str] = field(default_factory=set)
    raw_codes: np.ndarray | None = None  # NOvA interaction codes 0-15 as stored (inspect shows them)


def _dataset(h5: h5py.File, path: str | os.PathLike, name: str) -> h5py.Dataset:
    if name not in h5:
        raise DataFileError(path, f"missing dataset {name}")
    obj = h5[name]
    if not isinstance(obj, h5py.Dataset):
        raise DataFileError(path, f"{name} is a group, expected a dataset")
    return obj


def _check_per_event(dset: h5py.Dataset, path: str | os.PathLike, name: str, n: int, what: str) -> None:
    """A per-event dataset must hold one integer per event: shape (n,) or (n, 1)."""
    if dset.ndim == 2 and dset.shape[1] == 1:
        pass
    elif dset.ndim != 1:
        raise DataFileError(path, f"{name}: expected shape ({n},), found {dset.shape}")
    if dset.shape[0] != n:
        raise DataFileError(path, f"{name} has {dset.shape[0]} events, the images have {n}")
    if dset.dtype.kind not in "iu":
        raise DataFileError(path, f"{name}: expected integer {what}, found dtype {dset.dtype}")


def _event_ids(h5: h5py.File, path: str | os.PathLike, name: str, n: int) -> str | None:
    """The event-id dataset's name, checked (one integer per event), or None if the file has none."""
    if name not in h5:
        return None
    _check_per_event(_dataset(h5, path, name), path, name, n, "event ids")
    return name


def _read_labels(h5: h5py.File, path: str | os.PathLike, name: str, n: int) -> np.ndarray:
    dset = _dataset(h5, path, name)
    _check_per_event(dset, path, name, n, "labels")
    try:
        return np.asarray(dset[:], dtype=np.int64).reshape(n)
    except OSError as exc:
        raise read_error(path, name, exc) from exc


def _range_error(path: str | os.PathLike, name: str, raw: np.ndarray, bad: np.ndarray, allowed: str) -> DataFileError:
    first = int(np.flatnonzero(bad)[0])
    return DataFileError(path, f"{name}: label {int(raw[first])} at event {first} outside its range ({allowed}); "
                               f"{int(bad.sum())} such event(s)")


def _minerva(h5: h5py.File, path: str | os.PathLike, name: str) -> Layout:
    paths = minerva_paths(name)
    sources = []
    for view in MINERVA_VIEWS:
        obj_name = paths[view]
        if obj_name not in h5:
            raise DataFileError(path, f"missing dataset {obj_name}")
        obj = h5[obj_name]
        if isinstance(obj, h5py.Group):
            if obj.attrs.get("format") != SPARSE_FORMAT:
                raise DataFileError(path, f"{obj_name} is a group but not a sparse view (format={SPARSE_FORMAT})")
            sources.append(SparseSource(path, obj, view))
        else:
            sources.append(DenseSource(path, obj, view))
    counts = {s.names[0]: s.n_events for s in sources}
    if len(set(counts.values())) != 1:
        listing = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise DataFileError(path, f"views have different event counts ({listing})")
    channels = {s.names[0]: s.shapes[0][2] for s in sources}
    if len(set(channels.values())) != 1:
        listing = ", ".join(f"{k}: {v}" for k, v in channels.items())
        raise DataFileError(path, f"views have different channel counts ({listing})")
    n = counts["x"]
    # Real data may carry no truth at all: a file without the segment labels is read as unlabelled.
    raw = _read_labels(h5, path, paths["segments"], n) if paths["segments"] in h5 else np.full(n, UNLABELLED_U8)
    bad = (raw > N_SEGMENTS - 1) & (raw != UNLABELLED_U8) | (raw < 0)
    if bad.any():
        raise _range_error(path, paths["segments"], raw, bad, f"0-{N_SEGMENTS - 1} or 0xFF unlabelled")
    labels = {"segment": np.where(raw == UNLABELLED_U8, -1, raw)}
    names = {"segment": SEGMENT_NAMES}
    if paths["planecodes"] in h5:
        raw = _read_labels(h5, path, paths["planecodes"], n)
        top = PLANECODE_CLASSES[-1]
        bad = (raw >= top) & (raw != UNLABELLED_U16) | (raw < 0)
        if bad.any():
            raise _range_error(path, paths["planecodes"], raw, bad, f"0-{top - 1} or 0xFFFF unlabelled")
        pc = np.where(raw == UNLABELLED_U16, -1, raw)
        n_pc = PLANECODE_CLASSES[0] if name == "minerva-2016" and pc.max(initial=-1) < PLANECODE_CLASSES[0] else top
        labels["planecode"] = pc
        names["planecode"] = tuple(f"plane code {i}" for i in range(n_pc))
    eventids = _event_ids(h5, path, paths["eventids"], n)
    image_paths = {paths[v] for v in MINERVA_VIEWS}
    return Layout(name, n, sources, labels, names, "segment", eventids, image_paths)


def _nova(h5: h5py.File, path: str | os.PathLike) -> Layout:
    found = [pair for pair in NOVA_NAMINGS.values() if pair[0] in h5]
    if not found:  # pragma: no cover - detect() only calls us when one exists
        raise DataFileError(path, "missing dataset cvnmap")
    map_name, label_name = found[0]
    src = NovaSource(path, _dataset(h5, path, map_name))
    n = src.n_events
    raw = _read_labels(h5, path, label_name, n) if label_name in h5 else np.full(n, UNLABELLED_U8, dtype=np.int64)
    bad = ((raw < 0) | (raw > 15)) & (raw != UNLABELLED_U8) & (raw != -1)
    if bad.any():
        raise _range_error(path, label_name, raw, bad, "interaction codes 0-15, or 255 / -1 unlabelled")
    labels = {"flavour": nova_flavour(raw), "interaction13": nova_interaction13(raw)}
    names = {"flavour": FLAVOUR_NAMES, "interaction13": INTERACTION13_NAMES}
    eventids = _event_ids(h5, path, "eventids", n)
    return Layout("nova-cvn", n, [src], labels, names, "flavour", eventids, {map_name}, raw)


def _images(h5: h5py.File, path: str | os.PathLike) -> Layout:
    src = ImageSource(path, _dataset(h5, path, "images"))
    n = src.n_events
    raw = _read_labels(h5, path, "labels", n)
    names_attr = h5["labels"].attrs.get("class_names")
    if names_attr is not None:
        names = tuple(str(s.decode() if isinstance(s, bytes) else s) for s in names_attr)
    else:
        names = tuple(str(i) for i in range(int(raw.max(initial=-1)) + 1))
    bad = (raw < -1) | (raw >= max(1, len(names)))
    if bad.any():
        raise _range_error(path, "labels", raw, bad, f"0-{len(names) - 1}, or -1 unlabelled")
    return Layout("images", n, [src], {"label": raw}, {"label": names}, "label", None, {"images"})


def detect(h5: h5py.File, path: str | os.PathLike) -> Layout:
    """Recognise the layout of an open file and validate it (raises DataFileError)."""
    keys = list(h5.keys())
    if not keys:
        raise DataFileError(path, "empty HDF5 file (no datasets)")
    img = h5.get("img_data")
    if isinstance(img, h5py.Group) and any(k.startswith("hitimes-") for k in img):
        layout = _minerva(h5, path, "minerva-2018")
    elif any(k.startswith("hitimes-") for k in keys):
        layout = _minerva(h5, path, "minerva-2016")
    elif "cvnmap" in h5 or "rec.training.cvnmaps/cvnmap" in h5:
        layout = _nova(h5, path)
    elif "images" in h5:
        layout = _images(h5, path)
    else:
        raise DataFileError(path, f"no known layout (top level holds: {', '.join(sorted(keys)[:8])}); expected "
                                  "img_data/hitimes-*, hitimes-*, cvnmap or images + labels")
    if layout.n_events == 0:
        raise DataFileError(path, "file holds no events")
    return layout
