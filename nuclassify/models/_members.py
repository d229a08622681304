"""Several trained networks as one Keras model: the same inputs to each, their outputs joined.

A deep ensemble (``train --ensemble K``) is K networks that see the same event. Exporting it
(their probabilities averaged, as ``predict`` averages them) and reading its features for the
shift scores (their penultimate activations side by side) both need those K networks as a
single model, so the one construction lives here, below ``export`` and ``trust``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["members_model", "JOINS"]

#: how the members' outputs are joined
JOINS = ("average", "concatenate")


def members_model(networks: Sequence[Any], views: Sequence[str], shapes: dict[str, Sequence[int]], *,
                  join: str, name: str) -> Any:
    """One model feeding inputs named after ``views`` to every network and joining their first outputs.

    Each network is wrapped under its own name (``member_0``, ...), so layer names, identical
    across members trained from one spec, do not collide. One network is returned joined to
    nothing (its output as it is).

    Args:
        networks: Keras models taking the views in ``views`` order.
        views, shapes: the input names and their (H, W, C) shapes.
        join: ``"average"`` (the ensemble's mean probabilities) or ``"concatenate"`` (features side by side).
        name: the model's name (and the joining layer's).
    """
    import keras

    if join not in JOINS:
        raise ValueError(f"join must be one of {', '.join(JOINS)}; received {join!r}")
    inputs = [keras.Input(shape=tuple(shapes[v]), name=v, dtype="float32") for v in views]
    outputs = [keras.Model(net.inputs, net.outputs[0], name=f"member_{i}")(inputs) for i, net in enumerate(networks)]
    if len(outputs) == 1:
        joined = outputs[0]
    elif join == "average":
        joined = keras.layers.Average(name=name)(outputs)
    else:
        joined = keras.layers.Concatenate(name=name)(outputs)
    return keras.Model(inputs, joined, name=name)
