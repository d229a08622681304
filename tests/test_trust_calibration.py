"""Calibration: ECE/NLL/Brier metrics, temperature scaling, ``nuclassify calibrate``, and its use by predict/evaluate.

The anchor (Guo et al., arXiv 1706.04599): a deliberately over-confident network (a tiny one
trained for many epochs on 200 simulated events, so it is sure of everything and right on
about a third of new events) is calibrated on one simulated file and measured on another,
held-out one; its ECE must fall, and no prediction may change.
"""

from __future__ import annotations

import copy
import csv
import io
import json

import numpy as np
import pytest
from conftest import TINY_SPEC

from nuclassify.cli.main import main
from nuclassify.data import open_dataset, write_minerva
from nuclassify.evaluation import (
    CALIBRATION_FILE,
    CalibrationTally,
    apply_temperature,
    confidence_entropy,
    evaluate_runs,
    load_predictor,
)
from nuclassify.simulate import simulate_minerva
from nuclassify.training import file_digest
from nuclassify.trust import fit_temperature, nll_at_temperature


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- metrics and the fit on known distributions -----------------------------------------------------

def test_ece_nll_brier_by_hand():
    t = CalibrationTally()
    t.update(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]]))
    # three non-empty bins of one event each: |1-0.9|, |0-0.6|, |1-0.7|
    assert t.ece == pytest.approx((0.1 + 0.6 + 0.3) / 3)
    assert t.nll == pytest.approx(-(np.log(0.9) + np.log(0.4) + np.log(0.7)) / 3)
    assert t.brier == pytest.approx((0.02 + 0.72 + 0.18) / 3)
    assert sum(r["n"] for r in t.reliability()) == 3 and t.to_dict()["ece_bins"] == 15


def test_a_calibrated_source_has_a_small_ece_and_streaming_adds_up():
    rng = np.random.default_rng(0)
    p = _softmax(rng.normal(scale=2.0, size=(40000, 5)))
    y = np.array([rng.choice(5, p=row) for row in p])  # labels drawn from the probabilities: calibrated
    whole, parts = CalibrationTally(), CalibrationTally()
    whole.update(y, p)
    for i in range(0, len(y), 999):
        parts.update(y[i:i + 999], p[i:i + 999])
    assert whole.ece < 0.015  # sampling noise only (15 bins of >= ~1000 events)
    assert parts.ece == pytest.approx(whole.ece) and parts.nll == pytest.approx(whole.nll)


def test_fit_temperature_recovers_a_known_over_confidence():
    rng = np.random.default_rng(3)
    z = rng.normal(scale=1.5, size=(20000, 6))
    y = np.array([rng.choice(6, p=row) for row in _softmax(z)])
    over = _softmax(3.0 * z)  # the same ranking, three times too sharp
    t = fit_temperature(over, y)
    assert t == pytest.approx(3.0, rel=0.05)
    assert nll_at_temperature(over, y, t) < nll_at_temperature(over, y, 1.0)
    scaled = apply_temperature(over, t)
    assert np.array_equal(scaled.argmax(1), over.argmax(1))
    assert np.allclose(scaled.sum(1), 1.0, atol=1e-5)


def test_a_temperature_at_the_end_of_the_search_is_flagged():
    """Confident and uncorrelated with the truth: the optimum T runs to the top of the range, and
    calibrate must say that no temperature fixes such a model rather than store T = 20 silently."""
    from nuclassify.trust._temperature import T_BOUNDS, edge_warning

    rng = np.random.default_rng(4)
    confident_noise = _softmax(8.0 * rng.normal(size=(5000, 6)))
    t = fit_temperature(confident_noise, rng.integers(0, 6, 5000))
    assert t == pytest.approx(T_BOUNDS[1], rel=0.02)
    assert "edge of the searched range" in edge_warning(t)
    assert edge_warning(3.0) is None and edge_warning(0.5) is None
    assert "far too flat" in edge_warning(T_BOUNDS[0])


def test_confidence_and_entropy():
    conf, ent = confidence_entropy(np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0, 0, 0], [0.5, 0.5, 0, 0]]))
    assert conf.tolist() == [0.25, 1.0, 0.5]
    assert ent == pytest.approx([np.log(4), 0.0, np.log(2)])


# --- an over-confident network on simulated MINERvA ---------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from nuclassify.training import TrainConfig, fit

    d = tmp_path_factory.mktemp("calib")
    files = {}
    for name, seed, n in (("train", 30, 200), ("valid", 31, 800), ("test", 32, 800)):
        files[name] = d / f"{name}.h5"
        write_minerva(files[name], simulate_minerva(n, layout="2016", seed=seed), layout="2016")
    spec = copy.deepcopy(TINY_SPEC)
    spec["input_transform"] = "log1p"
    fit(spec, TrainConfig(files["train"], d / "run", epochs=20, quiet=True, seed=0))
    return {"dir": d, "files": files, "run": d / "run"}


