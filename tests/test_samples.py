"""Named event samples: ``evaluate --sample muon-track`` counts the events MINERvA's lattices hold."""

from __future__ import annotations

import csv
import io
import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from nuclassify.cli.main import cli
from nuclassify.data import open_dataset, sample_indices
from nuclassify.errors import DataFileError, UsageError


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    path = tmp_path_factory.mktemp("samples") / "sim.h5"
    result = CliRunner().invoke(cli, ["-q", "simulate", "minerva", "-n", "400", "-o", str(path), "--seed", "4"])
    assert result.exit_code == 0, result.output
    return path


def test_the_muon_track_sample_holds_the_events_whose_clock_is_a_muon_track(simulated):
    with open_dataset(simulated) as ds:
        source = ds.read_truth("vtx_data/time_ref_source")
        current = ds.read_truth("gen_data/current")
        lepton = ds.read_truth("lepto_data/pdg")
        idx = sample_indices(ds, "muon-track")
        assert sample_indices(ds, "all") is None
    assert np.array_equal(idx, np.flatnonzero(source == 0))
    # Physics: a neutral-current event has no muon, so it never has a muon track; and the
    # sample is most charged-current events (72.8% of all events in data/README's 20,000).
    assert np.all(current[idx] == 1) and np.all(np.abs(lepton[idx]) == 13)
    assert 0.6 < len(idx) / len(source) < 0.85
    assert np.mean(source[current == 1] == 0) > 0.9


