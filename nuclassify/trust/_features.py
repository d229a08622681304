"""The network's view of an event: its penultimate-layer activations, read batch by batch.

A shift in the data matters when it moves what the classifier sees. The activations that feed
the output layer are the representation the decision is made on, so the data-shift scores
compare samples there (as Rabanser, Günnemann and Lipton, "Failing Loudly", arXiv 1810.11953,
recommend: two-sample tests on a learned representation). The sub-model is built with public
Keras only (``keras.Model(inputs, layer.input)``), so it runs on TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.errors import RunDirError, UsageError
from nuclassify.evaluation import check_model_data, is_onnx_path

__all__ = ["FeatureExtractor", "load_feature_extractor", "penultimate_model", "compute_features"]

#: Name of the class head in every model that nuclassify.models builds.
OUTPUT_LAYER = "output"


def penultimate_model(model: Any) -> Any:
    """A Keras model from ``model``'s inputs to the input of its class-output layer.

    The output layer is the one named ``"output"`` (every spec-built model has it); a model from
    elsewhere falls back to its last layer. The features are those the output layer weighs, so
    a shift in them is a shift the classifier can feel.

    Raises:
        UsageError: the model has no single-input output layer to cut below.
    """
    import keras

    names = [layer.name for layer in model.layers]
    layer = model.get_layer(OUTPUT_LAYER) if OUTPUT_LAYER in names else model.layers[-1]
    try:
        features = layer.input
    except (AttributeError, ValueError) as exc:
        raise UsageError(f"model {model.name}: cannot read the input of its output layer {layer.name!r} ({exc})") \
            from exc
    if isinstance(features, (list, tuple)):
        raise UsageError(f"model {model.name}: its output layer {layer.name!r} has {len(features)} inputs; "
                         "the shift scores need one feature vector per event")
    return keras.Model(model.inputs, features, name=f"{model.name}_features")


@dataclass(frozen=True)
class FeatureExtractor:
    """A run's feature sub-model with what is needed to feed it any file of its layout.

    Attributes:
        name: the run's display name.
        meta: the run's run.json (views, input shapes, target).
        model: the Keras sub-model (inputs in ``meta["views"]`` order).
        spec: what was loaded (the run directory or .keras path), for messages.
    """

    name: str
    meta: dict
    model: Any
    spec: str

    @property
    def n_features(self) -> int:
        """Width of the feature vector."""
        return int(np.prod(self.model.outputs[0].shape[1:]))

    def check(self, dataset: Any, role: str) -> None:
        """Raise a one-line UsageError unless ``dataset`` has this model's detector, layout and views.

        ``role`` ("--reference", "--data") names the option in the message.
        """
        try:
            check_model_data(self.meta, dataset, self.spec)
        except UsageError as exc:
            raise UsageError(f"{role} {dataset.path}: not the model's detector/layout: {exc}") from exc


def load_feature_extractor(spec: str | os.PathLike) -> FeatureExtractor:
    """Load a run directory (or a .keras file in one) and cut its model below the output layer;
    for a deep ensemble's folder, every member's, side by side.

    Raises:
        RunDirError: the run is missing or incomplete.
        UsageError: ``spec`` is a classical method or an ONNX file (no penultimate layer to read).
    """
    text = os.fspath(spec)
    if text.lower() in ("trackfit", "hough", "trackreco") or is_onnx_path(text):
        raise UsageError(f"--model {text}: the shift scores read a network's penultimate layer; give a run directory")
    from nuclassify.evaluation import is_ensemble_dir, member_dirs, model_name, read_ensemble
    from nuclassify.training import load_run

    if is_ensemble_dir(text):
        meta = read_ensemble(text)
        from nuclassify.models import members_model

        # the ensemble decides on all its members' representations: a shift any member feels counts
        models = [penultimate_model(load_run(m).model) for m in member_dirs(text)]
        joined = members_model(models, meta["views"], meta["input_shapes"], join="concatenate",
                               name="ensemble_features")
        return FeatureExtractor(model_name(text), meta, joined, text)
    run = load_run(text)
    if not run.meta.get("views"):
        raise RunDirError(f"{Path(text)}: run.json names no input views")
    return FeatureExtractor(model_name(text), run.meta, penultimate_model(run.model), text)


def compute_features(extractor: FeatureExtractor, dataset: Any, indices: np.ndarray, *, batch_size: int = 256,
                     also: Callable[[tuple[np.ndarray, ...]], np.ndarray] | None = None,
                     on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Penultimate features (N, D) float64 of the events ``indices`` (and ``also`` of each batch).

    Args:
        extractor: from :func:`load_feature_extractor`, already checked against ``dataset``.
        dataset: the open data file (labels not needed).
        indices: sorted event indices.
        also: a second function of each batch's views (in the file's order), e.g. the input-level
            features, so the file is read once.
        on_batch: progress callback with each batch's event count.
    """
    views = list(extractor.meta["views"])
    order = [list(dataset.view_names).index(v) for v in views]
    feats, extra = [], []
    for batch, _ in dataset.batches(batch_size, indices=indices, with_labels=False):
        inputs = [batch[i] for i in order]
        out = extractor.model.predict_on_batch(inputs if len(inputs) > 1 else inputs[0])
        feats.append(np.asarray(out, dtype=np.float64).reshape(len(batch[0]), -1))
        if also is not None:
            extra.append(also(batch))
        if on_batch is not None:
            on_batch(len(batch[0]))
    width = extractor.n_features
    f = np.concatenate(feats) if feats else np.zeros((0, width))
    return f, (np.concatenate(extra) if also is not None and extra else None)
