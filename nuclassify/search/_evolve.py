"""``evolve``: one ``nuclassify evolve`` run as a library call (the command line only prints it).

What it does, in order, so that every mistake is one line before anything slow happens:

1. under ``--executor mpi``, a worker rank (rank > 0) serves the master and returns ``None``;
2. checks RUN_DIR (``--resume`` needs a journal; a new search refuses one);
3. opens the data: layout, views and shapes, the target's classes; a validation file must match;
4. picks the search space (the shipped one for the layout unless ``space``), checks its views
   against the file, loads the seed networks;
5. hashes the data files once (every candidate gets the digests; none hashes again);
6. builds the :class:`~nuclassify.search.SearchConfig` with the real trainer
   (``nuclassify.search._fit_trainer:train_candidate``) and the executor, wrapped in
   :class:`~nuclassify.search._runtime.RuntimeExecutor` (data paths, medians, weight pruning);
7. runs :func:`~nuclassify.search.run_search` under :func:`~nuclassify._signals.stop_on_signals`
   (Ctrl-C or SIGTERM: stop at the next turn, raise :class:`SearchInterrupted`);
8. writes the plots (``_plots``, when installed) and returns an :class:`EvolveResult`.

The master never imports Keras (the serial executor trains in this process, so it does then).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nuclassify._diskfaults import is_write_failure, write_failure
from nuclassify._runlock import LOCK_FILES, hold_run_dir
from nuclassify.errors import DataFileError, NuclassifyError, OutputError, RunDirError, UsageError
from nuclassify.search._config import Progress, SearchConfig, SearchResult
from nuclassify.search._evolve_config import (
    SPACE_BY_LAYOUT,
    TRAINER,
    EvolveConfig,
    auto_population,
    auto_tournament,
)
from nuclassify.search._evolve_report import journal_summary, search_summary, write_plots
from nuclassify.search._export import BEST_NAME
from nuclassify.search._fit_trainer import candidate_dir
from nuclassify.search._journal import JOURNAL_NAME, read_journal
from nuclassify.search._space import SearchSpace, load_space

__all__ = ["evolve", "EvolveResult", "SearchInterrupted", "PRELOAD"]

#: what each candidate process imports while it waits for its job (Keras, quietly)
PRELOAD = ("nuclassify.search._preload",)


class SearchInterrupted(NuclassifyError):
    """Ctrl-C or SIGTERM stopped the search; everything finished is kept and ``--resume`` continues."""

    exit_code = 130


@dataclass
class EvolveResult:
    """What :func:`evolve` found, where it left it, and the settings it resolved."""

    search: SearchResult
    config: EvolveConfig
    space: str
    layout: str
    population: int
    tournament: int
    workers: int
    plots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def best_json(self) -> Path | None:
        path = self.search.run_dir / BEST_NAME
        return path if self.search.best is not None and path.is_file() else None

    @property
    def best_model(self) -> Path | None:
        """The winner's weights (``best.keras`` of its candidate folder), kept by the search."""
        if self.search.best is None:
            return None
        path = candidate_dir(self.search.run_dir, self.search.best.id) / "best.keras"
        return path if path.is_file() else None

    def summary(self) -> dict[str, Any]:
        """The run as one JSON-ready dict (``evolve --json``)."""
        out = search_summary(self.search)
        out.update({"space": self.space, "layout": self.layout, "executor": self.config.executor,
                    "workers": self.workers, "candidates_per_child": self.config.candidates_per_child,
                    "strategy": self.config.strategy, "population": self.population,
                    "tournament": self.tournament, "objectives": self.config.objectives,
                    "epochs": self.config.epochs, "best_json": str(self.best_json) if self.best_json else None,
                    "best_model": str(self.best_model) if self.best_model else None, "plots": self.plots,
                    "notes": self.notes})
        return out


def _check_run_dir(config: EvolveConfig) -> list[dict]:
    """The journal's records on resume (checked to exist), or [] for a new search (refused if one exists)."""
    journal = config.run_dir / JOURNAL_NAME
    if config.resume:
        if not journal.is_file():
            raise RunDirError(f"{config.run_dir}: no search to resume (no {JOURNAL_NAME}); start one without --resume")
        return read_journal(journal)[0]
    if journal.exists():
        raise RunDirError(f"{config.run_dir} already holds a search ({JOURNAL_NAME}); continue it with --resume, "
                          "or choose another --out")
    if config.run_dir.exists() and not config.run_dir.is_dir():
        raise RunDirError(f"{config.run_dir}: exists and is not a directory")
    if config.run_dir.is_dir() and any(p.name not in LOCK_FILES for p in config.run_dir.iterdir()):
        # A new search writes results.csv, best.json, candidates/ and plots under fixed names: in a
        # folder that holds other files (a training run, a user's results) it would replace them.
        raise RunDirError(f"{config.run_dir}: is not empty and holds no search; choose a new or empty --out")
    return []


