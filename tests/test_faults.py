"""I/O faults: a full disk, a file-size limit, a read-only folder or a file truncated while it is read.

Every case asserts what a user sees and what is left behind: one line ``nuclassify: error: PATH:
reason ...``, an exit status that is an error and not a signal (74, EX_IOERR, for write failures;
the issue's segmentation fault was 139), and no partial or temporary file. Faults are made
without root: ``RLIMIT_FSIZE`` in a subprocess (what ``ulimit -f`` sets; SIGXFSZ ignored as a
shell's child would not be, so that ``write()`` returns EFBIG), ``os.pwrite`` replaced by one
that fails with ENOSPC after N bytes (the HDF5 writers write through it), Keras' save made to
fail the same way, and ``os.truncate`` on a file that is being streamed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nuclassify.data._reader as reader_module
import nuclassify.data._writer as writer_module
from nuclassify._diskfaults import check_room, format_bytes, write_failure
from nuclassify._fileio import atomic_output, check_output_dir
from nuclassify.cli.main import main
from nuclassify.data import open_dataset, write_minerva
from nuclassify.errors import DataFileError, OutputError, RunDirError
from nuclassify.simulate import simulate_minerva

ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
EX_IOERR = 74


def _nuclassify(args: list[str], cwd: Path, fsize: int | None = None, stdout=subprocess.PIPE):
    """Run the CLI in a subprocess, under ``ulimit -f`` of ``fsize`` bytes if given."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-m", "nuclassify", *args], cwd=cwd, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=limit, timeout=300)


def _one_error_line(stderr: str) -> str:
    """The single ``nuclassify: error:`` line, after checking nothing else was said about it."""
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("nuclassify: error: ")]
    assert len(errors) == 1, stderr
    noise = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("nuclassify:", "simulat",
                                                                                           "predict", "evaluat"))]
    assert not noise, stderr
    return errors[0]


def _files(folder: Path) -> list[str]:
    """Every file and folder below ``folder``, hidden temporaries included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


class _Disk:
    """``os.pwrite`` on a disk with ``free`` bytes left: ENOSPC (or ``err``) once they are used up,
    after a short write, as the kernel does."""

    def __init__(self, free: int, err: int = errno.ENOSPC) -> None:
        self.free = free
        self.err = err
        self.real = os.pwrite

    def __call__(self, fd: int, data, offset: int) -> int:
        n = len(memoryview(data).cast("B"))
        if n and self.free <= 0:
            raise OSError(self.err, os.strerror(self.err))
        take = min(n, self.free)
        self.free -= take
        return self.real(fd, memoryview(data).cast("B")[:take], offset)


# --- messages ------------------------------------------------------------------------------------


def test_messages_name_the_path_the_reason_and_the_numbers(tmp_path):
    target = tmp_path / "big.h5"
    full = write_failure(target, OSError(errno.ENOSPC, "No space left on device"),
                         progress="after 11,520 of 20,000 events")
    assert str(full).startswith(f"{target}: no space left on device after 11,520 of 20,000 events (free ")
    assert str(full).endswith(f" on {tmp_path}/)")
    assert full.exit_code == EX_IOERR
    ro = write_failure(target, OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".big.h5.x.tmp")))
    assert str(ro) == f"{target}: read-only file system (cannot write in {tmp_path}/)"
    assert [format_bytes(n) for n in (0, 512, 3 << 20, 5 << 40)] == ["0 B", "512 B", "3.0 MiB", "5.0 TiB"]


def test_room_check_refuses_with_the_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.disk_usage", lambda p: shutil._ntuple_diskusage(3 << 20, 0, 3 << 20))
    with pytest.raises(OutputError, match=r"x.h5: not enough space: 20,000 events need at least 31.6 MiB, .* "
                                          r"has 3.0 MiB free"):
        check_room(tmp_path / "x.h5", int(31.6 * (1 << 20)), "20,000 events")
    check_room(tmp_path / "x.h5", 1 << 20, "a few events")  # fits: no error


# --- atomic writes ---------------------------------------------------------------------------------


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("precious")
    with pytest.raises(OutputError, match=r"out.csv: disk quota exceeded"), \
            atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("half")
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
    assert target.read_text() == "precious"
    assert _files(tmp_path) == ["out.csv"]


def test_a_read_only_folder_is_one_line_naming_it(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".out.h5.abc.tmp"))

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(OutputError, match=r"out.h5: read-only file system \(cannot write in .*/\)$"), \
            atomic_output(tmp_path / "out.h5"):
        pass
    assert _files(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only (0555) folder regardless")
def test_a_folder_without_write_permission_is_refused_before_any_work(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        proc = _nuclassify(["simulate", "minerva", "-n", "100", "-o", "ro/x.h5"], cwd=tmp_path)
        assert proc.returncode == EX_IOERR
        assert _one_error_line(proc.stderr) == "nuclassify: error: ro/x.h5: permission denied (cannot write in ro/)"
        with pytest.raises(OutputError, match="permission denied"):
            check_output_dir(ro / "plots")
        assert _files(ro) == []
    finally:
        ro.chmod(0o755)


# --- HDF5: the segmentation fault of issue 17 --------------------------------------------------------


@pytest.mark.parametrize(("free", "err", "reason"), [
    (0, errno.ENOSPC, "no space left on device"), (4096, errno.ENOSPC, "no space left on device"),
    (300_000, errno.ENOSPC, "no space left on device"), (3_000_000, errno.ENOSPC, "no space left on device"),
    (1_000_000, errno.EDQUOT, "disk quota exceeded"), (1_000_000, errno.EIO, "input/output error"),
])
def test_hdf5_write_that_fails_ends_cleanly_wherever_it_fails(tmp_path, free, err, reason):
    """In a subprocess, so that a crash at interpreter exit (the old segfault) would show as a signal."""
    script = f"""