def test_evaluate_counts_only_the_sample_and_says_so(simulated):
    runner = CliRunner()
    res = runner.invoke(cli, ["-q", "predict", "--model", "trackfit", "--data", str(simulated)])
    assert res.exit_code == 0, res.output
    predicted = np.array([int(row["predicted"]) for row in csv.DictReader(io.StringIO(res.stdout))])
    with open_dataset(simulated) as ds:
        labels = ds.labels()
        idx = sample_indices(ds, "muon-track")
    res = runner.invoke(cli, ["evaluate", "--model", "trackfit", "--data", str(simulated),
                              "--sample", "muon-track", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["sample"] == {"name": "muon-track", "n_events": len(idx), "n_file_events": 400}
    assert payload["n_events"] == len(idx)
    # The same events as the hand selection: the accuracy over exactly those events.
    assert payload["accuracy"] == pytest.approx(np.mean(predicted[idx] == labels[idx]))
    whole = json.loads(runner.invoke(cli, ["evaluate", "--model", "trackfit", "--data", str(simulated),
                                           "--json"]).stdout)
    assert whole["sample"]["name"] == "all" and whole["n_events"] == 400
    # Without a muon track the classical finder has no track to follow: the sample is easier.
    assert payload["accuracy"] > whole["accuracy"]
    text = runner.invoke(cli, ["evaluate", "--compare", "trackfit", "upstream", "--data", str(simulated),
                               "--sample", "muon-track"]).stdout
    assert text.startswith(f"sample muon-track: {len(idx)} of 400 events")
    assert f"n = {len(idx)} paired events" in text


def test_a_sample_the_file_cannot_tell_apart_is_refused_in_one_line(simulated, tmp_path):
    old = tmp_path / "v1.h5"
    old.write_bytes(simulated.read_bytes())
    with h5py.File(old, "a") as f:
        del f["vtx_data/time_ref_source"]
    res = CliRunner().invoke(cli, ["evaluate", "--model", "trackfit", "--data", str(old), "--sample", "muon-track"])
    assert res.exit_code != 0
    assert str(old) in str(res.exception) and "time_ref_source" in str(res.exception)
    with open_dataset(old) as ds, pytest.raises(DataFileError, match="simulate it again"):
        sample_indices(ds, "muon-track")
    inspected = CliRunner().invoke(cli, ["inspect", str(old), "--json"])  # inspect says nothing of it
    assert inspected.exit_code == 0 and "samples" not in json.loads(inspected.stdout)
    # An experiment's own file (no provenance) holds only events with a muon track: all count.
    with h5py.File(old, "a") as f:
        for key in list(f.attrs):
            if "provenance" in key:
                del f.attrs[key]
    with open_dataset(old) as ds:
        assert ds.provenance == {}
        assert np.array_equal(sample_indices(ds, "muon-track"), np.arange(400))
        with pytest.raises(UsageError, match="unknown sample"):
            sample_indices(ds, "cc")


def test_the_muon_track_sample_of_a_nova_file_is_refused(tmp_path):
    from nuclassify.data import NovaBlock, write_nova

    rng = np.random.default_rng(0)
    maps = (rng.integers(0, 255, (8, 16000)) * (rng.random((8, 16000)) < 0.05)).astype(np.uint8)
    write_nova(tmp_path / "nova.h5", [NovaBlock(cvnmap=maps, interaction=rng.choice([0, 4, 13], 8))])
    with open_dataset(tmp_path / "nova.h5") as ds, pytest.raises(UsageError, match="MINERvA's"):
        sample_indices(ds, "muon-track")


def test_inspect_counts_the_muon_track_events(simulated):
    runner = CliRunner()
    with open_dataset(simulated) as ds:
        n = len(sample_indices(ds, "muon-track"))
    payload = json.loads(runner.invoke(cli, ["inspect", str(simulated), "--json"]).stdout)
    assert payload["samples"] == {"muon-track": n}
    text = runner.invoke(cli, ["inspect", str(simulated)]).stdout
    assert f"sample:     muon-track {n} events ({100 * n / 400:.1f}%; evaluate --sample muon-track)" in text


def test_the_plots_of_a_sample_say_which_events_they_count(simulated, tmp_path):
    from matplotlib.image import imread

    heights = {}
    for sample in ("all", "muon-track"):
        res = CliRunner().invoke(cli, ["-q", "evaluate", "--model", "trackfit", "--data", str(simulated), "--sample",
                                       sample, "--per-segment", "--plots", str(tmp_path / sample)])
        assert res.exit_code == 0, res.output
        heights[sample] = {name: imread(tmp_path / sample / name).shape[0]
                           for name in ("per_segment.png", "confusion.png", "reliability.png")}
    # The sample's line is written under everything else, so each of its figures is taller.
    assert all(heights["muon-track"][name] > heights["all"][name] for name in heights["all"])


@pytest.mark.slow
def test_train_on_the_muon_track_sample_uses_only_those_events(tmp_path):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("in-process tests run on the TensorFlow backend")
    from conftest import TINY_SPEC

    from nuclassify.data import write_minerva
    from nuclassify.errors import RunDirError
    from nuclassify.simulate import simulate_minerva
    from nuclassify.training import TrainConfig, fit

    train, valid = tmp_path / "train.h5", tmp_path / "valid.h5"
    write_minerva(train, simulate_minerva(160, layout="2016", seed=41), layout="2016")
    write_minerva(valid, simulate_minerva(60, layout="2016", seed=42), layout="2016")
    with open_dataset(train) as ds, open_dataset(valid) as vs:
        n_train, n_valid = len(sample_indices(ds, "muon-track")), len(sample_indices(vs, "muon-track"))
    assert 0 < n_train < 160 and 0 < n_valid < 60
    held = fit(TINY_SPEC, TrainConfig(train, tmp_path / "a", valid_fraction=0.25, sample="muon-track", quiet=True))
    assert held.train_events + held.valid_events == n_train and held.meta["sample"] == "muon-track"
    other = fit(TINY_SPEC, TrainConfig(train, tmp_path / "b", valid=valid, sample="muon-track", max_events=50,
                                       quiet=True))
    assert (other.train_events, other.valid_events) == (50, n_valid)
    whole = fit(TINY_SPEC, TrainConfig(train, tmp_path / "c", valid=valid, quiet=True))
    assert (whole.train_events, whole.valid_events) == (160, 60) and whole.meta["sample"] == "all"
    # A resumed run trains on the same events: another sample is refused.
    with pytest.raises(RunDirError, match="sample differs"):
        fit(TINY_SPEC, TrainConfig(train, tmp_path / "c", valid=valid, sample="muon-track", resume=True, epochs=2,
                                   quiet=True))
    with pytest.raises(UsageError, match="either sample 'muon-track' or train_indices"):
        TrainConfig(train, tmp_path / "d", sample="muon-track", train_indices=[0, 1])
    with pytest.raises(UsageError, match="sample must be one of all, muon-track"):
        TrainConfig(train, tmp_path / "d", sample="cc")
