"""``nuclassify simulate``: files, reproducibility, and bad input refused without half-written files."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
from click.testing import CliRunner

from nuclassify.cli.main import cli
from nuclassify.data import open_dataset
from nuclassify.errors import UsageError


def _run(args):
    return CliRunner().invoke(cli, args)


def _contents(path):
    """Every dataset of an HDF5 file as {name: array}."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_minerva_file_reads_back_with_labels(tmp_path):
    path = tmp_path / "m.h5"
    result = _run(["simulate", "minerva", "-n", "120", "-o", str(path), "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_events"] == 120 and summary["kb_per_event"] > 0
    with open_dataset(path) as ds:
        assert ds.layout == "minerva-2018" and ds.n_events == 120
        assert ds.view_shapes["x"] == (127, 94, 2)
        labels = ds.labels("segment")
        assert labels.min() >= 0 and labels.max() <= 10
        zs = ds.read_truth("vtx_data/zs")
        assert np.all((zs > 4280) & (zs <= 6172.29))  # up to the skimmer's default bound


def test_same_seed_identical_file_contents_whatever_workers(tmp_path, monkeypatch):
    # The recorded creation time is the only thing that varies between runs: fix it, as a
    # reproducible build would (tests/test_provenance.py checks the time itself).
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a, b, c = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    assert _run(["-q", "simulate", "minerva", "-n", "60", "-o", str(a), "--seed", "9"]).exit_code == 0
    assert _run(["-q", "simulate", "minerva", "-n", "60", "-o", str(b), "--seed", "9", "--workers", "2"]).exit_code == 0
    assert _run(["-q", "simulate", "minerva", "-n", "60", "-o", str(c), "--seed", "10"]).exit_code == 0
    assert a.read_bytes() == b.read_bytes()  # byte for byte, not only the same arrays
    ca, cb, cc = _contents(a), _contents(b), _contents(c)
    assert ca.keys() == cb.keys()
    assert all(np.array_equal(ca[k], cb[k]) for k in ca)
    assert not np.array_equal(ca["vtx_data/zs"], cc["vtx_data/zs"])


def test_nova_file(tmp_path):
    path = tmp_path / "n.h5"
    result = _run(["-q", "simulate", "nova", "-n", "80", "-o", str(path), "--seed", "1"])
    assert result.exit_code == 0, result.output
    with open_dataset(path) as ds:
        assert ds.layout == "nova-cvn" and ds.n_events == 80


def test_bad_input_is_refused_before_simulating(tmp_path):
    out = tmp_path / "x.h5"
    r = _run(["simulate", "minerva", "-n", "0", "-o", str(out)])
    # CliRunner bypasses main(): library errors arrive as the exception (main() prints one line).
    assert isinstance(r.exception, UsageError) and "positive" in str(r.exception)
    r = _run(["simulate", "minerva", "-n", "5", "-o", str(out), "--beam", "he"])
    assert r.exit_code == 2 and "he" in r.output
    r = _run(["simulate", "fluka", "-n", "5", "-o", str(out)])
    assert r.exit_code == 2
    r = _run(["simulate", "nova", "-n", "5", "-o", str(tmp_path / "missing" / "x.h5")])
    assert r.exit_code != 0 and "does not exist" in str(r.exception)
    out.write_bytes(b"keep me")
    r = _run(["simulate", "minerva", "-n", "5", "-o", str(out)])
    assert r.exit_code != 0 and "already exists" in str(r.exception)
    assert out.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5"]


def test_interrupt_leaves_nothing_half_written(tmp_path, monkeypatch):
    import nuclassify.simulate as sim

    def interrupted(*args, **kwargs):
        yield next(sim._api.simulate_minerva(20, seed=1))
        raise KeyboardInterrupt

    monkeypatch.setattr(sim, "simulate_minerva", interrupted)
    out = tmp_path / "int.h5"
    r = _run(["-q", "simulate", "minerva", "-n", "40", "-o", str(out)])
    assert r.exit_code != 0
    assert list(tmp_path.iterdir()) == []


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_subprocess_errors_are_one_line_and_signals_clean_up(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nuclassify", "simulate", "minerva", "-n", "-4", "-o",
                           str(tmp_path / "a.h5")], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nuclassify: error:") and "-4" in lines[0]

    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, and a batch system's kill
        out = tmp_path / "big.h5"
        # A shell's background job starts with SIGINT ignored (POSIX), and Python then leaves it
        # ignored: give the child the default disposition, as a terminal would.
        # 200,000 events run for a minute or more, long enough to be stopped, and need a few hundred MiB
        # free (simulate refuses up front when the disk cannot hold the file)
        child = subprocess.Popen([sys.executable, "-m", "nuclassify", "-q", "simulate", "minerva", "-n", "200000",
                                  "-o", str(out), "--workers", "2"], stderr=subprocess.PIPE, text=True,
                                 preexec_fn=_default_sigint)
        deadline = time.time() + 60
        while not any(p.name.startswith(".big.h5") for p in tmp_path.iterdir()) and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        child.send_signal(sig)
        _, err = child.communicate(timeout=60)
        assert child.returncode == 130, err
        assert err.strip().splitlines()[-1] == "nuclassify: interrupted"
        assert "Traceback" not in err  # the workers stop quietly
        assert not out.exists()
        assert os.listdir(tmp_path) == []
