"""Per-event predictions for pipelines: one row per event, written as CSV or HDF5.

Rows stream batch by batch: CSV is written as it comes (stdout or an atomic file), HDF5 into
resizable datasets of a temporary file renamed into place at the end. :func:`write_predictions`
is ``nuclassify predict`` as a library call.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from nuclassify._fileio import atomic_h5, atomic_output
from nuclassify.errors import UsageError
from nuclassify.evaluation._runner import PredictFn, prefetch, split_output

if TYPE_CHECKING:
    from nuclassify.evaluation._predictor import Predictor

__all__ = ["iter_predictions", "probability_columns", "write_predictions_csv", "write_predictions_h5",
           "prediction_format", "write_predictions", "confidence_entropy"]

_FORMATS = {".csv": "csv", ".h5": "h5", ".hdf5": "h5"}


def probability_columns(class_names: list[str]) -> list[str]:
    """Column names p_0..p_K-1: short, sortable, and free of the spaces that class names hold."""
    return [f"p_{i}" for i in range(len(class_names))]


def confidence_entropy(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each event's confidence (top-class probability) and predictive entropy -sum p ln p (nats).

    Entropy is 0 for a certain prediction and ln K when every class is equally likely; with the
    confidence it lets a pipeline set aside the events the network is unsure of.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return p.max(axis=1), np.maximum(-plogp.sum(axis=1), 0.0)


def iter_predictions(dataset: Any, fn: PredictFn, *, batch_size: int = 256, indices: Any = None,
                     on_batch: Callable[[int], None] | None = None, extras: bool = False
                     ) -> Iterator[tuple]:
    """Yield (event ids, probabilities, z or None) per batch; works on unlabelled files.

    ``extras``: yield a fourth element, the per-event columns of the result's ``columns()``
    (an empty dict when it has none), e.g. the classical methods' ``z_sigma`` and ``n_tracks``.
    """
    idx = np.arange(dataset.n_events) if indices is None else np.asarray(indices)
    pos = 0
    for views, _ in prefetch(dataset.batches(batch_size, indices=idx, with_labels=False)):
        n = len(views[0])
        out = fn(views)
        probs, z = split_output(out)
        ids = dataset.event_ids(idx[pos:pos + n])
        if extras:
            columns = getattr(out, "columns", None)
            yield ids, probs, z, (columns() if callable(columns) else dict(columns or {}))
        else:
            yield ids, probs, z
        pos += n
        if on_batch is not None:
            on_batch(n)


def write_predictions_csv(stream: IO[str], rows: Any, class_names: list[str], with_z: bool,
                          extra_names: Sequence[str] = ()) -> int:
    """Header then one line per event: event_id, predicted, p_0..p_K-1, confidence, entropy,
    the ``extra_names`` columns (rows then carry a fourth element, a dict of them)[, z_mm].

    The header goes out with the first batch's rows, not before: a file that fails on its first
    batch (a NaN pixel, a bad index) leaves a pipeline nothing, rather than a header-only CSV.

    Returns the row count.
    """
    writer = csv.writer(stream, lineterminator="\n")
    header = ["event_id", "predicted", *probability_columns(class_names), "confidence", "entropy",
              *extra_names] + (["z_mm"] if with_z else [])
    count = 0
    for ids, probs, z, *more in rows:
        if header:
            writer.writerow(header)
            header = []
        pred = np.argmax(probs, axis=1)
        pcols = [[f"{v:.6g}" for v in row] for row in np.asarray(probs, dtype=np.float64)]
        conf, ent = confidence_entropy(probs)
        columns = more[0] if more else {}
        extra = [np.asarray(columns.get(name, np.full(len(ids), np.nan)), dtype=np.float64) for name in extra_names]
        for i in range(len(ids)):
            line = [int(ids[i]), int(pred[i]), *pcols[i], f"{conf[i]:.6g}", f"{ent[i]:.6g}",
                    *("" if not np.isfinite(col[i]) else f"{col[i]:.6g}" for col in extra)]
            if with_z:
                line.append("" if z is None or not np.isfinite(z[i]) else f"{float(z[i]):.1f}")
            writer.writerow(line)
        count += len(ids)
    if header:  # no batch at all: still a well-formed (empty) table
        writer.writerow(header)
    return count


def write_predictions_h5(path: str | os.PathLike, rows: Any, class_names: list[str], with_z: bool,
                         overwrite: bool = False, extra_names: Sequence[str] = ()) -> int:
    """Datasets event_id (uint64), predicted (int16), probabilities (N, K), confidence, entropy (float32),
    one float32 dataset per ``extra_names`` column (``mutual_information``, trackfit's ``z_sigma``, ...;
    NaN where a batch lacks it)[, z_mm].

    Atomic.

    Written through :func:`~nuclassify._fileio.atomic_h5`: a full disk or ``ulimit -f`` ends in one
    line ("p.h5: no space left on device after 4,096 events ...") and no file, never in HDF5's crash.
    """
    k = len(class_names)
    count = 0
    with atomic_h5(path, overwrite=overwrite, progress=lambda: f"after {count:,} events") as out:
        h5 = out.file
        ids_d = h5.create_dataset("event_id", (0,), maxshape=(None,), dtype="u8", chunks=(4096,))
        pred_d = h5.create_dataset("predicted", (0,), maxshape=(None,), dtype="i2", chunks=(4096,))
        prob_d = h5.create_dataset("probabilities", (0, k), maxshape=(None, k), dtype="f4", chunks=(1024, k))
        prob_d.attrs["class_names"] = [str(c) for c in class_names]
        conf_d = h5.create_dataset("confidence", (0,), maxshape=(None,), dtype="f4", chunks=(4096,))
        ent_d = h5.create_dataset("entropy", (0,), maxshape=(None,), dtype="f4", chunks=(4096,))
        ent_d.attrs["unit"] = "nats"
        z_d = h5.create_dataset("z_mm", (0,), maxshape=(None,), dtype="f4", chunks=(4096,)) if with_z else None
        extra_d = {name: h5.create_dataset(name, (0,), maxshape=(None,), dtype="f4", chunks=(4096,))
                   for name in extra_names}
        if "mutual_information" in extra_d:
            extra_d["mutual_information"].attrs["unit"] = "nats"
        for ids, probs, z, *more in rows:
            n = len(ids)
            for d in (ids_d, pred_d, prob_d, conf_d, ent_d, *extra_d.values()) + ((z_d,) if z_d is not None else ()):
                d.resize(count + n, axis=0)
            columns = more[0] if more else {}
            for name, d in extra_d.items():
                d[count:] = np.asarray(columns.get(name, np.full(n, np.nan)), dtype=np.float32)
            ids_d[count:] = ids
            pred_d[count:] = np.argmax(probs, axis=1)
            prob_d[count:] = probs
            conf_d[count:], ent_d[count:] = confidence_entropy(probs)
            if z_d is not None:
                z_d[count:] = np.nan if z is None else z
            out.check()  # a write of this batch failed: stop here
            count += n
    return count


def prediction_format(output: str | os.PathLike | None) -> str:
    """``"csv"`` or ``"h5"`` from the output file's suffix; None (a stream) is CSV.

    Called before any data is read, so that a mistyped ``-o`` fails at once.

    Raises:
        UsageError: the suffix is none of .csv, .h5, .hdf5.
    """
    if output is None:
        return "csv"
    fmt = _FORMATS.get(Path(output).suffix.lower())
    if fmt is None:
        raise UsageError(f"{output}: output must end in .csv, .h5 or .hdf5")
    return fmt


def write_predictions(dataset: Any, predictor: Predictor, output: str | os.PathLike | None = None, *,
                      stream: IO[str] | None = None, batch_size: int = 256, overwrite: bool = False,
                      on_batch: Callable[[int], None] | None = None) -> int:
    """Predict every event of ``dataset`` and write one row per event; returns the row count.

    Args:
        dataset: the open data file (labels not needed).
        predictor: from :func:`nuclassify.evaluation.load_predictor`.
        output: a .csv or .h5/.hdf5 file, written atomically (renamed into place only after
            the last row); None writes CSV to ``stream``.
        stream: where CSV goes when ``output`` is None (default: stdout, for pipelines).
        batch_size: events per batch read and predicted.
        overwrite: replace an existing ``output``.
        on_batch: called with each batch's event count (progress).

    Raises:
        UsageError: a bad output suffix, or ``output`` exists without ``overwrite``.
    """
    fmt = prediction_format(output)
    extra = tuple(predictor.extra_columns)
    rows = iter_predictions(dataset, predictor.fn, batch_size=batch_size, on_batch=on_batch, extras=bool(extra))
    names, with_z = list(predictor.class_names), predictor.has_z
    if output is None:
        return write_predictions_csv(stream if stream is not None else sys.stdout, rows, names, with_z, extra)
    if fmt == "csv":
        with atomic_output(output, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as fh:
            return write_predictions_csv(fh, rows, names, with_z, extra)
    return write_predictions_h5(output, rows, names, with_z, overwrite=overwrite, extra_names=extra)
