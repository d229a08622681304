"""``fit``: train a spec on an HDF5 file into a run directory (resumable, reproducible, streamed).

``fit(spec, config)`` reads every option from one :class:`~nuclassify.training.TrainConfig`,
resolves the events (a hold-out split, an index subset), writes run.json from the config, and
hands the prepared run to an engine (``_kerasloop`` or ``_jaxloop``).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify._runlock import hold_run_dir
from nuclassify._signals import stop_on_signals
from nuclassify.errors import (
    RunDirError,
    SpecError,
    TrainingDivergedError,
    TrainingError,
    TrainingInterrupted,
    UsageError,
)
from nuclassify.training._checks import (
    balanced_weights,
    check_same_kind,
    checked_indices,
    labelled_events,
    resume_conflicts,
)
from nuclassify.training._config import ENGINES, LR_SCHEDULES, PRECISIONS, TrainConfig
from nuclassify.training._distribute import distribution_scope, worker_rank
from nuclassify.training._feed import StreamSpec
from nuclassify.training._keeper import history_csv, read_state
from nuclassify.training._kerasloop import run_keras_fit, tensorboard_ok
from nuclassify.training._rundir import (
    after_failure,
    check_run_dir,
    drop_replaced_run,
    file_digest,
    load_model_file,
    prepare_run_dir,
    read_run_json,
    recover_interrupted_replace,
    remove_stale_temporaries,
    save_model_atomic,
    start_run,
    write_json_atomic,
    write_text_atomic,
)

__all__ = ["fit", "FitResult", "TrainingDivergedError", "TrainingError", "TrainingInterrupted", "PRECISIONS",
           "LR_SCHEDULES", "ENGINES", "fresh_keras_session"]

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


def fit(spec: dict | str | Path, config: TrainConfig, *, callbacks: list | None = None) -> FitResult:
    """Train the network ``spec`` describes as ``config`` says, and leave a complete RUN_DIR.

    Every call starts from a fresh Keras session and leaves the process as it found it (global
    dtype policy, distribution, session), so that a search can fit many models in one process and
    each trains exactly as it would alone.

    Args:
        spec: a spec dict, a named spec ("epsilon") or a spec JSON file.
        config: the run's options (data, RUN_DIR, epochs, ...), validated when it was made.
        callbacks: extra Keras callbacks (engine "fit"; e.g. for tests or a search's pruning).

    Returns:
        A :class:`FitResult`.

    Raises:
        SpecError, DataFileError, UsageError, RunDirError: bad input, one line each.
        TrainingDivergedError: NaN loss; RUN_DIR keeps the last good checkpoint.
        TrainingInterrupted: Ctrl-C or SIGTERM; the resume checkpoint is saved at the step reached.
    """
    from nuclassify.models import load_spec, validate_spec

    if not isinstance(config, TrainConfig):
        raise UsageError(f"fit needs a TrainConfig as its second argument, got {type(config).__name__}")
    spec = load_spec(spec) if isinstance(spec, (str, Path)) else validate_spec(spec)
    arch = str(spec.get("name", "custom"))
    if config.distribute:
        rank, size = worker_rank()
        if rank > 0:  # MultiWorkerMirroredStrategy: every rank saves; only rank 0 writes RUN_DIR itself
            worker_dir = Path(f"{config.out_dir}.workers") / f"rank-{rank}"
            worker_dir.parent.mkdir(parents=True, exist_ok=True)
            config = replace(config, out_dir=worker_dir, overwrite=not config.resume)
    check_run_dir(config.out_dir, resume=config.resume, overwrite=config.overwrite)
    with hold_run_dir(config.out_dir) as lock:  # one writer per RUN_DIR (a second is refused here)
        recover_interrupted_replace(config.out_dir)
        remove_stale_temporaries(config.out_dir)
        check_run_dir(config.out_dir, resume=config.resume, overwrite=config.overwrite)  # as it is now, held
        return _fit_held(spec, arch, config, callbacks, created=lock.created)


def _fit_held(spec: dict, arch: str, config: TrainConfig, callbacks: list | None, *, created: bool) -> FitResult:
    """``fit`` once RUN_DIR is held; ``created``: this call made the folder (removed again if unused)."""
    from nuclassify.data import open_dataset
    from nuclassify.models import walk_spec

    t_start = time.perf_counter()
    started = _now()
    train_ds = open_dataset(config.train_data)
    valid_ds = None
    domain_ds = None
    try:
        target = config.target if config.target is not None else train_ds.default_target
        n_classes = train_ds.n_classes(target)
        train_idx, valid_idx, same_file = _events(config, train_ds)
        if same_file:
            valid_ds = train_ds
        elif config.valid is not None:
            valid_ds = open_dataset(config.valid)
            valid_idx = _sample(valid_ds, config.sample)
            check_same_kind(train_ds, valid_ds, target)
        train_idx, labels, left_out_train = labelled_events(train_ds, target, train_idx, "training")
        left_out_valid = 0
        if valid_ds is not None:
            valid_idx, _, left_out_valid = labelled_events(valid_ds, target, valid_idx, "validation")
        if config.domain_adapt is not None:  # --domain-adapt: its file checked, its head in the spec (and spec.json)
            from nuclassify.training._domain import check_domain_file, with_domain_head

            domain_ds = open_dataset(config.domain_adapt)
            check_domain_file(train_ds, domain_ds)
            spec = with_domain_head(spec, config.domain_weight, config.domain_ramp)
        input_shapes = {v: tuple(train_ds.view_shapes[v]) for v in train_ds.view_names}
        missing = [v for v in spec.get("views", ()) if v not in input_shapes]
        if missing:  # named by the data file, which is what does not fit (the spec may be a built-in name)
            raise SpecError(f"{train_ds.path}: the architecture uses view(s) {', '.join(missing)} but this "
                            f"{train_ds.layout} file has views {', '.join(input_shapes) or 'none'}")
        layers = walk_spec(spec, input_shapes, n_classes)
        views = list(spec["views"])
        batch_size = config.resolved_batch_size(spec)
        data = {"train": _data_entry("train", config.train_data, train_ds, config.digests),
                "valid": _data_entry("valid", config.valid, valid_ds, config.digests)
                if config.valid is not None else None}
        if domain_ds is not None:
            data["domain"] = _data_entry("domain", config.domain_adapt, domain_ds, None)
        import keras

        backend = keras.backend.backend()
        if config.engine == "jax-loop" and backend != "jax":
            raise UsageError(f"engine jax-loop needs KERAS_BACKEND=jax (backend is {backend})")
        run_dir = prepare_run_dir(config.out_dir, resume=config.resume, overwrite=config.overwrite)
        meta = {
            "arch": arch, **config.record(), "target": target, "batch_size": batch_size, "views": views,
            "input_shapes": {v: list(input_shapes[v]) for v in views},
            "n_classes": n_classes, "class_names": list(train_ds.class_names(target)),
            "layout": train_ds.layout, "data": data,
            "train_events": int(len(train_idx)), "valid_events": int(len(valid_idx)) if valid_idx is not None else 0,
            "left_out_without_label": {"train": left_out_train, "valid": left_out_valid},
            "backend": backend, "versions": _versions(backend),
            "parameters": sum(i.params for i in layers),
        }
        state = None
        if config.resume:
            old = read_run_json(run_dir)
            try:
                old_spec = json.loads((run_dir / "spec.json").read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise RunDirError(f"{run_dir}: spec.json missing or unreadable ({exc})") from exc
            problems = resume_conflicts(old, meta, old_spec, spec)
            if config.domain_adapt is not None or "domain" in old.get("data", {}):
                from nuclassify.training._domain import domain_conflicts

                problems += domain_conflicts(old, meta)
            if problems:
                raise RunDirError(f"{run_dir}: cannot resume with different settings: {'; '.join(problems)}")
            state = read_state(run_dir)
            done = state["epochs_completed"] if state else 0
            # (every epoch done but not complete, e.g. the disk filled as model.keras was saved: resume saves it)
            if state and done >= config.epochs and state["step"] == 0 and old.get("status") == "complete":
                raise RunDirError(f"{run_dir}: the run already completed {done} epoch(s); "
                                  f"ask for more with --epochs {done + 1} or more")
            if state and done >= config.epochs and state["step"] > 0:  # it would end on half an epoch's weights
                raise RunDirError(f"{run_dir}: the run stopped inside epoch {done + 1}, after completing {done}; "
                                  f"--epochs {config.epochs} would end on that epoch's partial weights; resume "
                                  f"with --epochs {done + 1} or more")
            if state and done > config.epochs:
                raise RunDirError(f"{run_dir}: the run already completed {done} epoch(s), more than --epochs "
                                  f"{config.epochs}; resume with --epochs {done} or more")
            meta["timings"] = old.get("timings", [])
        else:
            meta["timings"] = []
        meta["status"] = "running"
        meta["epochs_completed"] = state["epochs_completed"] if state else 0
        start_run(run_dir, meta, spec=None if config.resume else spec, created=created)  # both, or neither
        run = _Run(spec=spec, meta=meta, state=state, run_dir=run_dir, train_ds=train_ds, valid_ds=valid_ds,
                   train_idx=train_idx, valid_idx=valid_idx, labels=labels, n_classes=n_classes,
                   input_shapes=input_shapes, batch_size=batch_size, started=started, t_start=t_start,
                   domain_ds=domain_ds)
        try:
            with stop_on_signals() as stop_requested, fresh_keras_session():
                return _train(run, config, extra_callbacks=callbacks, stop_requested=stop_requested)
        except BaseException as exc:  # before the first checkpoint nothing is kept; after it, --resume
            error = after_failure(run_dir, exc, new_run=not config.resume, created=created, data=(train_ds, valid_ds))
            if error is exc:
                raise
            raise error from exc
    finally:
        train_ds.close()
        if valid_ds is not None and valid_ds is not train_ds:
            valid_ds.close()
        if domain_ds is not None:
            domain_ds.close()


def _events(config: TrainConfig, train_ds: Any) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """The training events and the validation events of the training file (or None), as
    ``config`` picks them; the flag says whether validation comes from the training file."""
    from nuclassify.data import split_indices

    n = train_ds.n_events
    if config.train_indices is not None:
        base = checked_indices(config.train_indices, n, "train_indices", train_ds.path)
    else:
        base = _sample(train_ds, config.sample)
        if config.max_events is not None:
            base = base[:config.max_events]
    if config.valid_indices is not None:
        return base, checked_indices(config.valid_indices, n, "valid_indices", train_ds.path), True
    if config.holds_out:
        train_pos, valid_pos = split_indices(len(base), config.valid_fraction, config.seed)
        return base[train_pos], base[valid_pos], True
    return base, None, False


def _sample(ds: Any, sample: str) -> np.ndarray:
    """The events of ``ds`` in ``sample`` (all of them for ``"all"``); an empty sample is refused there."""
    from nuclassify.data import sample_indices

    idx = sample_indices(ds, sample)
    return np.arange(ds.n_events, dtype=np.int64) if idx is None else idx.astype(np.int64)


def _data_entry(role: str, path: Path, ds: Any, digests: dict | None) -> dict:
    """run.json's record of one data file: its digest (given, or computed here) and its provenance.

    A given digest is checked against the file's path and size, so a stale or mixed-up one is
    refused rather than recorded (a resume trusts it to identify the data).
    """
    given = (digests or {}).get(role)
    if given is None:
        entry = file_digest(path)
    else:
        entry = dict(given)
        if "path" in entry and Path(entry["path"]).resolve() != Path(path).resolve():
            raise UsageError(f"digests[{role!r}] is for {entry['path']}, not for the {role} file {path}")
        size = Path(path).stat().st_size
        if "size" in entry and int(entry["size"]) != size:
            raise UsageError(f"digests[{role!r}] is stale: it records {entry['size']} bytes, {path} has {size}")
    entry["provenance"] = _plain(dict(getattr(ds, "provenance", None) or {}))
    return entry


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays made JSON-ready (provenance comes from HDF5 attributes)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


@contextlib.contextmanager
def fresh_keras_session() -> Iterator[None]:
    """Run a fit in a fresh Keras session and leave none behind.

    Why: Keras keeps global state (layer-name counters, the dtype policy, the distribution, the
    random seed generator, TF's kernel cache). A search fits many models in one process; each
    must start as in a new process and leave the next one the caller's settings, whatever it
    set (mixed precision, DataParallel) and however it ended (an exception included). Only
    paths and numbers leave ``fit``, so clearing at the end invalidates nothing returned.
    """
    import keras

    policy = keras.config.dtype_policy()
    distribution = keras.distribution.distribution()
    keras.backend.clear_session(free_memory=False)  # the last fit's exit collected already (0.3 s a call)
    try:
        yield
    finally:
        keras.backend.clear_session()
        keras.config.set_dtype_policy(policy)
        keras.distribution.set_distribution(distribution)


def _precision_policy(precision: str, backend: str) -> str:
    """The Keras dtype policy for ``precision``: float16 only where it pays (TF on a GPU), else bfloat16."""
    if precision == "fp32":
        return "float32"
    if backend == "tensorflow":
        import tensorflow as tf

        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    return "mixed_bfloat16"


@dataclass
class _Run:
    """What ``fit`` prepared for the engines: the spec, run.json so far, the data and its events."""

    spec: dict
    meta: dict
    state: dict | None
    run_dir: Path
    train_ds: Any
    valid_ds: Any
    train_idx: np.ndarray
    valid_idx: np.ndarray | None
    labels: np.ndarray
    n_classes: int
    input_shapes: dict
    batch_size: int
    started: str
    t_start: float
    domain_ds: Any = None  # the unlabelled file of --domain-adapt, or None


def _train(run: _Run, config: TrainConfig, *, extra_callbacks: list | None,
           stop_requested: Any = None) -> FitResult:
    """Build (or reload) the model and run the engine; runs inside a fresh Keras session."""
    import keras

    from nuclassify.models import build, make_optimizer
    from nuclassify.models._build import inference_model

    meta, run_dir, valid_idx = run.meta, run.run_dir, run.valid_idx
    backend = meta["backend"]
    keras.utils.set_random_seed(config.seed)
    keras.config.set_dtype_policy(_precision_policy(config.precision, backend))
    weights = balanced_weights(run.labels, run.n_classes) if config.weighting == "balanced" else None
    monitor = "val_loss" if run.valid_ds is not None and len(valid_idx) else "loss"
    state = run.state
    first_epoch = state["epoch"] if state else 0
    start_step = state["step"] if state else 0
    if state is None:
        state = {"epoch": 0, "step": 0, "epochs_completed": 0, "history": [], "best": None}
    state.pop("interrupted", None)
    state["epoch_running"] = first_epoch
    session = {"started": run.started, "resumed_from": {"epoch": first_epoch, "step": start_step}
               if first_epoch or start_step else None}
    meta["timings"].append(session)

    def on_epoch(st: dict) -> None:
        meta["epochs_completed"] = st["epochs_completed"]
        meta["best"] = st.get("best")
        session["seconds"] = round(time.perf_counter() - run.t_start, 2)
        write_json_atomic(run_dir / "run.json", meta)

    # The whole of training runs inside the scope: JAX's DataParallel shards batches only while it
    # is the current distribution, not just while the model is built.
    with distribution_scope(config.distribute, port=config.port) as dist:
        meta["distribution"] = {k: v for k, v in dist.items() if k != "tf_config"}
        train_stream, valid_stream = _streams(run, config.seed, dist)
        domain_stream = _domain_stream(run, config.seed, dist)
        steps = train_stream.n_steps
        total_steps = max(1, config.epochs * steps)  # the cosine decay's and the domain ramp's horizon
        if (run_dir / "resume" / "state.keras").is_file() and first_epoch + start_step > 0:
            model = load_model_file(run_dir / "resume" / "state.keras", what="the resume checkpoint",
                                    hint="; start again with --overwrite", compile=True, keep_domain_head=True)
        else:
            model = build(run.spec, run.input_shapes, run.n_classes, domain_head=domain_stream is not None,
                          domain_steps=total_steps)
            training = run.spec.get("training", {})
            lr = float(training.get("learning_rate", 1e-3))
            if config.lr_schedule == "cosine":
                lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=total_steps)
            if domain_stream is not None:
                from nuclassify.training._domain import compile_args

                model.compile(optimizer=make_optimizer(training, lr), **compile_args(run.spec))
            else:
                model.compile(optimizer=make_optimizer(training, lr), loss="sparse_categorical_crossentropy",
                              metrics=["accuracy"])
        common = {"train_stream": train_stream, "valid_stream": valid_stream, "state": state, "run_dir": run_dir,
                  "first_epoch": first_epoch, "start_step": start_step, "weights": weights, "monitor": monitor,
                  "on_epoch": on_epoch, "stop_requested": stop_requested}
        if config.engine == "jax-loop":
            from nuclassify.training._jaxloop import run_jax_loop

            stopped_early, nan = run_jax_loop(model, config, **common)
        else:
            stopped_early, nan = run_keras_fit(model, config, **common, extra_callbacks=extra_callbacks,
                                               events=min(len(run.train_idx), steps * run.batch_size),
                                               domain_stream=domain_stream)
    if not config.tensorboard:
        meta["tensorboard"] = "off"
    elif not tensorboard_ok(backend) or config.engine != "fit":
        meta["tensorboard"] = ("skipped: TensorBoard logs need the TensorFlow backend, engine fit and the "
                               f"tensorboard package (this run: {backend}, {config.engine}, tensorboard "
                               f"{'installed' if tensorboard_ok('tensorflow') else 'not installed'})")
    else:
        meta["tensorboard"] = str(run_dir / "logs")
    session["finished"] = _now()
    session["seconds"] = round(time.perf_counter() - run.t_start, 2)
    stop = state.pop("interrupted", None)
    if stop is not None and nan is None and stop["epoch"] < config.epochs:
        meta.update(status="interrupted", epochs_completed=state["epochs_completed"], interrupted_at=stop)
        write_json_atomic(run_dir / "run.json", meta)
        raise TrainingInterrupted(f"interrupted: stopped at epoch {stop['epoch'] + 1}, step {stop['step']} with the "
                                  f"resume checkpoint saved there; continue with `nuclassify train ... --out "
                                  f"{run_dir} --resume`")
    if nan is not None:
        meta["status"] = "stopped-nan"
        meta["nan"] = nan
        write_json_atomic(run_dir / "run.json", meta)
        good = run_dir / ("last.keras" if config.checkpoints == "all" else "best.keras")
        kept = (f"the last good checkpoint is {good} (epoch {state['epochs_completed']})"
                if state["epochs_completed"] else "no epoch had completed, so no checkpoint exists")
        raise TrainingDivergedError(f"loss became NaN at epoch {nan['epoch'] + 1}, step {nan['step']}: training "
                                    f"stopped; {kept}; try a lower learning rate or --precision fp32")
    final = run_dir / ("model.keras" if config.checkpoints == "all" else "best.keras")
    if config.checkpoints == "all":  # class probabilities only: a --domain-adapt run's domain head stays behind
        save_model_atomic(inference_model(model), final)
    history = state["history"]
    # Rewritten from the state, which is written first: a kill between the two during the last epoch
    # left history.csv an epoch short, and a resume with every epoch done writes no epoch of its own.
    write_text_atomic(run_dir / "history.csv", history_csv(history))
    rates = [r["events_per_s"] for r in history if "events_per_s" in r]
    meta.update(status="complete", epochs_completed=state["epochs_completed"], best=state.get("best"),
                stopped_early=stopped_early,
                events_per_s=round(float(np.mean(rates)), 1) if rates else None)
    write_json_atomic(run_dir / "run.json", meta)
    drop_replaced_run(run_dir)
    return FitResult(run_dir=run_dir, model_path=final, epochs_completed=state["epochs_completed"],
                     history=history, best=state.get("best"), train_events=len(run.train_idx),
                     valid_events=0 if valid_idx is None else len(valid_idx),
                     events_per_s=math.nan if meta["events_per_s"] is None else meta["events_per_s"],
                     elapsed_s=session["seconds"], stopped_early=stopped_early, meta=meta)


def _domain_stream(run: _Run, seed: int, dist: dict) -> Any:
    """The unlabelled stream of ``--domain-adapt`` this process feeds (its share, as ``_streams``), or None."""
    if run.domain_ds is None:
        return None
    from nuclassify.training._domain import DomainStream

    processes, rank = int(dist.get("processes", 1)), int(dist.get("rank", 0))
    idx = np.arange(run.domain_ds.n_events, dtype=np.int64)
    if processes > 1:
        idx = idx[rank::processes][:len(idx) // processes]
    return DomainStream(run.domain_ds, idx, run.batch_size // processes, run.meta["views"], seed)


def _streams(run: _Run, seed: int, dist: dict) -> tuple[StreamSpec, StreamSpec | None]:
    """The training and validation streams this process feeds.

    Data-parallel steps split each batch over the replicas, so the batch size must be a multiple
    of their number and short final batches are left out (of validation too: its figures then
    cover all but fewer than one batch of events, recorded in run.json). In a multi-process JAX
    job every process streams its own equal share of the events in batches of
    ``batch_size / processes``; together they make each global batch.
    """
    train_ds, train_idx, valid_ds, valid_idx = run.train_ds, run.train_idx, run.valid_ds, run.valid_idx
    batch_size, meta = run.batch_size, run.meta
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
