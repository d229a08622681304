"""Run an exported ``.onnx`` network through onnxruntime, with no Keras or TensorFlow import.

An experiment applies a trained network inside its reconstruction with nothing but an ONNX
runtime; ``predict`` and ``evaluate`` do the same here, so what they report is what that chain
will compute. onnxruntime is imported only when an ``.onnx`` file is opened (it is the
``nuclassify[onnx]`` extra), never when this module is imported.

The file describes itself: ``nuclassify export`` writes one ONNX metadata property per field
(target, class names, views, input shapes, layout, the spec, the training data's hashes ...),
each value a JSON document, and marks the file with :data:`MARKER`. A file without the marker
("not ours") still runs if its inputs are named after the data's views; the predictor then
carries a warning, and the target and class names come from the data file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.errors import RunDirError, UsageError

__all__ = ["MARKER", "ONNX_SUFFIX", "OnnxModel", "is_onnx_path", "open_onnx", "session_options"]

#: The metadata property that marks a file written by ``nuclassify export`` (its value: the version).
MARKER = "nuclassify_version"
ONNX_SUFFIX = ".onnx"


def is_onnx_path(spec: str | Path) -> bool:
    """Whether a ``--model`` value names an ONNX file (by its suffix, so a missing file is reported as such)."""
    return Path(str(spec)).suffix.lower() == ONNX_SUFFIX


@dataclass(frozen=True)
class OnnxModel:
    """An open onnxruntime session with what the file says about itself.

    Attributes:
        path: the file.
        session: the ``onnxruntime.InferenceSession``.
        metadata: the nuclassify metadata, JSON-decoded (empty for a file that is not ours).
        inputs: input name -> shape as the file declares it (None for a dynamic dimension).
        outputs: output names in the file's order.
    """

    path: Path
    session: Any
    metadata: dict
    inputs: dict[str, tuple[int | None, ...]]
    outputs: list[str]

    @property
    def ours(self) -> bool:
        """Written by ``nuclassify export`` (it carries :data:`MARKER`)."""
        return MARKER in self.metadata

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """All outputs for one batch, fed by input name (float32 arrays)."""
        return self.session.run(None, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()})


def _decode(value: str) -> Any:
    """A metadata value: JSON as ``nuclassify export`` writes it; anything else is kept as text."""
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value


def _dims(shape: Sequence[Any]) -> tuple[int | None, ...]:
    return tuple(int(d) if isinstance(d, int) else None for d in shape)


def session_options(threads: int = 0, *, spinning: bool = False) -> Any:
    """onnxruntime ``SessionOptions`` for batch inference on a CPU that other work shares.

    Why each setting (measured on conv4 and cvn, 2-core AMD EPYC with AVX-512, see
    ``benchmarks/bench_export.py``):

    - ``graph_optimization_level = ORT_ENABLE_ALL``: includes the NCHWc layout transform, whose
      blocked convolutions ran cvn 1.4x faster per core than the plain im2col path of
      ``ORT_ENABLE_EXTENDED``. conv4, whose channel counts are not multiples of the SIMD block,
      goes the other way but by less: 1.05-1.07x faster without the transform
      (``benchmarks/probe_export_providers.py``). It is onnxruntime's default; stated so it
      cannot drift.
    - ``execution_mode = ORT_SEQUENTIAL``: the parallel executor, running the view columns
      side by side on inter-op threads, gave 0.4x the events/s of the sequential one.
    - no spin-waiting (``session.intra_op.allow_spinning = 0``, ``inter_op`` likewise):
      onnxruntime's idle workers otherwise spin between operators, burning the cores that the
      data read-ahead thread of ``predict`` (and, on a shared node, every other job) needs;
      without it the same events cost 7-13% less CPU time.

    Args:
        threads: intra-op threads; 0 keeps onnxruntime's default (one per physical core).
        spinning: let idle workers spin (lower latency for one small batch on a dedicated machine).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings about unused initialisers are noise to a user
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        options.intra_op_num_threads = int(threads)
    spin = "1" if spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options


def open_onnx(path: str | Path, *, threads: int = 0, spinning: bool = False) -> OnnxModel:
    """Open an ONNX file for inference on the CPU and read its metadata.

    Args:
        path: the ``.onnx`` file.
        threads: onnxruntime's intra-op threads (0: its default, one per physical core).
        spinning: let idle onnxruntime workers spin-wait (see :func:`session_options`).

    Raises:
        UsageError: onnxruntime is not installed (the message says which extra to install).
        RunDirError: the file is missing or is not a loadable ONNX model.
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: no such ONNX file")
    with open(path, "rb") as handle:
        if handle.read(8) == b"\x89HDF\r\n\x1a\n":  # a data file given (or renamed) where the model goes
            raise RunDirError(f"{path}: an HDF5 data file, not an ONNX model")
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise UsageError(f"{path}: running an ONNX model needs onnxruntime: pip install 'nuclassify[onnx]'") from exc
    options = session_options(threads, spinning=spinning)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for a bad file
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise RunDirError(f"{path}: cannot load as an ONNX model ({detail})") from exc
    raw = session.get_modelmeta().custom_metadata_map or {}
    metadata = {k: _decode(v) for k, v in raw.items()} if MARKER in raw else {}
    inputs = {i.name: _dims(i.shape) for i in session.get_inputs()}
    return OnnxModel(path, session, metadata, inputs, [o.name for o in session.get_outputs()])
