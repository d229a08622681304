"""Progress for logs that are files (a Slurm log, ``2> job.log``): one format for every long job.

Why: a live progress bar redraws itself in place (``\\r``, ``\\b``) many times a second, which in a
log file becomes hundreds of garbled lines. Off a terminal every long job (training, evaluation,
prediction, simulation, a search) instead writes whole lines, at most one every
:data:`LINE_INTERVAL_S` seconds plus a final one. On a terminal the live bars stay. The CLI's
output helper and training's engines both use this module, so the interval, the terminal test
and the time format exist once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["LINE_INTERVAL_S", "format_duration", "stream_is_terminal", "PlainProgress"]

#: Off a terminal, at most one progress line per this many seconds (plus a final line): a Slurm
#: log of a long job stays a few dozen lines, and one still shows a stuck job within a minute.
LINE_INTERVAL_S = 30.0

_RATE_UNITS = {"events": "ev"}


def format_duration(seconds: float) -> str:
    """H:MM:SS, hours unbounded (a multi-day job reads 50:00:00, not "2 days, 2:00:00")."""
    s = max(0, int(round(seconds)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def stream_is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr) is an interactive terminal: False for a file, a pipe,
    a Slurm log, or a missing or closed stream."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class PlainProgress:
    """Progress as plain, whole lines for logs: ``evaluate: 12000/50000 events (24%) 3400 ev/s ETA 0:00:11``.

    A line is written when at least ``interval_s`` seconds have passed since the last one (or since
    the start), and a final line, with the total time, when the context closes (also after an error,
    if anything was done, so a log shows how far a failed job got). Lines go to stderr, so they
    never mix with a command's results on stdout.

    Args:
        length: the total (None when unknown: no percentage or ETA).
        label: what is progressing, the line's prefix (e.g. the command's name).
        unit: what is counted, as written after the counts.
        interval_s: seconds between lines; default :data:`LINE_INTERVAL_S`, read when
            the object is made.
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(self, length: int | None, label: str = "", *, unit: str = "events", interval_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.length = length
        self.label = label or "progress"
        self.unit = unit
        self.interval_s = LINE_INTERVAL_S if interval_s is None else interval_s
        self.pos = 0
        self._clock = clock
        self._start = clock()
        self._last = self._start

    def __enter__(self) -> PlainProgress:
        self._start = self._last = self._clock()  # rates count from the start of the work, not of set-up
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None or self.pos:
            self._write(self._clock(), final=True, stopped=exc_type is not None)

    def update(self, n: int) -> None:
        """Count ``n`` more done; write a line if the interval has passed."""
        self.pos += n
        now = self._clock()
        if now - self._last >= self.interval_s:
            self._write(now)

    def line(self, now: float, final: bool = False, stopped: bool = False) -> str:
        """The progress line at time ``now`` (``final``: the total time instead of the ETA;
        ``stopped``: the work ended in an error, so it says "stopped after", not "done in")."""
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
            text += f" {'stopped after' if stopped else 'done in'} {format_duration(elapsed)}"
        elif rate and self.length is not None and self.length >= self.pos:
            text += f" ETA {format_duration((self.length - self.pos) / rate)}"
        return text

    def _write(self, now: float, final: bool = False, stopped: bool = False) -> None:
        self._last = now
        stream = sys.stderr
        if stream is not None:
            stream.write(self.line(now, final, stopped) + "\n")
            stream.flush()
