"""Keeping RUN_DIR current: checkpoints, resume state, history, NaN guard, timings.

Both engines end an epoch through :func:`end_epoch` and save mid-epoch through
:func:`save_resume`, so the crash-safe order is coded (and documented) here only:

1. ``best.keras`` (when the monitored value improved) and ``last.keras``, each by rename;
2. the resume checkpoint ``resume/state.keras``, by rename;
3. ``resume/state.json``, which names that checkpoint's epoch and step;
4. ``history.csv`` and (through ``on_epoch``) ``run.json``, rewritten from that state.

Every model file is in place *before* the state and history that point at it, so a kill at any
instant leaves a state that agrees with the checkpoint it names (at worst the newest epoch's files
exist and the older state still names the previous checkpoint, which resume then repeats). A NaN
loss stops training before anything is saved, so every file on disk holds finite weights.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nuclassify.errors import RunDirError
from nuclassify.training._config import TrainConfig
from nuclassify.training._rundir import save_model_atomic, write_json_atomic, write_text_atomic

__all__ = ["make_keeper", "read_state", "history_csv", "end_epoch", "save_resume", "StopTrainingNow"]


class StopTrainingNow(Exception):  # noqa: N818 - a signal to the loop, not an error
    """Raised by the keeper once an interruption's checkpoint is saved, to leave ``model.fit`` at once.

    Why not only ``model.stop_training``: Keras checks it after the batch but still runs the whole
    validation pass at the end of the broken epoch (seconds to minutes, its result thrown away)
    and a batch system's grace period after SIGTERM (Slurm: 30 s) can run out meanwhile.
    """


def read_state(run_dir: Path) -> dict | None:
    """The resume state (``resume/state.json``), or None when no checkpoint was ever written."""
    path = run_dir / "resume" / "state.json"
    if not path.is_file() or not (run_dir / "resume" / "state.keras").is_file():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable resume state ({exc}); start again with --overwrite") from exc
    problem = _state_problem(state)
    if problem:
        raise RunDirError(f"{path}: damaged resume state ({problem}); start again with --overwrite")
    if not zipfile.is_zipfile(run_dir / "resume" / "state.keras"):
        raise RunDirError(f"{run_dir / 'resume' / 'state.keras'}: damaged resume checkpoint (not a .keras zip "
                          "archive); resume from an earlier copy, or start again with --overwrite")
    return state


def _state_problem(state: object) -> str:
    """What is wrong with a resume state read from JSON, or '' (checked before it steers a resume)."""
    if not isinstance(state, dict):
        return f"expected a JSON object, found {type(state).__name__}"
    for key in ("epoch", "step", "epochs_completed"):
        value = state.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{key!r} is {value!r}, not a whole number"
    history = state.get("history", [])
    if not isinstance(history, list) or not all(isinstance(r, dict) and isinstance(r.get("epoch"), int)
                                                for r in history):
        return "'history' is not a list of epoch rows"
    return ""


def history_csv(rows: list[dict]) -> str:
    """CSV text of per-epoch rows (first column ``epoch``)."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def save_resume(model: Any, run_dir: Path, state: dict, epoch: int, step: int) -> None:
    """Write the resume checkpoint at (``epoch``, ``step``): the model first, then the state naming it."""
    resume_dir = run_dir / "resume"
    resume_dir.mkdir(exist_ok=True)
    save_model_atomic(model, resume_dir / "state.keras")
    state["epoch"], state["step"] = epoch, step
    write_json_atomic(resume_dir / "state.json", state)


def end_epoch(model: Any, run_dir: Path, state: dict, row: dict, monitor: str,
              on_epoch: Callable[[dict], None] | None = None, *, checkpoints: str = "all") -> None:
    """Save a completed epoch in the crash-safe order of this module's docstring.

    Args:
        model: the model after the epoch (with its optimizer state).
        run_dir: the run directory.
        state: the resume state, updated in place (``best``, ``history``, ``epochs_completed``, ...).
        row: the epoch's history row; ``row["epoch"]`` counts from 0.
        monitor: the metric that picks best.keras ("val_loss" or "loss"; lower is better).
        on_epoch: called with the state once everything is saved (to rewrite run.json).
        checkpoints: "best" saves best.keras only (TrainConfig.checkpoints): no last.keras, no
            resume checkpoint.
    """
    from nuclassify.models._build import inference_model

    epoch = int(row["epoch"])
    value = row.get(monitor, row.get("loss"))
    # best/last are for use, not for resuming (resume/state.keras is): a --domain-adapt run's
    # domain head stays out of them, as it does of model.keras
    usable = inference_model(model)
    if value is not None and (state.get("best") is None or value < state["best"]["value"]):
        save_model_atomic(usable, run_dir / "best.keras")
        state["best"] = {"epoch": epoch, "metric": monitor, "value": float(value)}
    if checkpoints == "all":
        save_model_atomic(usable, run_dir / "last.keras")
    state["history"] = [r for r in state.get("history", []) if r["epoch"] < epoch] + [row]
    state["epochs_completed"] = epoch + 1
    state["epoch_running"] = epoch + 1
    if checkpoints == "all":
        save_resume(model, run_dir, state, epoch + 1, 0)
    else:
        state["epoch"], state["step"] = epoch + 1, 0
    write_text_atomic(run_dir / "history.csv", history_csv(state["history"]))
    if on_epoch is not None:
        on_epoch(state)


