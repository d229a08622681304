"""The ``fit`` engine: Keras' own ``model.fit`` over the streaming feed, with the run-keeping callbacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nuclassify.errors import TrainingError
from nuclassify.training._config import TrainConfig
from nuclassify.training._feed import StreamSpec, make_feed
from nuclassify.training._keeper import StopTrainingNow, make_keeper
from nuclassify.training._progress import LineProgress, make_line_callback, resolve_progress

__all__ = ["run_keras_fit", "tensorboard_ok"]


def tensorboard_ok(backend: str) -> bool:
    """TensorBoard logs need the TensorFlow backend and the tensorboard package (an optional extra elsewhere)."""
    import importlib.util

    return backend == "tensorflow" and importlib.util.find_spec("tensorboard") is not None


def run_keras_fit(model: Any, config: TrainConfig, *, train_stream: StreamSpec, valid_stream: StreamSpec | None,
                  state: dict, run_dir: Path, first_epoch: int, start_step: int, weights: dict | None, monitor: str,
                  on_epoch: Callable[[dict], None], extra_callbacks: list | None, events: int,
                  stop_requested: Any = None, domain_stream: Any = None) -> tuple[bool, dict | None]:
    """Run ``model.fit`` once for a resumed partial epoch (if any), then for the remaining epochs.

    Options (epochs, early stopping, schedule, checkpoints, progress) come from ``config``; the
    arguments are this run's state. ``domain_stream``: the unlabelled feed of ``--domain-adapt``
    (the model then has the domain output; ``training._domain``). Returns (stopped_early, the
    NaN's epoch and step or None).
    """
    import keras

    backend = keras.backend.backend()
    epochs = config.epochs
    mode = resolve_progress(config.progress, config.quiet)
    lines = LineProgress(epochs, train_stream.n_steps, events) if mode == "lines" else None
    stopped_early = False
    nan = None
    epoch = first_epoch
    while epoch < epochs:
        partial = start_step > 0
        last = epoch + 1 if partial else epochs
        keeper = make_keeper(run_dir, config, state=state, steps_per_epoch=train_stream.n_steps,
                             start_step=start_step, events_per_epoch=events, monitor=monitor, on_epoch=on_epoch,
                             stop_requested=stop_requested)
        cbs: list = [keeper, keras.callbacks.TerminateOnNaN()]
        if domain_stream is not None:  # first: the others read the one-output metric names
            from nuclassify.training._domain import rename_logs_callback

            cbs.insert(0, rename_logs_callback())
        if lines is not None:
            cbs.append(make_line_callback(lines, start_step))
        stopper = None
        if config.early_stopping is not None and not partial:
            stopper = keras.callbacks.EarlyStopping(monitor=monitor, patience=config.early_stopping)
            cbs.append(stopper)
        if config.lr_schedule == "plateau":
            cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=2, verbose=0))
        if config.tensorboard and tensorboard_ok(backend):
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs"), write_graph=False))
        cbs += list(extra_callbacks or [])
        feed = make_feed(train_stream, epoch=epoch, start_step=start_step, class_weight=weights, domain=domain_stream)
        vfeed = (make_feed(valid_stream, epoch=0, endless=False, domain=domain_stream)
                 if valid_stream is not None else None)
        try:
            model.fit(feed, validation_data=vfeed, epochs=last, initial_epoch=epoch, callbacks=cbs,
                      steps_per_epoch=train_stream.n_steps - start_step, verbose=1 if mode == "bar" else 0,
                      shuffle=False)
        except StopTrainingNow:  # interrupted: the checkpoint is saved, the broken epoch's validation skipped
            pass
        except ValueError as exc:
            strategy = type(getattr(model, "distribute_strategy", None)).__name__
            if strategy.startswith("CollectiveAllReduceStrategy") or strategy.startswith("MultiWorker"):
                raise TrainingError(
                    "multi-worker training failed inside Keras: Keras 3's fit() does not work with "
                    "tf.distribute.MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388; here: "
                    f"{str(exc).splitlines()[0][:160]}). Across nodes use KERAS_BACKEND=jax (same launch)") from exc
            raise
        finally:
            feed.close()
            if vfeed is not None:
                vfeed.close()
        if keeper.nan is not None:
            nan = keeper.nan
            break
        if keeper.interrupted is not None:
            break
        if stopper is not None and stopper.stopped_epoch > 0:
            stopped_early = True
            break
        epoch, start_step = last, 0
    return stopped_early, nan
