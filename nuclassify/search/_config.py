"""What defines a search (:class:`SearchConfig`) and what it reports (progress, result, stop).

Kept apart from the loop so a command line can build, print and compare configurations without
the loop's machinery. :meth:`SearchConfig.identity` is what a resume must match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nuclassify.errors import NuclassifyError
from nuclassify.search._candidate import FAILED, FINISHED, Candidate
from nuclassify.search._space import SearchSpace

__all__ = ["SearchConfig", "SearchResult", "Progress", "SearchStopped"]


class SearchStopped(NuclassifyError):
    """Too many candidates in a row failed: something is wrong with the setup, not the networks."""


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search. :meth:`identity` must match on resume; budget may grow."""

    space: SearchSpace
    input_shapes: Mapping[str, tuple[int, int, int]]
    n_classes: int
    budget: int
    trainer: str = "nuclassify.search._trainers:noop"
    trainer_options: Mapping[str, Any] = field(default_factory=dict)
    strategy: str = "regularized"
    population: int = 100
    tournament: int = 10
    crossover_rate: float = 0.5
    seed: int = 0
    objectives: str = "val_accuracy"
    seeds: tuple[dict, ...] = ()
    data: Mapping[str, str] = field(default_factory=dict)
    max_failures: int = 10

    def identity(self) -> dict:
        """The settings a journal's results depend on (compared on resume)."""
        seeds = [hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest()[:16] for s in self.seeds]
        return {"space": self.space.digest, "input_shapes": {v: list(s) for v, s in self.input_shapes.items()},
                "n_classes": self.n_classes, "data": dict(self.data), "trainer": self.trainer,
                "trainer_options": json.loads(json.dumps(dict(self.trainer_options))), "strategy": self.strategy,
                "population": self.population, "tournament": self.tournament,
                "crossover_rate": self.crossover_rate, "seed": self.seed, "objectives": self.objectives,
                "seeds": seeds}


@dataclass(frozen=True)
class Progress:
    """A snapshot for a progress line: evaluations, best so far, busy workers."""

    done: int
    finished: int
    failed: int
    running: int
    budget: int
    best: float | None
    elapsed: float


@dataclass
class SearchResult:
    """How the search ended (``budget``, ``interrupted`` or ``failures``) and what it found."""

    run_dir: Path
    candidates: list[Candidate]
    best: Candidate | None
    front: list[Candidate]
    stopped: str
    wall_seconds: float

    @property
    def finished(self) -> int:
        return sum(c.status == FINISHED for c in self.candidates)

    @property
    def failed(self) -> int:
        return sum(c.status == FAILED for c in self.candidates)
