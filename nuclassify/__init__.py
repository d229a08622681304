"""nuclassify: deep-learning classification of neutrino events (MINERvA vertex segments, NOvA flavour).

The package is layered so that data flows one way (see DESIGN.md):
``detector`` -> ``simulate`` -> ``data`` -> ``models``/``training`` -> ``evaluation``/``search`` -> ``cli``.
Importing the top-level package is cheap: nothing heavy (Keras, TensorFlow) is imported here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