import os, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_faults import _Disk
from nuclassify.data import write_minerva
from nuclassify.errors import OutputError
from nuclassify.simulate import simulate_minerva
os.pwrite = _Disk({free}, {err})
try:
    write_minerva("out.h5", simulate_minerva(3000, seed=1))
except OutputError as exc:
    print(exc)
    sys.exit(74)
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == EX_IOERR, proc.stderr
    assert proc.stderr == ""  # not a word from h5py ("Exception ignored in ObjectID.__dealloc__")
    assert proc.stdout.startswith(f"out.h5: {reason}")
    assert " after " in proc.stdout and " of 3,000 events" in proc.stdout
    assert _files(tmp_path) == []


def test_an_hdf5_writer_that_never_checks_still_keeps_no_failed_file(tmp_path, monkeypatch):
    """Datasets opened and dropped per append: HDF5 flushes them from h5py's __dealloc__, where the old
    code met the failure (and later crashed). The failure is found at the end and nothing is kept."""
    from nuclassify._fileio import atomic_h5

    monkeypatch.setattr(os, "pwrite", _Disk(200_000))
    with pytest.raises(OutputError, match=r"^.*out.h5: no space left on device after 50 appends \(free "), \
            atomic_h5(tmp_path / "out.h5", progress=lambda: "after 50 appends") as out:
        out.file.create_dataset("x", shape=(0,), maxshape=(None,), chunks=(1 << 14,), dtype="f4")
        for _ in range(50):
            dset = out.file["x"]
            dset.resize(dset.shape[0] + 10_000, axis=0)
            dset[-10_000:] = np.arange(10_000, dtype="f4")
            del dset
    assert _files(tmp_path) == []


def test_simulate_past_the_file_size_limit_is_one_line_and_leaves_nothing(tmp_path):
    n = 3000
    # The limit passes the pre-check (half the typical size) but not the write (the whole of it).
    limit = int(n * writer_module._MINERVA_KIB["none"] * 1024 * 0.6)
    proc = _nuclassify(["simulate", "minerva", "-n", str(n), "-o", "big.h5"], cwd=tmp_path, fsize=limit)
    assert proc.returncode == EX_IOERR, proc.stderr
    line = _one_error_line(proc.stderr)
    assert line.startswith("nuclassify: error: big.h5: file too large after ")
    assert line.endswith(f" of 3,000 events (the file-size limit is {format_bytes(limit)}, ulimit -f)")
    assert _files(tmp_path) == []


def test_simulate_that_cannot_fit_is_refused_at_once(tmp_path):
    proc = _nuclassify(["simulate", "minerva", "-n", "20000", "-o", "big.h5", "--workers", "2"], cwd=tmp_path,
                       fsize=2 << 20)
    assert proc.returncode == EX_IOERR
    line = _one_error_line(proc.stderr)
    assert line.startswith("nuclassify: error: big.h5: too large for the file-size limit: 20,000 events (typically ")
    assert line.endswith("the limit is 2.0 MiB (ulimit -f)")
    assert "simulating" not in proc.stderr  # refused before the first event
    assert _files(tmp_path) == []


