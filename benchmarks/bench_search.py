"""Evolutionary-search machinery: master throughput and worker utilisation, each beside its baseline.

1. Master throughput: regularized evolution on the MINERvA space (2016 widths) with the no-op
   trainer, journal (fsync at most every 50 ms) and results.csv export included (the final one
   too), in results per second of wall time and per CPU-second of the master (the latter hardly
   moves when other processes load the machine); with one in-process worker and with 64 (results
   arrive together, as from many real workers). Baseline in the same run: a bare loop that
   builds the same journal records and appends them to a file without fsync (the cost of the
   records alone). Target: >= 1,000 results/s.
2. Worker utilisation, busy time / (wall x workers), and overhead per candidate, the idle gap
   between two candidates on one worker (mean and largest), with ``--candidates`` candidates of
   ``--seconds`` each (sleep trainer): 2 process workers, and the MPI executor under
   ``mpiexec -n 3`` (rank 0 the master, two worker ranks; skipped, with the reason, where
   mpiexec cannot start). Wall time runs from the call to the return of ``run_search`` (the
   workers' start-up and first child included; ``mpiexec`` and MPI start-up are not). Baseline
   in the same run: the serial executor on ``--candidates // 4`` candidates of the same length
   (no process, no message: the master's own turnaround). Targets: >= 95%, <= 0.5 s. The sleep
   trainer uses no CPU, so these figures barely depend on the machine's load; start-up (spawning
   and importing) does, and weighs more with shorter candidates.
3. Master at scale, by discrete-event simulation: the real strategy, journal and loop driving
   18,000 simulated workers with one-minute candidates (300 results/s), the master's real
   processing time passing on the simulated clock; the predicted utilisation, against 100% for
   a master that costs nothing. Its real processing time does depend on the machine's load.

Usage: python benchmarks/bench_search.py [--results 3000] [--candidates 8] [--seconds 10]
       [--no-mpi] [--sim-workers 18000] [--sim-seconds 60] [--sim-results 54000]
The issue's figure is for candidates of about 20 s: ``--seconds 20`` (80 s per executor).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _figures import record

from nuclassify.models import preset_shapes
from nuclassify.search import (
    Candidate,
    Executor,
    Job,
    Outcome,
    SearchConfig,
    SerialExecutor,
    load_space,
    make_executor,
    mpi_rank,
    resolve_trainer,
    run_mpi_worker,
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


def _master(folder: Path, results: int, workers: int) -> tuple[float, float, list[Candidate]]:
    """(results per wall second, results per CPU-second of this process, the candidates)."""
    shapes, n_classes = preset_shapes("minerva2016")
    config = SearchConfig(load_space("minerva"), shapes, n_classes, budget=results, population=100, tournament=10)
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_search(folder / f"master{workers}", config, SerialExecutor(workers))
    return results / (time.perf_counter() - t0), results / (time.process_time() - c0), result.candidates


def _baseline(folder: Path, candidates: list[Candidate]) -> float:
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


def _sleep_config(candidates: int, seconds: float) -> SearchConfig:
    return SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=candidates,
                        trainer="nuclassify.search._trainers:sleep", trainer_options={"sleep": seconds},
                        population=4, tournament=2)


def _figures(candidates: list[Candidate], wall: float, workers: int) -> dict[str, float]:
    """Utilisation and the idle gaps between consecutive candidates of each worker.

    Busy time is each candidate's trainer call as its worker timed it (``start``/``end``), so the
    gaps hold everything between two candidates: the result's trip to the master, its record,
    the next proposal and journal commit, the job's trip back, and the child's receipt of it.
    """
    busy = sum(c.ended - c.started for c in candidates)
    gaps: list[float] = []
    for worker in {c.worker for c in candidates}:
        mine = sorted((c for c in candidates if c.worker == worker), key=lambda c: c.started)
        gaps += [b.started - a.ended for a, b in zip(mine, mine[1:], strict=False)]
    return {"utilisation": busy / (wall * workers), "gap": sum(gaps) / len(gaps) if gaps else 0.0,
            "gap_max": max(gaps, default=0.0), "wall": wall, "n": len(candidates), "workers": workers,
            "finished": sum(c.ok for c in candidates)}


def _utilisation(folder: Path, name: str, executor: Executor, candidates: int, seconds: float) -> dict[str, float]:
    t0 = time.time()
    result = run_search(folder / name, _sleep_config(candidates, seconds), executor)
    return _figures(result.candidates, time.time() - t0, executor.workers)


def _mpi_driver(run_dir: str, candidates: int, seconds: float) -> None:
    """Body of every rank under ``mpiexec``: rank 0 runs the search and prints its figures as JSON."""
    if mpi_rank():
        run_mpi_worker(gpus=[])
        return
    executor = make_executor("mpi")
    t0 = time.time()
    result = run_search(run_dir, _sleep_config(candidates, seconds), executor)
    print("FIGURES " + json.dumps(_figures(result.candidates, time.time() - t0, executor.workers)), flush=True)


def _mpi_launcher(ranks: int) -> list[str] | str:
    """The mpiexec command line for ``ranks`` ranks on this machine, or why there is none."""
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        return "mpiexec not installed (pip install 'nuclassify[mpi]')"
    return [mpiexec, "-n", str(ranks), "--oversubscribe", *(["--allow-run-as-root"] if os.geteuid() == 0 else [])]


def _mpi_utilisation(folder: Path, candidates: int, seconds: float) -> dict[str, float] | str:
    """The figures of an ``mpiexec -n 3`` search (this script as the driver), or why it did not run."""
    launcher = _mpi_launcher(3)
    if isinstance(launcher, str):
        return launcher
    command = [*launcher, sys.executable, str(Path(__file__).resolve()), "--mpi-driver", str(folder / "mpi"),
               "--candidates", str(candidates), "--seconds", str(seconds)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120 + 2 * candidates * seconds,
                              check=False)
    except subprocess.TimeoutExpired:
        return "mpiexec timed out"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FIGURES ")]
    if proc.returncode != 0 or not lines:
        return f"mpiexec failed with exit status {proc.returncode}: {proc.stderr.strip()[-300:]}"
    return json.loads(lines[-1].removeprefix("FIGURES "))


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


def _line(label: str, f: dict[str, float], base: dict[str, float]) -> str:
    return (f"{label}: utilisation {f['utilisation']:.1%} (target >= 95%; serial baseline ratio "
            f"{f['utilisation'] / base['utilisation']:.3f}), idle between candidates {f['gap'] * 1e3:.0f} ms mean, "
            f"{f['gap_max'] * 1e3:.0f} ms max (target <= 500 ms; baseline {base['gap'] * 1e3:.0f} ms); "
            f"wall {f['wall']:.1f} s, {f['finished']:.0f}/{f['n']:.0f} finished")


def _record_utilisation(label: str, f: dict[str, float], base: dict[str, float]) -> None:
    record(f"{label}: utilisation", 100 * f["utilisation"], "%", baseline=100 * base["utilisation"],
           baseline_name="serial executor", goal=">= 95%", met=f["utilisation"] >= 0.95)
    record(f"{label}: idle between candidates", 1e3 * f["gap"], "ms", baseline=1e3 * base["gap"],
           baseline_name="serial executor", ratio=None, goal="<= 500 ms", met=f["gap_max"] <= 0.5,
           max_ms=1e3 * f["gap_max"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=3000, help="results for the master-throughput runs")
    parser.add_argument("--candidates", type=int, default=8, help="candidates for the utilisation runs")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per candidate (sleep trainer)")
    parser.add_argument("--no-mpi", action="store_true", help="skip the mpiexec -n 3 run")
    parser.add_argument("--sim-workers", type=int, default=18000, help="simulated workers")
    parser.add_argument("--sim-seconds", type=float, default=60.0, help="simulated seconds per candidate")
    parser.add_argument("--sim-results", type=int, default=0, help="simulated results (default 3 x workers)")
    parser.add_argument("--mpi-driver", metavar="RUN_DIR", help=argparse.SUPPRESS)  # each rank under mpiexec
    args = parser.parse_args()
    if args.mpi_driver:
        _mpi_driver(args.mpi_driver, args.candidates, args.seconds)
        return
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_search_") as tmp:
        folder = Path(tmp)
        fsync = _fsync_seconds(folder)
        one, one_cpu, candidates = _master(folder, args.results, 1)
        many, many_cpu, _ = _master(folder, args.results, 64)
        base = _baseline(folder, candidates)
        print(f"fsync on this disk: {fsync * 1e3:.2f} ms")
        print(f"master, 1 worker : {one:8.0f} results/s ({one_cpu:.0f} per CPU-second)  target >= 1000")
        print(f"master, 64 workers: {many:8.0f} results/s ({many_cpu:.0f} per CPU-second; results arriving "
              "together)  target >= 1000")
        print(f"baseline (same records to a file, no strategy, no fsync): {base:8.0f} results/s; "
              f"master/baseline {one / base:.3f} (1 worker), {many / base:.3f} (64 workers)", flush=True)
        record("evolve master, no-op trainer, journal fsynced", one, "results/s", baseline=base,
               baseline_name="same records to a file, no strategy, no fsync", goal=">= 1,000 results/s",
               met=one >= 1000)
        n, s = args.candidates, args.seconds
        serial = _utilisation(folder, "serial", SerialExecutor(), max(2, n // 4), s)
        print(f"serial baseline, {serial['n']:.0f} x {s:g} s: utilisation {serial['utilisation']:.1%}, idle between "
              f"candidates {serial['gap'] * 1e3:.1f} ms (wall {serial['wall']:.1f} s)", flush=True)
        process = _utilisation(folder, "process2", ProcessExecutor(2, gpus=[]), n, s)
        print(_line(f"process executor, 2 workers, {n} x {s:g} s", process, serial), flush=True)
        _record_utilisation("evolve process executor, 2 workers", process, serial)
        if args.no_mpi:
            print("mpi executor: skipped (--no-mpi)")
        else:
            mpi = _mpi_utilisation(folder, n, s)
            label = f"mpi executor, mpiexec -n 3 (2 worker ranks), {n} x {s:g} s"
            print(f"{label}: skipped, {mpi}" if isinstance(mpi, str) else _line(label, mpi, serial), flush=True)
            if not isinstance(mpi, str):
                _record_utilisation("evolve mpi executor, mpiexec -n 3", mpi, serial)
        w, sec = args.sim_workers, args.sim_seconds
        total = args.sim_results or 3 * w
        overall, steady, real = _simulate(folder, w, sec, total)
        print(f"simulated master: {w} workers x {sec:g} s candidates ({w / sec:.0f} results/s needed), "
              f"{total} results in {real:.0f} s real: predicted utilisation {steady:.1%} in steady state, "
              f"{overall:.1%} overall (ramp-up included); baseline: 100% for a master of zero cost")
        record(f"simulated master, {w} workers x {sec:g} s: utilisation", 100 * steady, "%", baseline=100.0,
               baseline_name="a master of zero cost", goal=">= 95%", met=steady >= 0.95)


if __name__ == "__main__":
    main()
