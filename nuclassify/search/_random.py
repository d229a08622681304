"""Random search: the baseline every strategy must beat at an equal budget.

Seeds (if any) are evaluated first, as for the other strategies, so a comparison differs in
the search alone; then every candidate is drawn afresh from the whole space.
"""

from __future__ import annotations

from nuclassify.search._candidate import Proposal
from nuclassify.search._strategy import Strategy

__all__ = ["RandomSearch"]


class RandomSearch(Strategy):
    """Independent random draws from the space; ignores the history."""

    name = "random"

    def _propose(self) -> Proposal:
        if self.asked < len(self.seeds):
            return self._initial()
        fresh = self.factory.random(self.rng)
        return Proposal(fresh.genome, fresh.params, (), fresh.origin)
