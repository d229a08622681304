"""Evolutionary-search machinery: master throughput and worker utilisation, each beside its baseline.

1. Master throughput: regularized evolution on the MINERvA space (2016 widths) with the no-op
   trainer, journal (fsync) and results.csv export included, in results per second; with one
   in-process worker (one fsync per result) and with 64 (results arrive together, as from many
   real workers, and share an fsync). Baseline in the same run: a bare loop that builds the
   same journal records and appends them to a file without fsync (the cost of the records
   alone). Target: >= 1,000 results/s.
2. Worker utilisation, busy time / (wall x workers), with 2 process workers and candidates of
   ~2 s (sleep trainer), wall time from the call to the return of ``run_search`` (child start-up
   included), and the idle gap between two candidates on one worker; baseline: the serial
   executor on the same candidates.
3. Master at scale, by discrete-event simulation: the real strategy, journal and loop driving
   18,000 simulated workers with one-minute candidates (300 results/s), the master's real
   processing time passing on the simulated clock; the predicted utilisation, against 100% for
   a master that costs nothing.

Usage: python benchmarks/bench_search.py [--results 3000] [--candidates 8] [--seconds 2]
       [--sim-workers 18000] [--sim-seconds 60] [--sim-results 54000]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from nuclassify.models import preset_shapes
from nuclassify.search import (
    Executor,
    Job,
    Outcome,
    SearchConfig,
    SerialExecutor,
    load_space,
    resolve_trainer,
    run_search,
)
from nuclassify.search._process import ProcessExecutor


def _fsync_seconds(folder: Path, n: int = 200) -> float:
    path = folder / "fsync.probe"
    with open(path, "a") as fh:
        t0 = time.perf_counter()
        for _ in range(n):
            fh.write("{}\n")
            fh.flush()
            os.fsync(fh.fileno())
        seconds = (time.perf_counter() - t0) / n
    path.unlink()
    return seconds


def _master(folder: Path, results: int, workers: int) -> tuple[float, list]:
    shapes, n_classes = preset_shapes("minerva2016")
    config = SearchConfig(load_space("minerva"), shapes, n_classes, budget=results, population=100, tournament=10)
    t0 = time.perf_counter()
    result = run_search(folder / f"master{workers}", config, SerialExecutor(workers))
    return results / (time.perf_counter() - t0), result.candidates


def _baseline(folder: Path, candidates: list) -> float:
    """The same records, serialised and appended to a file without fsync: no strategy, no checks."""
    t0 = time.perf_counter()
    with open(folder / "baseline.jsonl", "w") as fh:
        for c in candidates:
            fh.write(json.dumps({"kind": "submitted", "t": time.time(), "id": c.id, "parents": list(c.parents),
                                 "origin": c.origin, "params": c.params, "genome": c.genome}) + "\n")
            fh.write(json.dumps({"kind": "started", "t": time.time(), "id": c.id, "worker": "serial"}) + "\n")
            fh.write(json.dumps({"kind": "finished", "t": time.time(), "id": c.id, "objectives": c.objectives,
                                 "worker": "serial", "start": c.started, "end": c.ended}) + "\n")
    return len(candidates) / (time.perf_counter() - t0)


def _utilisation(folder: Path, name: str, executor, candidates: int, seconds: float) -> tuple[float, float, float]:
    """(utilisation, mean idle gap between candidates on a worker, wall seconds)."""
    config = SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=candidates,
                          trainer="nuclassify.search._trainers:sleep", trainer_options={"sleep": seconds},
                          population=4, tournament=2)
    t0 = time.time()
    result = run_search(folder / name, config, executor)
    wall = time.time() - t0
    busy = sum(c.ended - c.started for c in result.candidates)
    gaps = []
    for worker in {c.worker for c in result.candidates}:
        mine = sorted((c for c in result.candidates if c.worker == worker), key=lambda c: c.started)
        gaps += [b.started - a.ended for a, b in zip(mine, mine[1:], strict=False)]
    return busy / (wall * executor.workers), (sum(gaps) / len(gaps) if gaps else 0.0), wall


class SimulatedExecutor(Executor):
    """Discrete-event stand-in for ``workers`` real workers with candidates of ``seconds`` (+-20%).

    The clock is virtual, except that the master's own (real) processing time also passes on
    it: if the master cannot keep up, workers wait for it, and the utilisation shows it.
    """

    def __init__(self, workers: int, seconds: float, seed: int = 0) -> None:
        self.workers, self.seconds = workers, seconds
        self._rng = np.random.default_rng(seed)
        self._heap: list[tuple[float, int, float, Job]] = []
        self._clock, self._real = 0.0, time.perf_counter()
        self.submits: list[float] = []

    def _now(self) -> float:
        return self._clock + (time.perf_counter() - self._real)

    def start(self, trainer: str) -> None:
        self._trainer = resolve_trainer(trainer)

    def free(self) -> int:
        return self.workers - len(self._heap)

    def submit(self, job: Job) -> str:
        start = self._now()
        self.submits.append(start)
        heapq.heappush(self._heap, (start + self.seconds * self._rng.uniform(0.8, 1.2), job.id, start, job))
        return "sim"

    def wait(self, timeout: float) -> list[Outcome]:
        self._clock, self._real = self._now(), time.perf_counter()
        if self._heap and self._heap[0][0] > self._clock:
            self._clock = self._heap[0][0]  # nothing to do until the next worker reports
        outcomes = []
        while self._heap and self._heap[0][0] <= self._clock:
            end, cid, start, job = heapq.heappop(self._heap)
            values = self._trainer(job.genome, job.task)
            outcomes.append(Outcome(cid, "finished", values, "", "sim", start, end, end - start))
        self._real = time.perf_counter()
        return outcomes

    def close(self) -> None:
        self._heap = []


def _simulate(folder: Path, workers: int, seconds: float, results: int) -> tuple[float, float, float]:
    """(utilisation overall, utilisation after the first round, real seconds) of a simulated search."""
    shapes, n_classes = preset_shapes("minerva2016")
    config = SearchConfig(load_space("minerva"), shapes, n_classes, budget=results, population=100, tournament=10)
    executor = SimulatedExecutor(workers, seconds)
    t0 = time.perf_counter()
    result = run_search(folder / "simulated", config, executor, export_interval=30.0)
    real = time.perf_counter() - t0
    end = max(c.ended for c in result.candidates)
    overall = sum(c.ended - c.started for c in result.candidates) / (end * workers)
    # steady state: from the first result to the last submission, the busy fraction of the workers
    t1, t2 = min(c.ended for c in result.candidates), max(executor.submits)
    busy = sum(min(c.ended, t2) - max(c.started, t1) for c in result.candidates if c.ended > t1 and c.started < t2)
    return overall, busy / ((t2 - t1) * workers), real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=3000, help="results for the master-throughput runs")
    parser.add_argument("--candidates", type=int, default=8, help="candidates for the utilisation runs")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per candidate (sleep trainer)")
    parser.add_argument("--sim-workers", type=int, default=18000, help="simulated workers")
    parser.add_argument("--sim-seconds", type=float, default=60.0, help="simulated seconds per candidate")
    parser.add_argument("--sim-results", type=int, default=0, help="simulated results (default 3 x workers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_search_") as tmp:
        folder = Path(tmp)
        fsync = _fsync_seconds(folder)
        one, candidates = _master(folder, args.results, 1)
        many, _ = _master(folder, args.results, 64)
        base = _baseline(folder, candidates)
        print(f"fsync on this disk: {fsync * 1e3:.2f} ms")
        print(f"master, 1 worker : {one:8.0f} results/s (journal fsync per result)  target >= 1000")
        print(f"master, 64 workers: {many:8.0f} results/s (results arriving together)  target >= 1000")
        print(f"baseline (same records to a file, no strategy, no fsync): {base:8.0f} results/s; "
              f"master/baseline {one / base:.3f} (1 worker), {many / base:.3f} (64 workers)")
        n, s = args.candidates, args.seconds
        u2, gap2, wall2 = _utilisation(folder, "process2", ProcessExecutor(2, gpus=[]), n, s)
        u1, gap1, wall1 = _utilisation(folder, "serial", SerialExecutor(), n // 2, s)
        print(f"process executor, 2 workers, {n} x {s:g} s: utilisation {u2:.1%} (wall {wall2:.1f} s), "
              f"idle between candidates {gap2 * 1e3:.0f} ms")
        print(f"serial baseline, {n // 2} x {s:g} s: utilisation {u1:.1%} (wall {wall1:.1f} s), "
              f"idle between candidates {gap1 * 1e3:.1f} ms; ratio {u2 / u1:.3f}")
        w, sec = args.sim_workers, args.sim_seconds
        total = args.sim_results or 3 * w
        overall, steady, real = _simulate(folder, w, sec, total)
        print(f"simulated master: {w} workers x {sec:g} s candidates ({w / sec:.0f} results/s needed), "
              f"{total} results in {real:.0f} s real: predicted utilisation {steady:.1%} in steady state, "
              f"{overall:.1%} overall (ramp-up included); baseline: 100% for a master of zero cost")


if __name__ == "__main__":
    main()
