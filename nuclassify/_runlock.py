"""One writer per run directory: an exclusive lock that the kernel releases when its holder dies.

Why: a scheduler that requeues a job that is still alive, or two array tasks given the same
``--out``, would otherwise run two writers on one RUN_DIR. Both finish "successfully" and leave
``history.csv`` from one and ``model.keras`` from the other. Every command that writes a run or
search directory holds :func:`hold_run_dir` for as long as it writes; a second writer is refused
at once, in one line naming the holder, and changes nothing.

Two mechanisms, picked per directory:

``flock`` (the default)
    ``flock(LOCK_EX | LOCK_NB)`` on ``RUN_DIR/.nuclassify.lock``. The kernel drops the lock when
    the holder's last descriptor closes, so even ``kill -9`` leaves nothing stale behind (the
    file it leaves names a holder that no longer holds it, and is ignored). A writer that ends
    normally unlinks the file while it still holds it; a process that opened the old file just
    before would lock an unlinked inode, which :func:`_lock_open` detects and retries on.

``file`` (the fallback)
    ``open(O_CREAT | O_EXCL)`` of ``RUN_DIR/.nuclassify.owner``, holding host and pid, removed
    when the writer ends. Used where advisory locks cannot be taken (``ENOLCK``, ``EOPNOTSUPP``)
    or cannot be trusted across nodes: NFS mounted ``nolock`` or ``local_lock=flock|all``, Lustre
    mounted ``localflock`` (or without ``flock``), which are the cases the Linux nfs(5) and the
    Lustre manual list as node-local. A leftover owner file is stale only when its host is this
    host and its pid is gone; from another host it is honoured until ``--break-lock``.

``NUCLASSIFY_LOCK=flock|file|auto`` forces a mechanism (tests; a site that knows its filesystem).

Readers (evaluate, predict, inspect, ``evolve --report``) never lock: they call
:func:`run_in_progress` to say that what they read is still being written. The writers'
files are replaced atomically, so a reader always sees the last complete epoch or candidate.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nuclassify._diskfaults import is_write_failure, write_failure
from nuclassify.errors import RunDirError, UsageError

__all__ = ["LOCK_NAME", "OWNER_NAME", "LOCK_FILES", "RunDirBusy", "RunLock", "hold_run_dir", "run_in_progress",
           "lock_mechanism", "break_stale_lock", "refuse_if_busy", "in_progress_note",
           "describe_lock", "command_line"]


def command_line() -> str:
    """This process's command as a person typed it (``python -m nuclassify ...`` reads ``nuclassify ...``),
    for the records that say who holds a folder or how a search was started."""
    if not sys.argv or not sys.argv[0]:
        return "python"
    program = Path(sys.argv[0]).name
    return " ".join(["nuclassify" if program == "__main__.py" else program, *sys.argv[1:]])

LOCK_NAME = ".nuclassify.lock"
OWNER_NAME = ".nuclassify.owner"
LOCK_FILES = frozenset({LOCK_NAME, OWNER_NAME})
ENV_MECHANISM = "NUCLASSIFY_LOCK"
# A reader's probe holds a shared lock for microseconds; a writer retries this long before it
# concludes that another writer, not a reader, holds the directory.
_WRITER_PATIENCE_S = 1.0
_UNTRUSTED_ERRNOS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class RunDirBusy(RunDirError):
    """Another live process writes this directory (one line naming it; exit status 2 like RunDirError)."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a run directory, as its lock file records it."""

    host: str
    pid: int
    command: str
    since: str

    @classmethod
    def me(cls) -> Holder:
        since = datetime.now(timezone.utc).astimezone().replace(microsecond=0).isoformat()
        return cls(socket.gethostname(), os.getpid(), command_line(), since)

    def describe(self) -> str:
        since = self.since
        with contextlib.suppress(ValueError):
            since = datetime.fromisoformat(self.since).strftime("%Y-%m-%dT%H:%M:%S")
        return f"pid {self.pid} on {self.host} since {since} ({self.command})"

    def to_bytes(self) -> bytes:
        return (json.dumps({"host": self.host, "pid": self.pid, "command": self.command,
                            "since": self.since}) + "\n").encode()

    @classmethod
    def parse(cls, raw: bytes) -> Holder | None:
        try:
            data = json.loads(raw.decode())
            return cls(str(data["host"]), int(data["pid"]), str(data.get("command", "?")), str(data.get("since", "?")))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None


