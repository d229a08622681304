"""What an exported model says about itself, and where it says it.

A network in a reconstruction chain is a file far from the run directory it came from. The
exported file therefore carries everything needed to feed it and to trace it back: class names,
target, detector layout, views and channels-last input shapes, the nuclassify version, the
training data's hashes and provenance from ``run.json``, and the spec.

- ONNX: one ``metadata_props`` entry per field, each value a JSON document (a C++ consumer reads
  them with ``Ort::ModelMetadata::LookupCustomMetadataMapAllocated`` and any JSON parser). The
  entry :data:`nuclassify.evaluation.ONNX_MARKER` marks the file as ours.
- SavedModel: the same fields as one JSON object in ``assets.extra/nuclassify.json`` inside the
  SavedModel directory, TensorFlow's place for files that travel with a model but are not part
  of its graph (https://www.tensorflow.org/guide/saved_model, "assets.extra").

No Keras import here: ``nuclassify inspect`` reads the fields back on a machine with only
onnxruntime.
"""

from __future__ import annotations

import json
import os
import time
from importlib import metadata as pkg_metadata
from pathlib import Path
from typing import Any

from nuclassify import __version__
from nuclassify._fileio import read_json_file
from nuclassify.errors import UsageError
from nuclassify.evaluation import ONNX_MARKER, open_onnx

__all__ = ["FORMAT_VERSION", "SIDECAR", "build_metadata", "read_exported", "saved_model_sidecar"]

#: Bumped when a field changes meaning, so a consumer can tell which fields to expect.
FORMAT_VERSION = 1
#: The sidecar JSON's place inside a SavedModel directory.
SIDECAR = Path("assets.extra") / "nuclassify.json"

# run.json keys copied as they are (see nuclassify.training._rundir for their meaning).
_RUN_KEYS = ("target", "class_names", "n_classes", "layout", "views", "input_shapes", "arch", "data")
# run.json keys that describe how the network was trained, gathered under "training".
_TRAINING_KEYS = ("train_data", "valid", "valid_fraction", "max_events", "seed", "epochs", "epochs_completed",
                  "batch_size", "precision", "engine", "lr_schedule", "class_weights", "train_events", "valid_events",
                  "backend", "versions", "parameters", "best", "status", "timings")


def _version(package: str) -> str | None:
    try:
        return pkg_metadata.version(package)
    except pkg_metadata.PackageNotFoundError:
        return None


def build_metadata(meta: dict, spec: dict, *, run_dir: str | os.PathLike, model_file: str | os.PathLike,
                   fmt: str, opset: int | None = None) -> dict[str, Any]:
    """The self-description of a model exported from a run.

    Args:
        meta: the run's run.json.
        spec: the run's spec.json.
        run_dir: the run directory (recorded, resolved, so the file can be traced back).
        model_file: the ``.keras`` file that was exported.
        fmt: ``"onnx"`` or ``"saved_model"``.
        opset: the ONNX opset the file was written with.

    Returns:
        A JSON-ready dict; ``views`` is the order of the model's inputs, ``input_shapes`` maps
        each view to its channels-last (H, W, C) without the batch dimension, and ``output``
        names what the single output holds.
    """
    out: dict[str, Any] = {ONNX_MARKER: __version__, "nuclassify_format": FORMAT_VERSION}
    out.update({k: meta[k] for k in _RUN_KEYS if k in meta})
    out["input_layout"] = "channels_last (batch, height, width, channels), float32, raw detector values: " \
                          "any input transform of the spec is inside the model"
    out["output"] = "probabilities"
    out["spec"] = spec
    out["training"] = {k: meta[k] for k in _TRAINING_KEYS if k in meta}
    exported = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "format": fmt,
                "run_dir": str(Path(run_dir).resolve()), "model_file": Path(model_file).name,
                "keras": _version("keras"), "tensorflow": _version("tensorflow")}
    if fmt == "onnx":
        exported.update(tf2onnx=_version("tf2onnx"), opset=opset)
    out["exported"] = exported
    return out


def saved_model_sidecar(directory: str | os.PathLike) -> Path:
    """The sidecar JSON's path inside a SavedModel directory."""
    return Path(directory) / SIDECAR


def read_exported(path: str | os.PathLike) -> dict[str, Any]:
    """What an exported model says about itself, with its inputs and outputs as the file declares them.

    Args:
        path: an ``.onnx`` file or a SavedModel directory.

    Returns:
        ``{"path", "format", "ours", "metadata", "inputs", "outputs"}``: ``inputs`` maps each input
        name to its shape (None for a dynamic dimension; SavedModel: from the sidecar, since
        reading the graph needs TensorFlow); ``metadata`` is empty for a file that is not ours.

    Raises:
        UsageError: the path is neither an ONNX file nor a SavedModel directory.
        RunDirError: the ONNX file cannot be loaded.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise UsageError(f"{path}: a directory, but not a SavedModel (no saved_model.pb)")
        sidecar = saved_model_sidecar(path)
        meta = read_json_file(sidecar, "metadata sidecar", invalid=UsageError) if sidecar.is_file() else {}
        shapes = meta.get("input_shapes") or {}
        inputs = {v: [None, *shapes[v]] for v in meta.get("views", []) if v in shapes}
        return {"path": str(path), "format": "saved_model", "ours": ONNX_MARKER in meta, "metadata": meta,
                "inputs": inputs, "outputs": ["output_0"] if meta else []}
    model = open_onnx(path)
    return {"path": str(path), "format": "onnx", "ours": model.ours, "metadata": model.metadata,
            "inputs": {k: list(v) for k, v in model.inputs.items()}, "outputs": list(model.outputs)}


def onnx_metadata_props(metadata: dict[str, Any]) -> dict[str, str]:
    """Each field as a JSON text, the form ONNX ``metadata_props`` hold (string to string)."""
    return {k: json.dumps(v, default=str, separators=(",", ":")) for k, v in metadata.items()}
