"""Exceptions raised by the library.

Every problem a user can cause (a bad file, a bad spec, a bad option) is raised as a
:class:`NuclassifyError` whose message is one line that names the thing at fault. The CLI prints
that line and exits non-zero; it shows a traceback only with ``-v``.
"""

from __future__ import annotations

import os

__all__ = [
    "NuclassifyError",
    "DataFileError",
    "SpecError",
    "UsageError",
    "RunDirError",
    "OutputError",
    "TrainingError",
    "TrainingDivergedError",
    "TrainingInterrupted",
]


class NuclassifyError(Exception):
    """Base class for errors whose message is meant for the user, as one line."""

    exit_code = 2


class DataFileError(NuclassifyError):
    """A data file is missing, unreadable, or not in a layout we understand.

    Args:
        path: the file at fault; it is named first in the message.
        problem: what is wrong, e.g. ``"views have different event counts (x: 10, u: 9)"``.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class SpecError(NuclassifyError):
    """An architecture spec is invalid (unknown key, unknown layer kind, impossible shape)."""


class UsageError(NuclassifyError):
    """An option or argument combination makes no sense (e.g. ``-n 0``)."""


class RunDirError(NuclassifyError):
    """A run directory is missing, incomplete, or holds another run."""


class OutputError(NuclassifyError):
    """A file or folder could not be written: disk full, file-size limit, quota, read-only, no permission, I/O error.

    Not the user's input at fault but the place it goes, so it has its own exit status: 74 is
    ``EX_IOERR`` of BSD ``sysexits.h``, which lets a batch script tell "retry elsewhere" from a
    usage error (2). The message names the path and the reason; whatever was being written was
    removed, and nothing that existed before was changed.
    """

    exit_code = 74


class TrainingError(NuclassifyError):
    """Training could not run: the backend failed in a way that the user can act on."""


class TrainingDivergedError(NuclassifyError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint was kept."""


class TrainingInterrupted(NuclassifyError):
    """Training stopped on request (Ctrl-C, SIGTERM) after saving its resume checkpoint."""

    exit_code = 130
