"""Per-event predictions for pipelines: one row per event, written as CSV or HDF5.

Rows stream batch by batch: CSV is written as it comes (stdout or an atomic file), HDF5 into
resizable datasets of a temporary file renamed into place at the end.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from typing import IO, Any

import h5py
import numpy as np

from nuclassify._fileio import atomic_output
from nuclassify.evaluation._runner import PredictFn, prefetch, split_output

__all__ = ["iter_predictions", "probability_columns", "write_predictions_csv", "write_predictions_h5"]


def probability_columns(class_names: list[str]) -> list[str]:
    """Column names p_0..p_K-1: short, sortable, and free of the spaces that class names hold."""
    return [f"p_{i}" for i in range(len(class_names))]


def iter_predictions(dataset: Any, fn: PredictFn, *, batch_size: int = 256, indices: Any = None,
                     on_batch: Callable[[int], None] | None = None
                     ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Yield (event ids, probabilities, z or None) per batch; works on unlabelled files."""
    idx = np.arange(dataset.n_events) if indices is None else np.asarray(indices)
    pos = 0
    for views, _ in prefetch(dataset.batches(batch_size, indices=idx, with_labels=False)):
        n = len(views[0])
        probs, z = split_output(fn(views))
        yield dataset.event_ids(idx[pos:pos + n]), probs, z
        pos += n
        if on_batch is not None:
            on_batch(n)


def write_predictions_csv(stream: IO[str], rows: Any, class_names: list[str], with_z: bool) -> int:
    """Header then one line per event: event_id, predicted, p_0..p_K-1[, z_mm]. Returns the row count."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["event_id", "predicted", *probability_columns(class_names)] + (["z_mm"] if with_z else []))
    count = 0
    for ids, probs, z in rows:
        pred = np.argmax(probs, axis=1)
        pcols = [[f"{v:.6g}" for v in row] for row in np.asarray(probs, dtype=np.float64)]
        for i in range(len(ids)):
            line = [int(ids[i]), int(pred[i]), *pcols[i]]
            if with_z:
                line.append("" if z is None or not np.isfinite(z[i]) else f"{float(z[i]):.1f}")
            writer.writerow(line)
        count += len(ids)
    return count


def write_predictions_h5(path: str | os.PathLike, rows: Any, class_names: list[str], with_z: bool,
                         overwrite: bool = False) -> int:
    """Datasets event_id (uint64), predicted (int16), probabilities (N, K) float32[, z_mm]; atomic."""
    k = len(class_names)
    count = 0
    with atomic_output(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as h5:
        ids_d = h5.create_dataset("event_id", (0,), maxshape=(None,), dtype="u8", chunks=(4096,))
        pred_d = h5.create_dataset("predicted", (0,), maxshape=(None,), dtype="i2", chunks=(4096,))
        prob_d = h5.create_dataset("probabilities", (0, k), maxshape=(None, k), dtype="f4", chunks=(1024, k))
        prob_d.attrs["class_names"] = [str(c) for c in class_names]
        z_d = h5.create_dataset("z_mm", (0,), maxshape=(None,), dtype="f4", chunks=(4096,)) if with_z else None
        for ids, probs, z in rows:
            n = len(ids)
            for d in (ids_d, pred_d, prob_d) + ((z_d,) if z_d is not None else ()):
                d.resize(count + n, axis=0)
            ids_d[count:] = ids
            pred_d[count:] = np.argmax(probs, axis=1)
            prob_d[count:] = probs
            if z_d is not None:
                z_d[count:] = np.nan if z is None else z
            count += n
    return count