def _busy(run_dir: Path, holder: Holder | None) -> RunDirBusy:
    who = holder.describe() if holder else "another process (its lock file names no holder yet)"
    return RunDirBusy(f"{run_dir} is in use by {who}; wait for it or stop it")


def _mount_options(path: Path) -> tuple[str, set[str]] | None:
    """(filesystem type, mount options) of the mount holding ``path``, from /proc/self/mountinfo."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    target = str(path.resolve())
    best: tuple[int, str, set[str]] | None = None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 6 or len(tail) < 3:
            continue
        mount_point = fields[4].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and (best is None or len(mount_point) > best[0]):
            options = set(fields[5].split(",")) | set(tail[2].split(","))
            best = (len(mount_point), tail[0], options)
    return None if best is None else (best[1], best[2])


def lock_mechanism(run_dir: Path) -> str:
    """``"flock"`` where the kernel's advisory lock excludes every writer, else ``"file"``.

    NFS: ``nolock`` or ``local_lock=flock|all`` make flock node-local (nfs(5)). Lustre: flock is
    cluster-wide only when mounted with ``flock``; ``localflock`` is node-local, and without
    either the call fails (Lustre Operations Manual, "Mount options"). Other filesystems,
    including GPFS, honour flock across the cluster.
    """
    forced = os.environ.get(ENV_MECHANISM, "auto").strip().lower() or "auto"
    if forced not in ("auto", "flock", "file"):
        raise UsageError(f"{ENV_MECHANISM}={forced!r}: expected flock, file or auto")
    if forced != "auto":
        return forced
    found = _mount_options(run_dir)
    if found is None:
        return "flock"
    fstype, options = found
    if fstype.startswith("nfs") and ("nolock" in options or "local_lock=flock" in options
                                     or "local_lock=all" in options):
        return "file"
    if fstype == "lustre" and "flock" not in options:
        return "file"
    return "flock"


def _lock_open(path: Path) -> int:
    """Open ``path`` and hold ``flock(LOCK_EX)`` on it, or raise BlockingIOError after a short wait.

    The inode is checked after locking: a run directory may be removed (with its lock file) by the
    previous holder between our open and our lock, and a lock on that unlinked file would exclude
    no one, so the open is retried on the new file.
    """
    deadline = time.monotonic() + _WRITER_PATIENCE_S
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.02)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _read_holder(path: Path) -> Holder | None:
    for _ in range(5):  # the holder writes its record right after locking: allow it a moment
        with contextlib.suppress(OSError):
            holder = Holder.parse(path.read_bytes())
            if holder is not None:
                return holder
        time.sleep(0.02)
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """An exclusive hold on one run directory (see the module docstring); use :func:`hold_run_dir`."""

    def __init__(self, run_dir: Path, mechanism: str, fd: int | None, created: bool,
                 made: tuple[Path, ...] = ()) -> None:
        self.run_dir = run_dir
        self.mechanism = mechanism
        self.created = created
        self._made = made or ((run_dir,) if created else ())  # folders this lock created, innermost first
        self._fd = fd

    @classmethod
    def acquire(cls, run_dir: str | os.PathLike, *, break_stale: bool = False) -> RunLock:
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise RunDirError(f"{run_dir}: exists and is not a directory")
        made = tuple(p for p in (run_dir, *run_dir.parents) if not p.exists())  # removed again if left empty
        created = bool(made)
        run_dir.mkdir(parents=True, exist_ok=True)
        mechanism = lock_mechanism(run_dir)
        try:
            if mechanism == "flock":
                try:
                    lock = cls._acquire_flock(run_dir, created)
                except OSError as exc:
                    if exc.errno not in _UNTRUSTED_ERRNOS:
                        raise
                    mechanism = "file"  # no advisory locks here (ENOLCK, EOPNOTSUPP): fall back
                else:
                    lock._made = made
                    return lock
            lock = cls._acquire_owner_file(run_dir, created, break_stale)
            lock._made = made
            return lock
        except BaseException:
            _remove_empty(made)
            raise

    @classmethod
    def _acquire_flock(cls, run_dir: Path, created: bool) -> RunLock:
        path = run_dir / LOCK_NAME
        try:
            fd = _lock_open(path)
        except BlockingIOError:
            raise _busy(run_dir, _read_holder(path)) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, Holder.me().to_bytes(), 0)
        except OSError as exc:  # the lock is held; only its record of who holds it could not be written
            if not is_write_failure(exc):  # (a full disk: the command's own writes will say so, naming them)
                os.close(fd)
                raise
        return cls(run_dir, "flock", fd, created)

    @classmethod
    def _acquire_owner_file(cls, run_dir: Path, created: bool, break_stale: bool) -> RunLock:
        path = run_dir / OWNER_NAME
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                raw = b""
                with contextlib.suppress(OSError):
                    raw = path.read_bytes()
                holder = Holder.parse(raw)
                stale = holder is not None and holder.host == socket.gethostname() and not _pid_alive(holder.pid)
                if not (stale or break_stale):
                    raise _busy(run_dir, holder) from None
                with contextlib.suppress(OSError):  # take over only the record we judged stale
                    if path.read_bytes() == raw:
                        path.unlink()
                continue
            try:
                os.write(fd, Holder.me().to_bytes())
                os.fsync(fd)
            except OSError as exc:  # an empty owner file would look held forever: take it back, say why
                with contextlib.suppress(OSError):
                    path.unlink()
                if is_write_failure(exc):
                    raise write_failure(path, exc) from exc
                raise
            finally:
                os.close(fd)
            return cls(run_dir, "file", None, created)
        raise _busy(run_dir, _read_holder(path))

    def release(self, *, remove_dir_if_empty: bool = False) -> None:
        """Let go, leaving no lock file. ``remove_dir_if_empty``: this run made the folder and left
        nothing in it, so it goes too."""
        with contextlib.suppress(OSError):  # flock: unlinked while still held (see _lock_open)
            (self.run_dir / (OWNER_NAME if self.mechanism == "file" else LOCK_NAME)).unlink()
        if remove_dir_if_empty:
            _remove_empty(self._made)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _remove_empty(folders: tuple[Path, ...]) -> None:
    """Remove the folders a lock made (innermost first), as long as each is empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone): its parents are not ours to judge
            return


