"""MC dropout: a copy of a network whose Dropout layers stay on at prediction time.

Gal and Ghahramani ("Dropout as a Bayesian Approximation", ICML 2016, arXiv 1506.02142) showed
that a network trained with dropout, run N times with dropout still active, draws samples from
an approximate posterior predictive: their mean is the prediction, their spread the model's
(epistemic) uncertainty. Calling the whole model with ``training=True`` would do that, but it
would also switch batch normalisation to batch statistics (and update its moving averages), so
each event's output would depend on the rest of its batch and the stored statistics would
drift. Here only the Dropout layers are switched: the model is cloned with each ``Dropout``
replaced by :class:`AlwaysOnDropout` (same rate, noise shape), the weights are copied, and the
copy is called in inference mode, so batch normalisation uses its stored statistics and leaves
them untouched.

Keras is imported inside the functions: importing :mod:`nuclassify.evaluation` must stay cheap.
"""

from __future__ import annotations

from typing import Any

from nuclassify.errors import UsageError

__all__ = ["dropout_layers", "mc_dropout_model"]


def dropout_layers(model: Any) -> list[Any]:
    """Every Dropout layer (any subclass: SpatialDropout too) of ``model``, nested models included."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(dropout_layers(layer))
    return found


def _always_on_class() -> type:
    """The Dropout subclass that ignores ``training`` (defined lazily: Keras is imported on demand)."""
    global _ALWAYS_ON
    if _ALWAYS_ON is None:
        import keras

        class AlwaysOnDropout(keras.layers.Dropout):
            """Dropout that drops at prediction time too (MC dropout); never saved, so not registered."""

            def call(self, inputs: Any, training: Any = None) -> Any:
                return super().call(inputs, training=True)

        _ALWAYS_ON = AlwaysOnDropout
    return _ALWAYS_ON


_ALWAYS_ON: type | None = None


def mc_dropout_model(model: Any, *, seed: int | None = None, label: str = "model") -> Any:
    """A copy of ``model`` whose Dropout layers are active in every call; everything else in inference mode.

    Args:
        model: a functional or sequential Keras model with at least one Dropout layer.
        seed: seeds the copy's dropout masks (layer i gets ``seed + i``), so that a run of
            predictions repeats; None draws fresh masks.
        label: how to name the model in the error message (its run directory).

    Raises:
        UsageError: the model has no Dropout layer, so every sample would be the same.
    """
    import keras

    if not dropout_layers(model):
        raise UsageError(f"--mc-samples: {label} has no dropout layer, so every sample would be the same; MC "
                         f"dropout needs a network trained with dropout (a spec with a 'dropout' layer)")
    always_on = _always_on_class()
    counter = [0]

    def clone(layer: Any) -> Any:
        if isinstance(layer, keras.Model):  # a nested model: switch its own Dropout layers too
            return keras.models.clone_model(layer, clone_function=clone)
        if isinstance(layer, keras.layers.Dropout):
            counter[0] += 1
            return always_on(layer.rate, noise_shape=layer.noise_shape, name=layer.name,
                             seed=None if seed is None else int(seed) + counter[0])
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
