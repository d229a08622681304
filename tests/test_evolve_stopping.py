"""Early stopping of poor candidates (median rule) and the master's bookkeeping of weights: unit tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nuclassify.search import Job, Objectives, Outcome
from nuclassify.search._fit_trainer import candidate_dir
from nuclassify.search._runtime import RuntimeExecutor
from nuclassify.search._stopping import MedianRule, MedianTracker, curve_key, make_median_callback


def _curve(*values):
    return {"val_accuracy": max(values), **{curve_key(e): v for e, v in enumerate(values, 1)}}


def test_tracker_gives_medians_only_where_enough_candidates_finished():
    tracker = MedianTracker(min_curves=3)
    tracker.add(0, _curve(0.2, 0.4, 0.5))
    tracker.add(1, _curve(0.4, 0.6))  # stopped early after 2 epochs
    assert tracker.medians() == {}
    tracker.add(2, _curve(0.3, 0.8, 0.9))
    tracker.add(2, _curve(0.3, 0.8, 0.9))  # a duplicate result counts once
    assert tracker.medians() == {"1": 0.3, "2": 0.6}  # epoch 3: only two curves


def test_median_callback_stops_a_candidate_below_the_median_and_spares_the_rest():
    rule = MedianRule({"1": 0.5, "2": 0.7, "3": 0.9}, epochs=3)
    poor, good = make_median_callback(rule), make_median_callback(rule)
    for cb in (poor, good):
        cb.set_model(SimpleNamespace(stop_training=False))
    poor.on_epoch_end(0, {"val_accuracy": 0.6, "val_loss": 1.0})  # above 0.5: goes on
    assert not poor.model.stop_training
    poor.on_epoch_end(1, {"val_accuracy": 0.65})  # below 0.7: stops after epoch 2
    assert poor.model.stop_training and poor.stopped_epoch == 2
    good.on_epoch_end(0, {"val_accuracy": 0.5})  # equal to the median: not below
    good.on_epoch_end(1, {"val_accuracy": 0.8})
    good.on_epoch_end(2, {"val_accuracy": 0.1})  # the last epoch is never cut
    good.on_epoch_end(5, {})  # no figure, no median: nothing to decide
    assert not good.model.stop_training and good.stopped_epoch == 0
    assert MedianRule({}, epochs=3).should_stop(1, 0.0) is False  # no medians yet: never stops


class _Recorder:
    """An executor stub: keeps what was submitted, returns scripted outcomes."""

    workers = 1

    def __init__(self):
        self.jobs, self.outcomes = [], []

    def start(self, trainer):
        pass

    def free(self):
        return 1

    def submit(self, job):
        self.jobs.append(job)
        return "stub"

    def wait(self, timeout):
        out, self.outcomes = self.outcomes, []
        return out

    def close(self):
        pass


def _weights(run_dir, cid):
    path = candidate_dir(run_dir, cid) / "best.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"w")
    (path.parent / "run.json").write_text("{}")
    return path


@pytest.mark.parametrize("objectives, kept", [("val_accuracy", [1]), ("val_accuracy,-params", [0, 1])])
def test_runtime_options_medians_and_only_the_winners_weights_are_kept(tmp_path, objectives, kept):
    inner = _Recorder()
    executor = RuntimeExecutor(inner, tmp_path, {"train": "/data/train.h5"}, Objectives.parse(objectives),
                               MedianTracker(min_curves=1), prior=[(0, {**_curve(0.5), "params": 10.0})])
    executor.submit(Job(3, {}, {"options": {"epochs": 1}}))
    assert inner.jobs[0].task["options"] == {"epochs": 1, "train": "/data/train.h5", "medians": {"1": 0.5}}
    paths = {cid: _weights(tmp_path, cid) for cid in (0, 1, 2, 3)}
    inner.outcomes = [Outcome(1, "finished", {**_curve(0.9), "params": 99.0}),  # better, bigger
                      Outcome(2, "finished", {**_curve(0.4), "params": 50.0}),  # dominated by 0
                      Outcome(3, "failed", {}, "crash: killed by SIGKILL")]
    executor.wait(0)
    assert sorted(c for c, p in paths.items() if p.exists()) == kept == executor.kept
    assert (candidate_dir(tmp_path, 3) / "run.json").exists()  # a failed candidate's record stays
