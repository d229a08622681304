"""Evolutionary search over network architectures (``nuclassify evolve``), MENNDL-style.

A genome *is* an architecture spec (the JSON ``train --arch`` takes). The master side here
(space, operators, strategies, journal, loop) never imports Keras: every candidate is checked
by shape arithmetic (:func:`nuclassify.models.walk_spec`) before a worker sees it, and workers
train it through a pluggable trainer ``"module:function"`` (contract in ``_trainers``).

Modules: ``_space`` and ``_genes`` (the search space file), ``_genome``/``_operators``/``_repair``/``_factory``
(genomes: random, mutated, crossed, fitted and checked), ``_strategy`` with ``_regevo``, ``_ga``
and ``_random`` (ask/tell), ``_objectives`` (Pareto helpers), ``_journal``/``_replay``/``_export``
(the record and what is rebuilt or written from it), ``_executors``/``_process``/``_child``
and ``_mpi``/``_mpiworker`` (where candidates run), ``_config`` (what defines a search),
``_loop`` (the asynchronous steady-state loop with resume), ``_history``, ``_report`` and ``_plots`` (what a
finished or running search's journal says, in words, numbers and figures), and the command's
library side: ``_evolve_config`` (``EvolveConfig``), ``_evolve`` (``evolve``: data, space, digests,
executor, loop, export), ``_fit_trainer`` (the real trainer: ``training.fit`` with a
``TrainConfig``), ``_stopping`` (median early stopping), ``_runtime`` and ``_evolve_report``.

Under ``mpiexec`` every rank runs the same command: rank 0 (``mpi_rank() == 0``) runs
:func:`run_search` with ``make_executor("mpi")``, every other rank calls :func:`run_mpi_worker`.
"""

from nuclassify.search._candidate import Candidate, Job, Outcome, Proposal
from nuclassify.search._child import resolve_trainer
from nuclassify.search._config import Progress, SearchConfig, SearchResult, SearchStopped
from nuclassify.search._evolve import EvolveResult, SearchInterrupted, evolve
from nuclassify.search._evolve_config import EvolveConfig
from nuclassify.search._evolve_report import report as evolve_report
from nuclassify.search._executors import EXECUTORS, Executor, SerialExecutor, detect_gpus, make_executor
from nuclassify.search._export import BEST_NAME, RESULTS_NAME, named_spec
from nuclassify.search._factory import Checked, GenomeFactory
from nuclassify.search._journal import JOURNAL_NAME, Journal, read_journal
from nuclassify.search._loop import run_search
from nuclassify.search._mpi import MPIExecutor, mpi_rank
from nuclassify.search._mpiworker import run_mpi_worker
from nuclassify.search._objectives import Objectives, pareto_front, pareto_ranks
from nuclassify.search._operators import crossover, mutate
from nuclassify.search._plots import write_search_plots
from nuclassify.search._replay import replay
from nuclassify.search._report import format_report, search_report
from nuclassify.search._space import SearchSpace, list_spaces, load_space
from nuclassify.search._strategy import STRATEGIES, Strategy, make_strategy

__all__ = [
    "SearchSpace", "load_space", "list_spaces",
    "GenomeFactory", "Checked", "mutate", "crossover",
    "Strategy", "make_strategy", "STRATEGIES", "Objectives", "pareto_front", "pareto_ranks",
    "Candidate", "Proposal", "Job", "Outcome",
    "Journal", "read_journal", "replay", "JOURNAL_NAME", "RESULTS_NAME", "BEST_NAME", "named_spec",
    "Executor", "SerialExecutor", "make_executor", "detect_gpus", "EXECUTORS", "resolve_trainer",
    "MPIExecutor", "mpi_rank", "run_mpi_worker",
    "SearchConfig", "SearchResult", "Progress", "SearchStopped", "run_search",
    "search_report", "format_report", "write_search_plots",
    "evolve", "EvolveConfig", "EvolveResult", "SearchInterrupted", "evolve_report",
]
