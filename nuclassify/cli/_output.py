"""One output helper for every command: progress, chatter, JSON and CSV go through here.

Progress and chatter go to stderr (so stdout stays clean for CSV/JSON pipelines) and are
silenced by ``-q/--quiet`` or by ``--json``. Progress is click's live bar on a terminal and plain,
rate-limited lines elsewhere (a batch job's log), see :class:`PlainProgress`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import click
import numpy as np

from nuclassify._backend import start_backend_quietly
from nuclassify._diskfaults import is_write_failure, reason
from nuclassify._progress import PlainProgress, stream_is_terminal
from nuclassify.errors import OutputError

T = TypeVar("T")

__all__ = ["Output", "get_output", "start_backend_quietly"]

# Re-exported: every command that trains or predicts starts the backend through it.


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _to_stdout(text: str) -> None:
    """Print a result; stdout on a full disk (``> file``) is one line naming stdout, not a bare errno.

    A closed pipe (``| head``) is left to the caller (``cli.main`` exits quietly on it).
    """
    try:
        click.echo(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        if not is_write_failure(exc):
            raise
        raise OutputError(f"stdout: {reason(exc)}; the output is incomplete") from exc


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
        _to_stdout(text)

    def json(self, payload: Any) -> None:
        """One JSON object on stdout."""
        _to_stdout(json.dumps(payload, default=_json_default, indent=None, sort_keys=False))

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
        every :data:`nuclassify._progress.LINE_INTERVAL_S` seconds plus a final one (:class:`PlainProgress`).
        """
        if self.quiet:
            return _Bar(None)
        if self._terminal():
            return _Bar(click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True))
        return _Bar(PlainProgress(length, label, unit=unit))

    def _terminal(self) -> bool:
        return stream_is_terminal() if self.terminal is None else self.terminal


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
