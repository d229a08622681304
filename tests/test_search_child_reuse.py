"""``--candidates-per-child``: one child process trains several candidates in turn, and is still
replaced after a crash, past the memory-growth limit, and after its last allowed candidate."""

from __future__ import annotations

import csv

import pytest

from nuclassify.errors import UsageError
from nuclassify.search import SearchConfig, load_space, run_search
from nuclassify.search._process import ProcessExecutor

SCRIPTED = "nuclassify.search._trainers:scripted"


def _config(budget, **options):
    return SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=budget, trainer=SCRIPTED,
                        trainer_options={"sleep": 0.05, "report_pid": True, **options}, population=4,
                        tournament=2, seed=5)


def _pids_and_status(run_dir) -> dict[int, tuple[int | None, str]]:
    """candidate id -> (pid of the process that trained it, status), from results.csv."""
    with open(run_dir / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {int(r["id"]): (int(float(r["pid"])) if r.get("pid") else None, r["status"]) for r in rows}


def _run(tmp_path, budget, reuse, **options):
    executor = ProcessExecutor(1, gpus=[], reuse=reuse, memory_growth_mb=options.pop("growth", 1024.0))
    result = run_search(tmp_path, _config(budget, **options), executor)
    assert result.stopped == "budget"
    return _pids_and_status(tmp_path)


def test_a_child_trains_up_to_n_candidates_then_a_fresh_one_takes_over(tmp_path):
    got = _run(tmp_path, 7, reuse=3)
    pids = [got[i][0] for i in range(7)]
    assert all(status == "finished" for _, status in got.values())
    assert pids[0] == pids[1] == pids[2] != pids[3]
    assert pids[3] == pids[4] == pids[5] != pids[6]
    assert len(set(pids)) == 3


def test_the_default_is_a_fresh_process_per_candidate(tmp_path):
    got = _run(tmp_path, 4, reuse=1)
    assert len({got[i][0] for i in range(4)}) == 4


def test_a_crash_in_a_reused_child_fails_only_its_candidate(tmp_path):
    got = _run(tmp_path, 5, reuse=10, script={"1": "crash"})
    assert got[1] == (None, "failed")
    assert [got[i][1] for i in (0, 2, 3, 4)] == ["finished"] * 4
    assert got[0][0] != got[2][0]  # the crashed child was replaced
    assert got[2][0] == got[3][0] == got[4][0]


def test_a_child_whose_memory_grew_past_the_limit_retires(tmp_path):
    got = _run(tmp_path, 4, reuse=10, growth=100.0, script={"1": "leak"}, leak_mb=300)
    pids = [got[i][0] for i in range(4)]
    assert all(status == "finished" for _, status in got.values())
    assert pids[0] == pids[1]  # the leak happens during candidate 1 ...
    assert pids[2] != pids[1]  # ... so its child retires after it
    assert pids[2] == pids[3]


@pytest.mark.parametrize("reuse", [0, -1, 1.5, True])
def test_candidates_per_child_must_be_a_positive_integer(reuse):
    with pytest.raises(UsageError, match="--candidates-per-child must be a positive integer"):
        ProcessExecutor(1, gpus=[], reuse=reuse)
