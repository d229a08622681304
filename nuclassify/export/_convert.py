"""Keras model -> ONNX file or SavedModel directory, through Keras 3's own ``model.export``.

On the TensorFlow backend ``model.export(format="onnx")`` traces the model into a ``tf.function``
and converts it with tf2onnx (https://github.com/onnx/tensorflow-onnx); ``format="tf_saved_model"``
writes TensorFlow's serving format. Nothing here builds a graph by hand: the ONNX file is only
tidied afterwards (the output renamed ``probabilities``, every batch dimension called ``batch``,
the metadata added), which changes names, never computation.

Keras' export traces the model at float32 only, so a model trained with mixed precision is
first cloned with float32 layers and given the same weights (its variables are float32 anyway).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nuclassify.errors import NuclassifyError

__all__ = ["ExportError", "float32_model", "input_signature", "to_onnx", "to_saved_model", "tidy_onnx",
           "OUTPUT_NAME", "BATCH_DIM"]

#: The name of the exported model's output, for a single-output (classifier) model.
OUTPUT_NAME = "probabilities"
#: The symbolic name of every input's and output's first (batch) dimension.
BATCH_DIM = "batch"


class ExportError(NuclassifyError):
    """The model could not be exported, or the exported model does not reproduce the Keras model."""


def _require_tensorflow_backend() -> None:
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ExportError(f"export needs the TensorFlow backend (tf2onnx converts TensorFlow graphs); "
                          f"this process runs {backend}: unset KERAS_BACKEND or set it to tensorflow")


def float32_model(model: Any) -> Any:
    """``model`` itself if every layer computes in float32, else a float32 clone with its weights.

    Mixed precision (``train --precision mixed``) makes layers compute in float16/bfloat16; Keras'
    ONNX export supports float32 only (its docstring), and the C++ runtimes expect float32 inputs.
    """
    import keras

    if all(getattr(getattr(layer, "dtype_policy", None), "compute_dtype", "float32") == "float32"
           for layer in model.layers):
        return model

    def as_float32(layer: Any) -> Any:
        config = layer.get_config()
        config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=as_float32)
    clone.set_weights(model.get_weights())
    return clone


def with_temperature(model: Any, temperature: float) -> Any:
    """``model`` with its probabilities temperature-scaled inside the graph: softmax(log p / T).

    Why in the graph: a reconstruction chain that loads the exported file gets the calibrated
    probabilities ``nuclassify calibrate`` fitted, with no nuclassify code beside it. The same
    formula as :func:`nuclassify.evaluation.apply_temperature` (Guo et al., arXiv 1706.04599),
    in Keras ops (Log, Div, Softmax), all of which export to ONNX.
    """
    import keras
    from keras import ops

    if len(model.outputs) != 1:
        raise ExportError(f"{model.name}: a temperature can be folded into a single-output model only "
                          f"(this one has {len(model.outputs)} outputs)")

    class TemperatureScaling(keras.layers.Layer):
        def __init__(self, t: float, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.t = float(t)

        def call(self, p: Any) -> Any:  # noqa: D102 - Keras API
            return ops.softmax(ops.log(ops.maximum(p, 1e-30)) / self.t, axis=-1)

    scaled = TemperatureScaling(temperature, name="temperature_scaling")(model.outputs[0])
    return keras.Model(model.inputs, scaled, name=model.name)


def input_signature(views: Sequence[str], shapes: dict[str, Sequence[int]]) -> list:
    """Keras input specs named after the views, channels last, with a dynamic batch dimension.

    A multi-input functional model is called with one list of tensors, hence the nesting.
    """
    import keras

    specs = [keras.InputSpec(shape=(None, *(int(d) for d in shapes[v])), dtype="float32", name=v) for v in views]
    return [specs] if len(specs) > 1 else specs


def to_onnx(model: Any, views: Sequence[str], shapes: dict[str, Sequence[int]], path: str | os.PathLike,
            opset: int | None = None) -> None:
    """``model.export(path, format="onnx")`` with named, batch-dynamic inputs.

    Raises:
        ExportError: not on the TensorFlow backend, tf2onnx is missing, or it cannot convert the model
            (an opset it does not know, an op it cannot map).
    """
    _require_tensorflow_backend()
    try:
        import tf2onnx  # noqa: F401 - Keras imports it itself; checked here to name the extra to install
    except ImportError as exc:
        raise ExportError("exporting to ONNX needs tf2onnx and onnx: pip install 'nuclassify[full]'") from exc
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        # Keras patches tf2onnx for numpy 2 by probing np.object, which numpy answers with a FutureWarning.
        warnings.simplefilter("ignore", FutureWarning)
        try:
            model.export(str(path), format="onnx", verbose=False, input_signature=input_signature(views, shapes),
                         opset_version=opset)
        except (ValueError, TypeError, KeyError, NotImplementedError, RuntimeError) as exc:
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise ExportError(f"tf2onnx could not convert the model{f' at opset {opset}' if opset else ''}: "
                              f"{detail}") from exc


def tidy_onnx(path: str | os.PathLike, props: Callable[[int], dict[str, str]], doc: str) -> int:
    """Rename the output, name the batch dimension, add the metadata, check the file; returns its opset.

    ``props`` gets the file's opset and returns the metadata properties (which record it).

    tf2onnx names the output after TensorFlow's last op (``Identity:0``) and each batch dimension
    after an internal symbol (``unk__165``); a reconstruction program is easier to write against
    ``probabilities`` and ``batch``.

    Raises:
        ExportError: the file is not a valid ONNX model (an op without an ONNX counterpart).
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    if len(graph.output) == 1 and graph.output[0].name != OUTPUT_NAME:
        _rename_value(graph, graph.output[0].name, OUTPUT_NAME)
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = BATCH_DIM
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    del model.metadata_props[:]
    for key, value in props(opset).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = doc
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        detail = str(exc).strip().splitlines()[0][:200]
        raise ExportError(f"the converted model is not valid ONNX ({detail})") from exc
    onnx.save(model, str(path))
    return opset


def _rename_value(graph: Any, old: str, new: str) -> None:
    """Rename one tensor everywhere it is produced, consumed, declared or described."""
    for node in graph.node:
        for field in (node.input, node.output):
            for i, name in enumerate(field):
                if name == old:
                    field[i] = new
    for value in list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new


def to_saved_model(model: Any, views: Sequence[str], shapes: dict[str, Sequence[int]],
                   directory: str | os.PathLike) -> None:
    """``model.export(directory, format="tf_saved_model")``: a ``serve`` endpoint and ``serving_default``.

    Raises:
        ExportError: not on the TensorFlow backend, or TensorFlow cannot trace the model.
    """
    _require_tensorflow_backend()
    try:
        model.export(str(directory), format="tf_saved_model", verbose=False,
                     input_signature=input_signature(views, shapes))
    except (ValueError, TypeError, NotImplementedError, RuntimeError) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ExportError(f"TensorFlow could not write the SavedModel: {detail}") from exc
    if not (Path(directory) / "saved_model.pb").is_file():
        raise ExportError(f"{directory}: TensorFlow wrote no saved_model.pb")
