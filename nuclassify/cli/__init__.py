"""Command-line interface: thin Click commands over the library API.

``main.py`` only assembles the group; each command lives in its own ``*_cmd.py`` module,
imported lazily so that ``nuclassify --help`` never imports TensorFlow.
"""
