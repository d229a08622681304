"""Imported by each candidate process while it waits for its job: Keras, quietly.

Why a module: the process executor's ``preload`` names modules that a child imports before it
reports ready, which is what hides the seconds that importing Keras (and TensorFlow) costs.
Importing ``keras`` directly there would also let TensorFlow's C++ layer print its start-up
chatter ("oneDNN custom operations are on", "Could not find cuda drivers") to the terminal once
per candidate, past ``TF_CPP_MIN_LOG_LEVEL``; so it is imported here with file descriptor 2
pointed at /dev/null, unless ``NUCLASSIFY_VERBOSE`` is set. Python exceptions are not hidden:
the descriptor is restored before anything propagates.

Keras imports matplotlib (for ``keras.visualization``) and scikit-learn (for
``keras.wrappers``) when they are installed, each inside ``try: ... except ImportError``. A
candidate uses neither, and on a 2-core machine they are about a third of the import (1.3 s
each of 6.5 s, measured with ``python -X importtime -c "import keras"``), paid once per
candidate because every candidate is a fresh process. So they are made unimportable while
Keras imports, and importable again afterwards (``sys.modules[name] = None`` is Python's way to
make an import raise ImportError; the entries are removed once Keras is in).

The Keras backend is ``KERAS_BACKEND`` (``nuclassify evolve --backend`` sets it for its
children). The other frameworks are made unimportable for the candidate's whole life, because
they are imported only as optional extras: TensorFlow imports JAX (``tensorflow.lite``) when it is
installed, and Keras' ``set_random_seed`` imports TensorFlow on every backend to seed it
(``keras.src.utils.rng_utils``, behind ``LazyModule.available``, which treats an ImportError as
"not installed"). Every candidate pays its imports, since each is a fresh process: this preload
took 3.5 CPU-s on TensorFlow (3.9 s while it also imported JAX) and 1.7 CPU-s on JAX without
TensorFlow, on the 2-core development machine. (JAX's per-candidate XLA compilation costs more
than that saves on the CPU for small networks, so TensorFlow stays the default there; see
``benchmarks/bench_evolve.py``.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from nuclassify._backend import start_backend_quietly
from nuclassify.search._child import backend_name, block_for_life, unused_frameworks

#: optional integrations Keras imports if it can, which a candidate never uses
SKIPPED = ("matplotlib", "sklearn")


@contextlib.contextmanager
def _unimportable(names: tuple[str, ...]) -> Iterator[None]:
    """Inside the block ``import name`` raises ImportError (unless it was imported before)."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def _import_keras_quietly() -> None:
    block_for_life(unused_frameworks(backend_name()))
    verbose = bool(os.environ.get("NUCLASSIFY_VERBOSE"))
    with _unimportable(SKIPPED):
        start_backend_quietly(verbose=verbose)
    if not verbose and "tensorflow" in sys.modules:
        # A child reused for several candidates builds a new model each time, and TensorFlow then
        # warns "N calls triggered tf.function retracing" through its Python logger (past the fd).
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import nuclassify.training  # noqa: F401 - the trainer's own imports, also done ahead


_import_keras_quietly()
