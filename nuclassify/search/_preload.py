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

import importlib.util
import os
import sys


def _import_keras_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("NUCLASSIFY_VERBOSE"):
        import keras  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras

        if importlib.util.find_spec("tensorflow") is not None:  # other backends' fit imports it too (tf.data)
            import tensorflow as tf

            if keras.backend.backend() == "tensorflow":
                tf.config.list_physical_devices()  # device start-up prints too
        import nuclassify.training  # noqa: F401 - the trainer's own imports, also done ahead
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_keras_quietly()
