"""Every kind of bad file fails with one line naming the file and the problem, and exit status 2.

The files are built with plain h5py (not with our writer), as a user's broken file would be.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from nuclassify.cli.main import main
from nuclassify.data import MinervaBlock, SparseImages, open_dataset, validate_pixels, write_minerva
from nuclassify.errors import DataFileError, UsageError

N = 10


def minerva_2018(path: Path, *, n: dict | None = None, drop: str | None = None, x_shape=None,
                 segments=None, planecodes=None, nan_at: int | None = None) -> Path:
    """A small dense 2018-layout file, optionally broken in one way."""
    n = n or {}
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        for view, w in (("x", 94), ("u", 47), ("v", 47)):
            name = f"img_data/hitimes-{view}"
            if name == drop:
                continue
            shape = x_shape if (view == "x" and x_shape) else (n.get(view, N), 2, 127, w)
            data = (rng.random(shape) < 0.02).astype(np.float32) * 3.0
            if nan_at is not None and view == "x":
                data[nan_at, 0, 5, 5] = np.nan
            chunks = (1,) + tuple(shape[1:]) if shape[0] else None
            h5.create_dataset(name, data=data, compression="gzip" if chunks else None, chunks=chunks)
        if drop != "vtx_data/segments":
            h5["vtx_data/segments"] = segments if segments is not None else (np.arange(N) % 11).astype(np.uint8)
        h5["vtx_data/planecodes"] = planecodes if planecodes is not None else np.arange(N, dtype=np.uint16)
        h5["vtx_data/zs"] = np.linspace(4400, 5900, N).astype(np.float32)
        h5["event_data/eventids"] = np.arange(n.get("x", N), dtype=np.uint64) + 10**15
    return path


def truncated(path: Path) -> Path:
    minerva_2018(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupt_chunk(path: Path) -> Path:
    minerva_2018(path)
    with h5py.File(path, "r") as h5:
        info = h5["img_data/hitimes-x"].id.get_chunk_info(0)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\x13\x37" * (info.size // 2))
    return path


def sparse_with_inf(path: Path) -> Path:
    dense = np.zeros((4, 2, 127, 94), np.float32)
    dense[:, 0, 3, 3] = 1.0
    dense[2, 1, 3, 3] = np.inf
    views = {v: SparseImages.from_dense(dense[..., : (94 if v == "x" else 47)]) for v in "xuv"}
    block = MinervaBlock(views, np.zeros(4, np.uint8), np.zeros(4, np.uint16), np.zeros(4, np.float32),
                         np.arange(4, dtype=np.uint64))
    return write_minerva(path, [block], values_dtype="float32")


def sparse_bad_offsets(path: Path) -> Path:
    sparse_with_inf(path)
    with h5py.File(path, "r+") as h5:
        off = h5["img_data/hitimes-u/offsets"]
        off[2] = 10**6
    return path


def nova(path: Path, *, shape=(N, 16000), codes=None, label: bool = True) -> Path:
    with h5py.File(path, "w") as h5:
        h5["cvnmap"] = np.zeros(shape, np.uint8)
        if label:
            h5["neutrino/interaction"] = codes if codes is not None else np.arange(N) % 16
    return path


def write_with(fn: Callable[[h5py.File], None]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        with h5py.File(path, "w") as h5:
            fn(h5)
        return path
    return build


def with_event_ids(ids: np.ndarray) -> Callable[[Path], Path]:
    """A good file whose event ids are replaced by ``ids``."""
    def build(path: Path) -> Path:
        minerva_2018(path)
        with h5py.File(path, "r+") as h5:
            del h5["event_data/eventids"]
            h5["event_data/eventids"] = ids
        return path
    return build


BAD = {
    "missing file": (lambda p: p, "no such file"),
    "text file": (lambda p: (p.write_text("event,segment\n1,2\n"), p)[1], "not an HDF5 file"),
    "zero bytes": (lambda p: (p.write_bytes(b""), p)[1], "empty file (0 bytes)"),
    "named pipe": (lambda p: (os.mkfifo(p), p)[1], "not a regular file (a pipe or device)"),
    "truncated": (truncated, "truncated or corrupt HDF5 file"),
    "no datasets": (write_with(lambda h5: None), "empty HDF5 file"),
    "zero events": (lambda p: minerva_2018(p, n={"x": 0, "u": 0, "v": 0}, segments=np.zeros(0, np.uint8),
                                           planecodes=np.zeros(0, np.uint16)), "holds no events"),
    "unknown layout": (write_with(lambda h5: h5.create_dataset("foo", data=[1])), "no known layout"),
    "missing view": (lambda p: minerva_2018(p, drop="img_data/hitimes-u"), "missing dataset img_data/hitimes-u"),
    "view counts": (lambda p: minerva_2018(p, n={"u": N - 1}),
                    "views have different event counts (x: 10, u: 9, v: 10)"),
    "wrong rank": (lambda p: minerva_2018(p, x_shape=(N, 127, 94)), "expected 4 dimensions"),
    "label count": (lambda p: minerva_2018(p, segments=np.zeros(N - 2, np.uint8)), "has 8 events, the images have 10"),
    "event ids short": (with_event_ids(np.arange(3, dtype=np.uint64)), "event_data/eventids has 3 events, the images "
                                                                       "have 10"),
    "event ids strings": (with_event_ids(np.array([b"ev"] * N)), "event_data/eventids: expected integer event ids"),
    "event ids 2-d": (with_event_ids(np.zeros((N, 2), np.uint64)), "event_data/eventids: expected shape (10,)"),
    "segment range": (lambda p: minerva_2018(p, segments=np.full(N, 12, np.uint8)), "label 12 at event 0 outside"),
    "planecode range": (lambda p: minerva_2018(p, planecodes=np.full(N, 500, np.uint16)), "label 500 at event 0"),
    "nan pixel": (lambda p: minerva_2018(p, nan_at=3), "event 3: NaN or infinite pixel value in view x"),
    "inf sparse pixel": (sparse_with_inf, "event 2: NaN or infinite pixel value in view x"),
    "corrupt chunk": (corrupt_chunk, "corrupt or truncated data"),
    "bad offsets": (sparse_bad_offsets, "offsets: not a non-decreasing index"),
    "nova shape": (lambda p: nova(p, shape=(N, 15999)), "expected shape (N, 16000)"),
    "nova code": (lambda p: nova(p, codes=np.full(N, 20)), "label 20 at event 0 outside"),
    "images no labels": (write_with(lambda h5: h5.create_dataset("images", data=np.zeros((3, 4, 4, 1)))),
                         "missing dataset labels"),
    "images label range": (write_with(lambda h5: (h5.create_dataset("images", data=np.zeros((3, 4, 4, 1))),
                                                  h5.create_dataset("labels", data=[0, 1, -5]))), "label -5"),
}


@pytest.mark.parametrize("build", [lambda p: minerva_2018(p, drop="vtx_data/segments"),
                                   lambda p: nova(p, label=False)], ids=["minerva", "nova"])
def test_a_file_without_its_label_dataset_reads_as_unlabelled(tmp_path, build):
    """Real data may carry no truth at all; such a file is predicted on like one with 0xFF labels."""
    with open_dataset(build(tmp_path / "real.h5")) as ds:
        assert ds.n_events == N and not ds.labelled()
        assert len(ds.labelled_indices()) == 0


def _read_everything(path: Path) -> None:
    with open_dataset(path) as ds:
        validate_pixels(ds)
        for _ in ds.batches(4):
            pass


@pytest.mark.parametrize("case", sorted(BAD))
def test_library_raises_one_line(tmp_path, case):
    build, fragment = BAD[case]
    path = build(tmp_path / "bad.h5")
    with pytest.raises(DataFileError) as info:
        _read_everything(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert fragment in message
    assert "\n" not in message


def _main(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


@pytest.mark.parametrize("case", sorted(BAD))
def test_inspect_and_show_fail_cleanly(tmp_path, capsys, case):
    build, fragment = BAD[case]
    path = build(tmp_path / "bad.h5")
    event = {"nan pixel": "3", "inf sparse pixel": "2"}.get(case, "0")  # show reads only the event it draws
    for args in (["inspect", str(path), "--sample", "0"],
                 ["show", str(path), "--event", event, "-o", str(tmp_path / "e.png")]):
        code, out, err = _main(args, capsys)
        assert code == 2, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nuclassify: error: ") and fragment in lines[0], err
        assert "Traceback" not in err
    assert not (tmp_path / "e.png").exists()


def test_predict_to_a_pipe_writes_nothing_when_the_first_batch_fails(tmp_path, capsys):
    """The CSV header goes out with the first rows: a pipeline sees no header-only table."""
    path = minerva_2018(tmp_path / "nan.h5", nan_at=3)
    code, out, err = _main(["-q", "predict", "--model", "upstream", "--data", str(path)], capsys)
    assert code == 2 and out == "" and "event 3: NaN or infinite pixel value" in err


@pytest.mark.parametrize("replacement", [np.array([b"a"] * N), np.zeros(N - 3, np.float32)], ids=["bytes", "short"])
def test_a_damaged_truth_field_is_named_by_evaluate(tmp_path, capsys, replacement):
    """vtx_data/zs of strings, or shorter than the events: one line naming it, not numpy's error."""
    import h5py

    path = minerva_2018(tmp_path / "z.h5")
    with h5py.File(path, "r+") as h5:
        del h5["vtx_data/zs"]
        h5["vtx_data/zs"] = replacement
    code, _, err = _main(["-q", "evaluate", "--model", "upstream", "--data", str(path)], capsys)
    assert code == 2 and "truth dataset vtx_data/zs" in err and f"per event ({N})" in err


