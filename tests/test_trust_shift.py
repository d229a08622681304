"""``nuclassify shift``: data-shift scores on simulated MINERvA, their statistics, the plot, and bad input.

The physics anchor is the simulator's own knobs: a sample made with the training settings must
not be flagged, samples made with another gain, noise rate, beam or pile-up fraction must be,
and the score must grow with the size of a gain shift. A tiny network (TINY_SPEC with the signed
log input transform, so its features are alive) is trained on one file and a second, held-out
file of the same settings is the reference: a network's features are tighter on its own
training events, which is not the shift these tests are about.
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
from conftest import TINY_SPEC, make_minerva_file

from nuclassify.cli.main import main
from nuclassify.data import open_dataset, write_minerva
from nuclassify.simulate import simulate_minerva
from nuclassify.trust import (
    compute_features,
    input_feature_names,
    input_features,
    load_feature_extractor,
    mmd_test,
    rbf_kernel_median,
    shift_scores,
)
from nuclassify.trust._shift import normal_scores

N = 1000  # events per sample: enough that a 5% gain shift moves the score by several standard errors
PERMUTATIONS = 100
SAMPLES = {"train": dict(seed=10), "reference": dict(seed=11), "fresh": dict(seed=12),
           "gain1.05": dict(seed=14, gain=1.05), "gain1.1": dict(seed=15, gain=1.1),
           "gain1.2": dict(seed=16, gain=1.2), "gain1.3": dict(seed=17, gain=1.3),
           "noise": dict(seed=18, noise_rate=2e-3), "beam_me": dict(seed=19, beam="me"),
           "pileup": dict(seed=20, pileup=0.5)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Simulated 2016-layout files of each setting, and a tiny run trained on 'train'."""
    from nuclassify.training import TrainConfig, fit

    d = tmp_path_factory.mktemp("shift")
    files = {}
    for name, kw in SAMPLES.items():
        files[name] = d / f"{name}.h5"
        write_minerva(files[name], simulate_minerva(N, layout="2016", **kw), layout="2016")
    spec = copy.deepcopy(TINY_SPEC)
    spec["input_transform"] = "log1p"
    fit(spec, TrainConfig(files["train"], d / "run", epochs=4, quiet=True, seed=0))
    return {"dir": d, "files": files, "run": d / "run", "reports": {}}


def _report(world, name):
    if name not in world["reports"]:
        world["reports"][name] = shift_scores(world["run"], world["files"]["reference"], world["files"][name],
                                              max_events=N, permutations=PERMUTATIONS, seed=0)
    return world["reports"][name]


# --- statistics on known distributions --------------------------------------------------------------

def test_mmd_is_the_unbiased_estimate_and_its_permutation_test_has_power():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(150, 4)), rng.normal(size=(150, 4)) + 0.4
    result = mmd_test(x, y, permutations=99, seed=0)
    k, _ = rbf_kernel_median(np.vstack([x, y]))
    n = 150
    direct = ((k[:n, :n].sum() - n) / (n * (n - 1)) + (k[n:, n:].sum() - n) / (n * (n - 1))
              - 2 * k[:n, n:].mean())  # Gretton et al. 2012, eq. (3)
    assert result.mmd2 == pytest.approx(direct, rel=1e-5)
    assert result.p_value == pytest.approx(0.01)  # the smallest a 99-permutation test can give


def test_mmd_p_values_under_the_null_are_not_small():
    rng = np.random.default_rng(2)
    ps = [mmd_test(rng.normal(size=(60, 3)), rng.normal(size=(60, 3)), permutations=49, seed=s).p_value
          for s in range(20)]
    # uniform under H0: 20 draws have mean 0.5 +- 0.065 (1 sd); fewer than 4 of them below 0.05 at 99.5%
    assert 0.3 < np.mean(ps) < 0.7 and sum(p < 0.05 for p in ps) <= 3


