"""``nuclassify predict``: one row per event, probabilities summing to 1, CSV/HDF5, unlabelled files."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from test_evaluate_cli import make_run
from test_trackfit import write_track_file

from nuclassify.cli.main import cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("predcli")
    data, z0, seg = write_track_file(d / "test.h5", n=40, seed=21)
    unl, _, _ = write_track_file(d / "real.h5", n=15, seed=22, labelled=False)
    return {"dir": d, "data": data, "z0": z0, "seg": seg, "unlabelled": unl, "run": make_run(d / "run", 5)}


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_trackfit_csv_on_stdout(files):
    r = CliRunner().invoke(cli, ["predict", "--model", "trackfit", "--data", str(files["data"]), "--batch-size", "16"])
    assert r.exit_code == 0, r.output
    rows = _rows(r.stdout)
    assert len(rows) == 40
    assert list(rows[0])[:3] == ["event_id", "predicted", "p_0"] and list(rows[0])[-1] == "z_mm"
    assert [int(row["event_id"]) for row in rows] == list(range(1000, 1040))
    probs = np.array([[float(row[f"p_{i}"]) for i in range(11)] for row in rows])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    pred = np.array([int(row["predicted"]) for row in rows])
    assert np.array_equal(pred, probs.argmax(axis=1))
    z = np.array([float(row["z_mm"]) for row in rows])
    assert np.median(np.abs(z - files["z0"])) < 30.0
    assert np.mean(pred == files["seg"]) > 0.7


def test_model_to_hdf5_and_csv_file(files):
    out = files["dir"] / "pred.h5"
    r = CliRunner().invoke(cli, ["predict", "--model", str(files["run"]), "--data", str(files["data"]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as h5:
        assert h5["event_id"].shape == (40,) and h5["probabilities"].shape == (40, 11)
        assert np.allclose(h5["probabilities"][:].sum(axis=1), 1.0, atol=1e-5)
        assert np.array_equal(h5["predicted"][:], h5["probabilities"][:].argmax(axis=1))
        assert "z_mm" not in h5  # no z head
    out_csv = files["dir"] / "pred.csv"
    r = CliRunner().invoke(cli, ["predict", "--model", str(files["run"]), "--data", str(files["data"]),
                                 "-o", str(out_csv)])
    assert r.exit_code == 0, r.output
    rows = _rows(out_csv.read_text())
    assert len(rows) == 40 and "z_mm" not in rows[0]
    r = CliRunner().invoke(cli, ["predict", "--model", str(files["run"]), "--data", str(files["data"]),
                                 "-o", str(out_csv)])
    assert r.exit_code != 0 and "exists" in str(r.exception)


def test_unlabelled_file_via_subprocess_pipeline(files):
    proc = subprocess.run([sys.executable, "-m", "nuclassify", "predict", "--model", "trackfit",
                           "--data", str(files["unlabelled"])], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 16 and lines[0].startswith("event_id,predicted,")
    assert "predict" not in proc.stdout.lower().split("\n", 1)[1]  # no progress text in the CSV


def test_bad_output_suffix(files):
    r = CliRunner().invoke(cli, ["predict", "--model", "trackfit", "--data", str(files["data"]),
                                 "-o", str(files["dir"] / "x.txt")])
    assert r.exit_code != 0 and ".csv" in str(r.exception)
