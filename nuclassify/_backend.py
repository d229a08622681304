"""Starting the Keras backend without TensorFlow's native start-up chatter in our output or logs.

TensorFlow's C++ layer prints start-up lines ("oneDNN custom operations are on", "Could not find
cuda drivers", a cuInit failure on CPU machines) straight to file descriptor 2, past
``TF_CPP_MIN_LOG_LEVEL``. Importing it once with fd 2 pointed at /dev/null keeps every command's
stderr (and every search candidate's) to its own messages. Used by the CLI before training or
predicting, and by the search's candidate processes while they wait for a job.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from nuclassify._signals import deferred_interrupts

__all__ = ["muted_native_stderr", "start_backend_quietly"]


@contextlib.contextmanager
def muted_native_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null inside the block. Python exceptions are not hidden:
    the descriptor is restored before anything propagates."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def start_backend_quietly(verbose: bool = False) -> None:
    """Import Keras (and initialise TensorFlow's devices) with native stderr muted unless ``verbose``.

    On JAX and torch, ``keras.utils.set_random_seed`` still imports TensorFlow (to seed it) when it
    is installed, so it is imported here too, muted.
    """
    with deferred_interrupts():  # Ctrl-C during the native start-up is raised after it, not lost in it
        _start_backend(verbose)


def _start_backend(verbose: bool) -> None:
    if verbose:  # -v: the chatter is shown
        import keras  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with muted_native_stderr():
        import importlib.util

        import keras

        if importlib.util.find_spec("tensorflow") is not None:
            import tensorflow as tf

            if keras.backend.backend() == "tensorflow":
                tf.config.list_physical_devices()  # device start-up prints too
