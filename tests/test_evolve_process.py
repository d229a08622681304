"""``nuclassify evolve --executor process``: real candidates trained in spawned children, two at a time."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nuclassify.cli.main import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def digits_file(tmp_path_factory):
    """300 of scikit-learn's 8x8 digits in the generic images layout (the example script's training file)."""
    spec = importlib.util.spec_from_file_location("digits_to_h5", EXAMPLES / "digits_to_h5.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    train, _ = module.write_digits(tmp_path_factory.mktemp("digits"), limit=300, seed=2)
    return train


@pytest.mark.slow
def test_two_process_workers_complete_the_budget_with_real_training(digits_file, tmp_path):
    run = tmp_path / "evo"
    res = CliRunner().invoke(cli, ["evolve", "--data", str(digits_file), "--valid-fraction", "0.25",
                                   "--executor", "process", "--workers", "2", "--budget", "4", "--epochs", "1",
                                   "--candidate-timeout", "300", "--out", str(run), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert (summary["space"], summary["workers"], summary["evaluated"], summary["failed"]) == ("images", 2, 4, 0)
    with open(run / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["finished"] * 4
    assert {r["worker"] for r in rows} == {"w0", "w1"}  # both workers trained candidates
    assert all(0.0 <= float(r["val_accuracy"]) <= 1.0 and float(r["events_per_s"]) > 0 for r in rows)
    # one hold-out split for the whole search: every candidate validated on the same 60 events (a quarter of 240)
    valid_events = {json.loads((run / "candidates" / r["id"] / "run.json").read_text())["valid_events"] for r in rows}
    assert valid_events == {60}
    assert (run / "best.json").is_file() and Path(summary["best_model"]).is_file()
