"""``fit``: train a spec on an HDF5 file into a run directory (resumable, reproducible, streamed)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify._signals import stop_on_signals
from nuclassify.errors import RunDirError, TrainingDivergedError, TrainingError, TrainingInterrupted, UsageError
from nuclassify.models import load_model as _load_keras_model
from nuclassify.training._checks import (
    ENGINES,
    LR_SCHEDULES,
    PRECISIONS,
    balanced_weights,
    check_options,
    check_same_kind,
    labelled_events,
    resume_conflicts,
)
from nuclassify.training._distribute import DEFAULT_PORT, distribution_scope, worker_rank
from nuclassify.training._feed import StreamSpec
from nuclassify.training._keeper import read_state
from nuclassify.training._kerasloop import run_keras_fit, tensorboard_ok
from nuclassify.training._rundir import (
    check_run_dir,
    discard_unstarted_run,
    file_digest,
    prepare_run_dir,
    read_run_json,
    write_json_atomic,
)

__all__ = ["fit", "FitResult", "TrainingDivergedError", "TrainingError", "TrainingInterrupted", "PRECISIONS",
           "LR_SCHEDULES", "ENGINES"]

_PACKAGES = ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy", "h5py")


@dataclass
class FitResult:
    """What a finished ``fit`` reports (the same facts are in RUN_DIR/run.json)."""

    run_dir: Path
    model_path: Path
    epochs_completed: int
    history: list[dict]
    best: dict | None
    train_events: int
    valid_events: int
    events_per_s: float
    elapsed_s: float
    stopped_early: bool = False
    meta: dict = field(default_factory=dict)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _versions(backend: str) -> dict[str, str]:
    from nuclassify import __version__

    out = {"nuclassify": __version__}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out["backend"] = backend
    return out


def fit(spec: dict | str | Path, train_data: str | Path, *, valid: str | Path | None = None,
        valid_fraction: float | None = None, out_dir: str | Path, epochs: int = 1, batch_size: int | None = None,
        seed: int = 0, precision: str = "fp32", resume: bool = False, overwrite: bool = False,
        target: str | None = None, early_stopping: int | None = None, lr_schedule: str = "none",
        class_weights: str | None = None, distribute: bool = False, quiet: bool = False,
        backup_every: int | None = None, backup_seconds: float | None = 300.0, engine: str = "fit",
        port: int = DEFAULT_PORT,
        callbacks: list | None = None) -> FitResult:
    """Train the network ``spec`` describes on ``train_data`` and leave a complete RUN_DIR.

    Args:
        spec: a spec dict, a named spec ("epsilon") or a spec JSON file.
        train_data: HDF5 file in any layout the data layer reads; streamed, never loaded whole.
        valid: a separate validation file, or
        valid_fraction: hold out this fraction of ``train_data`` (split drawn from ``seed``).
        out_dir: RUN_DIR; refused if it holds anything unless ``resume`` or ``overwrite``.
        epochs: total epochs (a resumed run continues up to this number).
        batch_size: events per step (default: the spec's, else 256).
        seed: seeds Keras (weights, dropout) and the per-epoch shuffle: same seed, same run.
        precision: "fp32" or "mixed" (float16 on TF GPUs, bfloat16 elsewhere; float32 softmax).
        resume: continue the run in ``out_dir`` from its newest checkpoint (also mid-epoch).
        overwrite: replace the run in ``out_dir``.
        target: label target (default: the file's, e.g. "segment").
        early_stopping: stop after this many epochs without improvement of the monitored loss.
        lr_schedule: "none", "cosine" (decay to 0 over all steps) or "plateau" (halve after 2 flat epochs).
        class_weights: "balanced" weights classes by inverse frequency (segments are unbalanced).
        distribute: data-parallel over local devices / MPI ranks (see ``_distribute``).
        quiet: no Keras progress bar.
        backup_every: steps between mid-epoch resume checkpoints (None: not counted in steps).
        backup_seconds: also save one at the first step after this many seconds (default 5 min),
            so a kill -9 loses at most about that much work (None: epoch ends and steps only).
        engine: "fit" (Keras ``model.fit``) or "jax-loop" (jitted JAX step; JAX backend only).
        port: base port of the multi-worker TF_CONFIG built from MPI ranks.
        callbacks: extra Keras callbacks (e.g. for tests or the search's pruning).

    Returns:
        A :class:`FitResult`.

    Raises:
        SpecError, DataFileError, UsageError, RunDirError: bad input, one line each.
        TrainingDivergedError: NaN loss; RUN_DIR keeps the last good checkpoint.
    """
    from nuclassify.data import open_dataset, split_indices
    from nuclassify.models import build, load_spec, make_optimizer, validate_spec, walk_spec

    check_options(epochs, precision, lr_schedule, class_weights, engine, valid, valid_fraction, early_stopping,
                  distribute)
    spec = load_spec(spec) if isinstance(spec, (str, Path)) else validate_spec(spec)
    arch = str(spec.get("name", "custom"))
    if distribute:
        rank, size = worker_rank()
        if rank > 0:  # MultiWorkerMirroredStrategy: every rank saves; only rank 0 writes RUN_DIR itself
            out_dir = Path(f"{out_dir}.workers") / f"rank-{rank}"
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            overwrite = not resume
    check_run_dir(out_dir, resume=resume, overwrite=overwrite)
    t_start = time.perf_counter()
    started = _now()
    train_ds = open_dataset(train_data)
    valid_ds = None
    try:
        target = target or train_ds.default_target
        n_classes = train_ds.n_classes(target)
        if valid_fraction:
            train_idx, valid_idx = split_indices(train_ds.n_events, valid_fraction, seed)
            valid_ds = train_ds
        else:
            train_idx, valid_idx = np.arange(train_ds.n_events, dtype=np.int64), None
            if valid is not None:
                valid_ds = open_dataset(valid)
                valid_idx = np.arange(valid_ds.n_events, dtype=np.int64)
                check_same_kind(train_ds, valid_ds, target)
        train_idx, labels, left_out_train = labelled_events(train_ds, target, train_idx, "training")
        left_out_valid = 0
        if valid_ds is not None:
            valid_idx, _, left_out_valid = labelled_events(valid_ds, target, valid_idx, "validation")
        input_shapes = {v: tuple(train_ds.view_shapes[v]) for v in train_ds.view_names}
        walk_spec(spec, input_shapes, n_classes)
        views = list(spec["views"])
        batch_size = int(batch_size or spec.get("training", {}).get("batch_size") or 256)
        if batch_size < 1:
            raise UsageError(f"batch size must be >= 1, got {batch_size}")
        import keras

        backend = keras.backend.backend()
        if engine == "jax-loop" and backend != "jax":
            raise UsageError(f"engine jax-loop needs KERAS_BACKEND=jax (backend is {backend})")
        created = not Path(out_dir).exists()
        run_dir = prepare_run_dir(out_dir, resume=resume, overwrite=overwrite)
        meta = {
            "arch": arch, "target": target, "views": views,
            "input_shapes": {v: list(input_shapes[v]) for v in views},
            "n_classes": n_classes, "class_names": list(train_ds.class_names(target)),
            "layout": train_ds.layout,
            "data": {"train": file_digest(train_data),
                     "valid": file_digest(valid) if valid is not None and not valid_fraction else None},
            "valid_fraction": valid_fraction or None,
            "train_events": int(len(train_idx)), "valid_events": int(len(valid_idx)) if valid_idx is not None else 0,
            "left_out_without_label": {"train": left_out_train, "valid": left_out_valid},
            "seed": seed, "batch_size": batch_size, "epochs": epochs, "precision": precision,
            "lr_schedule": lr_schedule, "class_weights": class_weights if class_weights != "none" else None,
            "early_stopping": early_stopping, "distribute": distribute, "engine": engine,
            "backend": backend, "versions": _versions(backend),
            "parameters": sum(i.params for i in walk_spec(spec, input_shapes, n_classes)),
        }
        state = None
        if resume:
            old = read_run_json(run_dir)
            try:
                old_spec = json.loads((run_dir / "spec.json").read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise RunDirError(f"{run_dir}: spec.json missing or unreadable ({exc})") from exc
            problems = resume_conflicts(old, meta, old_spec, spec)
            if problems:
                raise RunDirError(f"{run_dir}: cannot resume with different settings: {'; '.join(problems)}")
            state = read_state(run_dir)
            done = state["epochs_completed"] if state else 0
            if state and done >= epochs and state["step"] == 0:
                raise RunDirError(f"{run_dir}: the run already completed {done} epoch(s); "
                                  f"ask for more with --epochs {done + 1} or more")
            meta["timings"] = old.get("timings", [])
        else:
            (run_dir / "spec.json").write_text(json.dumps(spec, indent=1) + "\n")
            meta["timings"] = []
        meta["status"] = "running"
        meta["epochs_completed"] = state["epochs_completed"] if state else 0
        write_json_atomic(run_dir / "run.json", meta)
        keras.utils.set_random_seed(seed)
        try:
            with stop_on_signals() as stop_requested:
                return _train(spec=spec, meta=meta, state=state, run_dir=run_dir, train_ds=train_ds,
                              valid_ds=valid_ds,
                              train_idx=train_idx, valid_idx=valid_idx, labels=labels, n_classes=n_classes,
                              input_shapes=input_shapes, batch_size=batch_size, epochs=epochs, seed=seed,
                              precision=precision, early_stopping=early_stopping, lr_schedule=lr_schedule,
                              class_weights=class_weights, distribute=distribute, quiet=quiet,
                              backup_every=backup_every, backup_seconds=backup_seconds, engine=engine, port=port,
                              extra_callbacks=callbacks, build=build, make_optimizer=make_optimizer,
                              started=started, t_start=t_start, stop_requested=stop_requested)
        except (UsageError, TrainingError):  # found only once the devices are known: nothing was trained
            if not resume:
                discard_unstarted_run(run_dir, created=created)
            raise
    finally:
        train_ds.close()
        if valid_ds is not None and valid_ds is not train_ds:
            valid_ds.close()


def _precision_policy(precision: str, backend: str) -> str:
    if precision == "fp32":
        return "float32"
    if backend == "tensorflow":
        import tensorflow as tf

        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    return "mixed_bfloat16"


def _train(*, spec: dict, meta: dict, state: dict | None, run_dir: Path, train_ds: Any, valid_ds: Any,
           train_idx: np.ndarray, valid_idx: np.ndarray | None, labels: np.ndarray, n_classes: int,
           input_shapes: dict, batch_size: int, epochs: int, seed: int, precision: str,
           early_stopping: int | None, lr_schedule: str, class_weights: str | None, distribute: bool, quiet: bool,
           backup_every: int | None, backup_seconds: float | None, engine: str, port: int,
           extra_callbacks: list | None, build: Any, make_optimizer: Any, started: str, t_start: float,
           stop_requested: Any = None) -> FitResult:
    import keras

    backend = meta["backend"]
    weights = balanced_weights(labels, n_classes) if class_weights == "balanced" else None
    monitor = "val_loss" if valid_ds is not None and len(valid_idx) else "loss"
    first_epoch = state["epoch"] if state else 0
    start_step = state["step"] if state else 0
    if state is None:
        state = {"epoch": 0, "step": 0, "epochs_completed": 0, "history": [], "best": None}
    state.pop("interrupted", None)
    state["epoch_running"] = first_epoch
    previous_policy = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(_precision_policy(precision, backend))
    session = {"started": started, "resumed_from": {"epoch": first_epoch, "step": start_step} if first_epoch or
               start_step else None}
    meta["timings"].append(session)

    def on_epoch(st: dict) -> None:
        meta["epochs_completed"] = st["epochs_completed"]
        meta["best"] = st.get("best")
        session["seconds"] = round(time.perf_counter() - t_start, 2)
        write_json_atomic(run_dir / "run.json", meta)

    try:
        # The whole of training runs inside the scope: JAX's DataParallel shards batches only while it
        # is the current distribution, not just while the model is built.
        with distribution_scope(distribute, port=port) as dist:
            meta["distribution"] = {k: v for k, v in dist.items() if k != "tf_config"}
            train_stream, valid_stream = _streams(train_ds, train_idx, valid_ds, valid_idx, batch_size, meta, seed,
                                                  dist)
            steps = train_stream.n_steps
            if (run_dir / "resume" / "state.keras").is_file() and first_epoch + start_step > 0:
                model = _load_keras_model(run_dir / "resume" / "state.keras", compile=True)
            else:
                model = build(spec, input_shapes, n_classes)
                training = spec.get("training", {})
                lr = float(training.get("learning_rate", 1e-3))
                if lr_schedule == "cosine":
                    lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps))
                model.compile(optimizer=make_optimizer(training, lr), loss="sparse_categorical_crossentropy",
                              metrics=["accuracy"])
            if engine == "jax-loop":
                from nuclassify.training._jaxloop import run_jax_loop

                stopped_early, nan = run_jax_loop(
                    model=model, train_stream=train_stream, valid_stream=valid_stream, state=state, run_dir=run_dir,
                    first_epoch=first_epoch, start_step=start_step, epochs=epochs, weights=weights,
                    backup_every=backup_every, monitor=monitor, early_stopping=early_stopping, quiet=quiet,
                    on_epoch=on_epoch, precision=precision, backup_seconds=backup_seconds,
                    stop_requested=stop_requested)
            else:
                stopped_early, nan = run_keras_fit(
                    model=model, train_stream=train_stream, valid_stream=valid_stream, state=state, run_dir=run_dir,
                    first_epoch=first_epoch, start_step=start_step, epochs=epochs, weights=weights,
                    backup_every=backup_every, monitor=monitor, early_stopping=early_stopping, quiet=quiet,
                    on_epoch=on_epoch, lr_schedule=lr_schedule, backend=backend, extra_callbacks=extra_callbacks,
                    events=min(len(train_idx), steps * batch_size), backup_seconds=backup_seconds,
                    stop_requested=stop_requested)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    if not tensorboard_ok(backend) or engine != "fit":
        meta["tensorboard"] = ("skipped: TensorBoard logs need the TensorFlow backend, engine fit and the "
                               f"tensorboard package (this run: {backend}, {engine}, tensorboard "
                               f"{'installed' if tensorboard_ok('tensorflow') else 'not installed'})")
    else:
        meta["tensorboard"] = str(run_dir / "logs")
    session["finished"] = _now()
    session["seconds"] = round(time.perf_counter() - t_start, 2)
    stop = state.pop("interrupted", None)
    if stop is not None and nan is None and stop["epoch"] < epochs:
        meta.update(status="interrupted", epochs_completed=state["epochs_completed"], interrupted_at=stop)
        write_json_atomic(run_dir / "run.json", meta)
        raise TrainingInterrupted(f"interrupted: stopped at epoch {stop['epoch'] + 1}, step {stop['step']} with the "
                                  f"resume checkpoint saved there; continue with `nuclassify train ... --out "
                                  f"{run_dir} --resume`")
    if nan is not None:
        meta["status"] = "stopped-nan"
        meta["nan"] = nan
        write_json_atomic(run_dir / "run.json", meta)
        kept = (f"the last good checkpoint is {run_dir / 'last.keras'} (epoch {state['epochs_completed']})"
                if state["epochs_completed"] else "no epoch had completed, so no checkpoint exists")
        raise TrainingDivergedError(f"loss became NaN at epoch {nan['epoch'] + 1}, step {nan['step']}: training "
                                    f"stopped; {kept}; try a lower learning rate or --precision fp32")
    from nuclassify.training._rundir import save_model_atomic

    save_model_atomic(model, run_dir / "model.keras")
    history = state["history"]
    rates = [r["events_per_s"] for r in history if "events_per_s" in r]
    meta.update(status="complete", epochs_completed=state["epochs_completed"], best=state.get("best"),
                stopped_early=stopped_early,
                events_per_s=round(float(np.mean(rates)), 1) if rates else None)
    write_json_atomic(run_dir / "run.json", meta)
    return FitResult(run_dir=run_dir, model_path=run_dir / "model.keras", epochs_completed=state["epochs_completed"],
                     history=history, best=state.get("best"), train_events=len(train_idx),
                     valid_events=0 if valid_idx is None else len(valid_idx),
                     events_per_s=meta["events_per_s"] or math.nan, elapsed_s=session["seconds"],
                     stopped_early=stopped_early, meta=meta)


def _streams(train_ds: Any, train_idx: np.ndarray, valid_ds: Any, valid_idx: np.ndarray | None, batch_size: int,
             meta: dict, seed: int, dist: dict) -> tuple[StreamSpec, StreamSpec | None]:
    """The training and validation streams this process feeds.

    Data-parallel steps split each batch over the replicas, so the batch size must be a multiple
    of their number and short final batches are left out (of validation too: its figures then
    cover all but fewer than one batch of events, recorded in run.json). In a multi-process JAX
    job every process streams its own equal share of the events in batches of
    ``batch_size / processes``; together they make each global batch.
    """
    replicas = int(dist.get("replicas", 1))
    processes, rank = int(dist.get("processes", 1)), int(dist.get("rank", 0))
    many = replicas > 1
    if many and batch_size % replicas:
        raise UsageError(f"--batch-size {batch_size} does not split evenly over {replicas} replicas: "
                         f"use a multiple of {replicas}")
    if processes > 1 and batch_size % processes:
        raise UsageError(f"--batch-size {batch_size} does not split evenly over {processes} processes")
    local_batch = batch_size // processes

    def share(idx: np.ndarray) -> np.ndarray:
        return idx if processes == 1 else idx[rank::processes][:len(idx) // processes]

    train = StreamSpec(train_ds, share(train_idx), local_batch, meta["target"], meta["views"], shuffle=True,
                       seed=seed, drop_remainder=many)
    if train.n_steps == 0:
        raise UsageError(f"{len(train_idx)} training events do not fill one batch of {batch_size} on "
                         f"{replicas} replicas: lower --batch-size")
    valid = None
    if valid_ds is not None and valid_idx is not None and len(valid_idx):
        valid = StreamSpec(valid_ds, share(valid_idx), local_batch, meta["target"], meta["views"], shuffle=False,
                           seed=seed, drop_remainder=many)
        if valid.n_steps == 0:
            raise UsageError(f"{len(valid_idx)} validation events do not fill one batch of {batch_size} on "
                             f"{replicas} replicas: lower --batch-size or validate on more events")
    if many:
        meta["distribution"]["events_per_epoch"] = {
            "train": train.n_steps * batch_size, "valid": valid.n_steps * batch_size if valid else 0}
    return train, valid
