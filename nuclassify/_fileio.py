"""Crash-safe file writing shared by every writer in the package.

Nothing the tool writes may corrupt or replace an existing file half-way: writers produce a
temporary file next to the target and rename it into place only when complete (rename is atomic
on POSIX within one file system). An exception or Ctrl-C removes the temporary file, and a write
the system refuses (full disk, ``ulimit -f``, quota, read-only, permission, EIO) becomes one
:class:`~nuclassify.errors.OutputError` naming the target (see :mod:`nuclassify._diskfaults`).

HDF5 files are written through :func:`atomic_h5`, which hands HDF5 a Python file object instead
of letting it open the file itself; why is explained at :class:`_GuardedFile`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nuclassify._diskfaults import is_write_failure, write_failure
from nuclassify._signals import HeldSignals, held_inside
from nuclassify.errors import NuclassifyError, SpecError, UsageError

if TYPE_CHECKING:
    import h5py

__all__ = ["atomic_output", "atomic_h5", "H5Output", "check_output_path", "check_output_dir", "default_file_mode",
           "default_dir_mode", "read_json_file", "refuse_input_as_output", "temporary_target"]

# Bytes of discarded writes kept for HDF5 to read back after a failure (see _GuardedFile): a writer
# that checks after every block discards at most one block's worth.
_DISCARD_KEEP = 256 << 20


def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate that ``path`` may be written: its folder exists and it is new (or ``overwrite``).

    Raises:
        UsageError: naming the path and the problem.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{target}: output folder {parent} does not exist")
    if target.is_dir():
        raise UsageError(f"{target}: is a directory, expected a file name")
    if target.exists() and not overwrite:
        raise UsageError(f"{target}: already exists (use --overwrite to replace it)")
    return target


def refuse_input_as_output(output: str | os.PathLike | None, *inputs: str | os.PathLike | None) -> None:
    """Refuse an output that is one of the command's own inputs (``-o test.h5 --data test.h5``).

    ``--overwrite`` would otherwise replace the data file (or the model) with the output, which is
    exactly what "nothing that exists is lost" forbids. Links and other spellings of the same file
    are caught too (``os.path.samefile``).

    Raises:
        UsageError: naming the output and the input it would destroy.
    """
    if output is None or not os.path.exists(output):
        return
    for source in inputs:
        if source is not None and os.path.exists(source) and os.path.samefile(output, source):
            raise UsageError(f"{output}: is the input {source}; writing the output there would destroy it")


# atomic_output's temporary names: mkstemp's ".NAME." + 8 random characters + the suffix (".tmp", ".tmp.keras").
_TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")


def temporary_target(filename: str) -> str | None:
    """The file name whose :func:`atomic_output` temporary ``filename`` is, or None if it is not one
    (for clearing what a killed writer left: ``.model.keras.k2j4x_9a.tmp.keras`` -> ``model.keras``)."""
    match = _TEMPORARY_NAME.match(filename)
    return match["name"] if match else None


def check_output_dir(path: str | os.PathLike) -> Path:
    """Check, before long work, that files can be created in folder ``path`` (made later if missing).

    A file is created and removed again in ``path``, or in its parent when ``path`` is still to
    be made, so a read-only file system, a foreign folder or a full inode table are found at once
    rather than after an hour's evaluation. Nothing is left behind. The parent must exist: a
    missing one is a typo, refused as for every output file (:func:`check_output_path`).

    Raises:
        UsageError: ``path`` is a file, or neither it nor its parent exists.
        OutputError: a file cannot be created there (naming the folder and the reason).
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: is a file, expected a folder")
    if not folder.exists() and not folder.parent.is_dir():
        raise UsageError(f"{folder}: output folder {folder.parent} does not exist")
    probe_in = folder if folder.exists() else folder.parent
    try:
        with tempfile.TemporaryFile(dir=probe_in, prefix=".nuclassify-probe."):
            pass
    except OSError as exc:  # named by the folder, not by the probe's random name
        raise write_failure(folder, OSError(exc.errno, exc.strerror)) from exc
    return folder


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def default_file_mode() -> int:
    """The permissions a plain ``open()`` would give a new file under the current umask."""
    return 0o666 & ~_umask()