def test_simulate_on_a_full_disk_says_how_far_it_got(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "pwrite", _Disk(2_000_000))
    out = tmp_path / "small" / "big.h5"
    out.parent.mkdir()
    (out.parent / "big.h5").write_text("an older file that must survive --overwrite failing")
    with pytest.raises(SystemExit) as stop:
        main(["-q", "simulate", "minerva", "-n", "3000", "-o", str(out), "--overwrite"])
    assert stop.value.code == EX_IOERR
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"nuclassify: error: {out}: no space left on device after ")
    assert " of 3,000 events (free " in line and line.endswith(f" on {out.parent}/)")
    assert _files(out.parent) == ["big.h5"]
    assert out.read_text().startswith("an older file")


def test_a_simulation_written_through_the_guard_reads_back_exactly(tmp_path):
    blocks = list(simulate_minerva(600, seed=3))
    write_minerva(tmp_path / "a.h5", blocks)
    with open_dataset(tmp_path / "a.h5") as ds:
        got = np.concatenate([v[0].reshape(len(v[0]), -1).sum(axis=1) for v, _ in ds.batches(128)])
        labels = ds.labels()
    # hit values are stored as float16 (the writer's default): compare with the same rounding
    want = np.concatenate([b.views["x"].to_dense().astype(np.float16).astype(np.float32).reshape(b.n_events, -1)
                           .sum(axis=1) for b in blocks])
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_array_equal(labels, np.concatenate([b.segments for b in blocks]))


# --- predict, show, evaluate ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    path = tmp_path_factory.mktemp("events") / "events.h5"
    write_minerva(path, simulate_minerva(300, seed=2))
    return path


def test_predict_to_a_file_past_the_limit(events, tmp_path):
    proc = _nuclassify(["-q", "predict", "--model", "trackfit", "--data", str(events), "-o", "p.csv"], cwd=tmp_path,
                       fsize=8192)
    assert proc.returncode == EX_IOERR
    assert _one_error_line(proc.stderr) == \
        "nuclassify: error: p.csv: file too large (the file-size limit is 8.0 KiB, ulimit -f)"
    assert _files(tmp_path) == []


def test_predict_to_stdout_past_the_limit(events, tmp_path):
    with open(tmp_path / "p.csv", "w") as sink:
        proc = _nuclassify(["-q", "predict", "--model", "trackfit", "--data", str(events)], cwd=tmp_path,
                           fsize=8192, stdout=sink)
    assert proc.returncode == EX_IOERR
    line = _one_error_line(proc.stderr)
    assert line.startswith("nuclassify: error: stdout: file too large with ")
    assert line.endswith(" of 300 events written whole (the next batch's rows in part); the output is incomplete")


def test_show_past_the_limit(events, tmp_path):
    proc = _nuclassify(["show", str(events), "--event", "1", "-o", "ev.png"], cwd=tmp_path, fsize=4096)
    assert proc.returncode == EX_IOERR
    assert _one_error_line(proc.stderr).startswith("nuclassify: error: ev.png: file too large")
    assert _files(tmp_path) == []


