"""Crash-safe file writing shared by every writer in the package.

Nothing the tool writes may corrupt or replace an existing file half-way: writers produce a
temporary file next to the target and rename it into place only when complete (rename is atomic
on POSIX within one file system). An exception or Ctrl-C removes the temporary file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nuclassify.errors import NuclassifyError, SpecError, UsageError

__all__ = ["atomic_output", "check_output_path", "default_file_mode", "read_json_file"]


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


def default_file_mode() -> int:
    """The permissions a plain ``open()`` would give a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    On any exception (KeyboardInterrupt included) the temporary file is deleted and the
    existing ``path``, if any, is left untouched. ``suffix`` ends the temporary name, for
    writers that insist on an extension (Keras saves only to ``*.keras``).
    """
    target = check_output_path(path, overwrite=overwrite)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent or ".")
    os.close(fd)
    # mkstemp creates 0600 files; give the output the permissions a plain open() would.
    os.chmod(tmp_name, default_file_mode())
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


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
