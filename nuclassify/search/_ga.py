"""A steady-state genetic algorithm in the manner of MENNDL: elitism, crossover and mutation.

The population is the P best candidates finished so far (elitist truncation: a good network
stays until P better ones replace it; with several objectives, the last Pareto rank goes
first). Each ask picks parents by tournament of S; with probability ``crossover_rate`` two
parents are crossed layer-wise (if their columns are compatible) and the child is then mutated
with even odds; otherwise the child is a mutation of one parent. As in MENNDL's master, a
result updates the population the moment it arrives: no generation barrier.
"""

from __future__ import annotations

from nuclassify.search._candidate import Candidate, Proposal
from nuclassify.search._strategy import Strategy

__all__ = ["GeneticAlgorithm"]


class GeneticAlgorithm(Strategy):
    """Elitist steady-state GA with tournament selection, crossover and mutation."""

    name = "ga"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.population: list[Candidate] = []

    def _told(self, candidate: Candidate) -> None:
        if candidate.ok:
            self.population.append(candidate)
            if len(self.population) > self.population_size:
                del self.population[self.objectives.worst(self.population)]

    def _propose(self) -> Proposal:
        if self.asked < self.population_size or not self.population:
            return self._initial()
        a = self._tournament(self.population)
        if len(self.population) > 1 and self.rng.random() < self.crossover_rate:
            b = self._tournament([c for c in self.population if c is not a])
            child = self.factory.crossover(a.genome, b.genome, self.rng)
            if child is not None:
                origin = f"crossover of {a.id} and {b.id}"
                if self.rng.random() < 0.5:
                    mutant = self.factory.mutate(child.genome, self.rng)
                    child, origin = mutant, f"{origin}, then {mutant.origin}"
                return Proposal(child.genome, child.params, (a.id, b.id), origin)
        return self._mutant(a)
