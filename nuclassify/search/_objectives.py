"""What "better" means: one objective to maximise, or several kept as a Pareto front.

``--objectives val_accuracy,-params``: a leading ``-`` minimises, anything else maximises.
Internally every objective becomes a number to maximise (its value times its sign), so the
strategies compare tuples and never look at names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nuclassify.errors import UsageError
from nuclassify.search._candidate import Candidate

__all__ = ["Objectives", "pareto_front", "pareto_ranks"]


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (every coordinate maximised), in input order.

    Points are visited in decreasing lexicographic order, in which a dominating point always comes
    first, so each is compared with the front found so far only: O(n log n + n * front size).
    """
    order = sorted(range(len(points)), key=lambda i: tuple(points[i]), reverse=True)
    front: list[int] = []
    for i in order:
        if not any(_dominates(points[j], points[i]) for j in front):
            front.append(i)
    return sorted(front)


def pareto_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Non-domination rank of each point: 0 for the front, 1 for the front without it, and so on."""
    ranks = [-1] * len(points)
    left = list(range(len(points)))
    rank = 0
    while left:
        front = [left[i] for i in pareto_front([points[j] for j in left])]
        for i in front:
            ranks[i] = rank
        left = [i for i in left if ranks[i] < 0]
        rank += 1
    return ranks


@dataclass(frozen=True)
class Objectives:
    """Objective names and signs (+1 maximise, -1 minimise)."""

    names: tuple[str, ...]
    signs: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> Objectives:
        """``"val_accuracy"`` or ``"val_accuracy,-params"``; one-line UsageError if malformed."""
        names, signs = [], []
        for part in str(text).split(","):
            part = part.strip()
            sign = -1 if part.startswith("-") else 1
            name = part.lstrip("+-").strip()
            if not name or not name.replace("_", "").isalnum():
                raise UsageError(f"--objectives: {part!r} is not an objective name (e.g. val_accuracy,-params)")
            names.append(name)
            signs.append(sign)
        if len(set(names)) != len(names):
            raise UsageError(f"--objectives: {text!r} names an objective twice")
        return cls(tuple(names), tuple(signs))

    @property
    def multi(self) -> bool:
        return len(self.names) > 1

    def __str__(self) -> str:
        return ",".join(("-" if s < 0 else "") + n for n, s in zip(self.names, self.signs, strict=True))

    def problem(self, values: Mapping[str, float]) -> str:
        """Why ``values`` cannot be scored (a missing or non-finite objective), or ``""``."""
        for name in self.names:
            if name not in values:
                return f"result has no {name!r} (it has {', '.join(sorted(values)) or 'nothing'})"
            if not math.isfinite(values[name]):
                return f"nan: {name} = {values[name]}"
        return ""

    def vector(self, candidate: Candidate) -> tuple[float, ...]:
        return tuple(s * candidate.objectives[n] for n, s in zip(self.names, self.signs, strict=True))

    def select(self, sample: Sequence[Candidate], rng: np.random.Generator) -> Candidate:
        """Tournament winner: the best of ``sample``; with several objectives, a random member of its front."""
        vectors = [self.vector(c) for c in sample]
        if not self.multi:
            return sample[int(np.argmax([v[0] for v in vectors]))]
        front = pareto_front(vectors)
        return sample[front[int(rng.integers(len(front)))]]

    def best(self, candidates: Sequence[Candidate]) -> Candidate | None:
        """The finished candidate best on the first objective (then the next ones); earliest on ties."""
        done = [c for c in candidates if c.ok]
        return max(done, key=self.vector) if done else None

    def front(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The finished candidates on the Pareto front (the best one, with a single objective)."""
        if not self.multi:
            best = self.best(candidates)
            return [best] if best is not None else []
        done = [c for c in candidates if c.ok]
        return [done[i] for i in pareto_front([self.vector(c) for c in done])]

    def worst(self, candidates: Sequence[Candidate]) -> int:
        """Index of the member to drop: last Pareto rank, then worst first objective, then oldest."""
        vectors = [self.vector(c) for c in candidates]
        ranks = pareto_ranks(vectors) if self.multi else [0] * len(vectors)
        return max(range(len(vectors)), key=lambda i: (ranks[i], [-x for x in vectors[i]], -i))
