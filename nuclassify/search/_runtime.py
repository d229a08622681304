"""The executor ``evolve`` hands the loop: any executor, plus what each task needs at run time.

Why a wrapper rather than more trainer options: ``SearchConfig.trainer_options`` are part of the
search's identity (a resume must match them) and are the same for every candidate. Some of what
a candidate needs is neither:

- where the data lies now (paths and their precomputed digests): a search moved to another
  machine resumes as long as the files' contents (the identity's hashes) are the same;
- the median rule's current per-epoch medians, which change as candidates finish.

So this wrapper adds them to each job's ``task["options"]`` as it is submitted. It also watches
the outcomes go by, and keeps the disk bounded: a failed candidate's weights are deleted at once,
and a finished candidate's ``best.keras`` as soon as it is neither the best nor on the Pareto
front. The loop sees an ordinary :class:`~nuclassify.search.Executor`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nuclassify.search._candidate import FINISHED, Candidate, Job, Outcome
from nuclassify.search._executors import Executor
from nuclassify.search._fit_trainer import prune_weights
from nuclassify.search._objectives import Objectives, _dominates
from nuclassify.search._stopping import MedianTracker

__all__ = ["RuntimeExecutor"]


class RuntimeExecutor(Executor):
    """Runs jobs on ``inner`` with ``runtime`` options (and the current medians) added.

    Args:
        inner: the executor that really runs the jobs.
        run_dir: the search's folder (candidates train in ``run_dir/candidates/<id>``).
        runtime: options added to every task (data paths, digests), not part of the identity.
        objectives: what "best" means, to know whose weights to keep.
        tracker: the median rule's curves, or None without early stopping.
        prior: ``(id, objectives)`` of candidates that finished before a resume.
    """

    def __init__(self, inner: Executor, run_dir: str | Path, runtime: Mapping[str, Any], objectives: Objectives,
                 tracker: MedianTracker | None = None, prior: Iterable[tuple[int, Mapping[str, float]]] = ()) -> None:
        self.inner, self.run_dir, self.runtime = inner, Path(run_dir), dict(runtime)
        self.objectives, self.tracker = objectives, tracker
        self._front: list[tuple[int, tuple[float, ...]]] = []  # (id, objective vector) whose weights are kept
        for cid, values in sorted(prior):
            self._finished(int(cid), dict(values))

    @property  # type: ignore[override]
    def workers(self) -> int:
        return self.inner.workers

    def start(self, trainer: str) -> None:
        self.inner.start(trainer)

    def free(self) -> int:
        return self.inner.free()

    def submit(self, job: Job) -> str:
        options = {**job.task.get("options", {}), **self.runtime}
        if self.tracker is not None:
            options["medians"] = self.tracker.medians()
        return self.inner.submit(Job(job.id, job.genome, {**job.task, "options": options}))

    def wait(self, timeout: float) -> list[Outcome]:
        outcomes = self.inner.wait(timeout)
        for outcome in outcomes:
            if outcome.status == FINISHED and not self.objectives.problem(outcome.objectives):
                self._finished(outcome.id, dict(outcome.objectives))
            else:  # failed, or "finished" with a NaN objective (which the loop records as failed)
                prune_weights(self.run_dir, outcome.id, failed=True)
        return outcomes

    def close(self) -> None:
        self.inner.close()

    @property
    def kept(self) -> list[int]:
        """Ids whose ``best.keras`` is kept: the best, or the Pareto front."""
        return sorted(cid for cid, _ in self._front)

    def _finished(self, cid: int, values: dict[str, float]) -> None:
        """Record a finished candidate and update the kept front incrementally (O(front), not
        O(candidates): the master takes in up to a thousand results a second)."""
        if self.tracker is not None:
            self.tracker.add(cid, values)
        values.setdefault("params", 0.0)
        vector = self.objectives.vector(Candidate(cid, {}, 0, status=FINISHED, objectives=values))
        if self.objectives.multi:
            if any(_dominates(v, vector) for _, v in self._front):
                prune_weights(self.run_dir, cid)
                return
            beaten = [c for c, v in self._front if _dominates(vector, v)]
        else:
            if self._front and vector <= self._front[0][1]:  # earliest wins ties
                prune_weights(self.run_dir, cid)
                return
            beaten = [c for c, _ in self._front]
        for old in beaten:
            prune_weights(self.run_dir, old)
        self._front = [(c, v) for c, v in self._front if c not in beaten] + [(cid, vector)]