def make_keeper(run_dir: Path, config: TrainConfig, *, state: dict, steps_per_epoch: int, start_step: int,
                events_per_epoch: int, monitor: str, on_epoch: Callable[[dict], None] | None = None,
                stop_requested: Any = None) -> Any:
    """Build the keeper callback of the ``fit`` engine.

    Args:
        run_dir: the run directory.
        config: the run's options (``backup_every``, ``backup_seconds``).
        state: the resume state, updated in place (``epoch``, ``step``, ``history``, ``best``, ...).
        steps_per_epoch: full epoch length in steps.
        start_step: steps of the first epoch already done before this fit call (resume mid-epoch).
        events_per_epoch: training events per epoch (for events/s).
        monitor: the metric that picks best.keras ("val_loss" or "loss"; lower is better).
        on_epoch: called with the state after each saved epoch (to rewrite run.json).
        stop_requested: a ``threading.Event``; once set, the resume checkpoint is written at the
            end of the current batch and training stops (``keeper.interrupted`` says where).
    """
    import keras

    backup_every, backup_seconds = config.backup_steps, config.backup_interval_s
    resumable = config.checkpoints == "all"
    if resumable:
        (run_dir / "resume").mkdir(exist_ok=True)

    class _Keeper(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.nan = None
            self.interrupted: dict | None = None
            self._offset = start_step
            self._since = 0
            self._t0 = time.perf_counter()
            self._saved_at = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t0 = time.perf_counter()

        def _save_resume(self, epoch: int, step: int) -> None:
            save_resume(self.model, run_dir, state, epoch, step)
            self._saved_at = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.nan = {"epoch": state.get("epoch_running", 0), "step": self._offset + batch + 1}
                self.model.stop_training = True
                return
            self._since += 1
            done = self._offset + batch + 1
            if stop_requested is not None and stop_requested.is_set() and done < steps_per_epoch:
                if resumable:
                    self._save_resume(state["epoch_running"], done)
                self.interrupted = state["interrupted"] = {"epoch": state["epoch_running"], "step": done}
                self.model.stop_training = True
                raise StopTrainingNow
            due = bool(backup_every and self._since >= backup_every) or bool(
                backup_seconds and time.perf_counter() - self._saved_at >= backup_seconds)
            if due and resumable and done < steps_per_epoch:
                self._since = 0
                self._save_resume(state["epoch_running"], done)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if self.interrupted is not None:  # a part epoch: its checkpoint is already saved
                return
            logs = dict(logs or {})
            bad = any(isinstance(v, numbers.Real) and not math.isfinite(float(v)) for v in logs.values())
            if self.nan is not None or bad:
                self.nan = self.nan or {"epoch": epoch, "step": steps_per_epoch}
                self.model.stop_training = True
                return
            elapsed = time.perf_counter() - self._t0
            done_steps = steps_per_epoch - self._offset
            row = {"epoch": epoch, **{k: float(v) for k, v in logs.items()},
                   "seconds": round(elapsed, 3),
                   "events_per_s": round(events_per_epoch * done_steps / steps_per_epoch / max(elapsed, 1e-9), 1)}
            if self._offset:
                row["resumed_at_step"] = self._offset
            self._offset = 0
            self._since = 0
            end_epoch(self.model, run_dir, state, row, monitor, on_epoch, checkpoints=config.checkpoints)
            self._saved_at = time.perf_counter()
            if stop_requested is not None and stop_requested.is_set():
                self.interrupted = state["interrupted"] = {"epoch": epoch + 1, "step": 0}
                self.model.stop_training = True

    return _Keeper()
