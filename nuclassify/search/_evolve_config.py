"""``EvolveConfig``: every option of one ``nuclassify evolve`` run, checked before any file is read.

Why a separate, frozen object: the command line builds one from its flags and a script builds
one from keywords, and both get the same one-line :class:`UsageError` naming the option, before
a data file is opened, hashed or a worker started. What needs the data (the search space's views,
the classes) is checked by :func:`~nuclassify.search._evolve.evolve` once the file is open.
"""

from __future__ import annotations

import os
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from nuclassify.errors import UsageError
from nuclassify.search._executors import EXECUTORS
from nuclassify.search._fit_trainer import RESULT_KEYS
from nuclassify.search._objectives import Objectives
from nuclassify.search._stopping import EARLY_STOP_RULES

__all__ = ["EvolveConfig", "TRAINER", "DEFAULT_VALID_FRACTION", "STRATEGY_NAMES", "SPACE_BY_LAYOUT",
           "auto_population", "auto_tournament"]

TRAINER = "nuclassify.search._fit_trainer:train_candidate"
DEFAULT_VALID_FRACTION = 0.2
STRATEGY_NAMES = ("regularized", "ga", "random")
#: the shipped search space for each data layout (``--space`` overrides it)
SPACE_BY_LAYOUT = {"minerva-2016": "minerva", "minerva-2018": "minerva", "nova-cvn": "nova", "images": "images"}
_OBJECTIVE_NAMES = (*RESULT_KEYS, "latency")