@contextlib.contextmanager
def hold_run_dir(run_dir: str | os.PathLike, *, break_stale: bool = False,
                 cleanup_if_created: bool = True) -> Iterator[RunLock]:
    """Hold RUN_DIR exclusively for the ``with`` block (created if missing).

    Raises :class:`RunDirBusy` at once when another live process holds it. On the way out, a
    folder this call created and nothing was written into is removed again, so a refused or
    failed command leaves no trace.
    """
    lock = RunLock.acquire(run_dir, break_stale=break_stale)
    try:
        yield lock
    finally:
        lock.release(remove_dir_if_empty=cleanup_if_created and lock.created)


def break_stale_lock(run_dir: str | os.PathLike) -> bool:
    """Remove a fallback owner file left by a writer on another host (``--break-lock``).

    A kernel lock (flock) cannot be broken from outside, and never needs to be: it ends with its
    holder. Returns whether a record was removed.
    """
    path = Path(run_dir) / OWNER_NAME
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def run_in_progress(run_dir: str | os.PathLike) -> Holder | None:
    """The live writer of ``run_dir``, or None. For readers: never blocks, never creates anything."""
    run_dir = Path(run_dir)
    owner = run_dir / OWNER_NAME
    if owner.is_file():
        holder = _read_holder(owner)
        if holder is not None and not (holder.host == socket.gethostname() and not _pid_alive(holder.pid)):
            return holder
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return _read_holder(path) or Holder("?", 0, "?", "?")
    except OSError:
        os.close(fd)
        return None
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    return None


def describe_lock(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """``run_in_progress`` as a JSON-ready dict (for ``--json`` outputs), or None."""
    holder = run_in_progress(run_dir)
    if holder is None:
        return None
    return {"host": holder.host, "pid": holder.pid, "command": holder.command, "since": holder.since}


def refuse_if_busy(run_dir: str | os.PathLike, *, break_lock: bool = False) -> None:
    """Refuse at once (RunDirBusy) when a live writer holds ``run_dir``; changes nothing.

    A cheap early check for the CLI, made before seconds of backend start-up; the writer's own
    :func:`hold_run_dir` remains the authority. ``break_lock`` first removes a fallback record
    (see :func:`break_stale_lock`).
    """
    if break_lock:
        break_stale_lock(run_dir)
    holder = run_in_progress(run_dir)
    if holder is not None:
        raise _busy(Path(run_dir), holder)


def in_progress_note(run_dir: str | os.PathLike) -> str | None:
    """For readers: one line saying that ``run_dir`` is still being written, or None."""
    holder = run_in_progress(run_dir)
    if holder is None:
        return None
    return (f"{run_dir} is still being written by {holder.describe()}; "
            "this reads its last complete checkpoint")
