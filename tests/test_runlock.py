"""One writer per run directory: the kernel lock, its fallback, and what a refused writer sees."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nuclassify import _runlock
from nuclassify._runlock import (
    LOCK_NAME,
    OWNER_NAME,
    RunDirBusy,
    break_stale_lock,
    hold_run_dir,
    in_progress_note,
    lock_mechanism,
    run_in_progress,
)

HOLDER = textwrap.dedent("""
    import sys, time
    from nuclassify._runlock import hold_run_dir
    with hold_run_dir(sys.argv[1]):
        open(sys.argv[2], "w").close()
        time.sleep(60)
""")


def _start_holder(run_dir: Path, tmp_path: Path, env: dict | None = None) -> subprocess.Popen:
    """A process that holds ``run_dir`` until killed; returns once it holds it."""
    ready = tmp_path / f"ready-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir), str(ready)],
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, "the holder died"
        assert time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.02)
    return proc


def _kill9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("mechanism", ["flock", "file"])
def test_second_writer_is_refused_naming_the_holder_and_takes_over_after_kill_9(tmp_path, monkeypatch, mechanism):
    monkeypatch.setenv("NUCLASSIFY_LOCK", mechanism)
    run_dir = tmp_path / "run"
    holder = _start_holder(run_dir, tmp_path, {"NUCLASSIFY_LOCK": mechanism})
    try:
        before = sorted(p.name for p in run_dir.iterdir())
        t0 = time.monotonic()
        with pytest.raises(RunDirBusy) as info:
            with hold_run_dir(run_dir):
                pass
        assert time.monotonic() - t0 < 5  # refused at once (after a reader's grace), not after the holder ends
        message = str(info.value)
        assert f"{run_dir} is in use by pid {holder.pid} on {socket.gethostname()} since " in message
        assert message.endswith("; wait for it or stop it") and "\n" not in message
        assert sorted(p.name for p in run_dir.iterdir()) == before  # the refused writer changed nothing
        found = run_in_progress(run_dir)
        assert found is not None and found.pid == holder.pid
        assert "is still being written by pid" in in_progress_note(run_dir)
    finally:
        _kill9(holder)
    # kill -9 leaves nothing that needs clean-up: the next writer takes the directory at once
    assert run_in_progress(run_dir) is None
    with hold_run_dir(run_dir) as lock:
        assert lock.mechanism == mechanism
        recorded = json.loads((run_dir / (LOCK_NAME if mechanism == "flock" else OWNER_NAME)).read_text())
        assert recorded["pid"] == os.getpid() and recorded["host"] == socket.gethostname()
    assert not (run_dir / OWNER_NAME).exists() and not (run_dir / LOCK_NAME).exists()  # gone with the writer


def test_a_directory_made_for_nothing_is_removed_again(tmp_path):
    run_dir = tmp_path / "a" / "run"
    with hold_run_dir(run_dir) as lock:
        assert lock.created and (run_dir / LOCK_NAME).is_file()
    assert not (tmp_path / "a").exists()  # the parent it made goes too
    run_dir.mkdir(parents=True)
    with hold_run_dir(run_dir) as lock:  # existed before: kept, with what was written, without the lock
        assert not lock.created
        (run_dir / "run.json").write_text("{}")
    assert [p.name for p in run_dir.iterdir()] == ["run.json"]


def test_a_reader_probe_does_not_make_a_writer_fail(tmp_path, monkeypatch):
    """Readers take a shared lock for an instant; a writer arriving then must still get the directory."""
    import threading

    monkeypatch.setenv("NUCLASSIFY_LOCK", "flock")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_SH)  # a reader's probe, held far longer (0.3 s) than it ever is
    timer = threading.Timer(0.3, fcntl.flock, (fd, fcntl.LOCK_UN))
    timer.start()
    try:
        t0 = time.monotonic()
        with hold_run_dir(run_dir):
            assert time.monotonic() - t0 >= 0.25  # it waited for the reader instead of failing
    finally:
        timer.join()
        os.close(fd)


def test_fallback_record_from_another_host_is_honoured_until_break_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("NUCLASSIFY_LOCK", "file")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = {"host": "node12", "pid": 4242, "command": "nuclassify train", "since": "2026-11-29T23:14:58+00:00"}
    (run_dir / OWNER_NAME).write_text(json.dumps(record))
    busy = r"in use by pid 4242 on node12 since 2026-11-29T23:14:58 \(nuclassify train\)"
    with pytest.raises(RunDirBusy, match=busy):
        with hold_run_dir(run_dir):
            pass
    assert break_stale_lock(run_dir)
    with hold_run_dir(run_dir) as lock:
        assert lock.mechanism == "file"


def test_same_host_record_of_a_dead_pid_is_stale(tmp_path, monkeypatch):
    monkeypatch.setenv("NUCLASSIFY_LOCK", "file")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / OWNER_NAME).write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid,
                                                   "command": "x", "since": "?"}))
    assert run_in_progress(run_dir) is None
    with hold_run_dir(run_dir):
        assert json.loads((run_dir / OWNER_NAME).read_text())["pid"] == os.getpid()


def test_a_filesystem_without_advisory_locks_falls_back_to_the_owner_file(tmp_path, monkeypatch):
    monkeypatch.delenv("NUCLASSIFY_LOCK", raising=False)

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(_runlock.fcntl, "flock", no_locks)
    with hold_run_dir(tmp_path / "run") as lock:
        assert lock.mechanism == "file" and (tmp_path / "run" / OWNER_NAME).is_file()


@pytest.mark.parametrize("fstype, options, expected", [
    ("ext4", {"rw", "relatime"}, "flock"),
    ("nfs4", {"rw", "hard"}, "flock"),
    ("nfs", {"rw", "nolock"}, "file"),
    ("nfs4", {"rw", "local_lock=flock"}, "file"),
    ("lustre", {"rw", "flock"}, "flock"),
    ("lustre", {"rw", "localflock"}, "file"),
    ("lustre", {"rw"}, "file"),
    ("gpfs", {"rw"}, "flock"),
])
def test_node_local_locks_on_shared_filesystems_are_not_trusted(tmp_path, monkeypatch, fstype, options, expected):
    monkeypatch.delenv("NUCLASSIFY_LOCK", raising=False)
    monkeypatch.setattr(_runlock, "_mount_options", lambda path: (fstype, options))
    assert lock_mechanism(tmp_path) == expected


def test_mount_table_is_read_for_the_longest_matching_mount(tmp_path):
    found = _runlock._mount_options(tmp_path)
    assert found is not None and found[0]  # this machine's /proc/self/mountinfo names a filesystem type


def test_bad_mechanism_setting_is_one_line(tmp_path, monkeypatch):
    from nuclassify.errors import UsageError

    monkeypatch.setenv("NUCLASSIFY_LOCK", "maybe")
    with pytest.raises(UsageError, match="NUCLASSIFY_LOCK='maybe': expected flock, file or auto"):
        lock_mechanism(tmp_path)


def test_a_worker_rank_locks_its_own_scratch_folder_and_rank_0_the_run_dir(tiny_minerva, tiny_spec, tmp_path,
                                                                          monkeypatch):
    """Under MPI rank 0 holds RUN_DIR and rank N holds RUN_DIR.workers/rank-N, so a second job's ranks
    collide with the first job's ranks of the same number and are refused the same way."""
    from nuclassify.training import TrainConfig, _fit

    held = []

    class Stop(Exception):
        pass

    def fake_hold(path, **kwargs):
        held.append(Path(path))
        raise Stop

    monkeypatch.setattr(_fit, "hold_run_dir", fake_hold)
    for rank in (0, 3):
        monkeypatch.setattr(_fit, "worker_rank", lambda r=rank: (r, 4))
        with pytest.raises(Stop):
            _fit.fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "run", distribute=True, quiet=True))
    assert held == [tmp_path / "run", tmp_path / "run.workers" / "rank-3"]


@pytest.mark.parametrize("mechanism", ["flock", "file"])
def test_a_full_disk_while_taking_the_lock_leaves_no_lock_file(tmp_path, monkeypatch, mechanism):
    from nuclassify.errors import OutputError

    monkeypatch.setenv("NUCLASSIFY_LOCK", mechanism)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_runlock.os, "pwrite", full)
    monkeypatch.setattr(_runlock.os, "write", full)
    run = tmp_path / "run"
    run.mkdir()
    if mechanism == "flock":  # the lock works without its holder record; the command's own writes report the disk
        with hold_run_dir(run):
            pass
    else:  # the record is the lock: one line naming it, and no empty record that would look held forever
        with pytest.raises(OutputError, match=rf"{OWNER_NAME}: no space left on device"), hold_run_dir(run):
            pass
    assert list(run.iterdir()) == []
