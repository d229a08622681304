"""``nuclassify export``: verified, self-describing ONNX / SavedModel files, and running them without TensorFlow.

Reference for every numeric comparison: the Keras model the file was exported from, on the same
events. Tolerance: 1e-4 in any class probability (the issue's figure; float32 graphs that differ
only in operation order agree to ~1e-7), and the same argmax on every event.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TINY_SPEC, make_minerva_file

from nuclassify import __version__
from nuclassify.cli.main import cli
from nuclassify.models import list_specs

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-4


def _invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _hand_run(run_dir: Path, model, spec: dict, meta: dict) -> Path:
    """A run directory written by hand around an (untrained) model, as train would leave it."""
    run_dir.mkdir(parents=True)
    model.save(run_dir / "model.keras")
    (run_dir / "spec.json").write_text(json.dumps(spec))
    (run_dir / "run.json").write_text(json.dumps({"status": "complete", **meta}))
    return run_dir


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained by ``fit`` (log1p inputs, 25% held out) and its data file."""
    from nuclassify.training import TrainConfig, fit

    d = tmp_path_factory.mktemp("export")
    data = make_minerva_file(d / "tiny.h5", n=96)
    spec = dict(TINY_SPEC, input_transform="log1p")
    fit(spec, TrainConfig(data, d / "run", valid_fraction=0.25, epochs=1, seed=3, progress="none"))
    return {"dir": d, "data": data, "run": d / "run"}


@pytest.fixture(scope="module")
def exported(trained):
    """The trained run exported to ONNX through the CLI (default verification)."""
    out = trained["dir"] / "tiny.onnx"
    r = _invoke("export", "--model", trained["run"], "-o", out)
    assert r.exit_code == 0, r.output
    return {**trained, "onnx": out, "output": r.output}


# --- the exported file --------------------------------------------------------------------------

