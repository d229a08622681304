"""The real trainer of ``nuclassify evolve``: one candidate, one call of :func:`nuclassify.training.fit`.

``train_candidate(spec, task)`` follows the trainer contract of ``_trainers``. It builds a
:class:`~nuclassify.training.TrainConfig` from ``task["options"]``: the search's options, set by
``_evolve`` (part of the search's identity), plus what ``_runtime`` adds to each task (where
the data lies now, the current medians):

- ``train`` / ``valid``: absolute data paths; ``digests``: their precomputed ``file_digest``, so
  no candidate hashes a file again (``fit`` checks path and size);
- ``valid_fraction`` with ``split_seed`` and ``n_events``: the hold-out, drawn here exactly as
  the master would, so every candidate validates on the same events (``fit`` alone would draw
  the split from each candidate's own seed);
- ``epochs``, ``max_events``, ``precision``, ``target``;
- ``early_stop`` (``"median"``) with ``medians`` (epoch -> median, from the master's
  :class:`~nuclassify.search._stopping.MedianTracker`);
- ``latency``: also time inference, for ``--objectives ...,-latency``.

The batch size, optimizer and learning rate come from the spec's ``training`` block.

Disk: each candidate trains into ``RUN_DIR/candidates/<id>/``. Once ``fit`` returns, only
``run.json``, ``spec.json``, ``history.csv`` and ``best.keras`` (the weights whose epoch the
reported figures come from) stay; the master later deletes ``best.keras`` of every candidate
that is not (or no longer) the best or on the Pareto front (:func:`prune_weights`), and all
weights of a failed one. So a search keeps a few kilobytes per candidate plus the winners'
weights, however long it runs.

Ctrl-C: ``fit`` runs in a thread, so it never takes the process's signals over: a candidate
process keeps ignoring them (the master owns the search and kills its children itself), and in
the master (serial executor) Ctrl-C ends the candidate at the next batch as KeyboardInterrupt,
so the search stops and the candidate is issued again on resume, never recorded as failed.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

__all__ = ["train_candidate", "candidate_dir", "prune_weights", "CANDIDATES_DIR", "RESULT_KEYS", "KEEP_FILES"]

CANDIDATES_DIR = "candidates"
KEEP_FILES = ("run.json", "spec.json", "history.csv", "best.keras")
#: the numbers every candidate reports (besides the learning curve with early stopping, and latency)
RESULT_KEYS = ("val_accuracy", "val_loss", "params", "train_seconds", "events_per_s", "epochs", "stopped_early")


def candidate_dir(run_dir: str | Path, candidate_id: int) -> Path:
    """Where candidate ``candidate_id`` of the search in ``run_dir`` trains."""
    return Path(run_dir) / CANDIDATES_DIR / str(int(candidate_id))


def _prune_after_fit(out_dir: Path) -> None:
    """Delete what a finished candidate no longer needs (final/last models, resume state, logs)."""
    for entry in out_dir.iterdir() if out_dir.is_dir() else ():
        if entry.name in KEEP_FILES:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def prune_weights(run_dir: str | Path, candidate_id: int, *, failed: bool = False) -> None:
    """Delete a candidate's weights: ``best.keras`` (no longer a winner), or for a ``failed``
    one every model file and its resume state (it may have died mid-epoch); the small records stay."""
    out_dir = candidate_dir(run_dir, candidate_id)
    if not out_dir.is_dir():
        return
    if failed:
        for entry in out_dir.iterdir():
            if entry.suffix == ".keras" or entry.name.endswith(".tmp.keras"):
                entry.unlink(missing_ok=True)
            elif entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
        return
    (out_dir / "best.keras").unlink(missing_ok=True)


def _subset(options: dict) -> dict[str, Any]:
    """TrainConfig's event options: one hold-out split for the whole search, or a validation file."""
    if options.get("valid"):
        return {"valid": options["valid"], "max_events": options.get("max_events")}
    import numpy as np

    from nuclassify.data import split_indices

    n = int(options["n_events"])
    if options.get("max_events"):
        n = min(n, int(options["max_events"]))
    train_idx, valid_idx = split_indices(n, float(options["valid_fraction"]), int(options.get("split_seed", 0)))
    return {"train_indices": np.asarray(train_idx, dtype=np.int64),
            "valid_indices": np.asarray(valid_idx, dtype=np.int64)}


