"""What a failed write means, in one line: the errno vocabulary, free-space and size-limit checks.

Every writer of the package reports a write that the system refused (a full disk, a per-job
file-size limit, a quota, a read-only or foreign folder, a failing device) the same way: one
:class:`~nuclassify.errors.OutputError` naming the path, the reason in words, and the numbers
that explain it (the free space left, the size limit). This module builds those messages and the
checks that refuse a write before it starts when its size is known in advance.

Why SIGXFSZ is ignored: past ``RLIMIT_FSIZE`` (``ulimit -f``) the kernel sends SIGXFSZ, whose
default action kills the process (with a core) before ``write()`` returns; ignored, ``write()``
fails with EFBIG and the writer can clean up and say so (POSIX ``setrlimit``, ``RLIMIT_FSIZE``).
CPython ignores it at start-up already; :func:`ignore_file_size_signal` makes it explicit for
embedders that start Python without its signal handlers.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
from pathlib import Path

from nuclassify.errors import OutputError

__all__ = ["WRITE_ERRNOS", "is_write_failure", "reason", "write_failure", "format_bytes", "free_bytes",
           "file_size_limit", "check_room", "ignore_file_size_signal"]

# The errors a write can meet that say "this place cannot take the file", not "the program is wrong".
_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EFBIG: "file too large",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error (the device failed)",
}
WRITE_ERRNOS = frozenset(_REASONS)


def is_write_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is an OSError of the kinds in :data:`WRITE_ERRNOS`."""
    return isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS


def reason(exc: OSError) -> str:
    """What went wrong, in lower-case words: ours for the write errors, else the system's own."""
    return _REASONS.get(exc.errno) or (exc.strerror or str(exc) or type(exc).__name__).strip().lower()


def format_bytes(n: float) -> str:
    """``0 B``, ``512 B``, ``2.9 MiB``, ``1.2 TiB``: binary units, as ``df -h`` counts."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


def _folder(path: Path) -> Path:
    """The existing folder that ``path`` is (or would be) written into."""
    folder = path if path.is_dir() else path.parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder


def _shown(folder: Path) -> str:
    text = str(folder)
    return text if text.endswith(os.sep) else text + os.sep


def free_bytes(path: str | os.PathLike) -> int | None:
    """Bytes free to this user in the folder of ``path`` (``shutil.disk_usage``), None if unknown."""
    try:
        return shutil.disk_usage(_folder(Path(path))).free
    except OSError:
        return None


def file_size_limit() -> int | None:
    """The soft ``RLIMIT_FSIZE`` in bytes (``ulimit -f``), or None when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _context(path: Path, err: int | None) -> str:
    """The numbers that explain ``err`` at ``path``: the free space, or the size limit."""
    if err in (errno.ENOSPC, errno.EDQUOT):
        free = free_bytes(path)
        return "" if free is None else f" (free {format_bytes(free)} on {_shown(_folder(path))})"
    if err == errno.EFBIG:
        limit = file_size_limit()
        return "" if limit is None else f" (the file-size limit is {format_bytes(limit)}, ulimit -f)"
    return ""


def write_failure(path: str | os.PathLike, exc: OSError, *, progress: str = "") -> OutputError:
    """The one-line error for a write to ``path`` that failed with ``exc``.

    ``progress`` says how far the write got ("after 11,520 of 20,000 events"), e.g.
    ``small/big.h5: no space left on device after 11,520 of 20,000 events (free 0 B on small/)``.
    An errno outside :data:`WRITE_ERRNOS` is named by the system's own words.
    """
    target = Path(path)
    where = ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        culprit = None if exc.filename is None else Path(os.fsdecode(exc.filename))
        if culprit is None or culprit == target or culprit.name.startswith(f".{target.name}."):
            where = f" (cannot write in {_shown(_folder(target))})"  # our temporary file was refused
        else:
            where = f" ({culprit})"
    progress = f" {progress}" if progress else ""
    return OutputError(f"{target}: {reason(exc)}{where}{progress}{_context(target, exc.errno)}")


def check_room(path: str | os.PathLike, need: int, what: str) -> None:
    """Refuse at once a write of about ``need`` bytes that cannot fit: free space, then ``ulimit -f``.

    ``what`` says what the bytes are for ("20,000 events (typically 3.2 KiB each)"). Only a
    clear shortfall is refused; ``need`` should be an estimate on the low side.

    Raises:
        OutputError: naming the path, the bytes needed and the bytes available.
    """
    target = Path(path)
    free = free_bytes(target)
    if free is not None and need > free:
        raise OutputError(f"{target}: not enough space: {what} need at least {format_bytes(need)}, "
                          f"{_shown(_folder(target))} has {format_bytes(free)} free")
    limit = file_size_limit()
    if limit is not None and need > limit:
        raise OutputError(f"{target}: too large for the file-size limit: {what} need at least "
                          f"{format_bytes(need)}, the limit is {format_bytes(limit)} (ulimit -f)")


def ignore_file_size_signal() -> None:
    """Make a write past ``ulimit -f`` fail with EFBIG rather than kill the process (see module doc)."""
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
