"""The narrow interface every search strategy implements: ``ask`` for a candidate, ``tell`` a result.

A strategy's decisions are a function of three things only: the history of results told so far
(in order), the number of asks so far, and the one random generator. ``tell`` draws no random
numbers. That is what makes a search resumable exactly: replaying the journal's results in order,
restoring the ask count and the generator's state (saved with every submission) rebuilds the
strategy as it was, so the next ``ask`` proposes what an uninterrupted search would have.

Candidate ids are the order of asks (0, 1, ...); the seeds (``--seed-arch``) are asked first, so
seed ``k`` is candidate ``k`` and early mutations of a seed name it as their parent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from nuclassify.errors import UsageError
from nuclassify.search._candidate import Candidate, Proposal
from nuclassify.search._factory import Checked, GenomeFactory
from nuclassify.search._objectives import Objectives

__all__ = ["Strategy", "make_strategy", "STRATEGIES"]


STRATEGIES: dict[str, type[Strategy]] = {}


class Strategy(ABC):
    """Base of the strategies: keeps the history, the ask count and the initial population.

    Args:
        factory: makes checked genomes.
        objectives: what is better.
        rng: the search's one generator (its state is saved by the loop, not here).
        population: P, the population size; the first P asks fill it (seeds, then random).
        tournament: S, how many members a parent-picking tournament samples.
        seeds: known networks that start the population.
        crossover_rate: how often a child has two parents (strategies that cross over).
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            STRATEGIES[cls.name] = cls

    def __init__(self, factory: GenomeFactory, objectives: Objectives, rng: np.random.Generator, *,
                 population: int = 100, tournament: int = 10, seeds: Sequence[Checked] = (),
                 crossover_rate: float = 0.5) -> None:
        if population < 1 or not 1 <= tournament <= population:
            raise UsageError(f"need population >= 1 and 1 <= tournament <= population; received population "
                             f"{population}, tournament {tournament}")
        if not 0 <= crossover_rate <= 1:
            raise UsageError(f"crossover rate must be in [0, 1]; received {crossover_rate}")
        self.factory, self.objectives, self.rng = factory, objectives, rng
        self.population_size, self.tournament_size = population, tournament
        self.seeds = list(seeds)
        self.crossover_rate = crossover_rate
        self.history: list[Candidate] = []
        self.asked = 0

    def ask(self) -> Proposal:
        """The next candidate to evaluate (its id is the ask count before this call)."""
        proposal = self._propose()
        self.asked += 1
        return proposal

    def tell(self, candidate: Candidate) -> None:
        """Record a finished or failed candidate. Draws no random numbers."""
        self.history.append(candidate)
        self._told(candidate)

    def _told(self, candidate: Candidate) -> None:  # noqa: B027 - an optional hook, empty by design
        """Hook for strategies that keep an incremental view of the history."""

    def _initial(self) -> Proposal:
        """Seeds first, then (with seeds) mutants of them, else random genomes."""
        k = self.asked
        if k < len(self.seeds):
            seed = self.seeds[k]
            return Proposal(seed.genome, seed.params, (), seed.origin)
        if self.seeds:
            i = k % len(self.seeds)
            child = self.factory.mutate(self.seeds[i].genome, self.rng)
            return Proposal(child.genome, child.params, (i,), child.origin)
        fresh = self.factory.random(self.rng)
        return Proposal(fresh.genome, fresh.params, (), fresh.origin)

    def _tournament(self, members: Sequence[Candidate]) -> Candidate:
        """Sample S members without replacement; the best (or a random Pareto-optimal) one wins."""
        size = min(self.tournament_size, len(members))
        picks = self.rng.choice(len(members), size=size, replace=False)
        return self.objectives.select([members[int(i)] for i in picks], self.rng)

    def _mutant(self, parent: Candidate) -> Proposal:
        child = self.factory.mutate(parent.genome, self.rng)
        return Proposal(child.genome, child.params, (parent.id,), child.origin)

    @abstractmethod
    def _propose(self) -> Proposal:
        """The next proposal, from ``history``, ``asked`` and ``rng`` only."""


def make_strategy(name: str, factory: GenomeFactory, objectives: Objectives, rng: np.random.Generator,
                  **options: object) -> Strategy:
    """The strategy called ``name`` (``regularized``, ``ga`` or ``random``) with its options."""
    from nuclassify.search import _ga, _random, _regevo  # noqa: F401  (they register themselves)

    if name not in STRATEGIES:
        raise UsageError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    return STRATEGIES[name](factory, objectives, rng, **options)  # type: ignore[arg-type]
