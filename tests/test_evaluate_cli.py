"""``nuclassify evaluate``: JSON keys, per-segment table, plots, --compare of three models, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_trackfit import write_track_file

from nuclassify.cli.main import cli

SHAPES = {"x": (127, 94, 2), "u": (127, 47, 2), "v": (127, 47, 2)}


def make_run(run_dir: Path, seed: int, shapes: dict | None = None, target: str = "segment",
             n_classes: int = 11, views: tuple = ("u", "v", "x")) -> Path:
    """A tiny Keras model saved as a run dir by hand (views deliberately not in the file's order)."""
    import keras

    shapes = shapes or SHAPES
    keras.utils.set_random_seed(seed)
    inputs = [keras.Input(shapes[v], name=f"view_{v}") for v in views]
    pooled = [keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(i)) for i in inputs]
    out = keras.layers.Dense(n_classes, activation="softmax")(keras.layers.Concatenate()(pooled))
    model = keras.Model(inputs, out)
    run_dir.mkdir(parents=True)
    model.save(run_dir / "model.keras")
    (run_dir / "spec.json").write_text("{}")
    meta = {"target": target, "views": list(views), "input_shapes": {v: list(shapes[v]) for v in views},
            "n_classes": n_classes, "class_names": [str(i) for i in range(n_classes)], "layout": "minerva-2018",
            "arch": "tiny", "status": "complete"}
    (run_dir / "run.json").write_text(json.dumps(meta))
    return run_dir


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("evalcli")
    data, _, seg = write_track_file(d / "test.h5", n=90, seed=11)
    unl, _, _ = write_track_file(d / "real.h5", n=20, seed=12, labelled=False)
    return {"dir": d, "data": data, "unlabelled": unl, "seg": seg,
            "run_a": make_run(d / "run_a", 1), "run_b": make_run(d / "run_b", 2)}


def _run(args):
    result = CliRunner().invoke(cli, args)
    return result


