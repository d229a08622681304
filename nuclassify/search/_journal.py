"""The search's one store of record: an append-only journal of JSON lines in ``RUN_DIR``.

Everything else (``results.csv``, ``best.json``, the strategy's population, the random state)
is rebuilt from this file, so a search can be killed at any instant, even by ``kill -9``, and
resumed. Record kinds, one JSON object per line, each with ``kind`` and ``t`` (Unix seconds):

- ``header``: first line; format version, search identity (space, data digests, options).
- ``submitted``: id, parents, origin, params, genome, and ``rng``, the generator's state just
  after this candidate was proposed (so the journal alone restores the random state exactly).
- ``started``: id, worker, attempt (a candidate re-issued after a resume starts again).
- ``finished``: id, objectives, train_seconds, worker, start, end.
- ``failed``: id, reason, worker, start, end.
- ``resumed`` and ``stopped``: notes for people (budget, why the search ended).

Writes are grouped: one :meth:`Journal.commit` per turn of the loop covers the results recorded
in the last turn and the new submissions, and comes before those candidates are sent to workers
(``started`` notes follow in the next commit). A commit always flushes to the operating system,
which is what survives the master being killed (even ``kill -9``: the kernel still writes the
page cache out). It fsyncs, which is what survives the *machine* dying, at most every
``sync_interval`` seconds (default :data:`SYNC_INTERVAL_S`) and when the journal closes: an fsync
costs 0.1-4 ms on a shared disk, so one per turn would cap a one-worker master at a few hundred
results a second. A machine crash can therefore lose at most the last ``sync_interval`` of
records, and tear the last line, which :func:`read_journal` drops (:meth:`Journal.reopen`
truncates it, so the next record starts on a fresh line). Strategies are deterministic given
the journal, so a lost submission is proposed again identically and a lost result is re-run on
resume: nothing is ever half-recorded.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from nuclassify.errors import RunDirError

__all__ = ["Journal", "read_journal", "JOURNAL_NAME", "JOURNAL_VERSION", "SYNC_INTERVAL_S"]

JOURNAL_NAME = "journal.jsonl"
JOURNAL_VERSION = 1
SYNC_INTERVAL_S = 0.05  # most a machine crash (not a killed master) can lose


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and "kind" in record else None


def read_journal(path: str | os.PathLike) -> tuple[list[dict], int]:
    """The records of a journal, and the byte length of its intact part.

    A damaged tail (a torn last line, or garbage after the last good line, as a crash leaves)
    is dropped. A damaged line with good records after it is not a crash's doing: refused.

    Raises:
        RunDirError: unreadable file, or a damaged line in the middle.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read the search journal ({exc.strerror or exc})") from exc
    records: list[dict] = []
    good = 0
    lines = data.split(b"\n")
    for n, line in enumerate(lines[:-1], 1):  # lines[-1] follows the last newline: b"" or torn
        record = _parse(line)
        if record is None:
            if any(_parse(rest) is not None for rest in lines[n:]):
                raise RunDirError(f"{path}: line {n} is damaged and records follow it; the journal cannot be "
                                  "replayed (restore it from a backup, or start a new search)")
            break
        records.append(record)
        good += len(line) + 1
    return records, good


class Journal:
    """Appends records to ``RUN_DIR/journal.jsonl``; :meth:`commit` makes them durable."""

    def __init__(self, path: Path, sync_interval: float = SYNC_INTERVAL_S) -> None:
        self.path = path
        self.sync_interval = sync_interval
        self._fh = open(path, "a", encoding="utf-8")  # held open for the whole search
        self._dirty = False
        self._unsynced = False
        self._synced_at = time.monotonic()

    @classmethod
    def create(cls, run_dir: str | os.PathLike, header: dict[str, Any]) -> Journal:
        """Start a new journal whose first record is ``header``.

        Raises:
            RunDirError: ``run_dir`` already holds a search.
        """
        run_dir = Path(run_dir)
        path = run_dir / JOURNAL_NAME
        if path.exists():
            raise RunDirError(f"{run_dir} already holds a search ({JOURNAL_NAME}); continue it with --resume, "
                              "or choose another --out")
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"{run_dir}: cannot create the run folder ({exc.strerror or exc})") from exc
        journal = cls(path)
        journal.append("header", version=JOURNAL_VERSION, **header)
        journal.commit(sync=True)
        return journal

    @classmethod
    def reopen(cls, run_dir: str | os.PathLike) -> tuple[Journal, list[dict]]:
        """Open an existing journal to continue it; return it and its records.

        Raises:
            RunDirError: no journal, not a search journal, or a version this code cannot read.
        """
        path = Path(run_dir) / JOURNAL_NAME
        if not path.exists():
            raise RunDirError(f"{run_dir}: no search to resume (no {JOURNAL_NAME})")
        records, good = read_journal(path)
        if not records or records[0].get("kind") != "header":
            raise RunDirError(f"{path}: does not start with a search header")
        if records[0].get("version") != JOURNAL_VERSION:
            raise RunDirError(f"{path}: journal version {records[0].get('version')}, this nuclassify reads "
                              f"version {JOURNAL_VERSION}")
        if good < path.stat().st_size:
            with open(path, "r+b") as fh:
                fh.truncate(good)
                fh.flush()
                os.fsync(fh.fileno())
        return cls(path), records

    def append(self, kind: str, **fields: Any) -> dict:
        """Write one record (not yet durable: see :meth:`commit`); return it."""
        record = {"kind": kind, "t": round(time.time(), 6), **fields}
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._dirty = True
        return record

    def commit(self, sync: bool = False) -> None:
        """Flush what was appended since the last commit to the OS; fsync it too when ``sync``
        or when ``sync_interval`` seconds have passed since the last fsync."""
        if self._dirty:
            self._fh.flush()
            self._dirty = False
            self._unsynced = True
        now = time.monotonic()
        if self._unsynced and (sync or now - self._synced_at >= self.sync_interval):
            os.fsync(self._fh.fileno())
            self._unsynced = False
            self._synced_at = now

    def close(self) -> None:
        """Commit and close; the file is closed even when the commit fails (a full disk), so the
        error propagates once instead of again as "Exception ignored" when the object is collected."""
        if not self._fh.closed:
            try:
                self.commit(sync=True)
            finally:
                try:
                    self._fh.close()
                except OSError:  # its buffer could not be flushed either: the commit's error says why
                    pass
