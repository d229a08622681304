"""Atomic output: nothing half-written under the final name, existing files kept."""

import pytest

from nuclassify._fileio import atomic_output, refuse_input_as_output
from nuclassify.errors import UsageError


def test_success_renames_into_place(tmp_path):
    target = tmp_path / "out.h5"
    with atomic_output(target) as tmp:
        tmp.write_text("data")
        assert not target.exists()
    assert target.read_text() == "data"
    assert list(tmp_path.iterdir()) == [target]


def test_failure_keeps_existing_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.h5"
    target.write_text("precious")
    with pytest.raises(KeyboardInterrupt), atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "precious"
    assert list(tmp_path.iterdir()) == [target]


def test_refuses_existing_without_overwrite(tmp_path):
    target = tmp_path / "out.h5"
    target.write_text("x")
    with pytest.raises(UsageError, match="already exists"), atomic_output(target):
        pass


def test_refuses_missing_folder(tmp_path):
    with pytest.raises(UsageError, match="does not exist"), atomic_output(tmp_path / "nope" / "f.h5"):
        pass


def test_output_gets_normal_permissions(tmp_path):
    import os

    target = tmp_path / "out.h5"
    with atomic_output(target) as tmp:
        tmp.write_text("data")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_input_is_never_taken_as_the_output(tmp_path, monkeypatch):
    data = tmp_path / "test.h5"
    data.write_text("events")
    (tmp_path / "link.h5").symlink_to(data)
    monkeypatch.chdir(tmp_path)
    for output in (data, "test.h5", "./test.h5", tmp_path / "link.h5"):
        with pytest.raises(UsageError, match="is the input .*would destroy it"):
            refuse_input_as_output(output, None, data)
    refuse_input_as_output(tmp_path / "other.csv", data)  # a new file, or another existing one, is fine
    (tmp_path / "old.csv").write_text("x")
    refuse_input_as_output(tmp_path / "old.csv", data)
    refuse_input_as_output(None, data)


def test_predict_and_show_refuse_to_write_over_their_data(tmp_path):
    import h5py
    import numpy as np

    from nuclassify.cli.main import main

    data = tmp_path / "d.h5"
    with h5py.File(data, "w") as h5:  # not even readable data: the output is refused before anything is read
        h5["x"] = np.zeros(3)
    before = data.read_bytes()
    for args in (["predict", "--model", "trackfit", "--data", str(data), "-o", str(data), "--overwrite"],
                 ["show", str(data), "-o", str(data), "--overwrite"]):
        with pytest.raises(SystemExit) as info:
            main(["-q", *args])
        assert info.value.code == 2
    assert data.read_bytes() == before
