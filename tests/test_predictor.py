"""The library's prediction API: keras_predict_fn, load_predictor, and evaluate's orchestration.

The CLI tests cover what a user sees; these pin the pieces that a search (evolve) or a wrapper
(the trust features) calls directly, without going through ``nuclassify.cli``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TINY_SPEC, make_minerva_file
from test_evaluate_cli import make_run
from test_trackfit import write_track_file

from nuclassify.cli.main import cli
from nuclassify.data import NovaBlock, open_dataset, write_nova
from nuclassify.errors import NuclassifyError, UsageError
from nuclassify.evaluation import (
    TRACKFIT,
    Predictor,
    evaluate_runs,
    format_evaluation,
    keras_predict_fn,
    load_predictor,
    model_name,
    plan_evaluation,
    unique_name,
)


class RecordingModel:
    """Stands in for a Keras model: records what it was fed and returns canned outputs."""

    def __init__(self, output):
        self.output = output
        self.fed = None

    def predict_on_batch(self, inputs):
        self.fed = inputs
        return self.output(inputs) if callable(self.output) else self.output


def _one_line_usage_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert isinstance(excinfo.value, NuclassifyError) and "\n" not in msg
    return msg


# --- keras_predict_fn (no Keras needed: any object with predict_on_batch) -------------------------

def test_views_are_fed_in_the_models_order_not_the_files():
    x, u, v = np.full((2, 1), 1.0), np.full((2, 1), 2.0), np.full((2, 1), 3.0)
    model = RecordingModel(np.array([[0.25, 0.75], [1.0, 0.0]], np.float32))
    fn = keras_predict_fn(model, ["u", "v", "x"], ["x", "u", "v"])
    probs, z = fn((x, u, v))
    assert [a[0, 0] for a in model.fed] == [2.0, 3.0, 1.0]
    assert z is None and np.array_equal(probs, [[0.25, 0.75], [1.0, 0.0]])  # probabilities left as they are
    single = RecordingModel(np.array([[0.5, 0.5]], np.float32))
    keras_predict_fn(single, ["u"], ["x", "u", "v"])((x[:1], u[:1], v[:1]))
    assert isinstance(single.fed, np.ndarray) and single.fed[0, 0] == 2.0  # one input: not wrapped in a list


def test_logits_are_turned_into_probabilities():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0]], np.float32)
    probs, _ = keras_predict_fn(RecordingModel(logits), ["x"], ["x"])((np.zeros((2, 1)),))
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(probs, expected, atol=1e-6) and np.allclose(probs.sum(axis=1), 1.0)
    positive = np.array([[2.0, 1.0, 1.0]], np.float32)  # no negative entry, but not a distribution
    probs, _ = keras_predict_fn(RecordingModel(positive), ["x"], ["x"])((np.zeros((1, 1)),))
    assert probs.sum() == pytest.approx(1.0) and probs.argmax() == 0


def test_multi_output_models_are_split_into_class_and_z_heads():
    cls = np.array([[0.1, 0.9], [0.6, 0.4], [0.5, 0.5]], np.float32)
    z = np.array([[4500.0], [4600.0], [4700.0]], np.float32)
    for output in ([z, cls], (cls, z), {"z": z, "segment": cls}):
        probs, got_z = keras_predict_fn(RecordingModel(output), ["x"], ["x"])((np.zeros((3, 1)),))
        assert np.array_equal(probs, cls) and np.array_equal(got_z, z.reshape(-1))


def test_a_view_missing_from_the_data_is_refused_in_one_line():
    with pytest.raises(UsageError) as info:
        keras_predict_fn(RecordingModel(None), ["x", "w"], ["x", "u", "v"])
    assert "w" in _one_line_usage_error(info)


def test_the_library_imports_without_keras():
    code = ("import sys, nuclassify.evaluation as e\n"
            "assert e.load_predictor and e.evaluate_runs\n"
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_model_name_is_the_run_directory():
    assert model_name("runs/eps/") == "eps"
    assert model_name("runs/eps/model.keras") == "eps"
    assert model_name("runs/eps/best.keras") == "eps/best.keras"
    assert unique_name("a", {"a": 1, "a'": 2}) == "a''" and unique_name("b", {"a": 1}) == "b"


# --- load_predictor ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def track_file(tmp_path_factory):
    path, _, seg = write_track_file(tmp_path_factory.mktemp("pred") / "tracks.h5", n=40, seed=5)
    return path, seg


def test_the_library_names_what_it_was_given_wrongly(track_file, tmp_path):
    from pathlib import Path

    path, _ = track_file
    with pytest.raises(UsageError, match=r"expected an open dataset.*open_dataset\("):
        load_predictor("trackfit", str(path))  # a file name where the open dataset belongs
    with open_dataset(path) as ds:
        assert load_predictor(Path("trackfit"), ds).name == TRACKFIT  # a path object is a model name too
        with pytest.raises(UsageError, match="a model is a run directory.*received int 5"):
            load_predictor(5, ds)
        with pytest.raises(UsageError, match="expected an open dataset"):
            evaluate_runs(str(path), ["trackfit"])
        alone = evaluate_runs(ds, "trackfit")  # one model on its own, not a list of its letters
        assert list(alone.evaluations) == [TRACKFIT] and not alone.comparing
        with pytest.raises(UsageError, match=r"score_cut must lie in \[0, 1\]"):
            evaluate_runs(ds, ["trackfit"], score_cut=2)


def test_trackfit_predictor(track_file, tmp_path):
    path, seg = track_file
    with open_dataset(path) as ds:
        pred = load_predictor("TrackFit", ds)
        assert isinstance(pred, Predictor)
        assert (pred.name, pred.target, pred.has_z, len(pred.class_names)) == (TRACKFIT, "segment", True, 11)
        views = ds.read_views(np.arange(8))
        probs, z = pred.fn(tuple(views))
        assert probs.shape == (8, 11) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5) and z.shape == (8,)
        with pytest.raises(UsageError) as info:
            load_predictor(TRACKFIT, ds, target="planecode")
        assert "segments" in _one_line_usage_error(info)
    nova = tmp_path / "nova.h5"
    write_nova(nova, [NovaBlock(cvnmap=np.zeros((4, 16000), np.uint8), interaction=np.zeros(4, int))])
    with open_dataset(nova) as ds, pytest.raises(UsageError) as info:
        load_predictor(TRACKFIT, ds)
    assert "MINERvA" in _one_line_usage_error(info)


def test_hand_made_run_with_views_in_another_order(track_file, tmp_path):
    import keras

    path, _ = track_file
    run = make_run(tmp_path / "uvx", 4, views=("u", "v", "x"))  # the file's order is x, u, v
    with open_dataset(path) as ds:
        pred = load_predictor(str(run / "model.keras"), ds)
        views = ds.read_views(np.arange(6))
        probs, z = pred.fn(tuple(views))
    model = keras.saving.load_model(run / "model.keras", compile=False)
    expected = np.asarray(model.predict_on_batch([views[1], views[2], views[0]]))
    assert np.allclose(probs, expected, atol=1e-5) and z is None
    assert (pred.name, pred.target, pred.has_z) == ("uvx", "segment", False)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny network trained one epoch by ``nuclassify train``, its views in the order (u, v, x)."""
    d = tmp_path_factory.mktemp("trained")
    data = make_minerva_file(d / "tiny.h5", n=48)
    spec = dict(TINY_SPEC, views=["u", "v", "x"], columns={v: TINY_SPEC["columns"][v] for v in ("u", "v", "x")})
    (d / "spec.json").write_text(json.dumps(spec))
    r = CliRunner().invoke(cli, ["train", "--data", str(data), "--arch", str(d / "spec.json"), "--out",
                                 str(d / "run"), "--epochs", "1", "--valid-fraction", "0.25", "--json"])
    assert r.exit_code == 0, r.output
    return d / "run", data


