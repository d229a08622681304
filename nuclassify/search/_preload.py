"""Imported by each candidate process while it waits for its job: Keras, quietly.

Why a module: the process executor's ``preload`` names modules that a child imports before it
reports ready, which is what hides the seconds that importing Keras (and TensorFlow) costs.
Importing ``keras`` directly there would also let TensorFlow's C++ layer print its start-up
chatter ("oneDNN custom operations are on", "Could not find cuda drivers") to the terminal once
per candidate, past ``TF_CPP_MIN_LOG_LEVEL``; so it is imported here with file descriptor 2
pointed at /dev/null, unless ``NUCLASSIFY_VERBOSE`` is set. Python exceptions are not hidden:
the descriptor is restored before anything propagates.
"""

from __future__ import annotations

import os

from nuclassify._backend import start_backend_quietly


def _import_keras_quietly() -> None:
    start_backend_quietly(verbose=bool(os.environ.get("NUCLASSIFY_VERBOSE")))
    import nuclassify.training  # noqa: F401 - the trainer's own imports, also done ahead


_import_keras_quietly()
