"""``nuclassify explain``: attribution maps that point at the vertex, gradients on every backend, the cause table.

The physics anchor: a vertex-segment classifier must find the vertex, so on events with one
clear muon track (no pile-up, no backward hadron) its occlusion map should put far more of its
positive weight within a few planes of the true vertex than a map spread evenly over the hits
does (those hits run downstream along the track). A tiny network trained for three epochs on
2,500 simulated 2016-layout events already does: measured 0.29 of the weight within 100 mm of
the vertex against 0.10 for the even map, on 15 of 16 events (tolerance below: 2x, 12 of 16).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import TINY_SPEC

from nuclassify.cli.main import main
from nuclassify.data import open_dataset, write_minerva
from nuclassify.evaluation import Predictor
from nuclassify.simulate import simulate_minerva
from nuclassify.trust import (
    boundary_distance,
    cause_table,
    confusion_causes,
    explain_event,
    integrated_gradients_maps,
    load_explainer,
    near_vertex_fraction,
    occlusion_maps,
)
from nuclassify.trust._explain import Explainer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny network trained briefly on simulated 2016-layout events, and a held-out file."""
    from nuclassify.training import TrainConfig, fit

    d = tmp_path_factory.mktemp("explain")
    train, test = d / "train.h5", d / "test.h5"
    write_minerva(train, simulate_minerva(2500, layout="2016", seed=31), layout="2016")
    write_minerva(test, simulate_minerva(300, layout="2016", seed=32), layout="2016")
    spec = copy.deepcopy(TINY_SPEC)
    spec["input_transform"] = "log1p"
    fit(spec, TrainConfig(train, d / "run", epochs=3, quiet=True, seed=0))
    return {"dir": d, "test": test, "run": d / "run"}


# --- physics: the evidence sits at the vertex ---------------------------------------------------------

def test_occlusion_puts_its_weight_near_the_true_vertex(world):
    rng = np.random.default_rng(0)
    with open_dataset(world["test"]) as ds:
        idx = np.arange(ds.n_events)
        muon = np.abs(ds.read_truth("lepto_data/pdg", idx)) == 13
        quiet = (ds.read_truth("vtx_data/pileup", idx) == 0) & (ds.read_truth("vtx_data/backward", idx) == 0)
        clear = np.flatnonzero(muon & quiet)[:16]
        assert len(clear) == 16
        explainer = load_explainer(str(world["run"]), ds)
        rows = []
        for i in clear:
            ex = explain_event(explainer, ds, int(i), "occlusion")
            views = [v[0] for v in ds.read_views([int(i)])]
            hits = [np.any(v != 0, axis=-1).astype(float) for v in views]
            noise = [h * rng.random(h.shape) for h in hits]
            assert [m.shape for m in ex.maps] == [v.shape[:2] for v in views]
            rows.append([near_vertex_fraction(m, ex.view_names, ex.true_z_mm)
                         for m in (ex.maps, hits, noise, [np.ones_like(h) for h in hits])])
    occ, uniform_hits, random_hits, uniform = np.asarray(rows).T
    assert occ.mean() > 2 * uniform_hits.mean(), (occ.mean(), uniform_hits.mean())
    assert occ.mean() > 2 * random_hits.mean() and occ.mean() > 2 * uniform.mean()
    assert (occ > uniform_hits).sum() >= 12, occ - uniform_hits


