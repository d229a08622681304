"""Provenance: every file we write says how it was made, and a simulated file can be made again.

The record is the ``nuclassify_provenance`` root attribute (a JSON object, data/README.md);
``Dataset.provenance``, ``inspect`` and ``inspect --json`` show it.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from nuclassify import __version__
from nuclassify.cli.main import cli
from nuclassify.data import open_dataset, write_images, write_minerva, write_nova
from nuclassify.errors import DataFileError, UsageError
from nuclassify.simulate import simulate_minerva, simulate_nova

EPOCH = "1700000000"
EPOCH_ISO = "2023-11-14T22:13:20Z"


def _run(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result


def test_inspect_json_shows_seed_and_every_simulate_option(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    path = tmp_path / "m.h5"
    _run(["-q", "simulate", "minerva", "-n", "30", "-o", str(path), "--seed", "7", "--workers", "2",
          "--beam", "me", "--pileup", "0.1", "--backward", "0.2", "--gain", "1.05", "--noise-rate", "5e-4",
          "--layout", "2016"])
    prov = json.loads(_run(["inspect", str(path), "--json"]).output)["provenance"]
    assert {k: v for k, v in prov.items() if k != "command"} == {
        "simulator": "nuclassify.simulate.simulate_minerva", "simulator_version": 2, "detector": "minerva",
        "n_events": 30, "seed": 7, "block_size": 2500, "beam": "me", "layout": "2016", "pileup": 0.1,
        "backward_fraction": 0.2, "gain": 1.05, "noise_rate": 0.0005, "crosstalk": 0.04, "dead_channels": 0.002,
        "attenuation": 1.0, "time_reference": "reco", "z_max": 6172.29, "nuclassify_version": __version__,
        "created": EPOCH_ISO}
    # Rebuilt from the options: every option spelled out, nothing the file does not depend on.
    assert prov["command"] == ("nuclassify simulate minerva -n 30 --seed 7 --beam me --pileup 0.1 --backward 0.2 "
                               "--gain 1.05 --noise-rate 0.0005 --layout 2016 --crosstalk 0.04 --dead-channels 0.002 "
                               "--attenuation 1.0 --time-reference reco --z-max 6172.29")
    with open_dataset(path) as ds:
        assert ds.provenance == prov
    text = _run(["inspect", str(path)]).output
    assert "provenance: command" in text and "nuclassify simulate minerva -n 30 --seed 7" in text
    assert "seed                7" in text and f"created             {EPOCH_ISO}" in text


def test_recorded_command_remakes_the_file_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    first, again = tmp_path / "first.h5", tmp_path / "again.h5"
    _run(["-q", "simulate", "nova", "-n", "40", "-o", str(first), "--seed", "5", "--gain", "0.9", "--workers", "2"])
    with open_dataset(first) as ds:
        command = shlex.split(ds.provenance["command"])
    assert command[:3] == ["nuclassify", "simulate", "nova"]
    _run(["-q"] + command[1:] + ["-o", str(again)])
    assert first.read_bytes() == again.read_bytes()


def test_without_source_date_epoch_the_time_is_present_and_recent(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    path = tmp_path / "n.h5"
    _run(["-q", "simulate", "nova", "-n", "20", "-o", str(path)])
    after = dt.datetime.now(dt.timezone.utc)
    with open_dataset(path) as ds:
        created = ds.provenance["created"]
    stamp = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert before <= stamp <= after


def test_bad_source_date_epoch_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    result = CliRunner().invoke(cli, ["-q", "simulate", "nova", "-n", "20", "-o", str(tmp_path / "n.h5")])
    assert isinstance(result.exception, UsageError) and "SOURCE_DATE_EPOCH" in str(result.exception)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_or_fractional_source_date_epoch_through_the_command_line(tmp_path):
    """numpy's f2py (imported with SciPy) reads the variable with a bare int(); the CLI settles it first."""
    import os
    import subprocess
    import sys

    for value, code, fragment in (("", 0, ""), ("1.5", 2, "SOURCE_DATE_EPOCH must be a whole number")):
        proc = subprocess.run([sys.executable, "-m", "nuclassify", "-q", "simulate", "minerva", "-n", "5", "-o",
                               str(tmp_path / f"e{code}.h5")], capture_output=True, text=True,
                              env={**os.environ, "SOURCE_DATE_EPOCH": value})
        assert proc.returncode == code, proc.stderr
        assert fragment in proc.stderr and "Traceback" not in proc.stderr


def test_library_simulation_carries_its_options_into_the_writer(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    blocks = simulate_minerva(20, seed=4, gain=2, block_size=10, workers=2)
    assert blocks.provenance["gain"] == 2.0 and "workers" not in blocks.provenance
    path = write_minerva(tmp_path / "m.h5", blocks, provenance={"purpose": "unit test", "size": np.int64(3)})
    with open_dataset(path) as ds:
        prov = ds.provenance
        assert prov["seed"] == 4 and prov["gain"] == 2.0 and prov["block_size"] == 10 and prov["n_events"] == 20
        assert prov["purpose"] == "unit test" and prov["size"] == 3  # caller's keys, numpy made plain
        assert "command" not in prov and "workers" not in prov
        prov["seed"] = -1
        assert ds.provenance["seed"] == 4  # a copy each time
    nova = write_nova(tmp_path / "n.h5", simulate_nova(10, seed=2))
    with open_dataset(nova) as ds:
        assert ds.provenance["detector"] == "nova" and ds.provenance["seed"] == 2


def test_every_writer_records_version_and_time_and_foreign_files_have_none(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    images = np.zeros((4, 3, 3, 1), np.float32)
    ours = write_images(tmp_path / "ours.h5", images, np.arange(4) % 2)
    with open_dataset(ours) as ds:
        assert ds.provenance == {"created": EPOCH_ISO, "nuclassify_version": __version__}
    theirs = tmp_path / "theirs.h5"  # written by someone else, with plain h5py
    with h5py.File(theirs, "w") as h5:
        h5["images"] = images
        h5["labels"] = np.arange(4) % 2
    with open_dataset(theirs) as ds:
        assert ds.provenance == {}
    assert json.loads(_run(["inspect", str(theirs), "--json"]).output)["provenance"] == {}
    assert "provenance: (none recorded)" in _run(["inspect", str(theirs)]).output


def test_unstorable_or_corrupt_provenance_fails_in_one_line(tmp_path):
    with pytest.raises(UsageError, match="provenance cannot be stored as JSON"):
        write_images(tmp_path / "x.h5", np.zeros((2, 3, 3)), np.zeros(2, int), provenance={"f": object()})
    with pytest.raises(UsageError, match="keys must be strings"):
        write_images(tmp_path / "x.h5", np.zeros((2, 3, 3)), np.zeros(2, int), provenance={1: "a"})
    assert list(tmp_path.iterdir()) == []
    path = write_images(tmp_path / "y.h5", np.zeros((2, 3, 3)), np.zeros(2, int))
    with h5py.File(path, "a") as h5:
        h5.attrs["nuclassify_provenance"] = "[1, 2"
    with open_dataset(path) as ds, pytest.raises(DataFileError, match="nuclassify_provenance is not valid JSON"):
        _ = ds.provenance
