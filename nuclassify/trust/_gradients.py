"""Gradients of one class score with respect to a Keras 3 model's inputs, on any backend.

Keras 3 has no released ``keras.ops.grad``: each backend differentiates its own way
(``tf.GradientTape``, ``jax.grad``, ``torch.autograd``). Saliency and integrated gradients need
only "d score[class] / d input" for a batch, so this module is that one small dispatcher, chosen
by ``keras.backend.backend()``. The forward pass is written in ``keras.ops`` and so is the same
on every backend; only the differentiation differs.

The score is either the class probability (the softmax output the run predicts with) or its
logit (the pre-softmax value, computed from the penultimate features and the output layer's
kernel), which does not saturate when the network is confident.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nuclassify.errors import UsageError

__all__ = ["SCORES", "score_function", "input_gradients"]

#: What can be differentiated: the softmax probability, or the logit in front of it.
SCORES = ("probability", "logit")

#: A backend-native function from the model's inputs (a list of tensors) to scores (N, classes).
ScoreFn = Callable[[list[Any]], Any]


def _class_head(out: Any) -> Any:
    """The class output of a model that may also have a z head (the first 2-D output with > 1 column)."""
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return next(o for o in out if len(o.shape) == 2 and o.shape[1] > 1)
    return out


def score_function(model: Any, score: str = "probability") -> ScoreFn:
    """A function from ``model``'s inputs to the score to differentiate, built from keras.ops only.

    Args:
        model: a Keras model whose class output is a softmax layer named ``"output"`` (every
            spec-built model), or any model when ``score="probability"``.
        score: ``"probability"`` or ``"logit"``.

    Raises:
        UsageError: an unknown score, or ``"logit"`` for a model without a dense output layer.
    """
    if score not in SCORES:
        raise UsageError(f"unknown score {score!r} (expected one of {', '.join(SCORES)})")
    if score == "probability":
        return lambda xs: _class_head(model(xs if len(xs) > 1 else xs[0], training=False))
    from keras import ops

    from nuclassify.trust._features import OUTPUT_LAYER, penultimate_model

    names = [layer.name for layer in model.layers]
    layer = model.get_layer(OUTPUT_LAYER) if OUTPUT_LAYER in names else None
    if layer is None or not hasattr(layer, "kernel"):
        raise UsageError(f"model {model.name}: no dense output layer named {OUTPUT_LAYER!r}, so no logits to read; "
                         "explain the probability instead")
    features = penultimate_model(model)

    def logits(xs: list[Any]) -> Any:
        f = features(xs if len(xs) > 1 else xs[0], training=False)
        z = ops.matmul(ops.cast(f, "float32"), ops.cast(layer.kernel, "float32"))
        return z + ops.cast(layer.bias, "float32") if getattr(layer, "use_bias", True) else z

    return logits


def input_gradients(fn: ScoreFn, inputs: Sequence[np.ndarray], classes: np.ndarray | int
                    ) -> tuple[list[np.ndarray], np.ndarray]:
    """d fn(inputs)[i, classes[i]] / d inputs[k][i] for every event i and input k.

    Events are independent in inference mode (dropout off, batch norm frozen), so the gradient of
    the batch's summed selected scores is each event's own gradient.

    Args:
        fn: from :func:`score_function` (or any keras.ops function of the input list).
        inputs: one float array (N, ...) per model input, in the model's input order.
        classes: the class whose score is differentiated, per event (N,) or one for all.

    Returns:
        (gradients, scores): one float32 array per input, shaped as it; and the selected scores (N,).
    """
    import keras

    xs = [np.asarray(x, dtype=np.float32) for x in inputs]
    n = len(xs[0])
    cls = np.broadcast_to(np.asarray(classes, dtype=np.int64), (n,))
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(fn, xs, cls)
    if backend == "jax":
        return _jax(fn, xs, cls)
    if backend == "torch":
        return _torch(fn, xs, cls)
    raise UsageError(f"gradients are not implemented for the Keras backend {backend!r}; "
                     "use tensorflow, jax or torch (or --method occlusion)")


def _one_hot(scores: Any, cls: np.ndarray) -> Any:
    from keras import ops

    return ops.one_hot(ops.convert_to_tensor(cls), int(scores.shape[-1]), dtype=scores.dtype)


def _tensorflow(fn: ScoreFn, xs: list[np.ndarray], cls: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    import tensorflow as tf

    tensors = [tf.convert_to_tensor(x) for x in xs]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        scores = fn(tensors)
        selected = tf.reduce_sum(scores * _one_hot(scores, cls), axis=1)
        total = tf.reduce_sum(selected)
    grads = tape.gradient(total, tensors)
    return [np.asarray(g, dtype=np.float32) for g in grads], np.asarray(selected, dtype=np.float64)


def _jax(fn: ScoreFn, xs: list[np.ndarray], cls: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    import jax
    import jax.numpy as jnp

    def total(arrays: list[Any]) -> tuple[Any, Any]:
        scores = fn(arrays)
        selected = jnp.sum(scores * _one_hot(scores, cls), axis=1)
        return jnp.sum(selected), selected

    grads, selected = jax.grad(total, has_aux=True)([jnp.asarray(x) for x in xs])
    return [np.asarray(g, dtype=np.float32) for g in grads], np.asarray(selected, dtype=np.float64)


def _torch(fn: ScoreFn, xs: list[np.ndarray], cls: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    from keras import ops

    tensors = [ops.convert_to_tensor(x).detach().requires_grad_(True) for x in xs]
    scores = fn(tensors)
    selected = (scores * _one_hot(scores, cls)).sum(dim=1)
    selected.sum().backward()
    grads = [np.zeros_like(x) if t.grad is None else t.grad.detach().cpu().numpy() for t, x in zip(tensors, xs,
                                                                                                 strict=True)]
    return [np.asarray(g, dtype=np.float32) for g in grads], selected.detach().cpu().numpy().astype(np.float64)
