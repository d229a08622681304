"""A search's history as its journal tells it: sessions, busy intervals, utilisation, genealogy.

Shared by the report (``_report``) and the plots (``_plots``), and read-only: it never
truncates or locks the journal, so it can read a search that is still running (a torn last
line, as a write in progress leaves, is dropped by :func:`read_journal`).

A *session* is one run of the master: from the ``header`` (or a ``resumed`` record) to the last
record before the next resume. Utilisation is measured as DeepHyper does: the step function of
running jobs, from their start and end times, divided by the workers, integrated over each
session's wall time; gaps between sessions (the search was not running) count for nothing.
A job that was running when its session ended (killed master, Ctrl-C) is busy until the end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nuclassify.errors import RunDirError
from nuclassify.search._candidate import FAILED, FINISHED, Candidate
from nuclassify.search._journal import JOURNAL_NAME, read_journal
from nuclassify.search._objectives import Objectives
from nuclassify.search._replay import replay

__all__ = ["Session", "History", "load_history", "lineage", "generations"]


@dataclass
class Session:
    """One run of the master: wall span, worker count, busy intervals, how it stopped."""

    start: float
    end: float
    workers: int = 1
    stopped: str | None = None  # the ``stopped`` record's reason; None: running, or killed
    busy: list[tuple[float, float]] = field(default_factory=list)
    open: dict[int, tuple[float, str]] = field(default_factory=dict)  # id -> (started, worker) at the end
    names: set[str] = field(default_factory=set)  # workers that ran a candidate

    @property
    def wall(self) -> float:
        return max(self.end - self.start, 0.0)

    @property
    def busy_seconds(self) -> float:
        return sum(b - a for a, b in self.busy)

    def steps(self) -> list[tuple[float, float]]:
        """(time, fraction of workers busy from then on), from the session's start to its end."""
        changes: dict[float, int] = {}
        for a, b in self.busy:  # one step per instant: a job ending as the next starts is no dip
            changes[a] = changes.get(a, 0) + 1
            changes[b] = changes.get(b, 0) - 1
        running, out = 0, [(self.start, 0.0)]
        for t in sorted(changes):
            running += changes[t]
            out.append((t, running / self.workers))
        out.append((self.end, running / self.workers))
        return out


@dataclass
class History:
    """What :func:`load_history` returns."""

    run_dir: Path
    header: dict
    candidates: dict[int, Candidate]
    told: list[int]  # ids in the order their results were recorded
    objectives: Objectives
    sessions: list[Session]
    budget: int | None

    @property
    def t0(self) -> float:
        return self.sessions[0].start

    @property
    def stopped(self) -> str | None:
        return self.sessions[-1].stopped

    @property
    def utilisation(self) -> float | None:
        """Busy / (wall x workers) over all sessions, or None before any wall time passed."""
        capacity = sum(s.wall * s.workers for s in self.sessions)
        return min(sum(s.busy_seconds for s in self.sessions) / capacity, 1.0) if capacity > 0 else None


def _session(rec: dict, workers: int | None) -> Session:
    return Session(rec["t"], rec["t"], workers or int(rec.get("workers", 0) or 0))


def _close(session: Session) -> None:
    """Open jobs at the session's end were busy until it; infer workers when none were recorded."""
    session.busy.extend((max(t, session.start), session.end) for t, _ in session.open.values())
    if session.workers < 1:
        session.workers = max(len(session.names), 1)


def _sessions(records: list[dict], workers: int | None) -> list[Session]:
    sessions = [_session(records[0], workers)]
    for rec in records[1:]:
        kind, current = rec.get("kind"), sessions[-1]
        if kind == "resumed":
            _close(current)
            sessions.append(_session(rec, workers))
            continue
        current.end = max(current.end, rec.get("t", current.end))
        if kind == "started":
            current.open[rec["id"]] = (rec["t"], rec.get("worker", ""))
            current.names.add(rec.get("worker", ""))
        elif kind in (FINISHED, FAILED):
            current.open.pop(rec.get("id", -1), None)
            start = max(rec.get("start", rec["t"]), current.start)  # worker clocks may differ a little
            current.busy.append((start, max(min(rec.get("end", rec["t"]), rec["t"]), start)))
        elif kind == "stopped":
            current.stopped = str(rec.get("reason", "stopped"))
    _close(sessions[-1])
    return sessions


def load_history(run_dir: str | os.PathLike, workers: int | None = None) -> History:
    """Read ``RUN_DIR/journal.jsonl`` (read-only).

    Args:
        workers: the worker count, when the journal does not record it; by default each
            session's count is the number of distinct workers that ran a candidate in it.

    Raises:
        RunDirError: no journal, or one that cannot be replayed.
    """
    run_dir = Path(run_dir)
    path = run_dir / JOURNAL_NAME
    if not path.exists():
        raise RunDirError(f"{run_dir}: no search here (no {JOURNAL_NAME})")
    records, _ = read_journal(path)
    if not records or records[0].get("kind") != "header":
        raise RunDirError(f"{path}: does not start with a search header")
    state = replay(records)
    budgets = [r["budget"] for r in records if r.get("kind") in ("header", "resumed") and "budget" in r]
    objectives = Objectives.parse(state.header.get("identity", {}).get("objectives", "val_accuracy"))
    return History(run_dir, state.header, state.candidates, state.told, objectives, _sessions(records, workers),
                   int(budgets[-1]) if budgets else None)


def generations(candidates: dict[int, Candidate], cid: int) -> dict[int, int]:
    """For ``cid`` and each of its ancestors: generations from a seed along its longest line
    of ancestors (0: no parents)."""
    depth: dict[int, int] = {}
    stack = [cid]
    while stack:  # iterative: a long aging-evolution line must not hit the recursion limit
        top = stack[-1]
        parents = [p for p in candidates[top].parents if p in candidates]
        todo = [p for p in parents if p not in depth]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        depth[top] = 1 + max((depth[p] for p in parents), default=-1)
    return depth


def lineage(candidates: dict[int, Candidate], cid: int) -> list[int]:
    """``cid``, its parent, ... back to a seed, along the longest line (generation + 1 ids)."""
    depth = generations(candidates, cid)
    line = [cid]
    while parents := [p for p in candidates[line[-1]].parents if p in candidates]:
        line.append(max(parents, key=lambda p: (depth[p], -p)))
    return line
