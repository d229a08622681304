"""Why a training run stopped early, as one-line errors the CLI turns into exit statuses."""

from __future__ import annotations

from nuclassify.errors import NuclassifyError

__all__ = ["TrainingDivergedError", "TrainingError", "TrainingInterrupted"]


class TrainingDivergedError(NuclassifyError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint was kept."""


class TrainingError(NuclassifyError):
    """Training could not run: the backend failed in a way that the user can act on."""


class TrainingInterrupted(NuclassifyError):
    """Training stopped on request (Ctrl-C, SIGTERM) after saving its resume checkpoint."""

    exit_code = 130
