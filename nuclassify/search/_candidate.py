"""The few plain records that pass between strategy, loop, journal and executors.

They are dataclasses of JSON-like values, so they pickle to a spawned child, print in a test
failure, and round-trip through the journal without custom encoders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Proposal", "Candidate", "Job", "Outcome", "FINISHED", "FAILED"]

FINISHED, FAILED = "finished", "failed"


@dataclass(frozen=True)
class Proposal:
    """What a strategy's ``ask`` returns: a checked genome and where it came from."""

    genome: dict
    params: int
    parents: tuple[int, ...] = ()
    origin: str = "random"


@dataclass
class Candidate:
    """One network of the search, from submission to its result; the row of ``results.csv``.

    ``id`` is the order of submission (0, 1, ...), so ids alone give the genealogy's time order.
    """

    id: int
    genome: dict
    params: int
    parents: tuple[int, ...] = ()
    origin: str = ""
    status: str = "submitted"  # submitted | started | finished | failed
    objectives: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    worker: str = ""
    submitted: float = 0.0
    started: float = 0.0
    ended: float = 0.0
    train_seconds: float = 0.0
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """True for a finished candidate, the only kind that may enter a population."""
        return self.status == FINISHED

    @property
    def done(self) -> bool:
        return self.status in (FINISHED, FAILED)


@dataclass(frozen=True)
class Job:
    """What an executor runs: ``trainer(genome, task)`` for candidate ``id``."""

    id: int
    genome: dict
    task: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What an executor hands back for one job. Times are Unix seconds from the worker's clock."""

    id: int
    status: str
    objectives: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    worker: str = ""
    start: float = 0.0
    end: float = 0.0
    train_seconds: float = 0.0
