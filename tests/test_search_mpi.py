"""MPI executor: ``mpiexec -n 3`` runs a search (rank 0 master, ranks 1-2 workers), each worker on
its node-local GPU; a kill -9 of the master takes every rank and candidate process down within
seconds, and a resume completes the budget with one finished row per candidate."""

from __future__ import annotations

import collections
import csv
import functools
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_search_process import _alive  # the same /proc liveness check (a zombie counts as gone)

from nuclassify.search import read_journal
from nuclassify.search._mpiworker import gpu_for

# The CLI's evolve does not exist here yet: this driver does what it will do on each rank.
DRIVER = textwrap.dedent("""
    import json, os, sys
    from nuclassify.search import SearchConfig, load_space, make_executor, mpi_rank, run_mpi_worker, run_search

    if __name__ == "__main__":  # the candidates' spawned children import this file too
        run_dir, budget, trainer, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "resume"
        reuse = int(sys.argv[5]) if len(sys.argv) > 5 else 1
        rank = mpi_rank()
        with open(os.path.join(os.path.dirname(run_dir), f"rank{rank}.pid"), "w") as fh:
            fh.write(str(os.getpid()))
        if rank:
            run_mpi_worker()
        else:
            config = SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=budget,
                                  trainer=f"nuclassify.search._trainers:{trainer}",
                                  trainer_options={"sleep": 0.4, "report_pid": True},
                                  population=4, tournament=2, seed=5)
            result = run_search(run_dir, config, make_executor("mpi", reuse=reuse), resume=resume)
            print(json.dumps({"stopped": result.stopped, "finished": result.finished}))
""")


@functools.cache
def _launcher() -> tuple[str, ...] | str:
    """The mpiexec command for 3 ranks, or why this machine cannot start them."""
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        return "mpiexec not installed"
    launcher = (mpiexec, "-n", "3", "--oversubscribe", *(["--allow-run-as-root"] if os.geteuid() == 0 else []))
    probe = subprocess.run([*launcher, sys.executable, "-c", "import mpi4py.MPI"], capture_output=True, text=True,
                           timeout=60, check=False)
    if probe.returncode != 0:  # the machine's MPI cannot start three ranks at all: not our code's fault
        return f"mpiexec cannot start 3 ranks here: {probe.stderr.strip()[-200:]}"
    return launcher


def _command(tmp_path: Path, *args: str) -> list[str]:
    launcher = _launcher()
    if isinstance(launcher, str):
        pytest.skip(launcher)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    return [*launcher, sys.executable, str(driver), str(tmp_path / "run"), *args]


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _children(pid: int) -> list[int]:
    return [int(p) for f in Path(f"/proc/{pid}/task").glob("*/children") for p in f.read_text().split()]


WATCHED = textwrap.dedent("""
    import socket, sys, time
    from nuclassify.search._mpiworker import _Watchdog
    watchdog = _Watchdog(interval=0.05)
    if sys.argv[1] == "pid":
        watchdog.master({"host": socket.gethostname(), "pid": int(sys.argv[2])})
    else:
        watchdog.silence = float(sys.argv[2])
    time.sleep(30)
""")


@pytest.mark.parametrize("check", ["pid", "silence"])
def test_a_worker_exits_when_its_master_is_gone_or_silent(check):
    """The backup for a launcher that does not kill the other ranks when the master dies."""
    master = subprocess.Popen(["sleep", "30"])
    arg = str(master.pid) if check == "pid" else "0.5"
    worker = subprocess.Popen([sys.executable, "-c", WATCHED, check, arg])
    time.sleep(0.5)
    master.kill()
    master.wait()
    assert worker.wait(timeout=5) == 70


def test_gpus_follow_the_node_local_worker_rank():
    assert gpu_for(0, 2, []) == (None, {})
    assert gpu_for(1, 2, ["4", "7"]) == ("7", {})
    gpu, env = gpu_for(2, 3, ["4", "7"])  # three workers on the node share two GPUs
    assert gpu == "4" and env.get("XLA_PYTHON_CLIENT_PREALLOCATE", "false") == "false"


@pytest.mark.mpi
def test_mpi_search_completes_and_each_worker_rank_gets_its_gpu(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "4,7"}
    proc = subprocess.run(_command(tmp_path, "6", "device", "new"), env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"finished": 6' in proc.stdout
    rows = _rows(tmp_path / "run")
    assert [int(r["id"]) for r in rows] == list(range(6)) and {r["status"] for r in rows} == {"finished"}
    gpu_of = {r["worker"]: float(r["cuda_visible_device"]) for r in rows}
    assert gpu_of == {"rank1:gpu4": 4.0, "rank2:gpu7": 7.0}  # local worker i takes GPU i, seen by its children


@pytest.mark.mpi
def test_mpi_executor_needs_worker_ranks():
    code = "from nuclassify.search import make_executor; make_executor('mpi')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    if "needs mpi4py" in proc.stderr:
        pytest.skip("mpi4py is not installed")
    assert proc.returncode != 0 and "launch it as 'mpiexec -n N nuclassify evolve --executor mpi" in proc.stderr


@pytest.mark.mpi
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_kill_9_of_the_mpi_master_leaves_no_process_and_resume_completes(tmp_path):
    run_dir, budget = tmp_path / "run", 10
    master = subprocess.Popen(_command(tmp_path, str(budget), "sleep", "new"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    journal, deadline = run_dir / "journal.jsonl", time.time() + 60
    while time.time() < deadline and master.poll() is None:
        records = read_journal(journal)[0] if journal.exists() else []
        if sum(r["kind"] == "finished" for r in records) >= 2:
            break
        time.sleep(0.05)
    ranks = [int((tmp_path / f"rank{r}.pid").read_text()) for r in range(3)]
    candidates = [c for r in ranks[1:] for c in _children(r)]  # running and pre-started children
    os.kill(ranks[0], signal.SIGKILL)
    t_kill = time.time()
    assert candidates, "the worker ranks had no candidate processes"
    pids = ranks + candidates
    while any(_alive(p) for p in pids) and time.time() < t_kill + 5:
        time.sleep(0.05)
    assert not [p for p in pids if _alive(p)], "a rank or candidate process outlived the master by 5 s"
    master.communicate(timeout=30)  # mpiexec itself ends the job
    assert master.returncode != 0

    proc = subprocess.run(_command(tmp_path, str(budget), "sleep", "resume"), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows(run_dir)
    assert [int(r["id"]) for r in rows] == list(range(budget)) and {r["status"] for r in rows} == {"finished"}
    finished = collections.Counter(r["id"] for r in read_journal(journal)[0] if r["kind"] == "finished")
    assert finished == {i: 1 for i in range(budget)}  # none lost, none repeated


def test_mpi_worker_ranks_reuse_their_candidate_processes(tmp_path):
    """--candidates-per-child reaches the worker ranks: with 3 per child, 6 candidates on 2 ranks need
    2 or 3 candidate processes instead of 6, and none trains more than 3."""
    proc = subprocess.run(_command(tmp_path, "6", "scripted", "new", "3"), capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = _rows(tmp_path / "run")
    assert [r["status"] for r in rows] == ["finished"] * 6
    per_process = collections.Counter((r["worker"], r["pid"]) for r in rows)
    assert 2 <= len(per_process) <= 3 and max(per_process.values()) <= 3, per_process
