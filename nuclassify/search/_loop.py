"""The search loop: asynchronous steady state over any executor, journalled, resumable.

Each turn of the loop (1) fills every free worker (re-issued candidates first, then new asks),
(2) commits the journal once (the results of the last turn and the new submissions together),
(3) sends the new jobs, (4) waits for the first outcomes and records them. There is no
generation barrier: a worker gets its next candidate the turn after it reports.

Resume (``resume=True``) replays the journal: results are told to the strategy in their
recorded order, the ask count and the random state are restored from the last submission, and
the candidates that were running are issued again with the same id and genome. With the serial
executor the resumed search therefore proposes exactly the candidates of an uninterrupted one.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nuclassify import __version__
from nuclassify._runlock import command_line
from nuclassify.data import creation_time
from nuclassify.errors import OutputError, UsageError
from nuclassify.search._candidate import FAILED, FINISHED, Candidate, Job, Outcome
from nuclassify.search._child import OUTPUT_FAILURE
from nuclassify.search._config import Progress, SearchConfig, SearchResult, SearchStopped
from nuclassify.search._executors import Executor
from nuclassify.search._export import named_spec, write_best, write_results
from nuclassify.search._factory import GenomeFactory
from nuclassify.search._journal import Journal
from nuclassify.search._objectives import Objectives
from nuclassify.search._replay import apply_result, check_same_search, replay
from nuclassify.search._strategy import make_strategy

__all__ = ["run_search"]


def _how_made(executor: Executor) -> dict:
    """How a search was started, for its journal's header: the command, executor, workers, version, time.

    The identity (data, space, strategy, seed) says what the results depend on; this says how the
    run was made, which also matters: with several workers the finishing order shapes the parents.
    """
    return {"command": command_line(), "executor": executor.kind, "workers": executor.workers,
            "nuclassify_version": __version__, "created": creation_time()}


class _Search:
    """One search's state while it runs; :func:`run_search` is its only user."""

    def __init__(self, run_dir: Path, config: SearchConfig, executor: Executor, resume: bool) -> None:
        if config.budget < 1 or config.max_failures < 1:
            raise UsageError(f"--budget and the failure limit must be >= 1; received {config.budget}, "
                             f"{config.max_failures}")
        self.run_dir, self.config, self.executor = run_dir, config, executor
        self.objectives = Objectives.parse(config.objectives)
        factory = GenomeFactory(config.space, dict(config.input_shapes), config.n_classes)
        seeds = [factory.seeded(s) for s in config.seeds]
        self.rng = np.random.default_rng(config.seed)
        self.strategy = make_strategy(config.strategy, factory, self.objectives, self.rng,
                                      population=config.population, tournament=config.tournament, seeds=seeds,
                                      crossover_rate=config.crossover_rate)
        self.candidates: dict[int, Candidate] = {}
        self.pending: deque[int] = deque()
        self.running: set[int] = set()
        self.done = self.failed = 0
        self.failures_in_row, self.last_reason = 0, ""
        self.best_value: float | None = None
        if resume:
            self.journal, records = Journal.reopen(run_dir)
            try:
                state = replay(records)
                check_same_search(state.header, config.identity(), str(run_dir))
            except BaseException:
                self.journal.close()
                raise
            self.candidates = state.candidates
            for cid in state.told:
                self._told(self.candidates[cid])
            self.strategy.asked = state.asked
            if state.rng_state is not None:
                self.rng.bit_generator.state = state.rng_state
            self.pending.extend(state.pending)
            if config.budget < self.done:  # the budget may grow on resume, never fall below what is done
                self.journal.close()
                raise UsageError(f"{run_dir}: {self.done} candidates are already done; --budget must be at least "
                                 f"{self.done} (it counts every candidate, these included)")
            self.journal.append("resumed", done=self.done, pending=list(self.pending), budget=config.budget)
        else:
            header = {"identity": config.identity(), "space": config.space.raw, "seeds": list(config.seeds),
                      "budget": config.budget, "made": _how_made(executor)}
            self.journal = Journal.create(run_dir, header)
        self.failures_in_row = 0

    def _told(self, candidate: Candidate) -> None:
        self.strategy.tell(candidate)
        self.done += 1
        if candidate.ok:
            value = self.objectives.vector(candidate)[0] * self.objectives.signs[0]
            if self.best_value is None or self.objectives.signs[0] * (value - self.best_value) > 0:
                self.best_value = value
            self.failures_in_row = 0
        else:
            self.failed += 1
            self.failures_in_row += 1
            self.last_reason = candidate.reason

    def _ask(self) -> Candidate:
        cid = self.strategy.asked
        proposal = self.strategy.ask()
        candidate = Candidate(cid, proposal.genome, proposal.params, proposal.parents, proposal.origin,
                              submitted=time.time())
        self.candidates[cid] = candidate
        self.journal.append("submitted", id=cid, parents=list(proposal.parents), origin=proposal.origin,
                            params=proposal.params, genome=proposal.genome, rng=self.rng.bit_generator.state)
        return candidate

    def _next_batch(self) -> list[Candidate]:
        """Candidates for the free workers: re-issued ones first, then new asks, within the budget."""
        batch: list[Candidate] = []
        budget = self.config.budget
        for _ in range(self.executor.free()):
            issued = self.done + len(self.running) + len(batch)
            if self.pending and issued < budget:
                batch.append(self.candidates[self.pending.popleft()])
            elif issued + len(self.pending) < budget:
                batch.append(self._ask())
            else:
                break
        return batch

    def _send(self, candidate: Candidate) -> None:
        task = {"candidate_id": candidate.id, "seed": int(np.random.SeedSequence([self.config.seed, candidate.id])
                                                          .generate_state(1)[0]),
                "input_shapes": {v: list(s) for v, s in self.config.input_shapes.items()},
                "n_classes": self.config.n_classes, "options": dict(self.config.trainer_options),
                "run_dir": str(self.run_dir), "attempt": candidate.attempts + 1}
        worker = self.executor.submit(Job(candidate.id, named_spec(candidate), task))
        candidate.status, candidate.worker, candidate.started = "started", worker, time.time()
        candidate.attempts += 1
        self.running.add(candidate.id)
        self.journal.append("started", id=candidate.id, worker=worker, attempt=candidate.attempts)

    def _record(self, outcome: Outcome) -> None:
        candidate = self.candidates.get(outcome.id)
        if candidate is None or candidate.done:
            return
        if outcome.status == FAILED and outcome.reason.startswith(OUTPUT_FAILURE):
            # The disk, not the network: no result is journalled, so --resume trains it again.
            raise OutputError(f"candidate {outcome.id} could not write its files: "
                              f"{outcome.reason[len(OUTPUT_FAILURE):]}")
        self.running.discard(outcome.id)
        times = {"worker": outcome.worker, "start": round(outcome.start, 6), "end": round(outcome.end, 6)}
        values = dict(outcome.objectives)
        values.setdefault("params", float(candidate.params))
        problem = self.objectives.problem(values) if outcome.status == FINISHED else outcome.reason or "failed"
        if problem:
            record = self.journal.append(FAILED, id=outcome.id, reason=problem, **times)
        else:
            record = self.journal.append(FINISHED, id=outcome.id, objectives=values,
                                         train_seconds=round(outcome.train_seconds, 6), **times)
        apply_result(candidate, record)
        self._told(candidate)

    def progress(self, t0: float) -> Progress:
        return Progress(self.done, self.done - self.failed, self.failed, len(self.running), self.config.budget,
                        self.best_value, time.time() - t0)

    def export(self) -> None:
        write_results(self.run_dir, self.candidates.values(), self.objectives)
        best = self.objectives.best(list(self.candidates.values()))
        if best is not None:
            write_best(self.run_dir, best)

    def result(self, stopped: str, t0: float) -> SearchResult:
        ordered = [self.candidates[i] for i in sorted(self.candidates)]
        return SearchResult(self.run_dir, ordered, self.objectives.best(ordered), self.objectives.front(ordered),
                            stopped, time.time() - t0)

    def abandon(self, new: bool) -> None:
        """Close the journal after a failed start; a new search's journal (its header alone) goes."""
        self.journal.close()
        if new:
            self.journal.path.unlink(missing_ok=True)

    def run(self, stop: threading.Event | None, progress: Callable[[Progress], None] | None,
            export_interval: float, t0: float) -> str:
        """Turn the loop until the budget is spent, ``stop`` is set or too many failures; return why."""
        stopped, last_export, export_cost = "interrupted", time.monotonic(), 0.0
        try:
            while stop is None or not stop.is_set():
                batch = self._next_batch()
                self.journal.commit()  # the last turn's results and these submissions, together
                for candidate in batch:
                    self._send(candidate)
                if not self.running:
                    stopped = "budget"
                    break
                outcomes = self.executor.wait(0.5)
                for outcome in outcomes:
                    self._record(outcome)
                if outcomes and progress is not None:
                    progress(self.progress(t0))
                if self.failures_in_row >= self.config.max_failures:
                    stopped = "failures"
                    break
                if time.monotonic() - last_export >= max(export_interval, 20 * export_cost):
                    t_export = time.monotonic()
                    self.journal.commit()
                    self.export()
                    last_export = time.monotonic()
                    export_cost = last_export - t_export
        except KeyboardInterrupt:
            stopped = "interrupted"
            raise
        except BaseException:
            stopped = "error"
            raise
        finally:
            self.executor.close()
            self.journal.append("stopped", reason=stopped, done=self.done)
            self.journal.close()
            self.export()
        return stopped