@dataclass
class _Data:
    layout: str
    input_shapes: dict[str, tuple[int, int, int]]
    n_classes: int
    n_events: int
    target: str


def _open_data(config: EvolveConfig) -> _Data:
    """The training file's facts; a validation file must have the same views and classes."""
    from nuclassify.data import open_dataset
    from nuclassify.training import check_same_kind

    with open_dataset(config.data) as ds:  # type: ignore[arg-type]
        target = ds.default_target
        if not ds.labelled(target):
            raise DataFileError(ds.path, f"has no '{target}' labels (unlabelled, e.g. real data): a search trains "
                                         "on labelled events")
        facts = _Data(ds.layout, {v: tuple(ds.view_shapes[v]) for v in ds.view_names}, ds.n_classes(target),
                      ds.n_events, target)
        if config.valid is not None:
            with open_dataset(config.valid) as vds:
                check_same_kind(ds, vds, target)
    return facts


def _space(config: EvolveConfig, data: _Data) -> SearchSpace:
    name = config.space if config.space is not None else SPACE_BY_LAYOUT.get(data.layout, "images")
    space = load_space(name)
    space.check_inputs(data.input_shapes)
    return space


def _seeds(config: EvolveConfig, space: SearchSpace, data: _Data) -> tuple[dict, ...]:
    """The ``--seed-arch`` networks, each checked against the data now (one line if it cannot fit)."""
    from nuclassify.models import load_spec
    from nuclassify.search._factory import GenomeFactory

    seeds = tuple(load_spec(s) for s in config.seed_arch)
    factory = GenomeFactory(space, data.input_shapes, data.n_classes)
    for spec in seeds:
        factory.seeded(spec)
    return seeds


def _population(config: EvolveConfig, records: list[dict]) -> tuple[int, int]:
    """P and S: as given, else the journal's (on resume, so a larger budget keeps them), else from the budget."""
    old = records[0].get("identity", {}) if records else {}
    population = config.population or old.get("population") or auto_population(config.budget)
    tournament = config.tournament or old.get("tournament") or auto_tournament(population)
    if tournament > population:  # a --tournament given alone, against a population it did not set
        source = ("the searched population" if old.get("population") else
                  f"set by --budget {config.budget}, a quarter of it and at least 4, as --population is not given")
        raise UsageError(f"--tournament ({tournament}) must not exceed the population ({population}: {source}); "
                         f"give a smaller --tournament or a --population of at least {tournament}")
    return int(population), int(tournament)


def _prior(records: list[dict]) -> list[tuple[int, dict]]:
    """(id, objectives) of the candidates a resumed search had finished (first result per id)."""
    seen: dict[int, dict] = {}
    done: set[int] = set()
    for rec in records:
        if rec.get("kind") in ("finished", "failed") and rec.get("id") not in done:
            done.add(rec["id"])
            if rec["kind"] == "finished":
                seen[rec["id"]] = rec.get("objectives", {})
    return sorted(seen.items())


def _mpi_worker() -> bool:
    """On a worker rank of ``--executor mpi``, serve the master and return True; on rank 0, False."""
    from nuclassify.search._mpi import mpi_rank

    if mpi_rank() == 0:
        return False
    from nuclassify.search._mpiworker import run_mpi_worker

    run_mpi_worker()
    return True


def evolve(config: EvolveConfig, *, progress: Callable[[Progress], None] | None = None,
           stop: threading.Event | None = None, plots: bool = True) -> EvolveResult | None:
    """Run (or resume) the search ``config`` describes; see the module docstring for the steps.

    Args:
        config: the search.
        progress: called with a :class:`~nuclassify.search.Progress` after each turn with results.
        stop: when set, stop at the next turn; None: Ctrl-C and SIGTERM set one (main thread).
        plots: write the figures at the end.

    Returns:
        An :class:`EvolveResult`; ``None`` on an MPI worker rank.

    Raises:
        UsageError, DataFileError, SpecError, RunDirError: bad input, one line, before any training.
        SearchStopped: too many candidates in a row failed.
        SearchInterrupted: Ctrl-C or SIGTERM (or ``stop``); ``--resume`` continues.
    """
    if config.executor == "mpi" and _mpi_worker():
        return None
    _check_run_dir(config)  # refuse before anything is created
    with hold_run_dir(config.run_dir):  # one writer per search directory (a second is refused here)
        return _evolve_held(config, progress=progress, stop=stop, plots=plots)


