"""Uncertainty: deep ensembles (``train --ensemble K``), MC dropout (``predict --mc-samples N``), BALD MI.

References: Lakshminarayanan et al. (arXiv 1612.01474) average the members' probabilities; Gal
and Ghahramani (arXiv 1506.02142) sample dropout masks at prediction time; Houlsby et al. (arXiv
1112.5745) define the mutual information H(mean) - mean(H). Tests use the tiny 96-event file
and a tiny network, so each trains in seconds.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import shutil

import numpy as np
import pytest
from conftest import TINY_SPEC

from nuclassify.cli.main import main
from nuclassify.data import open_dataset
from nuclassify.evaluation import (
    CALIBRATION_FILE,
    apply_temperature,
    load_predictor,
    mc_dropout_model,
    mutual_information,
)

K = 3


def _cli(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def _rows(out: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(out)))


def _probs(rows: list[dict]) -> np.ndarray:
    return np.array([[float(r[f"p_{k}"]) for k in range(11)] for r in rows])


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- mutual information on known distributions ------------------------------------------------------

def test_mutual_information_is_zero_for_agreeing_samples_and_ln2_for_opposite_ones():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=40)
    assert np.all(mutual_information(np.stack([p, p, p])) == 0.0)  # identical members: no disagreement
    opposite = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert mutual_information(opposite)[0] == pytest.approx(np.log(2))  # the most two samples can disagree
    samples = rng.dirichlet(np.full(4, 0.3), size=(7, 500))
    mi = mutual_information(samples)
    assert np.all(mi >= 0) and mi.max() <= np.log(4) + 1e-12  # concavity of entropy; at most ln K
    assert mi.mean() > 0.1  # spread-out samples disagree


def test_auroc_and_the_comparison_table_on_known_scores():
    from sklearn.metrics import roc_auc_score

    from nuclassify.trust._uncertainty_table import auroc, compare_uncertainty, format_uncertainty_table

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=400), rng.normal(0.8, size=300)
    truth = np.r_[np.zeros(400), np.ones(300)]
    assert auroc(a, b) == pytest.approx(roc_auc_score(truth, np.r_[a, b]))  # the Mann-Whitney form
    assert auroc(a, a + 100) == 1.0 and auroc(np.ones(5), np.ones(7)) == 0.5  # separable; all tied
    p_in = rng.dirichlet(np.full(3, 0.2), size=500)  # sharp: low entropy in distribution
    p_out = rng.dirichlet(np.full(3, 5.0), size=500)  # flat: high entropy when shifted
    y = np.array([rng.choice(3, p=row) for row in p_in])  # labels drawn from p_in: calibrated
    result = compare_uncertainty({"m": {"test": p_in, "shift": p_out}}, {"test": y, "shift": y}, bootstrap=50)
    row = result["methods"]["m"]
    assert row["in_distribution"]["ece"]["value"] < 0.06
    lo, hi = row["in_distribution"]["ece"]["ci95"]
    assert lo <= row["in_distribution"]["ece"]["value"] <= hi  # the bias-corrected interval holds the estimate
    assert row["shifted"]["shift"]["auroc_entropy"]["value"] > 0.95
    assert "| m |" in format_uncertainty_table(result)


# --- deep ensembles ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dropout_spec(tmp_path_factory):
    spec = copy.deepcopy(TINY_SPEC)
    spec["head"] = [{"kind": "dropout", "rate": 0.5}, {"kind": "dense", "units": 16}]
    path = tmp_path_factory.mktemp("spec") / "tiny_dropout.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory, tiny_minerva, dropout_spec):
    run = tmp_path_factory.mktemp("ens") / "ens"
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--data", str(tiny_minerva), "--arch", str(dropout_spec), "--out", str(run), "--epochs", "1",
              "--valid-fraction", "0.25", "--seed", "4", "--ensemble", str(K), "--json"])
    assert exit_.value.code == 0
    return run


def test_ensemble_run_directory_records_members_and_seeds(ensemble, capsys):
    meta = json.loads((ensemble / "run.json").read_text())
    assert meta["status"] == "complete" and meta["ensemble"]["k"] == K
    assert meta["ensemble"]["seeds"] == [4, 5, 6] and meta["ensemble"]["members"] == [f"members/m{i}" for i in range(K)]
    assert meta["target"] == "segment" and meta["views"] == ["x", "u", "v"]
    members = [json.loads((ensemble / "members" / f"m{i}" / "run.json").read_text()) for i in range(K)]
    assert [m["seed"] for m in members] == [4, 5, 6] and all(m["status"] == "complete" for m in members)
    # one hold-out split for all: the validation events are unseen by every member
    assert len({json.dumps(m["valid_indices"]) for m in members}) == 1 and members[0]["valid_events"] == 24
    weights = {_sha(ensemble / "members" / f"m{i}" / "model.keras") for i in range(K)}
    assert len(weights) == K  # different seeds, different networks


def test_ensemble_prediction_is_the_mean_of_its_members(ensemble, tiny_minerva, capsys, tmp_path):
    code, out, _ = _cli(["predict", "--model", ensemble, "--data", tiny_minerva], capsys)
    assert code == 0
    rows = _rows(out)
    assert list(rows[0])[-3:] == ["confidence", "entropy", "mutual_information"]
    with open_dataset(tiny_minerva) as ds:
        views = ds.read_views(np.arange(ds.n_events))
        members = np.stack([load_predictor(str(ensemble / "members" / f"m{i}"), ds).fn(views)[0] for i in range(K)])
    np.testing.assert_allclose(_probs(rows), members.mean(axis=0), atol=2e-6)
    mi = np.array([float(r["mutual_information"]) for r in rows])
    np.testing.assert_allclose(mi, mutual_information(members), atol=2e-6)
    assert np.all(mi >= 0) and mi.max() > 0  # the members differ somewhere
    h5_out = tmp_path / "p.h5"  # the HDF5 output carries the same columns
    code, _, _ = _cli(["predict", "--model", ensemble, "--data", tiny_minerva, "-o", h5_out], capsys)
    import h5py

    with h5py.File(h5_out, "r") as h5:
        np.testing.assert_allclose(h5["mutual_information"][:], mi, atol=2e-6)
        np.testing.assert_allclose(h5["probabilities"][:], _probs(rows), atol=2e-6)
    code, out, _ = _cli(["evaluate", "--model", ensemble, "--data", tiny_minerva, "--json"], capsys)
    acc = json.loads(out)["accuracy"]
    acc = acc["value"] if isinstance(acc, dict) else acc
    labels = np.array([int(r["predicted"]) for r in rows])
    with open_dataset(tiny_minerva) as ds:
        truth = ds.labels("segment")
    assert code == 0 and acc == pytest.approx(np.mean(labels == truth))


def test_gradient_maps_of_an_ensemble_are_the_mean_of_its_members_maps(ensemble, tiny_minerva):
    """Saliency and integrated gradients are linear in the function, and the ensemble's probability is
    the members' mean, so the ensemble's maps must be the members' mean maps, and IG stays complete."""
    from nuclassify.trust import explain_event, load_explainer

    with open_dataset(tiny_minerva) as ds:
        whole = load_explainer(str(ensemble), ds)
        members = [load_explainer(str(ensemble / "members" / f"m{i}"), ds) for i in range(K)]
        for method in ("saliency", "integrated-gradients"):
            ex = explain_event(whole, ds, 2, method, class_index=3)
            parts = [explain_event(m, ds, 2, method, class_index=3).maps for m in members]
            for view, got in enumerate(ex.maps):
                np.testing.assert_allclose(got, np.mean([p[view] for p in parts], axis=0), rtol=1e-5, atol=1e-8)
            assert any(np.abs(m).max() > 0 for m in ex.maps)
        assert ex.completeness_gap is not None and ex.completeness_gap < 0.1


