"""Journal and resume: an interrupted search continues exactly; a torn journal still replays."""

from __future__ import annotations

import csv
import json

import pytest

from nuclassify.errors import RunDirError, UsageError
from nuclassify.search import SearchConfig, SearchStopped, SerialExecutor, load_space, read_journal, run_search

SCRIPTED = "nuclassify.search._trainers:scripted"


def _config(strategy="regularized", budget=24, **options):
    return SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=budget, trainer=SCRIPTED,
                        trainer_options={"sleep": 0, **options}, strategy=strategy, population=5, tournament=3,
                        seed=11, data={"train": "digest-a"})


def _proposals(result):
    return [(c.id, c.parents, c.genome, c.objectives) for c in result.candidates]


def _rows(run_dir):
    with open(run_dir / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("strategy", ["regularized", "ga"])
def test_interrupted_and_resumed_search_proposes_the_same_candidates(tmp_path, strategy):
    straight = run_search(tmp_path / "straight", _config(strategy), SerialExecutor())
    assert straight.stopped == "budget" and len(straight.candidates) == 24

    run_dir = tmp_path / "broken"
    config = _config(strategy, script={"9": "interrupt-once"})  # Ctrl-C in the middle of candidate 9
    with pytest.raises(KeyboardInterrupt):
        run_search(run_dir, config, SerialExecutor())
    with open(run_dir / "journal.jsonl", "a") as fh:
        fh.write('{"kind": "finished", "id": 9, "obj')  # and a torn last line, as kill -9 may leave
    resumed = run_search(run_dir, config, SerialExecutor(), resume=True)

    assert _proposals(resumed) == _proposals(straight)
    records, _ = read_journal(run_dir / "journal.jsonl")
    assert [r["attempt"] for r in records if r["kind"] == "started" and r["id"] == 9] == [1, 2]
    rows = _rows(run_dir)
    assert [int(r["id"]) for r in rows] == list(range(24)) and {r["status"] for r in rows} == {"finished"}


def test_stop_event_then_resume_loses_and_repeats_nothing(tmp_path):
    import threading

    stop = threading.Event()
    first = run_search(tmp_path, _config(), SerialExecutor(),
                       progress=lambda p: stop.set() if p.done >= 10 else None, stop=stop)
    assert first.stopped == "interrupted" and sum(c.done for c in first.candidates) == 10
    with pytest.raises(UsageError, match="10 candidates are already done; --budget must be at least 10"):
        run_search(tmp_path, _config(budget=6), SerialExecutor(), resume=True)
    second = run_search(tmp_path, _config(budget=30), SerialExecutor(), resume=True)  # a larger budget is fine
    records, _ = read_journal(tmp_path / "journal.jsonl")
    results = [r["id"] for r in records if r["kind"] in ("finished", "failed")]
    assert sorted(results) == list(range(30)) and second.finished == 30


def test_resume_is_refused_with_other_space_or_data_and_new_search_in_used_folder(tmp_path):
    run_search(tmp_path, _config(budget=3), SerialExecutor())
    with pytest.raises(RunDirError, match="already holds a search"):
        run_search(tmp_path, _config(budget=3), SerialExecutor())
    other = SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=3, trainer=SCRIPTED,
                         trainer_options={"sleep": 0}, population=5, tournament=3, seed=11, data={"train": "digest-b"})
    with pytest.raises(RunDirError, match="data train \"digest-a\", now \"digest-b\""):
        run_search(tmp_path, other, SerialExecutor(), resume=True)
    raw = json.loads(json.dumps(load_space("images").raw))
    raw["conv"]["filters"]["max"] = 32
    from nuclassify.search._space import parse_space

    edited = SearchConfig(parse_space(raw, "edited"), {"image": (8, 8, 1)}, 10, budget=3, trainer=SCRIPTED,
                          trainer_options={"sleep": 0}, population=5, tournament=3, seed=11,
                          data={"train": "digest-a"})
    with pytest.raises(RunDirError, match="other settings: space "):
        run_search(tmp_path, edited, SerialExecutor(), resume=True)
    # Every difference is named by its entry, not hidden in two truncated dictionaries.
    changed = SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=3, trainer=SCRIPTED,
                           trainer_options={"sleep": 1}, population=5, tournament=3, seed=12,
                           data={"train": "digest-a", "valid": "digest-v"})
    with pytest.raises(RunDirError) as refused:
        run_search(tmp_path, changed, SerialExecutor(), resume=True)
    message = str(refused.value)
    assert 'data valid null, now "digest-v"' in message and "seed 11, now 12" in message
    assert "training option sleep 0, now 1" in message and "--budget" in message
    with pytest.raises(RunDirError, match="no search to resume"):
        run_search(tmp_path / "empty", _config(), SerialExecutor(), resume=True)


def test_damaged_middle_line_is_refused(tmp_path):
    run_search(tmp_path, _config(budget=3), SerialExecutor())
    path = tmp_path / "journal.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = "garbage\n"
    path.write_text("".join(lines))
    with pytest.raises(RunDirError, match="line 3 is damaged"):
        read_journal(path)


def test_consecutive_failures_stop_the_search_with_a_clear_message(tmp_path):
    config = SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=20,
                          trainer="nuclassify.search._trainers:failing", max_failures=3, population=5, tournament=3)
    with pytest.raises(SearchStopped, match="3 candidates in a row failed .*always fails.*--resume"):
        run_search(tmp_path, config, SerialExecutor())
    assert [r["status"] for r in _rows(tmp_path)] == ["failed"] * 3
