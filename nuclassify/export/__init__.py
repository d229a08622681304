"""Export: a trained run -> an ONNX file or a TensorFlow SavedModel that runs without nuclassify.

An experiment's reconstruction chain (C++ frameworks, inference servers) loads ONNX or
SavedModel files, not run directories. :func:`export_run` writes one with Keras 3's own
``model.export`` (ONNX through tf2onnx on the TensorFlow backend), puts the model's
self-description into it (class names, target, layout, views, input shapes, the spec, the
training data's hashes and provenance), and verifies it against the Keras model on real events
before renaming it into place. :func:`read_exported` reads the description back without Keras
(``nuclassify inspect model.onnx``); ``predict`` and ``evaluate`` run ``.onnx`` files through
onnxruntime (:mod:`nuclassify.evaluation`).

Keras, TensorFlow and tf2onnx are imported only inside the functions that need them.
"""

from nuclassify.export._convert import BATCH_DIM, OUTPUT_NAME, ExportError
from nuclassify.export._describe import format_exported
from nuclassify.export._export import DEFAULT_VERIFY, FORMATS, ExportResult, export_run, resolve_format
from nuclassify.export._metadata import FORMAT_VERSION, SIDECAR, build_metadata, read_exported
from nuclassify.export._verify import TOLERANCE, VerifyResult, verification_events, verify_export

__all__ = [
    "export_run", "ExportResult", "ExportError", "FORMATS", "DEFAULT_VERIFY", "resolve_format",
    "verify_export", "verification_events", "VerifyResult", "TOLERANCE",
    "build_metadata", "read_exported", "format_exported", "FORMAT_VERSION", "SIDECAR", "OUTPUT_NAME", "BATCH_DIM",
]
