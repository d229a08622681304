"""What is in a data file, as a plain dict (``inspect --json``) and as text (``inspect``)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from nuclassify.data._reader import open_dataset
from nuclassify.data._samples import SAMPLES, _selected
from nuclassify.data._schema import NOVA_CODE_NAMES
from nuclassify.data._validate import validate_pixels
from nuclassify.data._views import SparseSource
from nuclassify.errors import DataFileError

__all__ = ["summarize", "format_summary"]

_CHANNEL_NAMES = {"minerva": ("energy", "time"), "nova-cvn": ("charge",), "images": ("r", "g", "b")}


def _channels(layout: str, c: int) -> list[str]:
    names = _CHANNEL_NAMES["minerva" if layout.startswith("minerva") else layout]
    if layout == "images" and c != 3:
        return [f"ch{i}" for i in range(c)]
    return list(names[:c]) + [f"ch{i}" for i in range(len(names), c)]


def _distribution(labels: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    known = labels[labels >= 0]
    counts = np.bincount(known, minlength=len(names))[:len(names)]
    return {"n_classes": len(names), "labelled": int(len(known)), "unlabelled": int(len(labels) - len(known)),
            "counts": counts.tolist(), "class_names": list(names)}


def summarize(path: str | os.PathLike, sample: int = 2000) -> dict[str, Any]:
    """Layout, event count, views, label distributions, occupancy, truth fields and provenance of a file.

    Occupancy (mean fraction of pixels with any non-zero channel) is exact over all events for
    sparse files (from the hit counts) and estimated from ``sample`` evenly spaced events for dense
    ones. The pixels of the first ``sample`` events (all if ``sample`` is 0) are checked for NaN/inf.
    ``provenance`` is the file's record of how it was made (``{}`` if it has none).

    Raises:
        DataFileError: if the file is unreadable or invalid (one line naming it and the problem).
    """
    with open_dataset(path) as ds:
        n = ds.n_events
        size = os.path.getsize(path)
        views = []
        for src in ds._sources:
            for name, shape in zip(src.names, src.shapes, strict=True):
                views.append({"name": name, "shape": list(shape), "channels": _channels(ds.layout, shape[2]),
                              "storage": "sparse" if isinstance(src, SparseSource) else "dense"})
        occupancy: dict[str, float] = {}
        k = n if sample <= 0 else min(n, sample)
        picks = np.unique(np.linspace(0, n - 1, k).astype(np.int64))
        dense_names = [name for src in ds._sources if not isinstance(src, SparseSource) for name in src.names]
        for src in ds._sources:
            if isinstance(src, SparseSource):
                occupancy[src.view] = float(np.diff(src.offsets).mean() / (src.rows * src.cols))
        if dense_names:
            occupied = dict.fromkeys(ds.view_names, 0.0)
            for start in range(0, len(picks), 256):  # a few hundred dense events in memory at a time
                for name, arr in zip(ds.view_names, ds.read_views(picks[start:start + 256]), strict=True):
                    occupied[name] += float(np.any(arr != 0, axis=-1).mean(axis=(1, 2)).sum())
            occupancy.update({name: occupied[name] / len(picks) for name in dense_names})
        checked = validate_pixels(ds, None if sample <= 0 else sample)
        targets = {t: _distribution(ds.labels(t), ds.class_names(t)) for t in ds.targets}
        summary: dict[str, Any] = {
            "path": str(path), "layout": ds.layout, "n_events": n, "file_bytes": size,
            "bytes_per_event": size / n, "views": views, "default_target": ds.default_target, "targets": targets,
            "occupancy": occupancy, "occupancy_events": n if ds.sparse else len(picks),
            "truth_fields": ds.truth_fields, "pixels_checked_events": checked,
            "provenance": ds.provenance,
        }
        samples = _samples(ds)
        if samples:
            summary["samples"] = samples
        if ds._layout.raw_codes is not None:
            codes = ds._layout.raw_codes
            summary["interaction_codes"] = {NOVA_CODE_NAMES[c]: int((codes == c).sum()) for c in range(16)}
            summary["interaction_codes"]["unlabelled"] = int(((codes < 0) | (codes > 15)).sum())
        return summary


def _samples(ds: Any) -> dict[str, int]:
    """How many events each named sample holds (``evaluate --sample``), where the file can tell."""
    out = {}
    for name in SAMPLES:
        if name == "all" or not ds.layout.startswith("minerva"):
            continue
        try:
            out[name] = len(_selected(ds, name))
        except DataFileError:  # a simulated file from before the field: the sample cannot be told apart
            continue
    return out


def _table(dist: dict[str, Any], indent: str = "  ") -> list[str]:
    total = max(1, dist["labelled"])
    rows = []
    for label, (name, count) in enumerate(zip(dist["class_names"], dist["counts"], strict=True)):
        rows.append(f"{indent}{label:>3}  {name:<22} {count:>9}  {100.0 * count / total:5.1f}%")
    return rows


def format_summary(s: dict[str, Any]) -> str:
    """The human-readable ``inspect`` report of a :func:`summarize` dict."""
    mb = s["file_bytes"] / 1e6
    lines = [f"file:       {s['path']}  ({mb:.2f} MB, {s['bytes_per_event'] / 1024:.2f} KB/event)",
             f"layout:     {s['layout']}",
             f"events:     {s['n_events']}"]
    for i, v in enumerate(s["views"]):
        h, w, c = v["shape"]
        lines.append(f"{'views:' if i == 0 else '':<12}{v['name']:<6} {h} x {w} x {c}  "
                     f"({', '.join(v['channels'])}; {v['storage']})")
    occ = "  ".join(f"{k} {100 * x:.2f}%" for k, x in s["occupancy"].items())
    lines.append(f"occupancy:  {occ}  (over {s['occupancy_events']} events)")
    for target, dist in s["targets"].items():
        head = f"labels {target}: {dist['n_classes']} classes, {dist['labelled']} labelled, " \
               f"{dist['unlabelled']} unlabelled or outside the scheme"
        lines.append(head)
        if dist["labelled"] and dist["n_classes"] <= 20:
            lines.extend(_table(dist))
        elif dist["labelled"]:
            used = sum(1 for c in dist["counts"] if c)
            lines.append(f"  {used} distinct values in use")
    if "interaction_codes" in s:
        lines.append("interaction codes:")
        lines.extend(f"  {name:<22} {count:>9}" for name, count in s["interaction_codes"].items() if count)
    for name, count in s.get("samples", {}).items():
        lines.append(f"sample:     {name} {count} events ({100.0 * count / max(1, s['n_events']):.1f}%; "
                     f"evaluate --sample {name})")
    lines.append(f"truth:      {', '.join(s['truth_fields']) or '(none)'}")
    lines.append(f"pixels:     {s['pixels_checked_events']} events checked, all finite")
    lines.extend(_provenance_lines(s.get("provenance") or {}))
    return "\n".join(lines)


def _provenance_lines(record: dict[str, Any]) -> list[str]:
    """One ``key: value`` line per provenance field, the reproducing command first, then by name."""
    if not record:
        return ["provenance: (none recorded)"]
    keys = sorted(record, key=lambda k: (k != "command", k))
    width = max(len(k) for k in keys)
    return [f"{'provenance:' if i == 0 else '':<12}{k:<{width}}  {_scalar_text(record[k])}" for i, k in enumerate(keys)]


def _scalar_text(value: Any) -> str:
    """A provenance value as it was given on the command line (JSON for anything nested)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)