def test_normal_scores_keep_order_and_drop_constant_columns():
    ref = np.array([[0.0, 1.0, 5.0], [0.0, 3.0, 5.0], [0.0, 100.0, 5.0]])
    dat = np.array([[0.0, 2.0, 5.0]])
    zr, zd = normal_scores(ref, dat)
    assert zr.shape == (3, 1) and zd.shape == (1, 1)  # the two constant columns are gone
    assert list(np.argsort(np.r_[zr[:, 0], zd[:, 0]])) == [0, 3, 1, 2]
    assert abs(np.r_[zr[:, 0], zd[:, 0]].mean()) < 1e-12  # normal scores of ranks are symmetric about 0


def test_input_features_on_a_hand_made_view():
    view = np.zeros((1, 4, 3, 2), np.float32)
    view[0, 0, 0] = [1.0, 10.0]
    view[0, 1, 1] = [2.0, 20.0]
    view[0, 2, 2] = [6.0, 30.0]
    view[0, 3, 0, 1] = 999.0  # a time with no energy is not a hit
    empty = np.zeros((1, 4, 3, 2), np.float32)
    f = input_features([view, empty])
    names = input_feature_names(["x", "u"], 2)
    got = dict(zip(names, f[0], strict=True))
    assert got["x_hits"] == 3 and got["x_energy"] == 9.0 and got["x_hit_energy_median"] == 2.0
    assert got["x_time_median"] == 20.0 and got["x_time_iqr"] == 10.0  # quartiles 15 and 25
    assert got["u_hits"] == 0 and got["u_hit_energy_median"] == 0.0 and got["u_time_iqr"] == 0.0


# --- the anchors on simulated MINERvA ----------------------------------------------------------------

def test_a_fresh_sample_of_the_training_settings_is_not_flagged(world):
    r = _report(world, "fresh")
    assert not r.flagged and r.p_values["overall"] > 0.05, r.p_values
    assert r.score < 0.1 and abs(r.classifier.auc - 0.5) < 0.05
    assert 0.0 <= r.mahalanobis.beyond_q99 <= 0.03  # about 1% of events beyond the reference's 99th percentile


@pytest.mark.parametrize("name", ["gain1.3", "noise", "beam_me", "pileup"])
def test_samples_with_shifted_settings_are_flagged(world, name):
    r = _report(world, name)
    assert r.flagged and r.p_values["overall"] < 0.05, r.p_values
    assert r.score > _report(world, "fresh").score + 0.15


def test_a_gain_shift_shows_in_the_hit_energies_by_its_size(world):
    r = _report(world, "gain1.3")
    top = max(r.inputs, key=lambda row: row["ks"])
    assert top["feature"].endswith("hit_energy_median")
    median = next(row for row in r.inputs if row["feature"] == "x_hit_energy_median")
    # the gain multiplies every recorded energy: the median hit energy scales by 1.3 (5% for threshold effects)
    assert median["data_median"] / median["reference_median"] == pytest.approx(1.3, rel=0.05)


def test_the_score_grows_with_the_gain_shift(world):
    scores = [_report(world, name).score for name in ("fresh", "gain1.05", "gain1.1", "gain1.2")]
    # measured 0.02, 0.13, 0.25, 0.51 at 1500 events: steps of 4+ standard errors, so strictly increasing
    assert all(a < b for a, b in zip(scores, scores[1:], strict=False)), scores


# --- the command ------------------------------------------------------------------------------------

def test_shift_cli_json_plot_and_per_event_csv(world, capsys):
    d = world["dir"]
    plot, events = d / "shift.png", d / "events.csv"
    with pytest.raises(SystemExit) as exit_:
        main(["shift", "--model", str(world["run"]), "--reference", str(world["files"]["reference"]),
              "--data", str(world["files"]["gain1.3"]), "--max-events", "300", "--permutations", "20", "--json",
              "--plot", str(plot), "--per-event", str(events)])
    assert exit_.value.code == 0
    payload = json.loads(capsys.readouterr().out)
    assert 0.0 <= payload["score"] <= 1.0 and payload["flagged"] is True
    assert set(payload["p_value"]) == {"overall", "mmd", "mahalanobis", "classifier", "input_ks"}
    assert payload["data"]["n_events"] == 300 and len(payload["input_features"]) == 15
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = events.read_text().splitlines()
    assert rows[0] == "event_id,mahalanobis,p_data" and len(rows) == 301