def test_load_predictor_on_a_trained_run(trained_run):
    from nuclassify.training import load_run

    run_dir, data = trained_run
    with open_dataset(data) as ds:
        pred = load_predictor(str(run_dir), ds)
        views = ds.read_views(np.arange(10))
        probs, z = pred.fn(tuple(views))
        with pytest.raises(UsageError) as info:
            load_predictor(str(run_dir), ds, target="planecode")
        assert "trained for target segment" in _one_line_usage_error(info)
    assert (pred.name, pred.target, pred.has_z, len(pred.class_names)) == ("run", "segment", False, 11)
    model = load_run(run_dir).model
    expected = np.asarray(model.predict_on_batch([views[1], views[2], views[0]]))
    assert np.allclose(probs, expected, atol=1e-5) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_a_predict_function_refuses_views_that_are_not_the_files_in_one_line(trained_run, track_file):
    """A caller's batch of the wrong shape is named before it reaches the backend, for a network and trackfit."""
    run_dir, data = trained_run
    with open_dataset(data) as ds:
        views = list(ds.read_views(np.arange(4)))
        x_shape = ", ".join(map(str, ds.view_shapes["x"]))
        for spec in (str(run_dir), "trackfit"):
            fn = load_predictor(spec, ds).fn
            for bad, message in (
                (views[:2], "expected a sequence of 3 view arrays \\(x, u, v\\), got 2 views"),
                (np.stack(views[:1]), "got a ndarray"),
                ([views[0][:, :5], views[1], views[2]], f"view x must have shape \\(N, {x_shape}\\), got \\(4, 5,"),
                ([views[0], views[1][0], views[2]], "view u must have shape"),
                ([views[0], views[1][:3], views[2]], "different numbers of events \\(\\[3, 4\\]\\)"),
            ):
                with pytest.raises(UsageError, match=message) as info:
                    fn(bad)
                assert "\n" not in str(info.value)
            probs, _ = fn(views)  # the file's own batch still passes
            assert probs.shape == (4, 11)


