"""Simulation speed: MINERvA and NOvA events/s with 2 workers against 1, and KB/event on disk.

Goal (issue 3): at least 5,000 events/s on the 2-core machine with --workers 2, for each
detector. The 1-worker run is measured in the same process as the baseline, and both go
through the same writer into a temporary file, as `nuclassify simulate` does.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _figures import record

from nuclassify.data import write_minerva, write_nova
from nuclassify.simulate import simulate_minerva, simulate_nova

GOAL_EV_S = 5000.0
N_MINERVA = int(os.environ.get("BENCH_SIM_MINERVA", 20_000))
N_NOVA = int(os.environ.get("BENCH_SIM_NOVA", 10_000))


def _timed(detector: str, n: int, workers: int, folder: Path) -> tuple[float, float]:
    """(events/s, KB/event) of simulating and writing ``n`` events."""
    path = folder / f"{detector}_{workers}.h5"
    start = time.perf_counter()
    if detector == "minerva":
        write_minerva(path, simulate_minerva(n, seed=1, workers=workers), overwrite=True)
    else:
        write_nova(path, simulate_nova(n, seed=1, workers=workers), overwrite=True)
    seconds = time.perf_counter() - start
    return n / seconds, path.stat().st_size / 1024 / n


def _generate_only(detector: str, n: int, workers: int) -> float:
    start = time.perf_counter()
    gen = simulate_minerva if detector == "minerva" else simulate_nova
    for _ in gen(n, seed=1, workers=workers):
        pass
    return n / (time.perf_counter() - start)


def _cpu_ms_per_event(detector: str, n: int, folder: Path) -> tuple[float, float]:
    """CPU ms/event of the generator alone and of generating + writing, in this one process.

    CPU time barely depends on other jobs sharing the machine, unlike wall-clock time.
    """
    gen = simulate_minerva if detector == "minerva" else simulate_nova
    start = time.process_time()
    for _ in gen(n, seed=2, workers=1):
        pass
    alone = (time.process_time() - start) / n * 1000.0
    start = time.process_time()
    if detector == "minerva":
        write_minerva(folder / "cpu.h5", simulate_minerva(n, seed=2), overwrite=True)
    else:
        write_nova(folder / "cpu.h5", simulate_nova(n, seed=2), overwrite=True)
    return alone, (time.process_time() - start) / n * 1000.0


def main() -> None:
    print(f"cpu cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.2f} (shared machines drift)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for detector, n in (("minerva", N_MINERVA), ("nova", N_NOVA)):
            one, kb = _timed(detector, n, 1, folder)
            two, kb2 = _timed(detector, n, 2, folder)
            gen_two = _generate_only(detector, n, 2)
            print(f"simulate {detector} --workers 2: {two:,.0f} ev/s | baseline --workers 1: {one:,.0f} ev/s | "
                  f"ratio {two / one:.2f}x | goal {GOAL_EV_S:,.0f} ev/s: {two / GOAL_EV_S:.2f}x of goal")
            print(f"  generator alone, 2 workers (no writing): {gen_two:,.0f} ev/s "
                  f"({gen_two / GOAL_EV_S:.2f}x of goal)")
            cpu, cpu_write = _cpu_ms_per_event(detector, min(n, 10_000), folder)
            print(f"  CPU time: generator {cpu:.3f} ms/event, generator + writer {cpu_write:.3f} ms/event -> "
                  f"at most {2000 / cpu_write:,.0f} ev/s on 2 idle cores ({2000 / cpu_write / GOAL_EV_S:.2f}x of goal; "
                  f"the wall-clock figures above share the cores with other jobs)")
            print(f"  on disk: {kb:.2f} KB/event (identical file with 2 workers: {kb2:.2f} KB/event), {n} events")
            record(f"simulate {detector} --workers 2", two, "ev/s", baseline=one, baseline_name="--workers 1",
                   goal=f">= {GOAL_EV_S:,.0f} ev/s", met=two >= GOAL_EV_S,
                   cpu_bound_ev_s=2000 / cpu_write, kb_per_event=kb)


if __name__ == "__main__":
    main()
