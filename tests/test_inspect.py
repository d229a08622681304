"""``inspect`` on files the project did not write (built with plain h5py), text and --json."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from nuclassify.cli.main import cli
from nuclassify.data import MinervaBlock, SparseImages, summarize, write_minerva

N = 24


@pytest.fixture
def flat_2016(tmp_path):
    """Experiment-style 2016 flat file: energy only (C = 1), widths 50/25, exactly 25 hits per X event."""
    path = tmp_path / "minerva_2016.hdf5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        for view, w in (("x", 50), ("u", 25), ("v", 25)):
            data = np.zeros((N, 1, 127, w), np.float32)
            for i in range(N):
                data[i, 0].flat[rng.choice(127 * w, 25 if view == "x" else 10, replace=False)] = 2.5
            h5.create_dataset(f"hitimes-{view}", data=data, chunks=(1, 1, 127, w), compression="gzip")
        seg = np.array([0, 1, 1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10] + [0xFF] * 10, np.uint8)
        h5["segments"] = seg
        h5["planecodes"] = np.where(seg == 0xFF, 0xFFFF, seg.astype(np.uint16) * 6).astype(np.uint16)
        h5["zs"] = np.linspace(4300, 6000, N).astype(np.float32)
        h5["eventids"] = np.arange(N, dtype=np.uint64) + 1_234_560_000_000_000
    return path


def test_inspect_json_on_plain_h5py_2016_file(flat_2016):
    result = CliRunner().invoke(cli, ["inspect", str(flat_2016), "--json"])
    assert result.exit_code == 0, result.output
    s = json.loads(result.output)
    assert s["layout"] == "minerva-2016" and s["n_events"] == N
    assert [(v["name"], v["shape"], v["channels"], v["storage"]) for v in s["views"]] == [
        ("x", [127, 50, 1], ["energy"], "dense"), ("u", [127, 25, 1], ["energy"], "dense"),
        ("v", [127, 25, 1], ["energy"], "dense")]
    assert s["occupancy"]["x"] == pytest.approx(25 / (127 * 50))
    assert s["occupancy"]["u"] == pytest.approx(10 / (127 * 25))
    seg = s["targets"]["segment"]
    assert seg["counts"] == [1, 2, 1, 3, 1, 1, 1, 1, 1, 1, 1] and seg["unlabelled"] == 10
    pc = s["targets"]["planecode"]
    assert pc["n_classes"] == 67 and pc["labelled"] == 14
    assert {"zs", "eventids", "segments", "planecodes"} <= set(s["truth_fields"])
    assert s["pixels_checked_events"] == N


def test_inspect_text_report(flat_2016):
    result = CliRunner().invoke(cli, ["inspect", str(flat_2016)])
    assert result.exit_code == 0, result.output
    assert "layout:     minerva-2016" in result.output
    assert "events:     24" in result.output
    assert "T3-T4 (water)" in result.output
    assert "10 unlabelled" in result.output


def test_inspect_nova_rec_training_naming(tmp_path):
    path = tmp_path / "nova.h5"
    codes = np.array([0, 1, 4, 8, 13, 13, 14, 12, 255])
    with h5py.File(path, "w") as h5:
        maps = np.zeros((len(codes), 16000), np.uint8)
        maps[:, :160] = 9  # first two planes of the XZ view fully lit: 160 of 16000 pixels
        h5["rec.training.cvnmaps/cvnmap"] = maps
        h5["rec.training.trainingdata/interaction"] = codes.reshape(-1, 1).astype(np.int32)
    s = summarize(path)
    assert s["layout"] == "nova-cvn" and s["n_events"] == 9
    assert s["targets"]["flavour"]["counts"] == [2, 1, 1, 2]
    assert s["targets"]["flavour"]["unlabelled"] == 3  # nu-e elastic, cosmic, 255
    assert s["targets"]["interaction13"]["counts"][12] == 2
    assert s["interaction_codes"]["cosmic"] == 1 and s["interaction_codes"]["unlabelled"] == 1
    assert s["occupancy"]["xz"] == pytest.approx(160 / 8000) and s["occupancy"]["yz"] == 0.0


def test_inspect_sparse_occupancy_is_exact(tmp_path):
    dense = np.zeros((6, 2, 127, 94), np.float32)
    dense[:, 0, 10, :30] = 1.0  # 30 hits per X event
    views = {v: SparseImages.from_dense(dense[..., : (94 if v == "x" else 47)]) for v in "xuv"}
    block = MinervaBlock(views, np.zeros(6, np.uint8), np.zeros(6, np.uint16), np.zeros(6, np.float32),
                         np.arange(6, dtype=np.uint64))
    s = summarize(write_minerva(tmp_path / "s.h5", [block]))
    assert s["views"][0]["storage"] == "sparse"
    assert s["occupancy"]["x"] == pytest.approx(30 / (127 * 94))
    assert s["occupancy"]["u"] == pytest.approx(30 / (127 * 47))


def test_a_training_run_or_its_model_is_named_for_what_it_is(tmp_path):
    from nuclassify.cli.main import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    (run / "model.keras").write_bytes(b"zip")
    for target in (run, run / "model.keras"):
        with pytest.raises(SystemExit) as info:
            main(["inspect", str(target)])
        assert info.value.code == 2


def test_batches_refuse_arguments_that_are_not_whole_numbers(flat_2016):
    from nuclassify.data import open_dataset
    from nuclassify.errors import UsageError

    with open_dataset(flat_2016) as ds:
        for kwargs in ({"batch_size": None}, {"batch_size": 2.5}, {"batch_size": 4, "seed": "x"},
                       {"batch_size": 4, "epoch": -1}):
            with pytest.raises(UsageError, match="must be an integer"):
                next(ds.batches(**kwargs))
        assert len(next(ds.batches(np.int64(4)))[1]) == 4