def run_search(run_dir: str | os.PathLike, config: SearchConfig, executor: Executor, *, resume: bool = False,
               stop: threading.Event | None = None, progress: Callable[[Progress], None] | None = None,
               export_interval: float = 2.0) -> SearchResult:
    """Run (or with ``resume`` continue) a search in ``run_dir`` until the budget is spent.

    Args:
        run_dir: the run folder: ``journal.jsonl`` (the record), ``results.csv``, ``best.json``.
        config: the search; on resume its :meth:`SearchConfig.identity` must match the journal's.
        executor: where candidates run; started here, closed on return.
        stop: when set, stop at the next turn (running candidates are re-issued on resume).
        progress: called with a :class:`Progress` after each turn that recorded results.
        export_interval: least seconds between rewrites of ``results.csv`` (and ``best.json``);
            the interval also grows with the time a rewrite takes, so exports never dominate.

    Raises:
        SearchStopped: ``config.max_failures`` candidates in a row failed.
        RunDirError: a new search in a used folder, or a resume with other settings or data.
        UsageError: bad settings, or a trainer the workers cannot load.
    """
    t0 = time.time()
    search = _Search(Path(run_dir), config, executor, resume)
    try:
        executor.start(config.trainer)
    except BaseException:
        executor.close()
        search.abandon(new=not resume)
        raise
    stopped = search.run(stop, progress, export_interval, t0)
    if stopped == "failures":
        raise SearchStopped(f"search stopped: {config.max_failures} candidates in a row failed (last: "
                            f"{search.last_reason}); see {Path(run_dir) / 'results.csv'}, fix the cause, then "
                            "continue with --resume")
    return search.result(stopped, t0)
