"""Process executor: failing candidates are recorded with their reason, and a killed master resumes."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nuclassify.errors import UsageError
from nuclassify.search import SearchConfig, load_space, read_journal, run_search
from nuclassify.search._process import ProcessExecutor

SCRIPTED = "nuclassify.search._trainers:scripted"


def _config(budget, **options):
    return SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=budget, trainer=SCRIPTED,
                        trainer_options={"sleep": 0.2, **options}, population=4, tournament=2, seed=5)


def _rows(run_dir):
    with open(Path(run_dir) / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_crash_timeout_invalid_spec_and_nan_are_failures_with_reasons(tmp_path):
    script = {"1": "crash", "2": "hang", "3": "invalid", "4": "nan"}
    # the timeout leaves a loaded machine time for the candidates that should finish (it once failed at 1.5 s)
    result = run_search(tmp_path, _config(8, script=script), ProcessExecutor(2, timeout=5.0, gpus=[]))
    assert result.stopped == "budget"
    rows = _rows(tmp_path)
    assert [int(r["id"]) for r in rows] == list(range(8))  # exactly one row per candidate
    reasons = {int(r["id"]): r["reason"] for r in rows if r["status"] == "failed"}
    assert reasons[1].startswith("crash: killed by SIGKILL")
    assert reasons[2].startswith("timeout: still running after 5 s")
    assert reasons[3].startswith("invalid spec: column image layer 1 (conv)")
    assert reasons[4] == "nan: val_accuracy = nan"
    assert sorted(reasons) == [1, 2, 3, 4] and result.finished == 4
    assert {r["worker"] for r in rows} <= {"w0", "w1"}


def test_unloadable_trainer_is_refused_before_any_candidate(tmp_path):
    config = SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=2,
                          trainer="nuclassify.search._trainers:no_such_trainer")
    with pytest.raises(UsageError, match="has no function no_such_trainer"):
        run_search(tmp_path, config, ProcessExecutor(1, gpus=[]))
    assert not (tmp_path / "journal.jsonl").exists()  # nothing ran: the same command may simply be rerun


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_kill_9_of_the_master_leaves_no_orphan_and_resume_completes(tmp_path):
    code = textwrap.dedent(f"""
        from nuclassify.search import SearchConfig, load_space, run_search
        from nuclassify.search._process import ProcessExecutor
        config = SearchConfig(load_space("images"), {{"image": (8, 8, 1)}}, 10, budget=8, trainer={SCRIPTED!r},
                              trainer_options={{"sleep": 0.3}}, population=4, tournament=2, seed=5)
        run_search({str(tmp_path)!r}, config, ProcessExecutor(2, gpus=[]))
    """)
    master = subprocess.Popen([sys.executable, "-c", code])
    journal, deadline = tmp_path / "journal.jsonl", time.time() + 60
    while time.time() < deadline:
        done = [r for r in (read_journal(journal)[0] if journal.exists() else []) if r["kind"] == "finished"]
        if len(done) >= 2:
            break
        time.sleep(0.05)
    children = [int(p) for p in Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()]
    os.kill(master.pid, signal.SIGKILL)
    master.wait()
    assert children
    deadline = time.time() + 5
    while any(_alive(p) for p in children) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in children), "a candidate process outlived its master"

    result = run_search(tmp_path, _config(8, sleep=0.3), ProcessExecutor(2, gpus=[]), resume=True)
    assert result.finished == 8
    rows = _rows(tmp_path)
    assert [int(r["id"]) for r in rows] == list(range(8)) and {r["status"] for r in rows} == {"finished"}


def test_each_worker_gets_its_gpu(tmp_path, monkeypatch):
    from nuclassify.search import detect_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert detect_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_gpus() == []
    executor = ProcessExecutor(3, gpus=["2", "5"])  # three workers share two GPUs round-robin
    assert [s.name for s in executor._slots] == ["w0:gpu2", "w1:gpu5", "w2:gpu2"]
    assert executor._slots[2].env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    config = SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=2,
                          trainer="nuclassify.search._trainers:device", population=2, tournament=1)
    result = run_search(tmp_path, config, ProcessExecutor(1, gpus=["3"], prestart=False))
    assert [c.objectives["cuda_visible_device"] for c in result.candidates] == [3.0, 3.0]


def test_a_full_disk_stops_the_search_and_resume_trains_that_candidate_again(tmp_path):
    """A candidate that cannot write its files did not fail as a network: no result is recorded,
    the search stops with the disk's message, and --resume trains it again."""
    from nuclassify.errors import OutputError
    from nuclassify.search._executors import SerialExecutor

    config = _config(5, script={"2": "disk-full-once"}, sleep=0.0)
    with pytest.raises(OutputError, match="candidate 2 could not write its files: .*no space left on device"):
        run_search(tmp_path, config, SerialExecutor())
    records = read_journal(tmp_path / "journal.jsonl")[0]
    assert not [r for r in records if r.get("id") == 2 and r["kind"] in ("finished", "failed")]
    result = run_search(tmp_path, config, SerialExecutor(), resume=True)
    assert result.stopped == "budget" and result.finished == 5
    assert sorted(int(r["id"]) for r in _rows(tmp_path) if r["status"] == "finished") == [0, 1, 2, 3, 4]
