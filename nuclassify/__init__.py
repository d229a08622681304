"""nuclassify: deep-learning classification of neutrino events (MINERvA vertex segments, NOvA flavour).

The package is layered so that data flows one way; a module imports only from layers to its
left, never from its right:

``detector`` -> ``events`` -> ``simulate`` -> ``data`` -> ``models`` -> ``training`` ->
``evaluation`` -> ``search``/``trust`` -> ``cli``.

``detector`` is geometry as data; ``events`` holds the event containers (``SparseImages``,
``MinervaBlock``, ``NovaBlock``) that ``simulate`` fills and ``data`` writes and reads, so
neither of those two imports the other's private modules (``simulate`` does not import ``data``
at all). The small shared modules ``errors``, ``_fileio``, ``_signals``, ``_readahead`` and ``_progress`` sit
outside the chain and may be imported by any layer; they import nothing above ``errors``.
Importing the top-level package is cheap: nothing heavy (Keras, TensorFlow) is imported here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