def auto_population(budget: int) -> int:
    """P when not given: a quarter of the budget, 4 to 100.

    Why a quarter: the first P candidates are random draws, so P is the exploration that comes
    before any selection. At the small budgets a workstation affords (tens of candidates), a
    third of the budget left too few mutants to beat random search; a quarter did (digits, 24
    candidates, 5 seeds: benchmarks/bench_evolve.py). A population as large as the budget would
    make evolution a random search.
    """
    return min(100, max(4, budget // 4))


def auto_tournament(population: int) -> int:
    """S when not given: half of P, 2 to 10.

    Real et al. (arXiv:1802.01548) use S = P/4 with P = 100 over 20,000 candidates; with the
    handful of mutants a small budget allows, a tournament of half the population selects
    harder (the parent is usually one of the best few), which is what beat random search here.
    """
    return min(population, max(2, min(10, population // 2)))


def _positive(name: str, value: object, *, optional: bool = True, number: bool = False) -> None:
    if value is None and optional:
        return
    kinds = (int, float) if number else (int,)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        raise UsageError(f"{name} must be a positive {'number' if number else 'integer'}; received {value!r}")


@dataclass(frozen=True)
class EvolveConfig:
    """One search as ``nuclassify evolve`` runs it (see the command's help for each option).

    Args:
        data: the training file (any layout the data layer reads).
        out: RUN_DIR: journal, results.csv, best.json, candidates/, plots.
        budget: how many candidates are trained (may grow on ``resume``).
        valid: a validation file, or
        valid_fraction: hold out this fraction of ``data`` (one split for the whole search);
            neither: :data:`DEFAULT_VALID_FRACTION`.
        executor: ``serial``, ``process`` or ``mpi``; workers: how many candidates at once
            (``process``: default 2; ``serial``: 1; ``mpi``: the ranks decide).
        epochs, max_events: each candidate's training budget.
        candidate_timeout: seconds before a candidate is killed (``process``/``mpi`` only).
        candidates_per_child: candidates one child process trains in turn (``process``/``mpi``;
            1, the default: a fresh process per candidate, the strongest isolation).
        strategy, population, tournament, seed: the strategy (population and tournament, when
            not given, from the budget, or from the journal on resume).
        seed_arch: known networks (names or spec files) that start the population.
        space: a shipped space's name or a space file; None: the one for the data's layout.
        objectives: e.g. ``val_accuracy`` or ``val_accuracy,-params``.
        early_stop: ``none`` or ``median`` (stop candidates below the finished ones' median).
        precision: ``fp32`` or ``mixed``.
        resume: continue the search in ``out``.
        max_failures: candidates failing in a row that stop the search.
    """

    data: str | os.PathLike | None
    out: str | os.PathLike
    _: KW_ONLY
    budget: int
    valid: str | os.PathLike | None = None
    valid_fraction: float | None = None
    executor: str = "process"
    workers: int | None = None
    epochs: int = 1
    max_events: int | None = None
    candidate_timeout: float | None = None
    candidates_per_child: int = 1
    strategy: str = "regularized"
    population: int | None = None
    tournament: int | None = None
    seed: int = 0
    seed_arch: tuple[str, ...] = field(default_factory=tuple)
    space: str | os.PathLike | None = None
    objectives: str = "val_accuracy"
    early_stop: str = "none"
    precision: str = "fp32"
    resume: bool = False
    max_failures: int = 10

    def __post_init__(self) -> None:
        if self.data is None or not os.fspath(self.data):
            raise UsageError("evolve needs --data TRAIN.h5")
        _positive("--budget", self.budget, optional=False)
        _positive("--workers", self.workers)
        _positive("--epochs", self.epochs, optional=False)
        _positive("--max-events", self.max_events)
        _positive("--candidate-timeout", self.candidate_timeout, number=True)
        _positive("--candidates-per-child", self.candidates_per_child, optional=False)
        _positive("--population", self.population)
        _positive("--tournament", self.tournament)
        _positive("the failure limit", self.max_failures, optional=False)
        if self.valid is not None and self.valid_fraction is not None:
            raise UsageError("give either --valid or --valid-fraction, not both")
        if self.valid_fraction is not None and not 0.0 < float(self.valid_fraction) < 1.0:
            raise UsageError(f"--valid-fraction must be in (0, 1); received {self.valid_fraction}")
        if self.executor not in EXECUTORS:
            raise UsageError(f"--executor must be one of {', '.join(EXECUTORS)}; received {self.executor!r}")
        if self.executor == "serial" and self.candidate_timeout is not None:
            raise UsageError("--candidate-timeout needs --executor process or mpi (serial candidates run in this "
                             "process, where nothing can kill them)")
        if self.executor == "serial" and self.candidates_per_child != 1:
            raise UsageError("--candidates-per-child needs --executor process or mpi (serial candidates run in "
                             "this process, with no child to reuse)")
        if self.strategy not in STRATEGY_NAMES:
            raise UsageError(f"--strategy must be one of {', '.join(STRATEGY_NAMES)}; received {self.strategy!r}")
        if self.population and self.tournament and self.tournament > self.population:
            raise UsageError(f"--tournament ({self.tournament}) must not exceed --population ({self.population})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise UsageError(f"--seed must be an integer in [0, 2**32); received {self.seed!r}")
        if self.early_stop not in EARLY_STOP_RULES:
            raise UsageError(f"--early-stop must be one of {', '.join(EARLY_STOP_RULES)}; received {self.early_stop!r}")
        if self.precision not in ("fp32", "mixed"):
            raise UsageError(f"--precision must be fp32 or mixed; received {self.precision!r}")
        unknown = [n for n in self.parsed_objectives.names if n not in _OBJECTIVE_NAMES]
        if unknown:
            raise UsageError(f"--objectives: {unknown[0]!r} is not a figure the trainer reports "
                             f"({', '.join(_OBJECTIVE_NAMES)})")
        object.__setattr__(self, "seed_arch", tuple(str(s) for s in self.seed_arch))

    @property
    def parsed_objectives(self) -> Objectives:
        return Objectives.parse(self.objectives)

    @property
    def run_dir(self) -> Path:
        return Path(self.out)

    @property
    def holdout(self) -> float | None:
        """The validation fraction in use (None with a validation file)."""
        if self.valid is not None:
            return None
        return DEFAULT_VALID_FRACTION if self.valid_fraction is None else float(self.valid_fraction)

    def resolved_workers(self) -> int:
        """Candidates at once for ``serial``/``process`` (``mpi``: one per worker rank, known at start)."""
        if self.workers is not None:
            return self.workers
        return 1 if self.executor == "serial" else 2