def test_occlusion_finds_the_evidence_of_a_constructed_predictor():
    """A predictor that reads only the energy in rows 40-44, columns 10-12 of view 0: the map lies there."""
    def predict(batch):
        s = batch[0][:, 40:45, 10:13, 0].sum(axis=(1, 2)) - 2.0
        p1 = 1 / (1 + np.exp(-s))
        return np.stack([1 - p1, p1], axis=1)

    views = [np.zeros((60, 20, 2), np.float32), np.zeros((30, 10, 2), np.float32)]
    views[0][42, 11, 0] = 3.0       # the evidence
    views[0][10, 3, 0] = 5.0        # a hit the predictor ignores
    views[1][5, 5, 0] = 5.0
    maps, probs = occlusion_maps(predict, views, 1)
    assert probs[1] == pytest.approx(1 / (1 + np.exp(-1.0)))
    assert np.unravel_index(np.argmax(maps[0]), maps[0].shape) in {(r, c) for r in range(36, 49) for c in range(9, 14)}
    assert maps[0][42, 11] > 0 and maps[0][10, 3] == 0 and not maps[1].any()
    # a probability drop is the same figure on the probability scale: the whole window drops p1 to sigmoid(-2)
    pmaps, _ = occlusion_maps(predict, views, 1, score="probability")
    assert pmaps[0].max() == pytest.approx(1 / (1 + np.exp(-1.0)) - 1 / (1 + np.exp(2.0)), rel=1e-6)


def test_integrated_gradients_are_complete(world):
    """Sundararajan et al. (arXiv 1703.01365) completeness: the maps sum to score(x) - score(0); 32 steps, 10%."""
    from nuclassify.training import load_run

    model = load_run(world["run"]).model
    with open_dataset(world["test"]) as ds:
        views = [v[0] for v in ds.read_views([3])]
    maps, at_x, at_0 = integrated_gradients_maps(model, views, 2)
    assert sum(float(m.sum()) for m in maps) == pytest.approx(at_x - at_0, rel=0.1, abs=1e-3)


# --- gradients on every backend -------------------------------------------------------------------------

GRADCHECK = """
import numpy as np, keras
from keras import layers as kl
from nuclassify.trust import input_gradients, score_function
keras.utils.set_random_seed(0)
a, b = keras.Input((12, 6, 2), name="x"), keras.Input((12, 3, 2), name="u")
fa = kl.Flatten()(kl.Conv2D(3, (3, 2), activation="tanh")(a))
fb = kl.Flatten()(kl.Conv2D(3, (3, 2), activation="tanh")(b))
h = kl.Dense(8, activation="tanh")(kl.Concatenate()([fa, fb]))
model = keras.Model([a, b], kl.Dense(4, activation="softmax", name="output")(h))
rng = np.random.default_rng(0)
xs = [rng.normal(size=(3, 12, 6, 2)).astype(np.float32), rng.normal(size=(3, 12, 3, 2)).astype(np.float32)]
cls = np.array([0, 2, 3])
errors = {}
for score in ("probability", "logit"):
    fn = score_function(model, score)
    grads, values = input_gradients(fn, xs, cls)
    def f(ys):
        out = keras.ops.convert_to_numpy(fn([keras.ops.convert_to_tensor(y) for y in ys]))
        return np.asarray(out, dtype=np.float64)[np.arange(3), cls]
    assert np.allclose(values, f(xs), rtol=1e-5, atol=1e-6)
    d = [rng.normal(size=x.shape).astype(np.float32) for x in xs]
    step = 1e-2
    fd = (f([x + step * e for x, e in zip(xs, d)]) - f([x - step * e for x, e in zip(xs, d)])) / (2 * step)
    analytic = sum((g * e).reshape(3, -1).sum(axis=1) for g, e in zip(grads, d))
    errors[score] = float(np.abs(fd - analytic).max() / np.abs(analytic).max())
print("ERRORS", keras.backend.backend(), errors)
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_gradients_agree_with_finite_differences(backend):
    """Central differences along a random direction (step 1e-2, float32): measured 1e-4 to 5e-4; tolerance 1e-2."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", GRADCHECK], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("ERRORS"))
    assert line.split()[1] == backend
    errors = eval(line.split(" ", 2)[2])  # noqa: S307 - our own subprocess's dict literal
    assert max(errors.values()) < 1e-2, errors


# --- the cause table --------------------------------------------------------------------------------------