def test_onnx_inputs_are_the_views_with_a_dynamic_batch_and_the_output_probabilities(exported):
    import onnxruntime as ort

    from nuclassify.data import open_dataset
    from nuclassify.training import load_run

    session = ort.InferenceSession(str(exported["onnx"]), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [
        ("x", ["batch", 127, 10, 2]), ("u", ["batch", 127, 5, 2]), ("v", ["batch", 127, 5, 2])]
    assert [(o.name, o.shape) for o in session.get_outputs()] == [("probabilities", ["batch", 11])]
    model = load_run(exported["run"]).model
    with open_dataset(exported["data"]) as ds:
        for n in (1, 37):  # two batch sizes through one file: the batch dimension is really dynamic
            x, u, v = ds.read_views(np.arange(n))
            (p,) = session.run(None, {"x": x, "u": u, "v": v})
            assert p.shape == (n, 11) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
            ref = model.predict_on_batch([x, u, v])
            assert np.max(np.abs(p - ref)) < TOL and np.array_equal(p.argmax(1), ref.argmax(1))


def test_export_reports_verification_on_the_runs_held_out_events(exported):
    from nuclassify.data import split_indices
    from nuclassify.export import verification_events

    assert "verified: max |p_exported - p_keras| = " in exported["output"]
    assert "argmax agrees on 24/24 validation events held out of tiny.h5 (seed 3)" in exported["output"]
    meta = json.loads((exported["run"] / "run.json").read_text())
    path, idx, what = verification_events(meta, None, 256)
    _, held_out = split_indices(96, 0.25, 3)  # what fit held out: the events the model was never trained on
    assert Path(path) == Path(exported["data"]) and np.array_equal(idx, held_out) and "validation" in what
    assert np.array_equal(verification_events(meta, None, 5)[1], held_out[:5])


def test_metadata_carries_classes_target_layout_views_shapes_data_hashes_and_spec(exported):
    from nuclassify.evaluation import open_onnx

    meta = open_onnx(exported["onnx"]).metadata
    run = json.loads((exported["run"] / "run.json").read_text())
    spec = json.loads((exported["run"] / "spec.json").read_text())
    assert meta["nuclassify_version"] == __version__ and meta["nuclassify_format"] == 1
    assert meta["class_names"] == run["class_names"] and len(meta["class_names"]) == 11
    assert (meta["target"], meta["layout"], meta["views"]) == ("segment", "minerva-2016", ["x", "u", "v"])
    assert meta["input_shapes"] == {"x": [127, 10, 2], "u": [127, 5, 2], "v": [127, 5, 2]}
    assert meta["data"]["train"]["sha256"] == run["data"]["train"]["sha256"]
    assert meta["data"]["train"]["provenance"] == run["data"]["train"]["provenance"]
    assert meta["spec"] == spec and meta["spec"]["input_transform"] == "log1p"
    assert meta["training"]["seed"] == 3 and meta["exported"]["opset"] >= 13


def test_inspect_prints_what_the_model_says_about_itself(exported):
    run = json.loads((exported["run"] / "run.json").read_text())
    r = _invoke("inspect", exported["onnx"])
    assert r.exit_code == 0, r.output
    for text in ("exported by nuclassify", "segment (11 classes)", "minerva-2016", "x (batch,127,10,2)",
                 "T3-T4 (water)", run["data"]["train"]["sha256"], "column u: conv 4 8x3", "probabilities"):
        assert text in r.output, text
    r = _invoke("inspect", exported["onnx"], "--json")
    payload = json.loads(r.output)
    assert payload["ours"] and payload["metadata"]["class_names"] == run["class_names"]


# --- predict and evaluate from .onnx -------------------------------------------------------------

def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_predict_from_onnx_matches_the_run_directory(exported):
    onnx_out = _invoke("-q", "predict", "--model", exported["onnx"], "--data", exported["data"])
    keras_out = _invoke("-q", "predict", "--model", exported["run"], "--data", exported["data"])
    assert onnx_out.exit_code == 0 and keras_out.exit_code == 0, onnx_out.output + keras_out.output
    a, b = _csv_rows(onnx_out.stdout), _csv_rows(keras_out.stdout)
    assert a[0] == b[0] and len(a) == 97
    pa = np.array([r[2:] for r in a[1:]], float)
    pb = np.array([r[2:] for r in b[1:]], float)
    assert np.max(np.abs(pa - pb)) < TOL and [r[:2] for r in a] == [r[:2] for r in b]


def test_evaluate_accepts_onnx_and_scores_as_keras(exported):
    onnx_eval = _invoke("evaluate", "--model", exported["onnx"], "--data", exported["data"], "--json")
    keras_eval = _invoke("evaluate", "--model", exported["run"], "--data", exported["data"], "--json")
    a, b = json.loads(onnx_eval.stdout), json.loads(keras_eval.stdout)
    assert a["model"] == "tiny.onnx" and a["n_events"] == b["n_events"] == 96
    assert a["confusion"] == b["confusion"]


def test_onnx_predict_and_evaluate_import_no_tensorflow_or_keras(exported, tmp_path):
    code = (
        "import sys\n"
        "from nuclassify.cli.main import main\n"
        "for argv in (['-q', 'predict', '--model', sys.argv[1], '--data', sys.argv[2], '-o', sys.argv[3]],\n"
        "             ['-q', 'evaluate', '--model', sys.argv[1], '--data', sys.argv[2]]):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'jax', 'torch', 'tf2onnx'})\n"
        "print('HEAVY', heavy)\n")
    out = tmp_path / "p.csv"
    r = subprocess.run([sys.executable, "-c", code, str(exported["onnx"]), str(exported["data"]), str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout and "accuracy" in r.stdout
    assert len(out.read_text().splitlines()) == 97


def test_library_predictor_runs_onnx(exported):
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import load_predictor, uses_keras

    assert not uses_keras(str(exported["onnx"])) and uses_keras(str(exported["run"])) and not uses_keras("trackfit")
    with open_dataset(exported["data"]) as ds:
        pred = load_predictor(str(exported["onnx"]), ds)
        assert (pred.name, pred.target, pred.has_z, pred.warning) == ("tiny.onnx", "segment", False, None)
        assert pred.class_names[8] == "T3-T4 (water)"
        probs, z = pred.fn(ds.read_views(np.arange(4)))
        assert probs.shape == (4, 11) and z is None


# --- SavedModel ----------------------------------------------------------------------------------

def test_saved_model_export_carries_a_sidecar_and_verifies(trained):
    out = trained["dir"] / "tiny_savedmodel"
    r = _invoke("export", "--model", trained["run"], "--format", "saved_model", "-o", out, "--verify", "10",
                "--data", trained["data"])
    assert r.exit_code == 0, r.output
    assert "argmax agrees on 10/10 events of tiny.h5" in r.output
    assert (out / "saved_model.pb").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # as mkdir makes a folder, not mkdtemp's 0700
    side = json.loads((out / "assets.extra" / "nuclassify.json").read_text())
    assert side["views"] == ["x", "u", "v"] and side["exported"]["format"] == "saved_model"
    r = _invoke("inspect", out)
    assert r.exit_code == 0 and "TensorFlow SavedModel exported by nuclassify" in r.output
    again = _invoke("export", "--model", trained["run"], "--format", "saved_model", "-o", out, "--verify", "0")
    _one_line_error(again, "tiny_savedmodel: already exists")
    again = _invoke("export", "--model", trained["run"], "--format", "saved_model", "-o", out, "--verify", "0",
                    "--overwrite")
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in trained["dir"].iterdir() if p.name.startswith(".tiny_savedmodel")) == []


# --- every named spec ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spec_data(tmp_path_factory):
    from nuclassify.data import NovaBlock, write_nova

    d = tmp_path_factory.mktemp("specs")
    rng = np.random.default_rng(0)
    maps = (rng.integers(0, 255, (12, 16000)) * (rng.random((12, 16000)) < 0.05)).astype(np.uint8)
    write_nova(d / "nova.h5", [NovaBlock(cvnmap=maps, interaction=rng.choice([0, 1, 4, 5, 8, 13], 12))])
    return {"dir": d, "minerva2016": make_minerva_file(d / "m2016.h5", n=12, width=50), "nova": d / "nova.h5"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list_specs())  # every spec the zoo ships, so a new one cannot be missed
def test_every_named_spec_exports_and_verifies(name, spec_data):
    import keras

    from nuclassify.export import export_run
    from nuclassify.models import build, load_spec, preset_shapes

    spec = load_spec(name)
    preset = spec.get("default_inputs", "minerva2016")
    shapes, k = preset_shapes(preset)
    keras.utils.set_random_seed(1)
    model = build(spec, shapes, k)  # untrained: export fidelity does not depend on the weights
    views = spec["views"]
    run = _hand_run(spec_data["dir"] / f"run_{name}", model, spec,
                    {"target": "segment" if k == 11 else "flavour", "views": views, "n_classes": k, "arch": name,
                     "input_shapes": {v: list(shapes[v]) for v in views},
                     "layout": "minerva-2016" if k == 11 else "nova-cvn"})
    result = export_run(run, spec_data["dir"] / f"{name}.onnx", data=spec_data[preset], verify=12)
    v = result.verification
    assert v.passed and v.n_events == 12 and v.argmax_agree == 12 and v.max_abs_diff < TOL
    assert list(result.inputs) == views and result.output == "probabilities"


def test_mixed_precision_model_is_exported_in_float32(tmp_path):
    import keras
    import onnx

    from nuclassify.export import export_run
    from nuclassify.models import build

    data = make_minerva_file(tmp_path / "m.h5", n=16)
    shapes = {"x": (127, 10, 2), "u": (127, 5, 2), "v": (127, 5, 2)}
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build(dict(TINY_SPEC, input_transform="log1p"), shapes, 11)
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.layers[-1].dtype_policy.name == "float32" and model.layers[2].dtype_policy.name == "mixed_float16"
    run = _hand_run(tmp_path / "run", model, TINY_SPEC, {"target": "segment", "views": ["x", "u", "v"], "n_classes": 11,
                                                        "input_shapes": {v: list(s) for v, s in shapes.items()},
                                                        "layout": "minerva-2016", "precision": "mixed"})
    result = export_run(run, tmp_path / "m.onnx", data=data, verify=16)
    assert result.verification.passed
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert {t.data_type for t in graph.initializer} <= {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64,
                                                        onnx.TensorProto.INT32}


# --- bad input -----------------------------------------------------------------------------------

def _one_line_error(r, *fragments: str) -> None:
    """The command failed with a library error whose message (what main() prints) is one line with ``fragments``."""
    from nuclassify.errors import NuclassifyError

    assert r.exit_code != 0 and isinstance(r.exception, NuclassifyError), (r.output, r.exception)
    message = str(r.exception)
    assert "\n" not in message
    for f in fragments:
        assert f in message, (f, message)


def test_run_without_a_finished_model_is_refused(trained, tmp_path):
    run = tmp_path / "unfinished"
    run.mkdir()
    meta = json.loads((trained["run"] / "run.json").read_text()) | {"status": "interrupted"}
    (run / "run.json").write_text(json.dumps(meta))
    (run / "spec.json").write_text((trained["run"] / "spec.json").read_text())
    r = _invoke("export", "--model", run, "-o", tmp_path / "m.onnx")
    _one_line_error(r, "incomplete run, no model.keras")
    assert not (tmp_path / "m.onnx").exists()
    _one_line_error(_invoke("export", "--model", tmp_path / "nowhere", "-o", tmp_path / "m.onnx"), "no such run")


def test_bad_formats_and_options_are_refused_before_loading(trained, tmp_path):
    from nuclassify.errors import UsageError
    from nuclassify.export import resolve_format

    r = _invoke("export", "--model", trained["run"], "--format", "tflite", "-o", tmp_path / "m.tflite")
    assert r.exit_code == 2 and "'tflite' is not one of 'onnx', 'saved_model'" in r.output
    with pytest.raises(UsageError, match="unknown export format 'tflite'"):
        resolve_format("tflite", "m.onnx")
    _one_line_error(_invoke("export", "--model", trained["run"], "-o", tmp_path / "model"), "give --format")
    _one_line_error(_invoke("export", "--model", trained["run"], "--format", "onnx", "-o", tmp_path / "m.bin"),
                    "must end in .onnx")
    _one_line_error(_invoke("export", "--model", trained["run"], "--format", "saved_model", "--opset", "13",
                            "-o", tmp_path / "sm"), "--opset applies to ONNX only")
    (tmp_path / "there.onnx").write_bytes(b"x")
    _one_line_error(_invoke("export", "--model", trained["run"], "-o", tmp_path / "there.onnx"), "already exists")
    _one_line_error(_invoke("export", "--model", trained["run"], "--format", "saved_model", "-o", tmp_path / "m.onnx"),
                    "a .onnx name would be taken for an ONNX file")
    _one_line_error(_invoke("export", "--model", trained["run"], "-o", tmp_path / "v.onnx", "--verify", "0",
                            "--data", trained["data"]), "with --verify 0 nothing reads it")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's folder")
    _one_line_error(_invoke("export", "--model", trained["run"], "--format", "saved_model", "-o", mine,
                            "--overwrite"), "is a folder but not a SavedModel")
    _one_line_error(_invoke("export", "--model", trained["run"], "--format", "saved_model", "-o", trained["run"],
                            "--overwrite"), "is the input")
    assert (mine / "notes.txt").read_text() == "a user's folder" and (Path(trained["run"]) / "run.json").is_file()


def test_data_that_does_not_fit_the_model_is_refused(exported, spec_data, tmp_path):
    r = _invoke("export", "--model", exported["run"], "-o", tmp_path / "m.onnx", "--data", spec_data["nova"])
    _one_line_error(r, "run expects views x(127,10,2),u(127,5,2),v(127,5,2)", "nova.h5 has xz(80,100,1)",
                    "target segment is not in this nova-cvn file")
    r = _invoke("export", "--model", exported["run"], "-o", tmp_path / "m.onnx", "--data", spec_data["minerva2016"])
    _one_line_error(r, "m2016.h5 has x(127,50,2)", "the input shapes differ")
    assert not (tmp_path / "m.onnx").exists()
    r = _invoke("predict", "--model", exported["onnx"], "--data", spec_data["minerva2016"])
    _one_line_error(r, "tiny.onnx expects views x(127,10,2)", "m2016.h5 has x(127,50,2)", "the input shapes differ")


def test_run_whose_data_is_gone_needs_data_or_no_verification(trained, tmp_path):
    import shutil

    run = tmp_path / "moved"
    shutil.copytree(trained["run"], run)
    meta = json.loads((run / "run.json").read_text())
    # trained as `--data tiny.h5` in another folder: the recorded absolute path still finds it
    (run / "run.json").write_text(json.dumps(meta | {"train_data": "elsewhere/tiny.h5"}))
    r = _invoke("export", "--model", run, "-o", tmp_path / "rel.onnx")
    assert r.exit_code == 0 and (tmp_path / "rel.onnx").is_file(), r.output
    gone = str(tmp_path / "gone.h5")
    meta["data"]["train"]["path"] = gone
    (run / "run.json").write_text(json.dumps(meta | {"train_data": gone}))
    _one_line_error(_invoke("export", "--model", run, "-o", tmp_path / "m.onnx"),
                    "gone.h5 is not there to verify on; give --data FILE (or --verify 0)")
    r = _invoke("export", "--model", run, "-o", tmp_path / "m.onnx", "--verify", "0")
    assert r.exit_code == 0 and "not verified (--verify 0)" in r.output, r.output


def test_failed_verification_writes_nothing(exported, tmp_path, monkeypatch):
    import nuclassify.export._verify as verify_module
    from nuclassify.export import ExportError, export_run

    monkeypatch.setattr(verify_module, "TOLERANCE", -1.0)  # nothing can pass: the failure path
    with pytest.raises(ExportError) as err:
        export_run(exported["run"], tmp_path / "m.onnx", verify=8)
    assert "verification failed, not written" in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def _foreign_copy(src: Path, dst: Path, rename: dict[str, str] | None = None) -> Path:
    """The exported file with its metadata stripped (and inputs renamed): a model that is not ours."""
    import onnx

    model = onnx.load(str(src))
    del model.metadata_props[:]
    for old, new in (rename or {}).items():
        for value in model.graph.input:
            if value.name == old:
                value.name = new
        for node in model.graph.node:
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = new
    onnx.save(model, str(dst))
    return dst


def test_onnx_without_our_metadata_runs_with_a_warning_when_inputs_are_views(exported, tmp_path):
    foreign = _foreign_copy(exported["onnx"], tmp_path / "foreign.onnx")
    r = CliRunner().invoke(cli, ["predict", "--model", str(foreign), "--data", str(exported["data"])])
    assert r.exit_code == 0, r.output
    assert "nuclassify: warning: " in r.stderr and "carries no nuclassify metadata" in r.stderr
    ours = _invoke("-q", "predict", "--model", exported["onnx"], "--data", exported["data"])
    assert r.stdout == ours.stdout  # same numbers: only the description was missing
    r = _invoke("inspect", foreign)
    assert r.exit_code == 0 and "without nuclassify metadata" in r.output
    strange = _foreign_copy(exported["onnx"], tmp_path / "strange.onnx", {"x": "input_1"})
    _one_line_error(_invoke("predict", "--model", strange, "--data", exported["data"]),
                    "carries no nuclassify metadata", "not named after the views")


def test_missing_or_damaged_onnx_files_are_one_line_errors(exported, tmp_path):
    _one_line_error(_invoke("predict", "--model", tmp_path / "none.onnx", "--data", exported["data"]),
                    "no such ONNX file")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all")
    _one_line_error(_invoke("evaluate", "--model", tmp_path / "junk.onnx", "--data", exported["data"]),
                    "junk.onnx: cannot load as an ONNX model")
    renamed = tmp_path / "data.onnx"  # a data file renamed, or given where the model goes
    renamed.write_bytes(Path(exported["data"]).read_bytes())
    _one_line_error(_invoke("evaluate", "--model", renamed, "--data", exported["data"]),
                    "data.onnx: an HDF5 data file, not an ONNX model")
    r = subprocess.run([sys.executable, "-m", "nuclassify", "predict", "--model", str(tmp_path / "junk.onnx"),
                        "--data", str(exported["data"])], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("nuclassify: error: ")


# --- packaging -------------------------------------------------------------------------------------

def test_the_onnx_extra_is_a_light_install():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    extras = project["optional-dependencies"]
    for heavy in ("keras", "tensorflow", "matplotlib", "tf2onnx"):
        assert heavy not in base and any(d.startswith(heavy) for d in extras["full"])
    assert extras["onnx"] == ["onnxruntime>=1.17"]
    assert "nuclassify[full]" in extras["dev"]  # make test installs what every test needs


def test_a_stored_temperature_is_folded_into_the_exported_graph(trained, tmp_path):
    """calibrate's temperature travels with the file: onnxruntime gives softmax(log p / T) of Keras' p."""
    import shutil

    from nuclassify.evaluation import CALIBRATION_FILE, apply_temperature, model_file_sha256, open_onnx

    run = tmp_path / "run"
    shutil.copytree(trained["run"], run)
    record = {"temperature": 2.5, "model": {"file": "model.keras", "sha256": model_file_sha256(run / "model.keras")},
              "data": {"path": str(trained["data"])}, "created": "2026-11-30T00:00:00+00:00"}
    (run / CALIBRATION_FILE).write_text(json.dumps(record))
    out = tmp_path / "cal.onnx"
    r = _invoke("export", "--model", run, "-o", out)
    assert r.exit_code == 0, r.output
    from nuclassify.data import open_dataset
    from nuclassify.training import load_run

    model = open_onnx(out)
    assert model.metadata["temperature"] == 2.5
    with open_dataset(trained["data"]) as ds:
        views = [v[:32] for v in ds.read_views(np.arange(32))]
    keras_p = np.asarray(load_run(run).model.predict_on_batch(views))
    feeds = dict(zip(model.metadata["views"], views, strict=True))
    onnx_p = model.session.run(None, feeds)[0]
    assert np.max(np.abs(onnx_p - apply_temperature(keras_p, 2.5))) < TOL
    assert np.max(np.abs(onnx_p - keras_p)) > 1e-3  # it really changed the probabilities
    # predict of the .onnx and of the calibrated run directory agree
    a = _csv_rows(_invoke("-q", "predict", "--model", out, "--data", trained["data"]).stdout)
    b = _csv_rows(_invoke("-q", "predict", "--model", run, "--data", trained["data"]).stdout)
    pa = np.array([row[2:2 + 11] for row in a[1:]], float)
    pb = np.array([row[2:2 + 11] for row in b[1:]], float)
    assert np.max(np.abs(pa - pb)) < TOL
    described = _invoke("inspect", out)  # and the file says so about itself
    assert described.exit_code == 0 and "calibrated (temperature 2.5 folded into the graph)" in described.output


def test_an_onnx_file_whose_class_names_do_not_fit_its_output_is_refused(exported, tmp_path):
    """A header built from the metadata's class names must match the rows the network scores."""
    import onnx

    model = onnx.load(str(exported["onnx"]))
    for entry in model.metadata_props:
        if entry.key == "class_names":
            entry.value = json.dumps(["a", "b", "c"])
    altered = tmp_path / "altered.onnx"
    onnx.save(model, str(altered))
    r = _invoke("-q", "predict", "--model", altered, "--data", exported["data"])
    assert r.exit_code != 0 and r.stdout == ""
    assert "its metadata names 3 classes but the network scores 11" in str(r.exception or "") + r.stderr