def test_an_ensemble_exports_to_one_onnx_file_that_predicts_its_mean(ensemble, tiny_minerva, capsys, tmp_path):
    """export on an ensemble folder: one graph averaging the members, verified against Keras, and
    predict from the .onnx reproduces predict from the folder."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    onnx_path = tmp_path / "ens.onnx"
    code, out, err = _cli(["export", "--model", ensemble, "--format", "onnx", "-o", onnx_path, "--data",
                           tiny_minerva], capsys)
    assert code == 0, err
    from nuclassify.evaluation import open_onnx

    meta = open_onnx(onnx_path).metadata
    assert meta["ensemble"]["k"] == K and meta["views"] == ["x", "u", "v"]
    _, from_dir, _ = _cli(["predict", "--model", ensemble, "--data", tiny_minerva], capsys)
    _, from_onnx, _ = _cli(["predict", "--model", onnx_path, "--data", tiny_minerva], capsys)
    np.testing.assert_allclose(_probs(_rows(from_onnx)), _probs(_rows(from_dir)), atol=1e-5)


def test_shift_on_an_ensemble_reads_every_members_features(ensemble, tiny_minerva, capsys):
    from nuclassify.trust import load_feature_extractor

    extractor = load_feature_extractor(ensemble)
    widths = [load_feature_extractor(ensemble / "members" / f"m{i}").n_features for i in range(K)]
    assert extractor.n_features == sum(widths)
    code, out, err = _cli(["shift", "--model", ensemble, "--reference", tiny_minerva, "--data", tiny_minerva,
                           "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["n_features"] == sum(widths)


def test_a_missing_or_damaged_member_is_named_in_one_line(ensemble, tiny_minerva, capsys, tmp_path):
    broken = tmp_path / "ens"
    shutil.copytree(ensemble, broken)
    shutil.rmtree(broken / "members" / "m1")
    code, out, err = _cli(["predict", "--model", broken, "--data", tiny_minerva], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1
    assert lines[0].startswith("nuclassify: error:") and "member m1" in lines[0] and "missing" in lines[0]
    shutil.copytree(ensemble / "members" / "m1", broken / "members" / "m1")
    model = broken / "members" / "m2" / "model.keras"
    model.write_bytes(model.read_bytes()[:500])  # a truncated copy
    code, _, err = _cli(["evaluate", "--model", broken, "--data", tiny_minerva], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "member m2" in lines[0] and "damaged" in lines[0]


def test_resume_trains_only_the_missing_member(ensemble, tiny_minerva, dropout_spec, capsys, tmp_path):
    run = tmp_path / "ens"
    shutil.copytree(ensemble, run)
    shutil.rmtree(run / "members" / "m2")
    kept = _sha(run / "members" / "m0" / "model.keras")
    code, out, _ = _cli(["train", "--data", tiny_minerva, "--arch", dropout_spec, "--out", run, "--epochs", "1",
                         "--valid-fraction", "0.25", "--seed", "4", "--ensemble", str(K), "--resume", "--json"],
                        capsys)
    assert code == 0
    trained = [m["trained_now"] for m in json.loads(out)["members"]]
    assert trained == [False, False, True]
    assert _sha(run / "members" / "m0" / "model.keras") == kept
    assert json.loads((run / "members" / "m2" / "run.json").read_text())["seed"] == 6
    code, _, err = _cli(["train", "--data", tiny_minerva, "--arch", dropout_spec, "--out", run, "--ensemble", "2"],
                        capsys)
    assert code == 2 and "not empty" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli(["train", "--data", tiny_minerva, "--arch", dropout_spec, "--out", run, "--resume"], capsys)
    assert code == 2 and f"--resume --ensemble {K}" in err and len(err.strip().splitlines()) == 1


def test_ensemble_temperature_scales_the_averaged_probabilities(ensemble, tiny_minerva, tmp_path, capsys):
    run = tmp_path / "ens"
    shutil.copytree(ensemble, run)
    code, _, err = _cli(["calibrate", "--model", run, "--data", tiny_minerva], capsys)  # the command, as a user runs it
    assert code == 0, err
    t = json.loads((run / CALIBRATION_FILE).read_text())["temperature"]
    assert (run / CALIBRATION_FILE).is_file() and t != pytest.approx(1.0)
    with open_dataset(tiny_minerva) as ds:
        views = ds.read_views(np.arange(40))
        raw = load_predictor(str(run), ds, calibrated=False)
        pred = load_predictor(str(run), ds)
        assert pred.temperature == pytest.approx(t) and "averaged" in pred.note
        np.testing.assert_allclose(pred.fn(views)[0], apply_temperature(raw.fn(views)[0], t), atol=2e-6)
        record = json.loads((run / CALIBRATION_FILE).read_text())
        record["model"]["sha256"] = "0" * 64  # as if a member had been retrained since
        (run / CALIBRATION_FILE).write_text(json.dumps(record))
        stale = load_predictor(str(run), ds)
    assert stale.temperature is None and "other member weights" in stale.warning


# --- MC dropout -------------------------------------------------------------------------------------

def test_mc_dropout_varies_repeats_with_its_seed_and_reports_mi(ensemble, tiny_minerva, capsys):
    member = ensemble / "members" / "m0"
    code, out, _ = _cli(["predict", "--model", member, "--data", tiny_minerva], capsys)
    plain = _probs(_rows(out))
    code, out, err = _cli(["predict", "--model", member, "--data", tiny_minerva, "--mc-samples", "8"], capsys)
    assert code == 0, err
    rows = _rows(out)
    mc, mi = _probs(rows), np.array([float(r["mutual_information"]) for r in rows])
    assert np.abs(mc - plain).max() > 1e-3  # dropout is on: the average is not the deterministic output
    assert np.all(mi >= 0) and np.mean(mi > 1e-6) > 0.9  # the masks disagree on (nearly) every event
    code, again, _ = _cli(["predict", "--model", member, "--data", tiny_minerva, "--mc-samples", "8"], capsys)
    np.testing.assert_allclose(_probs(_rows(again)), mc, atol=1e-6)  # seeded masks: the same output twice
    # evaluate scores the same MC-dropout average (trackfit beside it as it is)
    code, out, err = _cli(["evaluate", "--model", member, "--data", tiny_minerva, "--mc-samples", "8", "--json"],
                          capsys)
    assert code == 0, err
    labels = np.array([int(r["predicted"]) for r in rows])
    with open_dataset(tiny_minerva) as ds:
        truth = ds.labels()
    assert json.loads(out)["accuracy"] == pytest.approx(float(np.mean(labels == truth)), abs=1e-9)


def test_mc_dropout_without_dropout_is_one_line_exit_2(tiny_minerva, tiny_spec, capsys, tmp_path):
    from nuclassify.training import TrainConfig, fit

    fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "run", epochs=1, quiet=True))
    code, out, err = _cli(["predict", "--model", tmp_path / "run", "--data", tiny_minerva, "--mc-samples", "4"],
                          capsys)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and "no dropout layer" in lines[0]
    code, _, err = _cli(["predict", "--model", "trackfit", "--data", tiny_minerva, "--mc-samples", "4"], capsys)
    assert code == 2 and "Keras run" in err


def test_mc_dropout_leaves_batch_normalisation_in_inference_mode():
    """Only Dropout is switched: with rate 0 the MC copy must equal the network in inference mode
    exactly, while calling the network with training=True (batch statistics) would not; the
    stored moving mean and variance never change."""
    import keras

    inp = keras.Input((6,))
    x = keras.layers.Dense(8)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dropout(0.0)(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    bn = model.layers[2]
    bn.moving_mean.assign(np.linspace(-1, 1, 8).astype("float32"))
    bn.moving_variance.assign(np.full(8, 2.0, "float32"))
    stored = [np.array(w) for w in bn.weights]
    xs = np.random.default_rng(1).normal(size=(32, 6)).astype("float32")
    inference = np.asarray(model(xs, training=False))
    mc = mc_dropout_model(model, seed=0)
    np.testing.assert_allclose(np.asarray(mc.predict_on_batch(xs)), inference, atol=1e-6)
    np.testing.assert_allclose(np.asarray(mc.predict_on_batch(xs[:1])), inference[:1], atol=1e-6)  # batch-free
    assert np.abs(np.asarray(model(xs, training=True)) - inference).max() > 1e-3  # what whole-model training=True does
    bn.moving_mean.assign(stored[2])
    bn.moving_variance.assign(stored[3])
    mc = mc_dropout_model(keras.Model(inp, keras.layers.Dropout(0.5)(x)), seed=0)
    outs = [np.asarray(mc.predict_on_batch(xs)) for _ in range(3)]
    assert np.abs(outs[0] - outs[1]).max() > 1e-3  # rate 0.5: each call draws new masks
    copy_bn = next(layer for layer in mc.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(stored, copy_bn.weights, strict=True))


# --- every backend ----------------------------------------------------------------------------------

_BACKEND_SCRIPT = """
import json, sys
import numpy as np
from nuclassify.data import open_dataset
from nuclassify.evaluation import load_predictor
ens, data = sys.argv[1], sys.argv[2]
with open_dataset(data) as ds:
    views = ds.read_views(np.arange(32))
    out = load_predictor(ens, ds).fn(views)
    plain = load_predictor(ens + "/members/m0", ds).fn(views)[0]
    mc = load_predictor(ens + "/members/m0", ds, mc_samples=6).fn(views)
print(json.dumps({"ensemble": np.asarray(out[0]).tolist(), "mi": out.columns["mutual_information"].tolist(),
                  "plain": np.asarray(plain).tolist(), "mc": np.asarray(mc[0]).tolist(),
                  "mc_mi": mc.columns["mutual_information"].tolist()}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_ensembles_and_mc_dropout_on_each_backend(backend, ensemble, tiny_minerva):
    """The TensorFlow-trained ensemble averages to the same probabilities on JAX and PyTorch, and
    MC dropout samples there too (this process is the TensorFlow case)."""
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", _BACKEND_SCRIPT, str(ensemble), str(tiny_minerva)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    with open_dataset(tiny_minerva) as ds:
        views = ds.read_views(np.arange(32))
        here = load_predictor(str(ensemble), ds).fn(views)
    np.testing.assert_allclose(got["ensemble"], here[0], atol=1e-4)
    np.testing.assert_allclose(got["mi"], here.columns["mutual_information"], atol=1e-4)
    assert np.abs(np.array(got["mc"]) - np.array(got["plain"])).max() > 1e-3 and min(got["mc_mi"]) >= 0
    assert np.mean(np.array(got["mc_mi"]) > 1e-6) > 0.9
