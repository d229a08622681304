"""Training: fit a spec on an HDF5 file into a resumable run directory; load finished runs.

``fit(spec, TrainConfig(...))`` is the one entry point; the config holds every option. Keras is
imported only inside the functions, so importing this package stays cheap.
"""

from nuclassify.training._checks import check_same_kind
from nuclassify.training._config import ENGINES, LR_SCHEDULES, PRECISIONS, PROGRESS_MODES, TrainConfig
from nuclassify.training._distribute import DEFAULT_PORT, mpi_world, tf_config_from_mpi, tf_config_from_ranks
from nuclassify.training._fit import (
    FitResult,
    TrainingDivergedError,
    TrainingError,
    TrainingInterrupted,
    fit,
)
from nuclassify.training._progress import LINE_INTERVAL_S
from nuclassify.training._rundir import RUN_FILES, LoadedRun, file_digest, load_run

__all__ = [
    "check_same_kind",
    "fit", "TrainConfig", "FitResult", "TrainingDivergedError", "TrainingError", "TrainingInterrupted", "load_run",
    "LoadedRun", "RUN_FILES", "file_digest",
    "tf_config_from_ranks", "tf_config_from_mpi", "mpi_world", "DEFAULT_PORT", "PRECISIONS", "LR_SCHEDULES",
    "ENGINES", "PROGRESS_MODES", "LINE_INTERVAL_S",
]
