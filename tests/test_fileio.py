"""Atomic output: nothing half-written under the final name, existing files kept."""

import pytest

from nuclassify._fileio import atomic_output
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