def test_cause_table_counts_a_constructed_case():
    from scipy.stats import fisher_exact

    wrong = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    flags = {"pileup": np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0], bool),
             "backward": np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0], bool)}
    rows = {r["cause"]: r for r in cause_table(wrong, flags)}
    assert (rows["pileup"]["errors"], rows["pileup"]["correct"]) == (2, 1)
    assert rows["pileup"]["error_rate"] == 0.5 and rows["pileup"]["correct_rate"] == pytest.approx(1 / 6)
    assert rows["pileup"]["ratio"] == pytest.approx(3.0)
    assert rows["pileup"]["p_value"] == pytest.approx(fisher_exact([[2, 2], [1, 5]])[1])
    assert rows["backward"]["ratio"] is None and rows["backward"]["errors"] == 1  # never among the correct
    assert (rows["any"]["errors"], rows["any"]["correct"]) == (3, 1)
    json.dumps(list(rows.values()), allow_nan=False)  # plain, strict JSON


def test_boundary_distance():
    from nuclassify.detector.minerva import SEGMENT_UPPER_Z_MM

    z = np.array([SEGMENT_UPPER_Z_MM[0] + 5.0, SEGMENT_UPPER_Z_MM[5] - 12.5, 3000.0])
    np.testing.assert_allclose(boundary_distance(z), [5.0, 12.5, SEGMENT_UPPER_Z_MM[0] - 3000.0])


def test_confusion_causes_ranks_the_errors_and_reads_the_truth(tmp_path):
    """A predictor wrong exactly on the pile-up events, surer the later the event: the table must say so."""
    path = tmp_path / "pile.h5"
    write_minerva(path, simulate_minerva(120, layout="2016", seed=5, pileup=0.3), layout="2016")
    with open_dataset(path) as ds:
        y = ds.labels("segment")
        pile = ds.read_truth("vtx_data/pileup").astype(bool)
        seen = [0]

        def fn(views):
            n = len(views[0])
            rows = np.arange(seen[0], seen[0] + n)
            seen[0] += n
            p = np.full((n, 11), 0.01)
            wrong = pile[rows]
            p[np.arange(n), np.where(wrong, (y[rows] + 1) % 11, y[rows])] = 0.5 + rows / 1000
            return p / p.sum(axis=1, keepdims=True), None

        predictor = Predictor("constructed", fn, "segment", list(ds.class_names("segment")), False)
        table = confusion_causes(predictor, ds, top=3, batch_size=32)
    assert table["n_errors"] == pile.sum() > 10
    rows = {r["cause"]: r for r in table["causes"]}
    assert rows["pileup"]["errors"] == pile.sum() and rows["pileup"]["correct"] == 0
    assert [t["index"] for t in table["top"]] == list(np.flatnonzero(pile)[::-1][:3])
    assert all(t["pileup"] is True for t in table["top"])
    assert set(table["legend"]) == {"near_boundary", "pileup", "backward", "any"} and table["unavailable"] == []
    assert table["notes"] == []


def test_confusion_causes_on_nova_says_the_table_is_minervas(tmp_path):
    """A NOvA file made by simulate has none of the vertex-finding causes: said as such, not as missing truth."""
    from nuclassify.data import write_nova
    from nuclassify.simulate import simulate_nova

    path = write_nova(tmp_path / "nova.h5", simulate_nova(40, seed=2))
    with open_dataset(path) as ds:
        n_classes = len(ds.class_names(ds.default_target))
        predictor = Predictor("flat", lambda v: (np.full((len(v[0]), n_classes), 1.0 / n_classes), None),
                              ds.default_target, list(ds.class_names(ds.default_target)), False)
        table = confusion_causes(predictor, ds, top=2, batch_size=16)
    assert len(table["notes"]) == 1 and "the cause table is MINERvA's" in table["notes"][0]
    assert "not made by" not in table["notes"][0]


# --- the command line -------------------------------------------------------------------------------------