def test_verbose_shows_traceback(tmp_path, capsys):
    code, _, err = _main(["-v", "inspect", str(tmp_path / "nope.h5")], capsys)
    assert code == 2 and "Traceback" in err and "no such file" in err


def test_subprocess_exit_status_and_single_line(tmp_path):
    path = minerva_2018(tmp_path / "counts.h5", n={"v": 3})
    proc = subprocess.run([sys.executable, "-m", "nuclassify", "inspect", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"nuclassify: error: {path}: views have different event counts "
                                   "(x: 10, u: 10, v: 3)")
    assert proc.stdout == ""


def test_validate_pixels_stops_at_the_first_bad_event(tmp_path):
    path = minerva_2018(tmp_path / "nan.h5", nan_at=3)
    with open_dataset(path) as ds:
        assert validate_pixels(ds, max_events=3) == 3  # events 0-2 are clean
        with pytest.raises(DataFileError, match="event 3: NaN"):
            validate_pixels(ds, max_events=4)
        with pytest.raises(DataFileError, match="event 3"):  # raised when event 3's read window loads
            list(ds.batches(2))
        assert len(list(ds.batches(2, indices=[0, 1, 2, 4, 5]))) == 3  # events that are fine still read


def test_joining_views_of_different_shapes_is_a_usage_error():
    a = SparseImages.from_dense(np.ones((2, 2, 127, 10), np.float32))
    b = SparseImages.from_dense(np.ones((1, 2, 127, 5), np.float32))
    assert SparseImages.concatenate([a, a]).n_events == 4
    with pytest.raises(UsageError, match="cannot join views of shapes"):
        SparseImages.concatenate([a, b])
    with pytest.raises(UsageError, match="empty list"):
        SparseImages.concatenate([])
