"""Progress off a terminal: plain lines (one per epoch, at most one per interval inside it), no redraws."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys

import pytest

from nuclassify.training import LINE_INTERVAL_S
from nuclassify.training._progress import LineProgress, format_line, resolve_progress

# TensorFlow's native start-up lines (its C++ layer writes them to fd 2, whatever the log level).
_TF_NATIVE = re.compile(r"(WARNING: All log messages before absl::InitializeLog|To enable the following instructions"
                        r"|[IWE]\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\])")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_format_line():
    line = format_line(1, 8, 120, 400, 1234.4, {"accuracy": 0.70123, "loss": 0.81234, "learning_rate": 0.1},
                       eta_s=190)
    assert line == "epoch 2/8 step 120/400 1234 ev/s loss 0.8123 accuracy 0.7012 ETA 0:03:10"
    end = format_line(1, 8, 400, 400, 1250, {"loss": 0.5, "val_loss": 0.6, "accuracy": 0.8, "val_accuracy": 0.7},
                      elapsed_s=3725)
    assert end == "epoch 2/8 step 400/400 1250 ev/s loss 0.5000 accuracy 0.8000 val_loss 0.6000 val_accuracy 0.7000 " \
                  "time 1:02:05"


def test_resolve_progress():
    assert resolve_progress("auto", False, _Stream(tty=True)) == "bar"
    assert resolve_progress("auto", False, _Stream(tty=False)) == "lines"
    assert resolve_progress("bar", True, _Stream(tty=True)) == "none"  # quiet wins
    assert resolve_progress("lines", False, _Stream(tty=True)) == "lines"


def test_lines_are_throttled_during_an_epoch():
    """400 steps of 1 s: a line every LINE_INTERVAL_S seconds, one at the end; metrics read only for a line."""
    clock, out = _Clock(), io.StringIO()
    progress = LineProgress(2, 400, 400 * 32, stream=out, clock=clock)
    reads = []

    def metrics():
        reads.append(1)
        return {"loss": 1.0, "accuracy": 0.5}

    progress.begin_epoch(0)
    for step in range(1, 401):
        clock.now += 1.0
        progress.step(step, metrics)
    progress.end_epoch({"loss": 0.9, "accuracy": 0.6, "val_loss": 1.1, "val_accuracy": 0.55})
    lines = out.getvalue().splitlines()
    assert len(lines) == 400 // int(LINE_INTERVAL_S) + 1 and len(reads) == len(lines) - 1
    assert lines[0] == "epoch 1/2 step 30/400 32 ev/s loss 1.0000 accuracy 0.5000 ETA 0:06:10"
    assert lines[-1] == ("epoch 1/2 step 400/400 32 ev/s loss 0.9000 accuracy 0.6000 val_loss 1.1000 "
                         "val_accuracy 0.5500 time 0:06:40")


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "engine"), [("tensorflow", "fit"), ("jax", "jax-loop")])
def test_train_log_off_a_terminal_has_plain_lines(backend, engine, tiny_minerva, tiny_spec, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    log = tmp_path / "train.log"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(log, "w") as err:  # `nuclassify train ... 2> train.log`
        proc = subprocess.run([sys.executable, "-m", "nuclassify", "train", "--data", str(tiny_minerva), "--arch",
                               str(spec_path), "--out", str(tmp_path / "run"), "--epochs", "2", "--valid-fraction",
                               "0.25", "--engine", engine], stdout=subprocess.PIPE, stderr=err, text=True,
                              env=env, timeout=300)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "\r" not in text and "\b" not in text and "\x1b" not in text  # no redraws, no colours
    # On the JAX backend, keras.utils.set_random_seed imports TensorFlow (when installed), whose C++
    # layer writes start-up lines to fd 2 once per process; they are not progress, so not counted.
    lines = [line for line in text.splitlines() if line.strip() and not _TF_NATIVE.match(line)]
    assert len(lines) <= 2 * 3, text[-3000:]  # at most a few lines per epoch
    # 72 training events in batches of 16: 5 steps per epoch.
    pattern = (r"epoch {e}/2 step 5/5 \d+ ev/s loss \d+\.\d{{4}} accuracy \d\.\d{{4}} val_loss \d+\.\d{{4}} "
               r"val_accuracy \d\.\d{{4}} time \d+:\d\d:\d\d")
    ends = [line for line in lines if re.fullmatch(r"epoch \d/2 step 5/5 .*", line)]
    assert len(ends) == 2, text[-3000:]
    for e, line in enumerate(ends, start=1):
        assert re.fullmatch(pattern.format(e=e), line), line
    assert proc.stdout.startswith("trained tiny")  # the result still goes to stdout


@pytest.mark.slow
def test_fit_engine_writes_mid_epoch_lines(tiny_minerva, tiny_spec, tmp_path, monkeypatch, capsys):
    """The Keras callback path, with the interval at 0 so that every step but the last writes a line."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("in-process tests run on the TensorFlow backend")
    from nuclassify.training import TrainConfig, fit

    monkeypatch.setattr("nuclassify._progress.LINE_INTERVAL_S", 0.0)
    fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "run", epochs=1, progress="lines"))
    lines = capsys.readouterr().err.splitlines()
    # 96 events in batches of 16: 6 steps; a line after steps 1-5 (with an ETA), then the epoch's line.
    steps = [line.split(" ev/s")[0].rsplit(" ", 1)[0] for line in lines]
    assert steps == [f"epoch 1/1 step {s}/6" for s in range(1, 7)]
    assert all(re.search(r"loss \d+\.\d{4} accuracy \d\.\d{4} ETA \d+:\d\d:\d\d$", line) for line in lines[:5])
    assert re.search(r"loss \d+\.\d{4} accuracy \d\.\d{4} time \d+:\d\d:\d\d$", lines[5])


def test_jax_loop_running_means():
    """What the jax-loop engine shows mid-epoch: the on-device sums over the events seen so far."""
    import numpy as np

    from nuclassify.training._jaxloop import _running

    assert _running(np.array([2.0, 3.0], np.float32), 4) == {"loss": 0.5, "accuracy": 0.75}
