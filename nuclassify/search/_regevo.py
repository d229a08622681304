"""Regularized (aging) evolution, the default strategy (Real et al. 2019, arXiv:1802.01548).

The population is the P most recently finished candidates: every result pushes the oldest one
out, however good it was. That aging is the "regularization": a network survives only by
having good offspring, so lucky evaluations do not dominate. A parent is the winner of a
tournament of S members sampled from the population, and the child is a mutation of it.

Asynchronous, as the paper's: a worker that frees up gets a child of the current population at
once; there are no generations. The first P asks fill the population (seeds, then random).
"""

from __future__ import annotations

from collections import deque

from nuclassify.search._candidate import Candidate, Proposal
from nuclassify.search._strategy import Strategy

__all__ = ["RegularizedEvolution"]


class RegularizedEvolution(Strategy):
    """Aging evolution: tournament of S from the last P results; mutation only."""

    name = "regularized"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.population: deque[Candidate] = deque(maxlen=self.population_size)

    def _told(self, candidate: Candidate) -> None:
        if candidate.ok:
            self.population.append(candidate)  # the deque drops the oldest

    def _propose(self) -> Proposal:
        if self.asked < self.population_size or not self.population:
            return self._initial()
        return self._mutant(self._tournament(list(self.population)))