def default_dir_mode() -> int:
    """The permissions a plain ``mkdir`` would give a new folder under the current umask (not mkdtemp's 0700)."""
    return 0o777 & ~_umask()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    On any exception (KeyboardInterrupt included) the temporary file is deleted and the
    existing ``path``, if any, is left untouched. ``suffix`` ends the temporary name, for
    writers that insist on an extension (Keras saves only to ``*.keras``).
    """
    target = check_output_path(path, overwrite=overwrite)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent or ".")
    except OSError as exc:  # a read-only or foreign folder, no inodes left: nothing was made
        raise write_failure(target, exc) from exc
    tmp = Path(tmp_name)
    try:
        os.close(fd)
        # mkstemp creates 0600 files; give the output the permissions a plain open() would.
        os.chmod(tmp_name, default_file_mode())
        yield tmp
        os.replace(tmp, target)
    except BaseException as exc:
        # The message is made before the clean-up, so that its free space is what the write met.
        error = write_failure(target, exc) if is_write_failure(exc) else None
        with contextlib.suppress(OSError):
            tmp.unlink()
        if error is not None:
            raise error from exc
        raise


class _GuardedFile(io.RawIOBase):
    """The file object HDF5 writes through (h5py's ``fileobj`` driver): a failed write never reaches HDF5.

    Why: when a write fails *inside* HDF5 (ENOSPC, EFBIG, ...), it fails where HDF5 cannot undo
    it. Most often that is the flush of a dataset's chunk cache while h5py drops a dataset
    object (``ObjectID.__dealloc__``): the close fails half-way, h5py prints "Exception ignored"
    tracebacks, and the next close of the file, or HDF5's clean-up at interpreter exit, touches
    the half-closed dataset and crashes with a segmentation fault (reproduced with h5py 3.14 /
    HDF5 1.14.6 under ``ulimit -f``, with HDF5's own ``sec2`` driver and with h5py's
    ``fileobj`` driver alike). So HDF5 is never told: the first failure is remembered and
    every later write is *discarded* (kept in memory, so that HDF5 reads back what it believes
    it wrote; at most :data:`_DISCARD_KEEP` bytes). The writer asks :meth:`H5Output.check` at
    safe points (after each block, before closing) and fails there, in Python; the close that
    follows writes nothing and cannot fail, and the file is deleted.

    It also does what h5py's driver leaves to the file object: ``write`` loops over short
    writes (the driver ignores the count, and a write that reaches ``ulimit -f`` is cut short
    before the next one fails) and ``readinto`` fills the whole buffer, zeros past the end as
    HDF5's ``sec2`` driver does.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
        self._pos = 0
        self.failure: OSError | None = None
        self._discarded: list[tuple[int, bytes]] = []  # writes after the failure, oldest first
        self._kept = 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos}.get(whence)
        self._pos = (self._size() if base is None else base) + int(pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def _size(self) -> int:
        return max([os.fstat(self._fd).st_size] + [off + len(data) for off, data in self._discarded])

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want, done = len(view), 0
        while done < want:
            got = os.preadv(self._fd, [view[done:]], self._pos + done)
            if got <= 0:
                break
            done += got
        view[done:] = bytes(want - done)
        for off, data in self._discarded:  # newer pieces last, so they win where pieces overlap
            lo, hi = max(off, self._pos), min(off + len(data), self._pos + want)
            if lo < hi:
                view[lo - self._pos:hi - self._pos] = data[lo - off:hi - off]
        self._pos += want
        return want

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        if self.failure is None:
            try:
                while done < len(view):
                    done += os.pwrite(self._fd, view[done:], self._pos + done)
            except OSError as exc:
                self.failure = exc
        if self.failure is not None and self._kept < _DISCARD_KEEP:
            self._discarded.append((self._pos + done, view[done:].tobytes()))
            self._kept += len(view) - done
        self._pos += len(view)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else int(size)
        if self.failure is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                self.failure = exc
        return size

    def flush(self) -> None:
        pass  # unbuffered: every write went to the kernel

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


# The code HDF5 runs in Python while it writes: a signal arriving there is held (see atomic_h5).
_GUARDED_CODES = {f.__code__ for f in vars(_GuardedFile).values() if hasattr(f, "__code__")}


class H5Output:
    """What :func:`atomic_h5` hands out: the open file, and :meth:`check` for the writer's safe points."""

    def __init__(self, h5: h5py.File, guard: _GuardedFile, path: Path, progress: Callable[[], str] | None,
                 held: HeldSignals) -> None:
        self.file = h5
        self._guard = guard
        self._path = path
        self._progress = progress
        self._held = held

    def check(self) -> None:
        """Act on a Ctrl-C or SIGTERM held during HDF5's writes (KeyboardInterrupt), and raise
        :class:`~nuclassify.errors.OutputError` if a write has failed (call between blocks)."""
        self._held.deliver()
        failure = self._guard.failure
        if failure is not None:
            raise write_failure(self._path, failure, progress=self._progress() if self._progress else "") \
                from failure


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, overwrite: bool = False, *,
              progress: Callable[[], str] | None = None) -> Iterator[H5Output]:
    """A writable HDF5 file (``out.file``) that appears at ``path`` only when the block completes.

    As :func:`atomic_output`, and a write the system refuses ends cleanly: the writer calls
    ``out.check()`` after each block, which raises one :class:`~nuclassify.errors.OutputError`
    naming ``path``, the reason and ``progress()`` ("after 11,520 of 20,000 events"); the file
    is then closed (what HDF5 still writes is discarded, so the close cannot fail) and removed.
    The same check runs before the file is renamed into place, so a failed write is never kept,
    even by a writer that never calls ``check()``. A Ctrl-C or SIGTERM that arrives while HDF5
    is inside a write is held until the next check (:func:`nuclassify._signals.held_inside`), so
    an interrupted writer removes its temporary file rather than keeping a silently short one.
    """
    import h5py

    target = Path(path)
    with atomic_output(target, overwrite) as tmp, held_inside(_GUARDED_CODES) as held:
        guard = _GuardedFile(tmp)
        try:
            h5 = h5py.File(guard, "w")
            out = H5Output(h5, guard, target, progress, held)
            try:
                yield out
                h5.flush()
                out.check()
            except Exception as exc:
                if guard.failure is None or isinstance(exc, NuclassifyError):
                    raise
                out.check()  # whatever h5py made of it, the cause is the write that failed
                raise  # pragma: no cover - check() raised
            finally:
                h5.close()  # no write reaches HDF5 as a failure, so this cannot fail half-way
            out.check()  # what the close wrote
        finally:
            guard.close()
        held.deliver()  # a signal held during the last close: the file is whole, but the user asked to stop


def read_json_file(path: Path, what: str, *, missing: type[NuclassifyError] = UsageError,
                   invalid: type[NuclassifyError] = SpecError) -> Any:
    """The JSON in ``path`` (a spec, a search space): every way to fail is one line naming the file.

    ``missing`` is raised for a file that is not there, ``invalid`` for one that cannot be read
    or is not JSON; ``what`` names the kind of file in the message ("spec", "search space").
    """
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise missing(f"{path}: no such {what} file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid(f"{path}: cannot read {what} ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise invalid(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
