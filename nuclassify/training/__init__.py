"""Training: fit a spec on an HDF5 file into a resumable run directory; load finished runs.

Keras is imported only inside the functions, so importing this package stays cheap.
"""

from nuclassify.training._distribute import mpi_world, tf_config_from_mpi, tf_config_from_ranks
from nuclassify.training._fit import (
    ENGINES,
    LR_SCHEDULES,
    PRECISIONS,
    FitResult,
    TrainingDivergedError,
    TrainingError,
    TrainingInterrupted,
    fit,
)
from nuclassify.training._rundir import RUN_FILES, LoadedRun, file_digest, load_run

__all__ = [
    "fit", "FitResult", "TrainingDivergedError", "TrainingError", "TrainingInterrupted", "load_run", "LoadedRun",
    "RUN_FILES", "file_digest",
    "tf_config_from_ranks", "tf_config_from_mpi", "mpi_world", "PRECISIONS", "LR_SCHEDULES", "ENGINES",
]