def test_unlabelled_data_work(world):
    import h5py

    path = world["dir"] / "unlabelled.h5"
    write_minerva(path, simulate_minerva(200, layout="2016", seed=40), layout="2016")
    with h5py.File(path, "r+") as h5:
        h5["segments"][...] = 0xFF
        h5["planecodes"][...] = 0xFFFF
    with open_dataset(path) as ds:
        assert not ds.labelled("segment")
    r = shift_scores(world["run"], world["files"]["reference"], path, max_events=200, permutations=20)
    assert r.n_data == 200 and 0.0 <= r.p_values["overall"] <= 1.0


def test_a_reference_of_another_layout_is_one_line(world, tmp_path, capsys):
    other = make_minerva_file(tmp_path / "other.h5", n=40, width=10)  # 2016 names, other image widths
    with pytest.raises(SystemExit) as exit_:
        main(["shift", "--model", str(world["run"]), "--reference", str(other),
              "--data", str(world["files"]["fresh"])])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nuclassify: error: --reference") and "other.h5" in lines[0]
    assert "x(127,10,2)" in lines[0] and "x(127,50,2)" in lines[0]


def test_outputs_that_clash_are_refused_before_any_work(world, tmp_path, capsys):
    data = world["files"]["fresh"]
    before = data.read_bytes()
    base = ["shift", "--model", str(world["run"]), "--reference", str(world["files"]["reference"]),
            "--data", str(data), "--overwrite"]
    for extra, fragment in ((["--per-event", str(data)], "is the input"),
                            (["--plot", str(tmp_path / "s.png"), "--per-event", str(tmp_path / "s.png")],
                             "--plot and --per-event name the same file"),
                            (["--plot", str(tmp_path / "s.pdf")], "--plot draws a PNG; name it *.png"),
                            (["--per-event", str(tmp_path / "s.h5")], "--per-event writes CSV; name it *.csv")):
        with pytest.raises(SystemExit) as exit_:
            main([*base, *extra])
        err = capsys.readouterr()
        assert exit_.value.code == 2 and fragment in err.err and err.out == ""
    assert data.read_bytes() == before and not (tmp_path / "s.png").exists()


def test_trackfit_has_no_features_to_compare(world, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["shift", "--model", "trackfit", "--reference", str(world["files"]["reference"]),
              "--data", str(world["files"]["fresh"])])
    assert exit_.value.code == 2 and "penultimate" in capsys.readouterr().err


# --- backends -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_features_are_the_same_on_other_backends(world, tmp_path, backend):
    if importlib.util.find_spec(backend) is None:  # not imported here: the subprocess runs it
        pytest.skip(f"{backend} is not installed")
    with open_dataset(world["files"]["fresh"]) as ds:
        tf_feats, _ = compute_features(load_feature_extractor(world["run"]), ds, np.arange(64))
    out = tmp_path / f"{backend}.npy"
    code = ("import numpy as np, sys\n"
            "from nuclassify.data import open_dataset\n"
            "from nuclassify.trust import compute_features, load_feature_extractor\n"
            f"import keras\nassert keras.backend.backend() == {backend!r}\n"
            f"with open_dataset({str(world['files']['fresh'])!r}) as ds:\n"
            f"    f, _ = compute_features(load_feature_extractor({str(world['run'])!r}), ds, np.arange(64))\n"
            f"np.save({str(out)!r}, f)\n")
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_allclose(np.load(out), tf_feats, rtol=1e-4, atol=1e-4)