def test_trackfit_json_per_segment(files):
    r = _run(["evaluate", "--model", "trackfit", "--data", str(files["data"]), "--per-segment", "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["n_events"] == 90
    assert 0.7 <= payload["accuracy"] <= 1.0
    lo, hi = payload["accuracy_ci95"]
    assert lo < payload["accuracy"] < hi
    assert set(payload["per_class"]) == {str(i) for i in range(11)}
    assert list(payload["per_segment"]) == [str(s) for s in (0, 1, 6, 2, 7, 3, 8, 4, 9, 5, 10)]
    assert sum(v["n"] for v in payload["per_segment"].values()) == 90
    for v in payload["per_segment"].values():
        assert {"accuracy", "n"} <= set(v)
    seg3 = payload["per_segment"]["3"]
    assert seg3["n"] == int(np.sum(files["seg"] == 3))
    # trackfit returns a vertex z: its residuals against the true z, per region, and the tracks used.
    vertex = payload["vertex"]
    assert set(vertex["regions"]) == {"targets", "water", "tracker", "all"}
    assert vertex["regions"]["all"]["n"] == 90
    assert vertex["regions"]["all"]["core_width_mm"] < 30.0  # straight tracks: within about a plane
    assert vertex["n_tracks"]["mean"] > 2.0


def test_model_per_segment_has_baseline_and_plots(files):
    plots = files["dir"] / "plots"
    r = _run(["evaluate", "--model", str(files["run_a"]), "--data", str(files["data"]), "--per-segment",
              "--plots", str(plots), "--batch-size", "32"])
    assert r.exit_code == 0, r.output
    assert "trackfit" in r.stdout and "run_a" in r.stdout
    table = r.stdout.split("per segment (detector z order)")[1].strip().splitlines()
    assert [int(line.split()[0]) for line in table[2:13]] == [0, 1, 6, 2, 7, 3, 8, 4, 9, 5, 10]
    assert any("*" in line for line in table[2:13])
    for name in ("confusion.png", "per_segment.png", "accuracy_vs_z.png"):
        assert (plots / name).stat().st_size > 5000
    r = _run(["evaluate", "--model", str(files["run_a"] / "model.keras"), "--data", str(files["data"]),
              "--per-segment", "--json"])
    payload = json.loads(r.stdout)
    assert payload["baseline"]["model"] == "trackfit"
    assert "vertex" not in payload  # a network gives no vertex z
    assert all("baseline_accuracy" in v for v in payload["per_segment"].values())
    # the paired test: the discordant counts are the accuracy difference in events
    test = payload["baseline"]["mcnemar"]
    n = payload["n_events"]
    diff_events = round((payload["accuracy"] - payload["baseline"]["accuracy"]) * n)
    assert test["only_model_right"] - test["only_baseline_right"] == diff_events
    assert 0.0 <= test["p_value"] <= 1.0


def test_compare_three_models_with_mcnemar(files):
    args = ["evaluate", "--compare", str(files["run_a"]), str(files["run_b"]), "trackfit", "--data", str(files["data"])]
    r = _run(args)
    assert r.exit_code == 0, r.output
    for name in ("run_a", "run_b", "trackfit", "McNemar"):
        assert name in r.stdout
    payload = json.loads(_run(args + ["--json"]).stdout)
    rows = payload["models"]
    assert [row["model"] for row in rows] == ["run_a", "run_b", "trackfit"]
    best = [row for row in rows if row["best"]]
    assert len(best) == 1 and best[0]["model"] == "trackfit"  # untrained nets vs a working baseline
    pw = payload["pairwise_p_value"]
    assert set(pw) == {"run_a", "run_b", "trackfit"} and pw["run_a"]["trackfit"] == pw["trackfit"]["run_a"]
    assert pw["run_b"]["trackfit"] == next(r["p_value"] for r in rows if r["model"] == "run_b")
    others = [row for row in rows if not row["best"]]
    assert all(0.0 <= row["p_value"] < 0.05 for row in others)


def test_unlabelled_file_points_to_predict(files):
    r = _run(["evaluate", "--model", "trackfit", "--data", str(files["unlabelled"])])
    assert r.exit_code != 0
    assert "predict" in str(r.exception)


def test_shape_mismatch_names_both(files):
    small = {"x": (127, 50, 2), "u": (127, 25, 2), "v": (127, 25, 2)}
    run = make_run(files["dir"] / "run_2016", 3, shapes=small, views=("x", "u", "v"))
    r = _run(["evaluate", "--model", str(run), "--data", str(files["data"])])
    msg = str(r.exception)
    assert "x(127,50,2),u(127,25,2)" in msg and "x(127,94,2)" in msg and "segment" in msg


def test_bad_run_dirs_give_one_clear_line(files):
    missing = subprocess.run([sys.executable, "-m", "nuclassify", "evaluate", "--model", str(files["dir"] / "nope"),
                              "--data", str(files["data"])], capture_output=True, text=True)
    assert missing.returncode == 2
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nuclassify: error:") and "nope" in lines[0]
    incomplete = files["dir"] / "incomplete"
    incomplete.mkdir()
    (incomplete / "run.json").write_text(json.dumps({"status": "running", "epochs_completed": 1}))
    r = _run(["evaluate", "--model", str(incomplete), "--data", str(files["data"])])
    assert r.exit_code != 0 and "incomplete" in str(r.exception)


def test_compare_needs_two_models(files):
    r = _run(["evaluate", "--compare", "trackfit", "--data", str(files["data"])])
    assert r.exit_code != 0 and "at least two" in str(r.exception)


def test_a_nova_only_option_on_minerva_data_is_refused(files):
    r = _run(["evaluate", "--model", "trackfit", "--data", str(files["data"]), "--score-cut", "0.7"])
    assert r.exit_code != 0 and "--score-cut applies to NOvA flavour files" in str(r.exception)
    assert _run(["evaluate", "--model", "trackfit", "--data", str(files["data"])]).exit_code == 0  # the default is fine


def test_the_classical_methods_are_compared_by_name_without_keras(files):
    """trackfit, hough (the method it refines) and trackreco (Kalman + adaptive vertex) by name."""
    r = _run(["evaluate", "--compare", "trackfit", "hough", "trackreco", "--data", str(files["data"]), "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["model"]: row for row in json.loads(r.stdout)["models"]}
    assert set(rows) == {"trackfit", "hough", "trackreco"}
    assert all(0.5 <= row["accuracy"] <= 1.0 for row in rows.values())  # straight tracks: each finds most
    # The text report adds the vertex table: one row per method, each region's core width and pull.
    text = _run(["evaluate", "--compare", "trackfit", "hough", "--data", str(files["data"])]).stdout
    table = text.split("vertex z - z_true")[1].strip().splitlines()
    assert table[1].split()[:4] == ["model", "targets", "water", "tracker"]
    assert [line.split()[0] for line in table[2:]] == ["trackfit", "hough"]
    assert all(" mm (" in line for line in table[2:])
    from nuclassify.evaluation import uses_keras

    assert not any(uses_keras(name) for name in ("trackfit", "HOUGH", "trackreco"))


def test_predict_carries_the_classical_methods_fit_columns(files):
    """trackfit's z uncertainty and track count, and trackreco's fit quality, go into predict's CSV."""
    for name, extra in (("trackfit", ["z_sigma", "n_tracks"]), ("trackreco", ["z_sigma", "n_tracks", "fit_quality"])):
        r = _run(["-q", "predict", "--model", name, "--data", str(files["data"])])
        assert r.exit_code == 0, r.output
        rows = [line.split(",") for line in r.stdout.strip().splitlines()]
        header = rows[0]
        assert header[-1 - len(extra):] == [*extra, "z_mm"] and len(rows) == 91
        sigma = np.array([float(row[header.index("z_sigma")]) for row in rows[1:] if row[header.index("z_sigma")]])
        tracks = np.array([float(row[header.index("n_tracks")]) for row in rows[1:]])
        assert len(sigma) > 45 and np.all(sigma > 0) and np.all(sigma < 500)  # mm: a plane to a target's width
        assert np.all((tracks >= 0) & (tracks == np.round(tracks)))


def test_compare_per_segment_sets_the_upstream_rule_beside_trackfit_with_paired_tests(files):
    """--compare with --per-segment: every model's accuracy per segment (z order) and McNemar's p
    against the most accurate model on that segment's events; the upstream-hit rule runs by name
    and scores exactly what upstream_rule_segments calls."""
    from nuclassify.data import open_dataset
    from nuclassify.detector import minerva
    from nuclassify.evaluation import mcnemar, upstream_rule_segments
    from nuclassify.evaluation.trackfit import TrackFit

    r = _run(["evaluate", "--compare", "trackfit", "upstream", "--data", str(files["data"]), "--per-segment",
              "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    with open_dataset(files["data"]) as ds:
        views, y = ds.read_views(np.arange(ds.n_events)), ds.labels()
        view_z = [minerva.view_plane_z(v, views[k].shape[2]) for k, v in enumerate(ds.view_names)]
        correct = {"upstream": upstream_rule_segments(views, view_z) == y,
                   "trackfit": TrackFit(ds.view_names, ds.view_shapes).predict(views).segment == y}
    accuracy = {row["model"]: row["accuracy"] for row in payload["models"]}
    for name, ok in correct.items():
        assert abs(accuracy[name] - ok.mean()) < 1e-9
    reference = max(accuracy, key=accuracy.get)
    other = "upstream" if reference == "trackfit" else "trackfit"
    segments = payload["per_segment"]
    assert [row["segment"] for row in segments] == list(minerva.SEGMENT_Z_ORDER)
    assert sum(row["n"] for row in segments) == 90
    tested = 0
    for row in segments:
        k = y == row["segment"]
        assert row["n"] == int(k.sum()) and row["reference"] == reference
        if not k.any():
            continue
        for name, ok in correct.items():
            assert abs(row["accuracy"][name] - ok[k].mean()) < 1e-9
        assert list(row["p_value"]) == [other]
        assert abs(row["p_value"][other] - mcnemar(correct[reference][k], correct[other][k]).p_value) < 1e-12
        tested += 1
    assert tested >= 5
    text = _run(["evaluate", "--compare", "trackfit", "upstream", "--data", str(files["data"]), "--per-segment"]).stdout
    table = text.split("per segment (detector z order)")[1].strip().split("\n\n")[0].splitlines()
    assert table[0].split() == ["segment", "target", "n", "trackfit", "upstream"]
    assert len(table) == 1 + 11 + 1 and "McNemar" in table[-1]
    # Without --per-segment the comparison stays one table.
    plain = _run(["evaluate", "--compare", "trackfit", "upstream", "--data", str(files["data"]), "--json"])
    assert "per_segment" not in json.loads(plain.stdout)


def test_plots_never_replace_a_persons_files_without_overwrite(tmp_path, capsys):
    """evaluate's PNG names are fixed, so a used --plots folder is refused (the file kept) unless
    --overwrite; a --plots folder whose parent does not exist is refused as every output is."""
    import pytest

    from nuclassify.cli.main import main

    simulate = pytest.importorskip("nuclassify.simulate")
    from nuclassify.data import write_minerva

    data = write_minerva(tmp_path / "t.h5", simulate.simulate_minerva(60, seed=1))
    used = tmp_path / "used"
    used.mkdir()
    (used / "confusion.png").write_text("precious")
    for argv, needle in (([str(used)], "already holds confusion.png"),
                         ([str(tmp_path / "nodir" / "sub")], "does not exist")):
        with pytest.raises(SystemExit) as stopped:
            main(["-q", "evaluate", "--model", "trackfit", "--data", str(data), "--plots", *argv])
        assert stopped.value.code == 2 and needle in capsys.readouterr().err
    assert (used / "confusion.png").read_text() == "precious"
    assert not (tmp_path / "nodir").exists()
    try:
        main(["-q", "evaluate", "--model", "trackfit", "--data", str(data), "--plots", str(used), "--overwrite"])
    except SystemExit as done:
        assert done.code in (0, None)
    assert (used / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit):  # one bare model without --model: the message says how, not "--compare"
        main(["-q", "evaluate", "trackfit", "--data", str(data)])
    assert "give one model with --model, or several with --compare" in capsys.readouterr().err
