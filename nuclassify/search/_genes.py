"""Genes of a search space: numeric ranges and lists of choices, drawn and nudged by one generator.

A range is ``{"min": lo, "max": hi}`` (integers if both ends are; ``"log": true`` draws
log-uniformly, for learning rates and filter counts); a list is a set of choices; a lone value
is fixed. Mutation moves a range gene a small step (so good values are refined, not forgotten)
and a choice gene to another choice (so a mutation always changes something it can change).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nuclassify.errors import SpecError
from nuclassify.models import ACTIVATIONS, OPTIMIZERS

__all__ = ["Range", "Choice", "parse_gene", "check_values", "VALUE_RULES", "plain"]


@dataclass(frozen=True)
class Range:
    """A numeric gene drawn from [lo, hi]: integer if both ends are, log-uniform if ``log``."""

    lo: float
    hi: float
    log: bool = False
    integer: bool = False

    def sample(self, rng: np.random.Generator) -> Any:
        if self.integer and not self.log:
            return int(rng.integers(int(self.lo), int(self.hi) + 1))
        if self.log:
            value = math.exp(rng.uniform(math.log(self.lo), math.log(self.hi)))
        else:
            value = rng.uniform(self.lo, self.hi)
        return self.clip(value)

    def clip(self, value: float) -> Any:
        value = min(max(value, self.lo), self.hi)
        return int(round(value)) if self.integer else float(f"{value:.3g}")

    @property
    def variable(self) -> bool:
        return self.lo != self.hi

    def perturb(self, value: Any, rng: np.random.Generator) -> Any:
        """A nearby, different value when one exists: a step of ~30% (log) or ~15% of the range."""
        for _ in range(8):
            if self.log:
                new = self.clip(float(value) * math.exp(rng.normal(0.0, 0.35)))
            else:
                step = rng.normal(0.0, 0.15 * (self.hi - self.lo))
                if self.integer and abs(step) < 1:
                    step = 1.0 if step >= 0 else -1.0
                new = self.clip(float(value) + step)
            if new != value:
                return new
        return self.sample(rng)


@dataclass(frozen=True)
class Choice:
    """A gene drawn from a list of values (strings, numbers or pairs such as strides)."""

    values: tuple

    def sample(self, rng: np.random.Generator) -> Any:
        return plain(self.values[int(rng.integers(len(self.values)))])

    @property
    def variable(self) -> bool:
        return len(self.values) > 1

    def perturb(self, value: Any, rng: np.random.Generator) -> Any:
        others = [v for v in self.values if plain(v) != value]
        return plain(others[int(rng.integers(len(others)))]) if others else value


def plain(value: Any) -> Any:
    """JSON-like value: tuples (kept hashable inside Choice) become lists again."""
    return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def parse_gene(value: Any, where: str) -> Range | Choice:
    """A range, a list of choices or a fixed value from a space file; ``where`` names it in errors."""
    if isinstance(value, dict):
        unknown = set(value) - {"min", "max", "log"}
        lo, hi = value.get("min"), value.get("max")
        if unknown or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
            raise SpecError(f'{where}: a range is {{"min": number, "max": number[, "log": true]}}; received {value!r}')
        if lo > hi or (value.get("log") and lo <= 0):
            raise SpecError(f"{where}: needs 0 < min <= max for a log range, min <= max otherwise; received {value!r}")
        return Range(lo, hi, bool(value.get("log")), isinstance(lo, int) and isinstance(hi, int))
    if isinstance(value, list):
        if not value:
            raise SpecError(f"{where}: an empty list of choices")
        return Choice(tuple(tuple(v) if isinstance(v, list) else v for v in value))
    return Choice((value,))


def _is_pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


# gene -> (test of one value, what the values must be)
VALUE_RULES: dict[str, tuple[Any, str]] = {
    **{k: (_is_pos_int, "integers >= 1") for k in ("filters", "kernel_h", "kernel_w", "size_h", "size_w", "units",
                                                   "branch", "batch_size")},
    "rate": (lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "numbers in [0, 1)"),
    "learning_rate": (lambda v: isinstance(v, (int, float)) and v > 0, "numbers > 0"),
    "l2": (lambda v: isinstance(v, (int, float)) and v >= 0, "numbers >= 0"),
    "momentum": (lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "numbers in [0, 1)"),
    "stride": (lambda v: isinstance(v, tuple) and len(v) == 2 and all(map(_is_pos_int, v)), "pairs [h, w] >= 1"),
    "padding": (lambda v: v in ("valid", "same"), "'valid' or 'same'"),
    "mode": (lambda v: v in ("max", "avg"), "'max' or 'avg'"),
    "activation": (lambda v: v in ACTIVATIONS, f"one of {', '.join(ACTIVATIONS)}"),
    "optimizer": (lambda v: v in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}"),
}


def check_values(gene: Range | Choice, where: str, test: Any, what: str) -> None:
    """Refuse a gene whose values a spec would refuse (checked once here, not per candidate)."""
    values = (gene.lo, gene.hi) if isinstance(gene, Range) else gene.values
    bad = [v for v in values if isinstance(v, bool) or not test(v)]
    if bad or (isinstance(gene, Range) and what.startswith("integers") and not gene.integer):
        raise SpecError(f"{where}: values must be {what}; received {plain(bad[0]) if bad else plain(values)!r}")


