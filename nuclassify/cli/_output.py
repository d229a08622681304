"""One output helper for every command: progress, chatter, JSON and CSV go through here.

Progress and chatter go to stderr (so stdout stays clean for CSV/JSON pipelines) and are
silenced by ``-q/--quiet`` or by ``--json``. Progress is click's live bar on a terminal and plain,
rate-limited lines elsewhere (a batch job's log), see :class:`PlainProgress`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import click
import numpy as np

T = TypeVar("T")

__all__ = ["Output", "get_output", "PlainProgress", "PLAIN_PROGRESS_INTERVAL_S", "stderr_is_terminal",
           "start_backend_quietly"]

#: Off a terminal, at most one progress line per this many seconds (plus a final line): a Slurm
#: log of a long job stays a few dozen lines, and one still shows a stuck job within a minute.
PLAIN_PROGRESS_INTERVAL_S = 30.0

_RATE_UNITS = {"events": "ev"}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class Output:
    """Where a command writes: results to stdout, progress/chatter to stderr."""

    def __init__(self, quiet: bool = False, verbose: bool = False, json_mode: bool = False,
                 terminal: bool | None = None) -> None:
        """``terminal``: draw progress as on a terminal (True) or as log lines (False); None asks stderr."""
        self.quiet = quiet or json_mode
        self.verbose = verbose
        self.json_mode = json_mode
        self.terminal = terminal

    def info(self, message: str) -> None:
        """Chatter for a person watching; silenced by --quiet/--json."""
        if not self.quiet:
            click.echo(message, err=True)

    def debug(self, message: str) -> None:
        """Extra detail shown only with -v."""
        if self.verbose and not self.quiet:
            click.echo(message, err=True)

    def result(self, text: str) -> None:
        """A human-readable result: always printed to stdout."""
        click.echo(text)

    def json(self, payload: Any) -> None:
        """One JSON object on stdout."""
        click.echo(json.dumps(payload, default=_json_default, indent=None, sort_keys=False))

    def progress(self, iterable: Iterable[T], length: int | None = None, label: str = "",
                 unit: str = "events") -> Iterator[T]:
        """Wrap ``iterable`` in progress on stderr (a live bar, or log lines off a terminal) unless quiet."""
        if self.quiet or not sys.stderr:
            yield from iterable
            return
        if not self._terminal():
            with PlainProgress(length, label, unit=unit) as plain:
                for item in iterable:
                    yield item
                    plain.update(1)
            return
        with click.progressbar(iterable, length=length, label=label, file=sys.stderr, show_pos=True) as bar:
            yield from bar

    def progress_bar(self, length: int, label: str = "", unit: str = "events") -> _Bar:
        """A manual progress bar (``with out.progress_bar(n) as bar: bar.update(k)``).

        On a terminal it is click's live bar. Off one (a batch job's log, ``2> log``) a live bar
        is hundreds of carriage-return redraws, so plain lines are written instead, at most one
        every :data:`PLAIN_PROGRESS_INTERVAL_S` seconds plus a final one (:class:`PlainProgress`).
        """
        if self.quiet:
            return _Bar(None)
        if self._terminal():
            return _Bar(click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True))
        return _Bar(PlainProgress(length, label, unit=unit))

    def _terminal(self) -> bool:
        return stderr_is_terminal() if self.terminal is None else self.terminal


def stderr_is_terminal() -> bool:
    """Whether stderr is an interactive terminal (False for a file, a pipe, a Slurm log, a closed stream)."""
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _duration(seconds: float) -> str:
    """H:MM:SS, hours unbounded (a multi-day job reads 50:00:00, not "2 days, 2:00:00")."""
    s = max(0, int(round(seconds)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class PlainProgress:
    """Progress as plain, whole lines for logs: ``evaluate: 12000/50000 events (24%) 3400 ev/s ETA 0:00:11``.

    A line is written when at least ``interval_s`` seconds have passed since the last one (or since
    the start), and a final line, with the total time, when the context closes (also after an error,
    if anything was done, so a log shows how far a failed job got). Lines go to stderr through
    :func:`click.echo`, so they never mix with a command's results on stdout.

    Args:
        length: the total (None when unknown: no percentage or ETA).
        label: what is progressing, the line's prefix (e.g. the command's name).
        unit: what is counted, as written after the counts.
        interval_s: seconds between lines; default :data:`PLAIN_PROGRESS_INTERVAL_S`, read when
            the object is made.
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(self, length: int | None, label: str = "", *, unit: str = "events", interval_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.length = length
        self.label = label or "progress"
        self.unit = unit
        self.interval_s = PLAIN_PROGRESS_INTERVAL_S if interval_s is None else interval_s
        self.pos = 0
        self._clock = clock
        self._start = clock()
        self._last = self._start

    def __enter__(self) -> PlainProgress:
        self._start = self._last = self._clock()  # rates count from the start of the work, not of set-up
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None or self.pos:
            self._write(self._clock(), final=True)

    def update(self, n: int) -> None:
        """Count ``n`` more done; write a line if the interval has passed."""
        self.pos += n
        now = self._clock()
        if now - self._last >= self.interval_s:
            self._write(now)

    def line(self, now: float, final: bool = False) -> str:
        """The progress line at time ``now`` (``final``: the total time instead of the ETA)."""
        elapsed = now - self._start
        text = f"{self.label}: {self.pos}"
        if self.length is not None:
            text += f"/{self.length} {self.unit}"
            if self.length > 0:
                text += f" ({100 * self.pos // self.length}%)"
        else:
            text += f" {self.unit}"
        rate = self.pos / elapsed if elapsed > 0 else None
        if rate is not None:
            shown = f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"  # slow work (simulation) keeps 2 digits
            text += f" {shown} {_RATE_UNITS.get(self.unit, self.unit)}/s"
        if final:
            text += f" done in {_duration(elapsed)}"
        elif rate and self.length is not None and self.length >= self.pos:
            text += f" ETA {_duration((self.length - self.pos) / rate)}"
        return text

    def _write(self, now: float, final: bool = False) -> None:
        self._last = now
        click.echo(self.line(now, final), err=True)


class _Bar:
    """What ``progress_bar`` hands out: one ``update(n)`` whatever draws it (or nothing, when quiet)."""

    def __init__(self, impl: Any) -> None:
        self._impl = impl

    def __enter__(self) -> _Bar:
        if self._impl is not None:
            self._impl.__enter__()
        return self

    def update(self, n: int) -> None:
        """Count ``n`` more done."""
        if self._impl is not None:
            self._impl.update(n)

    def __exit__(self, *exc: object) -> None:
        if self._impl is not None:
            self._impl.__exit__(*exc)


def get_output(ctx: click.Context, json_mode: bool = False) -> Output:
    """Build the command's :class:`Output` from the global ``-q``/``-v`` flags."""
    state = ctx.find_root().obj
    quiet = bool(getattr(state, "quiet", False))
    verbose = bool(getattr(state, "verbose", False))
    return Output(quiet=quiet, verbose=verbose, json_mode=json_mode)


def start_backend_quietly(verbose: bool = False) -> None:
    """Import Keras (and initialise TensorFlow's devices) with native stderr muted unless ``-v``.

    TensorFlow 2.21's C++ layer prints start-up chatter ("oneDNN custom operations are on",
    "Could not find cuda drivers", a cuInit failure on CPU machines) straight to file descriptor 2,
    ignoring TF_CPP_MIN_LOG_LEVEL. Importing it once here, with fd 2 pointed at /dev/null, keeps
    every command's stderr to one progress bar and its own messages. Python exceptions are not
    hidden: fd 2 is restored before anything propagates.
    """
    if verbose:
        return
    import os

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