def _in_candidate_process() -> bool:
    """True in a process that ignores Ctrl-C (a candidate child: the master owns the signals)."""
    return threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def _stop_when_set(stop: threading.Event) -> Any:
    """A Keras callback that ends ``fit`` at the next batch once ``stop`` is set."""
    import keras

    class StopWhenSet(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if stop.is_set():
                self.model.stop_training = True

    return StopWhenSet()


def _fit(spec: dict, config: Any, callbacks: list) -> Any:
    """``fit`` in a thread of its own, so that it never takes over this process's signals.

    In a candidate process Ctrl-C and SIGTERM stay ignored (the master kills its children).
    In the master (serial executor) they are caught here, not by ``fit``: the first ends the
    candidate at the next batch and raises KeyboardInterrupt, so the search stops and the
    candidate is issued again on resume instead of being recorded as failed (``fit``'s own
    handling would end it as "interrupted", or, in its last batch, let it finish and the
    signal be lost). A second one raises KeyboardInterrupt at once.
    """
    from nuclassify._signals import stop_on_signals, wait_interruptibly
    from nuclassify.training import fit

    quiet = _in_candidate_process()
    handlers = contextlib.nullcontext(threading.Event()) if quiet else stop_on_signals()
    with handlers as stop, ThreadPoolExecutor(1, thread_name_prefix="nuclassify-candidate") as pool:
        future = pool.submit(fit, spec, config, callbacks=[*callbacks, _stop_when_set(stop)])
        result = wait_interruptibly(future.result, FutureTimeout)
    if stop.is_set():
        raise KeyboardInterrupt("candidate stopped by a signal")
    return result


def _latency(model_path: Path, spec: dict, input_shapes: dict, batch: int = 64, repeats: int = 5) -> float:
    """Inference milliseconds per event at batch ``batch`` on this worker (best of ``repeats``)."""
    import numpy as np

    from nuclassify.models import load_model

    model = load_model(model_path, compile=False)
    x = [np.zeros((batch, *input_shapes[v]), np.float32) for v in spec["views"]]
    model.predict_on_batch(x)  # compile/warm up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict_on_batch(x)
        best = min(best, time.perf_counter() - t0)
    return 1000.0 * best / batch


def train_candidate(spec: dict, task: dict) -> dict:
    """Train one candidate as ``task`` says; return its figures from the best epoch.

    Returns ``val_accuracy`` and ``val_loss`` of the epoch ``best.keras`` holds (lowest val_loss),
    ``params``, ``train_seconds``, ``events_per_s``, ``epochs`` (completed), ``stopped_early``
    (1 if the median rule cut it, else 0), with early stopping the curve ``val_accuracy_e<k>``,
    and with ``options["latency"]`` ``latency`` (ms per event).

    Raises:
        SpecError, TrainingDivergedError, ...: the candidate fails with that reason.
        KeyboardInterrupt: Ctrl-C in the master (serial executor).
    """
    from nuclassify.search._stopping import MedianRule, curve_key, make_median_callback
    from nuclassify.training import TrainConfig

    options = dict(task.get("options", {}))
    epochs = int(options.get("epochs", 1))
    out_dir = candidate_dir(task["run_dir"], task["candidate_id"])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(options["train"], out_dir, epochs=epochs, seed=int(task["seed"]) % 2**32,
                         precision=options.get("precision", "fp32"), overwrite=True, target=options.get("target"),
                         quiet=True, progress="none", backup_seconds=None, digests=options.get("digests"),
                         checkpoints="best", tensorboard=False,  # re-run from scratch if interrupted
                         **_subset(options))
    callbacks, stopper = [], None
    median = options.get("early_stop") == "median"
    if median and options.get("medians"):
        stopper = make_median_callback(MedianRule(options["medians"], epochs))
        callbacks.append(stopper)
    result = _fit(spec, config, callbacks)
    rows = {int(r["epoch"]): r for r in result.history}
    best = result.best or {}
    if best.get("metric") != "val_loss" or int(best.get("epoch", -1)) not in rows:
        raise RuntimeError(f"candidate {task['candidate_id']}: no validation figures (validation events: "
                           f"{result.valid_events})")
    row = rows[int(best["epoch"])]
    out = {"val_accuracy": float(row["val_accuracy"]), "val_loss": float(row["val_loss"]),
           "params": float(result.meta.get("parameters", 0)), "train_seconds": float(result.elapsed_s),
           "events_per_s": float(result.events_per_s) if math.isfinite(result.events_per_s) else 0.0,
           "epochs": float(result.epochs_completed),
           "stopped_early": 1.0 if stopper is not None and stopper.stopped_epoch else 0.0}
    if median:
        out.update({curve_key(e + 1): float(r["val_accuracy"]) for e, r in sorted(rows.items())})
    if options.get("latency"):
        out["latency"] = _latency(out_dir / "best.keras", spec, task["input_shapes"])
    _prune_after_fit(out_dir)
    return out