def test_evaluate_refuses_an_unwritable_plots_folder_before_evaluating(events, tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.TemporaryFile", refuse)
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--model", "trackfit", "--data", str(events), "--plots", str(tmp_path / "plots")])
    assert stop.value.code == EX_IOERR
    err = capsys.readouterr().err
    assert _one_error_line(err) == f"nuclassify: error: {tmp_path / 'plots'}: read-only file system " \
                                   f"(cannot write in {tmp_path}/)"
    assert "evaluating" not in err


# --- reads: a file truncated while it is streamed ----------------------------------------------------


def _truncate_after_first_window(monkeypatch, path: Path) -> None:
    """Small read windows; the file is cut in half as the second window starts to be read.

    (After the reader's check before that window and before its reads: the worst moment.)
    """
    monkeypatch.setattr(reader_module, "_SPARSE_WINDOW", 64)
    real = reader_module.Dataset._pools
    calls = []

    def pools(self, events):
        calls.append(1)
        if len(calls) == 2:
            os.truncate(path, path.stat().st_size // 2)
        return real(self, events)

    monkeypatch.setattr(reader_module.Dataset, "_pools", pools)


def test_a_file_truncated_while_streamed_names_the_file_and_the_event(tmp_path, monkeypatch):
    path = tmp_path / "data.h5"
    write_minerva(path, simulate_minerva(300, seed=2))
    size = path.stat().st_size
    _truncate_after_first_window(monkeypatch, path)
    seen = 0
    with open_dataset(path) as ds, pytest.raises(DataFileError) as err:
        for views, _ in ds.batches(32):
            seen += len(views[0])
    assert seen == 64  # the first window, read before the cut; nothing read after it
    assert str(err.value) == (f"{path}: truncated while being read ({size:,} -> {size // 2:,} bytes), at event 64; "
                              "restore the file and run again")


def test_a_file_deleted_while_streamed_is_read_to_the_end(tmp_path, monkeypatch):
    """Deleted (or replaced by a rename), the open file still holds the original events: nothing to refuse."""
    path = tmp_path / "data.h5"
    write_minerva(path, simulate_minerva(300, seed=2))
    monkeypatch.setattr(reader_module, "_SPARSE_WINDOW", 64)
    with open_dataset(path) as ds:
        want = [v[0].sum() for v, _ in ds.batches(32)]
        got = []
        for views, _ in ds.batches(32):
            if not got:
                path.unlink()
            got.append(views[0].sum())
    assert got == want


def test_predict_on_a_file_truncated_mid_stream(tmp_path, monkeypatch, capsys):
    path = tmp_path / "data.h5"
    write_minerva(path, simulate_minerva(300, seed=2))
    _truncate_after_first_window(monkeypatch, path)
    with pytest.raises(SystemExit) as stop:
        main(["-q", "predict", "--model", "trackfit", "--data", str(path), "-o", str(tmp_path / "p.csv")])
    assert stop.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"nuclassify: error: {path}: truncated while being read (")
    # the read-ahead thread may meet the cut first (event 64), or the event ids of a batch already read
    assert re.search(r", at event (0|64); restore the file and run again$", line), line
    assert _files(tmp_path) == ["data.h5"]


# --- train: run directories never half-made ---------------------------------------------------------


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("in-process tests run on the TensorFlow backend")
    return keras


def _saves_fill_the_disk(monkeypatch, keras, ok_saves: int) -> list[str]:
    """Keras' model.save writes ``ok_saves`` files, then the disk is full: the next save stops half-way."""
    real = keras.Model.save
    saved: list[str] = []

    def save(self, filepath, *args, **kwargs):
        if len(saved) >= ok_saves:
            with open(filepath, "wb") as fh:
                fh.write(b"PK\x03\x04 half a zip")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        saved.append(str(filepath))
        return real(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save)
    return saved


def _train_args(data, spec_path, out, epochs=2):
    return ["-q", "train", "--data", str(data), "--arch", str(spec_path), "--out", str(out), "--epochs", str(epochs),
            "--valid-fraction", "0.25"]


@pytest.fixture()
def spec_path(tiny_spec, tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_spec))
    return path


@pytest.mark.slow
def test_train_on_a_full_disk_leaves_no_run_directory(tiny_minerva, spec_path, tmp_path, monkeypatch, capsys):
    keras = _keras()
    _saves_fill_the_disk(monkeypatch, keras, ok_saves=0)
    out = tmp_path / "runs" / "r"
    with pytest.raises(SystemExit) as stop:
        main(_train_args(tiny_minerva, spec_path, out))
    assert stop.value.code == EX_IOERR
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"nuclassify: error: {out}/best.keras: no space left on device (free ")
    assert "--resume" not in line  # nothing to resume: the run is gone
    assert not out.exists() and _files(tmp_path / "runs") == []


@pytest.mark.slow
def test_disk_full_mid_training_keeps_the_checkpoint_and_resume_completes(tiny_minerva, spec_path, tmp_path,
                                                                          monkeypatch, capsys):
    keras = _keras()
    out = tmp_path / "r"
    saved = _saves_fill_the_disk(monkeypatch, keras, ok_saves=3)  # epoch 1: best, last, resume/state
    with pytest.raises(SystemExit) as stop:
        main(_train_args(tiny_minerva, spec_path, out, epochs=3))
    assert stop.value.code == EX_IOERR
    assert [Path(p).name for p in saved][-1].startswith(".state.keras.")
    line = _one_error_line(capsys.readouterr().err)
    assert "keeps its last checkpoint: continue with --resume" in line
    assert not [n for n in _files(out) if n.rsplit("/", 1)[-1].startswith(".") and "lock" not in n]  # no temporaries
    assert json.loads((out / "resume" / "state.json").read_text())["epochs_completed"] == 1
    monkeypatch.undo()  # space freed
    with pytest.raises(SystemExit) as stop:
        main(_train_args(tiny_minerva, spec_path, out, epochs=3) + ["--resume"])
    assert stop.value.code == 0
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    assert [r["epoch"] for r in _history(out)] == [0, 1, 2]