# --- evaluate's orchestration --------------------------------------------------------------------

def test_duplicate_names_get_a_prime_and_compare(track_file):
    path, _ = track_file
    with open_dataset(path) as ds:
        plan = plan_evaluation(ds, ["trackfit", "trackfit"], per_segment=True)
        assert list(plan.predictors) == ["trackfit", "trackfit'"]
        assert plan.comparing and plan.baseline is None and plan.target == "segment"
        result = plan.run(batch_size=16)
    payload = result.to_dict()
    assert [row["model"] for row in payload["models"]] == ["trackfit", "trackfit'"]
    assert payload["pairwise_p_value"]["trackfit"]["trackfit'"] == 1.0  # the same predictions
    assert "trackfit'" in result.format() and "McNemar" in result.format()


def test_mismatched_targets_are_refused_in_one_line(track_file, tmp_path):
    path, _ = track_file
    plane = make_run(tmp_path / "plane", 6, target="planecode", n_classes=174, views=("x", "u", "v"))
    with open_dataset(path) as ds:
        with pytest.raises(UsageError) as info:
            plan_evaluation(ds, ["trackfit", str(plane)])
        msg = _one_line_usage_error(info)
        assert "different targets" in msg and "planecode" in msg and "segment" in msg
        with pytest.raises(UsageError) as info:
            plan_evaluation(ds, [str(plane)], per_segment=True)
        assert "--per-segment" in _one_line_usage_error(info)
        with pytest.raises(UsageError):
            plan_evaluation(ds, [])


def test_baseline_joins_a_single_segment_model_for_plots_without_the_table(track_file, tmp_path):
    path, _ = track_file
    run = make_run(tmp_path / "seg", 7)
    with open_dataset(path) as ds:
        plan = plan_evaluation(ds, [str(run)], plots=True)
        assert (plan.main, plan.baseline, plan.per_segment, plan.count_segments) == ("seg", TRACKFIT, False, True)
        result = plan.run(batch_size=16)
        alone = evaluate_runs(ds, [TRACKFIT], per_segment=True)
    assert result.main_evaluation.segments is not None  # measured for the plots ...
    text, payload = result.format(), result.to_dict()
    assert "per segment" not in text and "baseline trackfit" in text  # ... but the table was not asked for
    assert "per_segment" not in payload and "baseline" not in payload
    assert alone.baseline is None and "per segment (detector z order)" in alone.format()
    assert "per_segment" in alone.to_dict()
    full = format_evaluation(result.main_evaluation, result.baseline_evaluation,
                             calibration=result.calibration[result.main])
    assert full.startswith(text) and "per segment (detector z order)" in full
    files = result.write_plots(tmp_path / "plots")
    assert {f.name for f in files} >= {"confusion.png", "per_segment.png", "reliability.png",
                                       "accuracy_vs_confidence.png"}
