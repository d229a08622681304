"""Training progress as plain lines, for logs that are files (a Slurm log, ``2> train.log``).

Why: Keras' progress bar redraws itself in place (``\\b`` and ``\\r``) after every step, which in
a log file becomes hundreds of garbled lines per epoch. Off a terminal, training instead writes
one line at each epoch end and at most one every :data:`nuclassify._progress.LINE_INTERVAL_S`
seconds during an epoch::

    epoch 2/8 step 120/400 1234 ev/s loss 0.8123 accuracy 0.7012 ETA 0:03:10
    epoch 2/8 step 400/400 1250 ev/s loss 0.7911 accuracy 0.7100 val_loss 0.8010 val_accuracy 0.7050 time 0:04:20

On a terminal the live bar stays. Both engines write the same lines: the ``fit`` engine through
the Keras callback :func:`make_line_callback`, the jax-loop engine through :class:`LineProgress`.
"""

from __future__ import annotations

import numbers
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from nuclassify import _progress
from nuclassify._progress import LINE_INTERVAL_S, format_duration, stream_is_terminal

__all__ = ["LINE_INTERVAL_S", "resolve_progress", "format_line", "LineProgress", "make_line_callback"]

_FIRST = ("loss", "accuracy", "val_loss", "val_accuracy")


def resolve_progress(progress: str, quiet: bool, stream: TextIO | None = None) -> str:
    """The progress mode to use, "bar", "lines" or "none": ``quiet`` wins; "auto" is a bar on a
    terminal, lines elsewhere.

    No stderr at all (``sys.stderr`` None, e.g. under pythonw) means "none"; a closed one, "lines".
    """
    if quiet or progress == "none":
        return "none"
    stream = sys.stderr if stream is None else stream
    if stream is None:
        return "none"
    if progress != "auto":
        return progress
    return "bar" if stream_is_terminal(stream) else "lines"


def format_line(epoch: int, epochs: int, step: int, steps: int, events_per_s: float,
                metrics: Mapping[str, float], *, eta_s: float | None = None, elapsed_s: float | None = None) -> str:
    """One progress line. ``epoch`` counts from 0 (shown from 1); metrics with "loss" or "acc" in
    their name are shown, loss and accuracy first; ``eta_s`` mid-epoch, ``elapsed_s`` at its end."""
    names = [k for k in _FIRST if k in metrics]
    names += sorted(k for k in metrics if k not in names and ("loss" in k or "acc" in k))
    parts = [f"epoch {epoch + 1}/{epochs}", f"step {step}/{steps}", f"{events_per_s:.0f} ev/s"]
    parts += [f"{k} {float(metrics[k]):.4f}" for k in names]
    if eta_s is not None:
        parts.append(f"ETA {format_duration(eta_s)}")
    if elapsed_s is not None:
        parts.append(f"time {format_duration(elapsed_s)}")
    return " ".join(parts)


class LineProgress:
    """Writes :func:`format_line` lines: each epoch's end, and mid-epoch at most every ``interval`` s.

    Args:
        epochs: total epochs of the run (shown as "epoch e/EPOCHS").
        steps: steps in a full epoch.
        events_per_epoch: training events in a full epoch (for events/s).
        interval: seconds between mid-epoch lines (default: :data:`LINE_INTERVAL_S`, read when made).
        stream: where to write (default: ``sys.stderr`` at the time of writing).
        clock: a monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(self, epochs: int, steps: int, events_per_epoch: int, *, interval: float | None = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.epochs, self.steps, self.events_per_epoch = epochs, steps, events_per_epoch
        self.interval = _progress.LINE_INTERVAL_S if interval is None else interval
        self._stream = stream
        self._clock = clock
        self._epoch = 0
        self._start_step = 0
        self._step = 0
        self._t0 = self._last = clock()

    def begin_epoch(self, epoch: int, start_step: int = 0) -> None:
        """An epoch starts (at ``start_step`` when a run resumes mid-epoch)."""
        self._epoch, self._start_step, self._step = epoch, start_step, start_step
        self._t0 = self._last = self._clock()

    def _rate(self, now: float) -> float:
        done = self._step - self._start_step
        return self.events_per_epoch * done / max(self.steps, 1) / max(now - self._t0, 1e-9)

    def step(self, step: int, metrics: Mapping[str, float] | Callable[[], Mapping[str, float]]) -> bool:
        """``step`` steps of the epoch are done; write a line if one is due. ``metrics`` may be a
        function, called only then (the jax-loop engine syncs with the device only for a line)."""
        self._step = step
        now = self._clock()
        if now - self._last < self.interval or step >= self.steps:
            return False
        self._last = now
        values = metrics() if callable(metrics) else metrics
        done = step - self._start_step
        eta = (now - self._t0) / max(done, 1) * (self.steps - step)
        self._write(format_line(self._epoch, self.epochs, step, self.steps, self._rate(now), values, eta_s=eta))
        return True

    def end_epoch(self, metrics: Mapping[str, float], events_per_s: float | None = None) -> None:
        """The epoch ended (or stopped early, at the last step seen): write its line."""
        now = self._clock()
        rate = self._rate(now) if events_per_s is None else events_per_s
        self._write(format_line(self._epoch, self.epochs, self._step, self.steps, rate, metrics,
                                elapsed_s=now - self._t0))

    def _write(self, line: str) -> None:
        stream = sys.stderr if self._stream is None else self._stream
        stream.write(line + "\n")
        stream.flush()


def make_line_callback(progress: LineProgress, start_step: int = 0) -> Any:
    """A Keras callback that feeds ``progress`` from ``model.fit`` (one ``fit`` call).

    ``start_step``: the first epoch of this ``fit`` call resumes mid-epoch there (Keras counts
    the call's batches from 0, so the step within the epoch is ``start_step + batch + 1``).
    """
    import keras

    class _Lines(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self._offset = start_step

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            progress.begin_epoch(epoch, self._offset)

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            progress.step(self._offset + batch + 1, dict(logs or {}))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            progress.end_epoch({k: float(v) for k, v in (logs or {}).items() if isinstance(v, numbers.Real)})
            self._offset = 0

    return _Lines()