def _history(out: Path) -> list[dict]:
    import csv

    with open(out / "history.csv", newline="") as fh:
        return [{**r, "epoch": int(r["epoch"])} for r in csv.DictReader(fh)]


@pytest.mark.slow
def test_train_data_truncated_mid_run_then_restored_resumes(tmp_path, spec_path, monkeypatch, capsys):
    keras = _keras()
    from conftest import make_minerva_file

    data = make_minerva_file(tmp_path / "data.h5", n=192)
    backup = (tmp_path / "backup.h5")
    backup.write_bytes(data.read_bytes())
    monkeypatch.setattr(reader_module, "_SPARSE_WINDOW", 32)

    class CutAtSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                os.truncate(data, data.stat().st_size // 2)

    real_fit = keras.Model.fit

    def fit(self, *args, **kwargs):
        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [CutAtSecondEpoch()]
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as stop:
        main(_train_args(data, spec_path, out, epochs=2))
    assert stop.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"nuclassify: error: {data}: truncated while being read (")
    assert line.endswith(f"{out} keeps its last checkpoint: continue with --resume once this is fixed")
    monkeypatch.undo()
    data.write_bytes(backup.read_bytes())  # the file is back
    with pytest.raises(SystemExit) as stop:
        main(_train_args(data, spec_path, out, epochs=2) + ["--resume"])
    assert stop.value.code == 0
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_a_partial_set_up_is_named_the_same_way_by_train_and_train_resume(tiny_minerva, spec_path, tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "spec.json").write_text("")  # what an older version left when the disk was full at the start
    for extra in ([], ["--resume"]):
        with pytest.raises(SystemExit) as stop:
            main(_train_args(tiny_minerva, spec_path, out) + extra)
        assert stop.value.code == RunDirError.exit_code
        line = _one_error_line(capsys.readouterr().err)
        assert "partial set-up of a run that never started (spec.json, no run.json)" in line
        assert line.endswith("with --overwrite") or line.endswith("use --overwrite to replace it")


# --- evolve: the search's records on a full disk ---------------------------------------------------


@pytest.mark.slow
def test_evolve_whose_journal_meets_a_full_disk_stops_and_resumes(tiny_minerva, tmp_path, monkeypatch, capsys):
    _keras()
    from nuclassify.search import _journal

    real = _journal.Journal.commit
    commits = []

    def commit(self, sync=False):
        commits.append(1)
        if len(commits) == 4:  # after the first candidate's result was committed
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, sync)

    monkeypatch.setattr(_journal.Journal, "commit", commit)
    out = tmp_path / "evo"
    args = ["-q", "evolve", "--data", str(tiny_minerva), "--executor", "serial", "--budget", "2", "--epochs", "1",
            "--out", str(out)]
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == EX_IOERR
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"nuclassify: error: {out}: no space left on device while the search wrote its records")
    assert line.endswith("the search stopped: make room and continue with --resume")
    monkeypatch.undo()
    with pytest.raises(SystemExit) as stop:
        main([*args, "--resume"])
    assert stop.value.code == 0
    records = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in records if r["kind"] == "finished") == [0, 1]


@pytest.mark.slow
def test_disk_full_as_the_final_model_is_saved_then_resume_saves_it(tiny_minerva, spec_path, tmp_path, monkeypatch,
                                                                     capsys):
    keras = _keras()
    real = keras.Model.save

    def save(self, filepath, *args, **kwargs):
        if Path(filepath).name.startswith(".model.keras."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save)
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as stop:
        main(_train_args(tiny_minerva, spec_path, out, epochs=1))
    assert stop.value.code == EX_IOERR
    assert _one_error_line(capsys.readouterr().err).startswith(f"nuclassify: error: {out}/model.keras: no space left")
    monkeypatch.undo()
    with pytest.raises(SystemExit) as stop:  # every epoch is done: resume only writes model.keras
        main(_train_args(tiny_minerva, spec_path, out, epochs=1) + ["--resume"])
    assert stop.value.code == 0
    assert (out / "model.keras").is_file()
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    assert [r["epoch"] for r in _history(out)] == [0]