def _evolve_held(config: EvolveConfig, *, progress: Callable[[Progress], None] | None,
                 stop: threading.Event | None, plots: bool) -> EvolveResult:
    """``evolve`` once the search directory is held (checked again: another writer may just have left)."""
    from nuclassify._signals import stop_on_signals
    from nuclassify.search._executors import make_executor
    from nuclassify.search._loop import run_search
    from nuclassify.search._runtime import RuntimeExecutor
    from nuclassify.search._stopping import MedianTracker
    from nuclassify.training import file_digest

    records = _check_run_dir(config)
    population, tournament = _population(config, records)  # before the data are opened and hashed
    data = _open_data(config)
    space = _space(config, data)
    seeds = _seeds(config, space, data)
    objectives = config.parsed_objectives
    train_path = Path(config.data).resolve()  # type: ignore[arg-type]
    digests = {"train": file_digest(train_path)}
    runtime: dict[str, Any] = {"train": str(train_path), "valid": None}
    if config.valid is not None:
        digests["valid"] = file_digest(Path(config.valid).resolve())
        runtime["valid"] = digests["valid"]["path"]
    runtime["digests"] = digests
    options = {"epochs": config.epochs, "max_events": config.max_events, "valid_fraction": config.holdout,
               "split_seed": config.seed, "n_events": data.n_events, "target": data.target,
               "precision": config.precision, "early_stop": config.early_stop,
               "latency": "latency" in objectives.names}
    search = SearchConfig(space, data.input_shapes, data.n_classes, config.budget, trainer=TRAINER,
                          trainer_options=options, strategy=config.strategy, population=population,
                          tournament=tournament, seed=config.seed, objectives=config.objectives, seeds=seeds,
                          data={role: d["sha256"] for role, d in digests.items()},
                          max_failures=config.max_failures)
    extra: dict[str, Any] = ({"preload": PRELOAD, "reuse": config.candidates_per_child}
                             if config.executor in ("process", "mpi") else {})
    inner = make_executor(config.executor, config.resolved_workers(), timeout=config.candidate_timeout, **extra)
    tracker = MedianTracker() if config.early_stop == "median" else None
    executor = RuntimeExecutor(inner, config.run_dir, runtime, objectives, tracker, _prior(records))
    try:
        if stop is None:
            with stop_on_signals() as requested:
                result = run_search(config.run_dir, search, executor, resume=config.resume, stop=requested,
                                    progress=progress)
        else:
            result = run_search(config.run_dir, search, executor, resume=config.resume, stop=stop,
                                progress=progress)
    except KeyboardInterrupt:
        raise SearchInterrupted(_interrupted(config, None)) from None
    except (OSError, OutputError) as exc:  # its records (journal, results.csv) met a full disk, a size limit
        if isinstance(exc, OSError) and not is_write_failure(exc):
            raise
        error = exc if isinstance(exc, OutputError) else \
            write_failure(config.run_dir, exc, progress="while the search wrote its records")
        # the journal's torn last line, if any, is dropped on resume; an unfinished candidate runs again
        raise OutputError(f"{error}; the search stopped: make room and continue with --resume") from exc
    if result.stopped == "interrupted":
        raise SearchInterrupted(_interrupted(config, result))
    paths, notes = write_plots(config.run_dir) if plots else ([], [])
    return EvolveResult(result, config, space.label, data.layout, population, tournament, executor.workers,
                        paths, notes)


def _interrupted(config: EvolveConfig, result: SearchResult | None) -> str:
    """The one-line message of :class:`SearchInterrupted`: how far the search got, how to go on."""
    if not (config.run_dir / JOURNAL_NAME).is_file():  # stopped before the search began: nothing to resume
        return "search interrupted before it began; nothing was kept: start it again with the same command"
    if result is None:  # stopped inside a candidate (serial executor): the journal knows how far it got
        try:
            summary = journal_summary(config.run_dir)
        except NuclassifyError:
            summary = None
    else:
        summary = search_summary(result)
    done = ""
    if summary is not None:
        done = f" after {summary['evaluated']} of {config.budget} candidates"
        best = summary["best"]
        if best is not None:
            name = config.parsed_objectives.names[0]
            done += f" (best {name} {best['objectives'].get(name, float('nan')):.4f}, candidate {best['id']})"
    return (f"search interrupted{done}; {config.run_dir} keeps every finished candidate: continue it with the same "
            "command and --resume")
