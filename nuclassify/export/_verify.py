"""Does the exported model compute what the Keras model computes? Checked on real events.

The exported file runs the way a consumer will run it (ONNX through the same onnxruntime
predictor ``predict`` uses, SavedModel through TensorFlow's loader), the Keras model through
``predict_on_batch``, on the same events: by default the run's validation events, since they
are what the network was judged on and what real inputs look like (empty pixels, late hit
times), which random numbers are not.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.errors import UsageError
from nuclassify.evaluation import check_model_data, keras_predict_fn, load_predictor
from nuclassify.export._convert import ExportError

__all__ = ["TOLERANCE", "VerifyResult", "verification_events", "verify_export"]

#: Largest absolute difference in any class probability that passes verification.
TOLERANCE = 1e-4


@dataclass(frozen=True)
class VerifyResult:
    """How closely the exported model reproduces the Keras model.

    Attributes:
        n_events: events compared.
        data: the data file they came from.
        events: which events, in words ("validation events held out of train.h5 (seed 1)").
        max_abs_diff: the largest |p_exported - p_keras| over all events and classes.
        argmax_agree: events whose most probable class is the same in both.
        passed: ``max_abs_diff <= TOLERANCE`` and every argmax agrees.
    """

    n_events: int
    data: str
    events: str
    max_abs_diff: float
    argmax_agree: int
    passed: bool

    def to_dict(self) -> dict:
        """JSON-ready form (``export --json``)."""
        return asdict(self) | {"tolerance": TOLERANCE}

    def summary(self) -> str:
        """One line: the figures and the verdict."""
        return (f"max |p_exported - p_keras| = {self.max_abs_diff:.2e} (tolerance {TOLERANCE:.0e}), argmax agrees on "
                f"{self.argmax_agree}/{self.n_events} {self.events}")


def verification_events(meta: dict, data: str | os.PathLike | None, n: int) -> tuple[Path, np.ndarray, str]:
    """The data file and the first ``n`` events to verify on, and how to describe them.

    ``data`` given: its first ``n`` events. Otherwise the run's validation data: the ``valid``
    file, or the events held out of the training file, drawn again exactly as training drew them
    (``split_indices(n, valid_fraction, seed)`` over the first ``max_events``). A run trained on
    explicit index arrays records only their digest, so its training file's first events are used.

    Raises:
        UsageError: the run records no data file, or the file is gone (the message says to pass --data).
    """
    from nuclassify.data import open_dataset, split_indices

    if data is not None:
        with open_dataset(data) as ds:
            return Path(data), np.arange(min(n, ds.n_events), dtype=np.int64), f"events of {Path(data).name}"
    path = meta.get("valid") or meta.get("train_data")
    if not path:
        raise UsageError("the run records no data file to verify on; give --data FILE (or --verify 0)")
    role = "valid" if meta.get("valid") else "train"
    recorded = ((meta.get("data") or {}).get(role) or {}).get("path")  # absolute, as file_digest kept it
    if not Path(path).is_file() and recorded and Path(recorded).is_file():
        path = recorded  # the command line's path was relative to where train ran
    if not Path(path).is_file():
        raise UsageError(f"the run's data {path} is not there to verify on; give --data FILE (or --verify 0)")
    with open_dataset(path) as ds:
        total = ds.n_events
    if meta.get("valid"):
        return Path(path), np.arange(min(n, total), dtype=np.int64), f"events of the validation file {Path(path).name}"
    fraction, explicit = meta.get("valid_fraction"), meta.get("train_indices") or meta.get("valid_indices")
    if fraction and not explicit:
        base = np.arange(min(total, meta.get("max_events") or total), dtype=np.int64)
        _, valid_pos = split_indices(len(base), fraction, meta.get("seed", 0))
        return (Path(path), base[valid_pos][:n],
                f"validation events held out of {Path(path).name} (seed {meta.get('seed', 0)})")
    return Path(path), np.arange(min(n, total), dtype=np.int64), f"events of the training file {Path(path).name}"


def _saved_model_fn(directory: Path, model_views: list[str], data_views: list[str]) -> Any:
    """Run a SavedModel's ``serve`` endpoint (TensorFlow's loader, as a serving program would)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(directory))
    order = [data_views.index(v) for v in model_views]

    def fn(batch: tuple[np.ndarray, ...]) -> np.ndarray:
        inputs = [tf.constant(batch[i]) for i in order]
        out = loaded.serve(inputs if len(inputs) > 1 else inputs[0])
        if isinstance(out, dict):
            out = next(iter(out.values()))
        if isinstance(out, (list, tuple)):
            out = out[0]
        return np.asarray(out)

    return fn


def verify_export(exported: Path, fmt: str, keras_model: Any, meta: dict, data: str | os.PathLike | None,
                  n: int, *, batch_size: int = 256, label: str = "the model") -> VerifyResult:
    """Run the exported model and the Keras model on the same events and compare their probabilities.

    Args:
        exported: the written ``.onnx`` file or SavedModel directory (a temporary name is fine).
        fmt: ``"onnx"`` or ``"saved_model"``.
        keras_model: the Keras model that was exported.
        meta: the run's run.json (views, shapes, target to check the data against).
        data: a data file to take the events from, or None for the run's validation data.
        n: how many events.
        batch_size: events per batch.
        label: how to name the model in messages (its run directory).

    Raises:
        UsageError: the data's views or shapes do not match the model's inputs, or there is no data.
        ExportError: the data file has no events.
    """
    from nuclassify.data import open_dataset

    path, idx, events = verification_events(meta, data, n)
    with open_dataset(path) as ds:
        check_model_data(meta, ds, label)
        if len(idx) == 0:
            raise ExportError(f"{path}: no events to verify on")
        data_views = list(ds.view_names)
        views = list(meta["views"])
        reference = keras_predict_fn(keras_model, views, data_views)
        if fmt == "onnx":
            candidate = load_predictor(str(exported), ds).fn
        else:
            candidate = _saved_model_fn(exported, views, data_views)
        worst, agree = 0.0, 0
        for start in range(0, len(idx), batch_size):
            batch = ds.read_views(idx[start:start + batch_size])
            p_ref = np.asarray(reference(batch)[0], dtype=np.float64)
            out = candidate(batch)
            p_new = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=np.float64)
            if p_new.shape != p_ref.shape:
                raise ExportError(f"the exported model returned shape {p_new.shape}, Keras {p_ref.shape}")
            diff = float(np.max(np.abs(p_new - p_ref)))
            worst = max(worst, diff if np.isfinite(diff) else float("inf"))  # a NaN must fail, not vanish
            agree += int(np.sum(np.argmax(p_new, axis=1) == np.argmax(p_ref, axis=1)))
    passed = worst <= TOLERANCE and agree == len(idx)
    return VerifyResult(int(len(idx)), str(path), events, worst, agree, passed)