def test_explain_one_event_draws_a_png_and_reports_json(world, tmp_path, capsys):
    out = tmp_path / "ex.png"
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--model", str(world["run"]), "--data", str(world["test"]), "--event", "7",
              "--method", "integrated-gradients", "-o", str(out), "--json"])
    assert exit_.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "integrated-gradients" and len(report["probabilities"]) == 11
    assert report["predicted"] == int(np.argmax(report["probabilities"])) and report["completeness_gap"] < 0.2
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_top_confused_writes_the_worst_errors_and_the_summary(world, tmp_path, capsys):
    out = tmp_path / "confused"
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--model", str(world["run"]), "--data", str(world["test"]), "--top-confused", "2",
              "-o", str(out), "--max-events", "120", "--json"])
    assert exit_.value.code == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_events"] == printed["n_events"] == 120
    confidences = [t["confidence"] for t in summary["top"]]
    assert len(confidences) == 2 and confidences == sorted(confidences, reverse=True)
    for k, t in enumerate(summary["top"], 1):
        assert t["png"] == f"rank-{k:02d}-event-{t['event_id']}.png" and t["true"] != t["predicted"]
        assert (out / t["png"]).read_bytes()[:8] == PNG_MAGIC
    # a shorter list over it leaves only its own PNGs (and a user's other files)
    (out / "notes.png").write_bytes(b"mine")
    with pytest.raises(SystemExit) as exit_:
        main(["-q", "explain", "--model", str(world["run"]), "--data", str(world["test"]), "--top-confused", "1",
              "-o", str(out), "--max-events", "120", "--overwrite"])
    assert exit_.value.code == 0
    again = json.loads((out / "summary.json").read_text())
    assert sorted(p.name for p in out.glob("*.png")) == sorted([again["top"][0]["png"], "notes.png"])


@pytest.mark.parametrize("args, message", [
    (["--event", "300"], "test.h5: event 300 out of range (valid: 0-299)"),
    (["--event", "-1"], "event -1 out of range"),
    ([], "give one of --event I"),
    (["--event", "1", "--top-confused", "2"], "give one of --event I"),
    (["--event", "1", "--seed", "5"], "--seed goes with --top-confused"),
])
def test_bad_input_is_one_line(world, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--model", str(world["run"]), "--data", str(world["test"]), "-o", str(tmp_path / "x.png"),
              *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_trackfit_and_onnx_gradients_are_refused(world, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--model", "trackfit", "--data", str(world["test"]), "--event", "1",
              "-o", str(tmp_path / "x.png")])
    assert exit_.value.code == 2 and "not a network" in capsys.readouterr().err
    for output, needle in ((tmp_path / "ex.txt", "draws a PNG; name the output *.png"),):
        with pytest.raises(SystemExit) as exit_:
            main(["explain", "--model", "trackfit", "--data", str(world["test"]), "--event", "1", "-o", str(output)])
        assert exit_.value.code == 2 and needle in capsys.readouterr().err and not output.exists()
    with pytest.raises(SystemExit) as exit_:  # the --top-confused folder may be new, its parent may not
        main(["explain", "--model", "trackfit", "--data", str(world["test"]), "--top-confused", "2",
              "-o", str(tmp_path / "nodir" / "sub")])
    assert exit_.value.code == 2 and "output folder" in capsys.readouterr().err
    assert not (tmp_path / "nodir").exists()
    from nuclassify.errors import UsageError

    with pytest.raises(UsageError, match="--method saliency needs the network's gradients"):
        Explainer("model.onnx", None, ["x", "u", "v"]).gradient_models("saliency")


def test_the_cause_table_needs_labels(tiny_unlabelled):
    from nuclassify.errors import UsageError

    with open_dataset(tiny_unlabelled) as ds:
        predictor = Predictor("any", lambda views: (np.full((len(views[0]), 11), 1 / 11), None), "segment",
                              list(ds.class_names("segment")), False)
        with pytest.raises(UsageError, match="real.h5: no event has a segment label"):
            confusion_causes(predictor, ds)