def _cli(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def test_temperature_scaling_lowers_ece_on_held_out_data(world, capsys):
    run, files = str(world["run"]), world["files"]
    with open_dataset(files["test"]) as ds:
        before = evaluate_runs(ds, [run]).to_dict()
    code, out, _ = _cli(["calibrate", "--model", run, "--data", str(files["valid"]), "--json"], capsys)
    assert code == 0
    record = json.loads(out)
    assert record["temperature"] > 1.5  # over-confident: the probabilities must be softened
    assert record["after"]["ece"] < record["before"]["ece"]  # on the file it was fitted on ...
    with open_dataset(files["test"]) as ds:
        after = evaluate_runs(ds, [run]).to_dict()
    b, a = before["calibration"], after["calibration"]
    assert b["temperature"] is None and a["temperature"] == pytest.approx(record["temperature"])
    assert a["ece"] < 0.5 * b["ece"], (b["ece"], a["ece"])  # ... and on held-out events
    assert a["nll"] < b["nll"] and a["brier"] < b["brier"]
    assert after["accuracy"] == before["accuracy"]  # no prediction changes


def test_the_stored_record_says_what_when_and_how(world, capsys):
    run, valid = world["run"], world["files"]["valid"]
    assert _cli(["calibrate", "--model", str(run), "--data", str(valid)], capsys)[0] == 0
    record = json.loads((run / CALIBRATION_FILE).read_text())
    assert record["data"]["sha256"] == file_digest(valid)["sha256"] and record["data"]["target"] == "segment"
    assert record["model"]["file"] == "model.keras" and len(record["model"]["sha256"]) == 64
    assert record["created"].endswith("+00:00") and "1706.04599" in record["method"]
    assert record["n_events"] == 800 and record["ece_bins"] == 15
    assert not list(run.glob(f".{CALIBRATION_FILE}*"))  # written atomically: no temporary left


def test_predict_applies_the_temperature_and_says_so(world, capsys):
    run, test = world["run"], world["files"]["test"]
    assert _cli(["calibrate", "--model", str(run), "--data", str(world["files"]["valid"])], capsys)[0] == 0
    t = json.loads((run / CALIBRATION_FILE).read_text())["temperature"]
    code, out, err = _cli(["predict", "--model", str(run), "--data", str(test)], capsys)
    assert code == 0
    notes = [line for line in err.splitlines() if line.startswith("nuclassify: note:")]
    assert len(notes) == 1 and f"T={t:.3f}" in notes[0]
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[-3:] == ["p_10", "confidence", "entropy"]
    probs = np.array([[float(r[f"p_{k}"]) for k in range(11)] for r in rows[:50]])
    with open_dataset(test) as ds:
        raw = load_predictor(str(run), ds, calibrated=False).fn(ds.read_views(np.arange(50)))[0]
    np.testing.assert_allclose(probs, apply_temperature(raw, t), atol=2e-6)
    assert [float(r["confidence"]) for r in rows[:50]] == pytest.approx(probs.max(1), abs=2e-6)


def test_explain_says_which_temperature_it_applies_even_when_quiet(world, capsys, tmp_path):
    """As predict and evaluate do: -q silences chatter, not what the probabilities rest on."""
    run = world["run"]
    assert _cli(["calibrate", "--model", str(run), "--data", str(world["files"]["valid"])], capsys)[0] == 0
    code, _, err = _cli(["-q", "explain", "--model", str(run), "--data", str(world["files"]["test"]), "--event", "0",
                         "--method", "saliency", "-o", str(tmp_path / "ex.png")], capsys)
    assert code == 0 and (tmp_path / "ex.png").is_file()
    notes = [line for line in err.splitlines() if line.startswith("nuclassify: note:")]
    assert len(notes) == 1 and "applying temperature" in notes[0]


def test_a_temperature_for_other_weights_is_not_applied(world, capsys, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(world["run"], run)
    assert _cli(["calibrate", "--model", str(run), "--data", str(world["files"]["valid"])], capsys)[0] == 0
    record = json.loads((run / CALIBRATION_FILE).read_text())
    record["model"]["sha256"] = "0" * 64  # as if the run had been retrained since
    (run / CALIBRATION_FILE).write_text(json.dumps(record))
    with open_dataset(world["files"]["test"]) as ds:
        pred = load_predictor(str(run), ds)
    assert pred.temperature is None and pred.note is None and "another model file" in pred.warning


def test_evaluate_reports_calibration_in_text_json_compare_and_plots(world, capsys, tmp_path):
    run, test = str(world["run"]), str(world["files"]["test"])
    code, out, _ = _cli(["evaluate", "--model", run, "--data", test, "--plots", str(tmp_path / "p")], capsys)
    assert code == 0 and "calibration: ECE" in out and "NLL" in out and "Brier" in out
    for name in ("reliability.png", "accuracy_vs_confidence.png"):
        assert (tmp_path / "p" / name).read_bytes()[:4] == b"\x89PNG"
    code, out, _ = _cli(["evaluate", "--compare", run, "trackfit", "--data", test, "--json"], capsys)
    payload = json.loads(out)
    assert all({"ece", "nll", "brier"} <= set(row) for row in payload["models"])
    assert all("calibration" in m for m in payload["per_model"].values())


def test_calibrate_needs_labels_one_line(world, capsys, tmp_path):
    import h5py

    path = tmp_path / "real.h5"
    write_minerva(path, simulate_minerva(50, layout="2016", seed=41), layout="2016")
    with h5py.File(path, "r+") as h5:
        h5["segments"][...] = 0xFF
        h5["planecodes"][...] = 0xFFFF
    code, _, err = _cli(["calibrate", "--model", str(world["run"]), "--data", str(path)], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("nuclassify: error:") and "real.h5" in lines[0] and "labels" in lines[0]
    # A handful of labelled events would replace a good temperature with noise: refused, the old one kept.
    few = tmp_path / "few.h5"
    write_minerva(few, simulate_minerva(5, layout="2016", seed=42), layout="2016")
    stored = world["run"] / "calibration.json"
    before = stored.read_bytes() if stored.exists() else None
    code, _, err = _cli(["calibrate", "--model", str(world["run"]), "--data", str(few)], capsys)
    assert code == 2 and "has 5 labelled events; a temperature needs at least 20" in err
    assert (stored.read_bytes() if stored.exists() else None) == before


def test_calibrate_needs_a_run(world, capsys):
    code, _, err = _cli(["calibrate", "--model", "trackfit", "--data", str(world["files"]["valid"])], capsys)
    assert code == 2 and "run directory" in err and len(err.strip().splitlines()) == 1
