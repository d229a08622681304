"""Search report and plots: counts match the journal, utilisation matches a hand computation,
the genealogy leads back to a seed, and every figure is a PNG; on finished and running searches."""

from __future__ import annotations

import collections
import json

import pytest

import nuclassify
from nuclassify.search import SearchConfig, SerialExecutor, load_space, read_journal, run_search
from nuclassify.search._plots import PLOT_NAMES, write_search_plots
from nuclassify.search._report import format_report, search_report

SCRIPT = {"2": "fail", "5": "nan", "7": "invalid"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A tiny finished search with three kinds of failure, and a report taken while it ran."""
    run_dir = tmp_path_factory.mktemp("search") / "run"
    config = SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=16,
                          trainer="nuclassify.search._trainers:scripted",
                          trainer_options={"sleep": 0.01, "script": SCRIPT}, population=4, tournament=2,
                          seed=7)  # a seed whose best is a mutant (generation 4) for the genealogy test
    during = []

    def progress(p):
        if p.done == 10:
            before = (run_dir / "journal.jsonl").read_bytes()
            during.append((p, search_report(run_dir)))
            assert (run_dir / "journal.jsonl").read_bytes() == before  # read-only
    run_search(run_dir, config, SerialExecutor(2), progress=progress)
    return run_dir, during


def _hand_made(run_dir, torn: bool = False, upto: str | None = None):
    """Two sessions (killed, then resumed to the end), two workers; 24 busy s in 2 x 20 s."""
    genome = {"views": ["image"], "columns": {"image": []}, "head": []}

    def done(cid, t, start, value):
        return ("finished", t, {"id": cid, "objectives": {"val_accuracy": value}, "worker": f"w{cid % 2}",
                                "start": start, "end": t})
    recs = [("header", 100, {"version": 1, "identity": {"objectives": "val_accuracy"}, "space": {}, "seeds": []})]
    recs += [("submitted", 100, {"id": i, "parents": [], "origin": "random", "params": 10 * (i + 1), "genome": genome})
             for i in (0, 1)]
    recs += [("submitted", 100, {"id": 2, "parents": [0, 1], "origin": "crossover of 0 and 1", "params": 25,
                                 "genome": genome}),
             ("started", 101, {"id": 0, "worker": "w0"}), ("started", 102, {"id": 1, "worker": "w1"}),
             done(0, 105, 101, 0.5),
             ("started", 105, {"id": 2, "worker": "w0"}),
             done(1, 110, 102, 0.6),
             ("resumed", 200, {"done": 2, "pending": [2], "budget": 4}),
             ("submitted", 200, {"id": 3, "parents": [2], "origin": "mutation", "params": 30, "genome": genome}),
             ("started", 201, {"id": 2, "worker": "w0"}), ("started", 201, {"id": 3, "worker": "w1"}),
             ("failed", 203, {"id": 3, "reason": "crash: killed by SIGKILL", "worker": "w1", "start": 201, "end": 203}),
             done(2, 206, 201, 0.7),
             ("stopped", 210, {"reason": "budget", "done": 4})]
    if upto is not None:
        recs = recs[:[r[0] for r in recs].index(upto)]
    run_dir.mkdir()
    text = "".join(json.dumps({"kind": k, "t": t, **f}) + "\n" for k, t, f in recs)
    (run_dir / "journal.jsonl").write_text(text + ('{"kind": "finis' if torn else ""))
    return run_dir


def test_report_counts_match_the_journal(finished):
    run_dir, during = finished
    records = read_journal(run_dir / "journal.jsonl")[0]
    kinds = collections.Counter(r["kind"] for r in records)
    report = search_report(run_dir)
    assert (report["state"], report["budget"], report["done"]) == ("finished", 16, 16)
    assert (report["finished"], report["failed"]) == (kinds["finished"], kinds["failed"]) == (13, 3)
    assert report["failures"] == {"error": 1, "nan": 1, "invalid spec": 1}
    assert report["running"] == [] and report["pending"] == [] and report["front"] == []
    accuracy = {r["id"]: r["objectives"]["val_accuracy"] for r in records if r["kind"] == "finished"}
    assert report["best"]["objectives"]["val_accuracy"] == max(accuracy.values())
    top = [row["objectives"]["val_accuracy"] for row in report["top"]]
    assert len(top) == 5 and top == sorted(top, reverse=True)
    assert 0 < report["utilisation"] <= 1 and report["workers"] == 2
    text = format_report(report)
    assert f"best: #{report['best']['id']}" in text and "top 5:" in text and "invalid spec 1" in text
    progress, running = during[0]  # taken mid-search: no stop recorded yet, at most what was recorded
    assert running["state"] == "running" and running["done"] <= progress.done
    assert running["budget"] == 16  # recorded at the start, so a search in its first session knows it too
    made = report["made"]  # how it was started, for a reader of the folder alone
    assert (made["executor"], made["workers"], made["nuclassify_version"]) == ("serial", 2, nuclassify.__version__)
    assert made["command"] and made["created"].endswith("Z")
    assert f"made by: {made['command']} (serial executor, 2 worker(s), nuclassify {nuclassify.__version__}" in text


def test_genealogy_follows_parent_ids_back_to_a_seed(finished):
    run_dir, _ = finished
    best = search_report(run_dir)["best"]
    submitted = {r["id"]: r for r in read_journal(run_dir / "journal.jsonl")[0] if r["kind"] == "submitted"}
    line = best["lineage"]
    assert line[0] == best["id"] and best["generation"] == len(line) - 1 >= 1
    for child, parent in zip(line, line[1:], strict=False):
        assert parent in submitted[child]["parents"]
    assert submitted[line[-1]]["parents"] == []  # a seed (random or given), where the line starts


def test_utilisation_matches_a_hand_computation(tmp_path):
    report = search_report(_hand_made(tmp_path / "run", torn=True))  # a torn last line is dropped
    # session 1 (100-110, killed): 101-105, 102-110 and 105-110 (still running at the kill) = 17 s;
    # session 2 (200-210): 201-206 and 201-203 = 7 s; capacity 2 workers x (10 + 10) s = 40 s.
    assert report["busy_seconds"] == 24 and report["wall_seconds"] == 20 and report["utilisation"] == 0.6
    assert (report["done"], report["finished"], report["failed"], report["budget"]) == (4, 3, 1, 4)
    assert report["failures"] == {"crash": 1} and report["sessions"] == 2
    assert report["best"]["id"] == 2 and report["best"]["lineage"] == [2, 0] and report["best"]["generation"] == 1
    running = search_report(_hand_made(tmp_path / "killed", upto="resumed"))
    assert running["state"] == "running" and running["running"] == [{"id": 2, "worker": "w0", "since": 105}]
    assert running["utilisation"] == 17 / 20


def test_plots_are_written_as_pngs(finished, tmp_path):
    run_dir, _ = finished
    for source, out in ((run_dir, tmp_path / "plots"), (_hand_made(tmp_path / "run"), tmp_path / "hand")):
        written = write_search_plots(source, out)
        assert [p.name for p in written] == list(PLOT_NAMES)
        for path in written:
            data = path.read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000, path
        assert sorted(p.name for p in out.iterdir()) == sorted(PLOT_NAMES)  # no temporary file left
