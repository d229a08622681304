"""Exclusive run directories through the commands: a second train or evolve on a directory in
use is refused in one line and changes nothing; the first finishes unharmed; readers are served."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}

SLOW_TRAINER = textwrap.dedent("""
    import sys, time, keras
    from pathlib import Path
    from nuclassify.training import TrainConfig, fit
    spec, data, out, marker, hold = sys.argv[1:6]
    class Slow(keras.callbacks.Callback):  # epoch 0 ends, then the run waits while the test holds it
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                Path(marker).touch()
        def on_train_batch_end(self, batch, logs=None):
            deadline = time.monotonic() + 120
            while Path(hold).exists() and Path(marker).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
    fit(spec, TrainConfig(data, out, epochs=4, quiet=True, valid_fraction=0.25), callbacks=[Slow()])
""")


def _nuclassify(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nuclassify", *args], env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _one_line_refusal(proc: subprocess.CompletedProcess, run_dir: Path, pid: int) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"nuclassify: error: {run_dir} is in use by pid {pid} on ")
    assert lines[0].endswith("; wait for it or stop it")


def test_second_trainer_is_refused_the_first_finishes_and_a_reader_is_served(tiny_minerva, tiny_spec, tmp_path):
    run_dir, marker, hold = tmp_path / "run", tmp_path / "epoch0", tmp_path / "hold"
    hold.touch()
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    first = subprocess.Popen([sys.executable, "-c", SLOW_TRAINER, str(spec_path), str(tiny_minerva), str(run_dir),
                              str(marker), str(hold)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        _wait_for(marker, first)
        spec_before = (run_dir / "spec.json").read_bytes()
        common = ["train", "--data", str(tiny_minerva), "--arch", str(spec_path), "--out", str(run_dir),
                  "--valid-fraction", "0.25", "--epochs", "4"]
        for extra in (["--resume"], ["--overwrite"]):  # a requeued job; an array task given the same --out
            _one_line_refusal(_nuclassify(*common, *extra), run_dir, first.pid)
        assert (run_dir / "spec.json").read_bytes() == spec_before
        # a reader is not blocked: it reads the last complete checkpoint and says the run is still going
        read = _nuclassify("evaluate", "--model", str(run_dir), "--data", str(tiny_minerva), "--json")
        assert read.returncode == 0, read.stderr
        assert "is still being written by pid" in read.stderr
        assert 0.0 <= json.loads(read.stdout)["accuracy"] <= 1.0
        assert first.poll() is None, "the first run should still be training"
    finally:
        hold.unlink()
        out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err[-2000:]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete" and meta["epochs_completed"] == 4
    assert len(meta["timings"]) == 1 and meta["timings"][0].get("finished")  # one writer, and it finished
    with open(run_dir / "history.csv", newline="") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [0, 1, 2, 3]
    again = _nuclassify(*common, "--resume", "--epochs", "5", "--json")  # free again once it ended
    assert again.returncode == 0, again.stderr


def test_second_search_is_refused_while_the_first_runs(tiny_minerva, tmp_path):
    run_dir = tmp_path / "evo"
    args = ["evolve", "--data", str(tiny_minerva), "--executor", "serial", "--budget", "4", "--epochs", "2",
            "--out", str(run_dir)]
    first = subprocess.Popen([sys.executable, "-m", "nuclassify", *args, "--json"], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(run_dir / "journal.jsonl", first)
        second = _nuclassify(*args, "--resume")
        _one_line_refusal(second, run_dir, first.pid)
        report = _nuclassify("evolve", "--report", str(run_dir), "--json")
        if first.poll() is None:  # the report raced the end of the search: only check the note while it runs
            assert report.returncode == 0, report.stderr
            assert json.loads(report.stdout)["in_progress"]["pid"] == first.pid
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    assert json.loads(out)["evaluated"] == 4
