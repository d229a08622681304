"""``nuclassify export`` as a library call: run directory -> verified, self-describing model file.

The steps, in an order that fails cheaply first:

1. the format, options and output name are checked (no model loaded yet);
2. the run's finished model is loaded (an interrupted run is refused, with how to finish it);
3. Keras' ``model.export`` writes the file under a temporary name in the output's folder;
4. the metadata goes in (ONNX properties, or the SavedModel's sidecar JSON);
5. the file is verified against the Keras model on real events, unless ``verify=0``;
6. only then is it renamed into place. A failed verification leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nuclassify import __version__
from nuclassify._diskfaults import write_failure
from nuclassify._fileio import atomic_output, check_output_path, default_dir_mode
from nuclassify.errors import UsageError
from nuclassify.export._convert import (
    OUTPUT_NAME,
    ExportError,
    float32_model,
    tidy_onnx,
    to_onnx,
    to_saved_model,
    with_temperature,
)
from nuclassify.export._metadata import build_metadata, onnx_metadata_props, saved_model_sidecar
from nuclassify.export._verify import VerifyResult, verify_export

__all__ = ["FORMATS", "DEFAULT_VERIFY", "ExportResult", "export_run", "resolve_format"]

FORMATS = ("onnx", "saved_model")
#: Events verified by default.
DEFAULT_VERIFY = 256


@dataclass(frozen=True)
class ExportResult:
    """What was written, and how well it reproduces the Keras model.

    Attributes:
        path: the ``.onnx`` file or SavedModel directory.
        format: ``"onnx"`` or ``"saved_model"``.
        inputs: input name (a view) -> shape, channels last, None for the dynamic batch dimension.
        output: the output's name.
        opset: the ONNX opset (None for a SavedModel).
        metadata: the self-description written into the file.
        verification: the comparison with Keras, or None when ``verify=0``.
        seconds: wall time of the whole export.
    """

    path: Path
    format: str
    inputs: dict[str, list]
    output: str
    opset: int | None
    metadata: dict
    verification: VerifyResult | None
    seconds: float

    def to_dict(self) -> dict:
        """JSON-ready form (``export --json``); the spec and data provenance stay in the file."""
        return {"path": str(self.path), "format": self.format, "inputs": self.inputs, "output": self.output,
                "opset": self.opset, "size_bytes": _size(self.path), "seconds": round(self.seconds, 2),
                "verification": self.verification.to_dict() if self.verification else None,
                "class_names": self.metadata.get("class_names"), "target": self.metadata.get("target")}

    def summary(self) -> str:
        """Two lines for a person: what was written, and the verification figures."""
        shape = " ".join(f"{k}({','.join('batch' if d is None else str(d) for d in v)})"
                         for k, v in self.inputs.items())
        kind = f"ONNX opset {self.opset}" if self.format == "onnx" else "SavedModel"
        lines = [f"wrote {self.path} ({kind}, {_size(self.path) / 1e6:.1f} MB): inputs {shape} -> {self.output}"
                 f"(batch,{self.metadata.get('n_classes', '?')}) {self.metadata.get('target', '')} probabilities"]
        lines.append(f"verified: {self.verification.summary()}" if self.verification else "not verified (--verify 0)")
        return "\n".join(lines)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def resolve_format(fmt: str | None, output: str | os.PathLike) -> str:
    """The export format: as given, or ``onnx`` for an output ending in ``.onnx``.

    Raises:
        UsageError: an unknown format, or none given for an output that does not end in ``.onnx``.
    """
    if fmt is None:
        if Path(output).suffix.lower() == ".onnx":
            return "onnx"
        raise UsageError(f"{output}: give --format ({' or '.join(FORMATS)}); only a .onnx name implies one")
    fmt = fmt.lower().replace("-", "_")
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    return fmt


def _check_options(fmt: str, output: Path, opset: int | None, verify: int, overwrite: bool,
                   data: str | os.PathLike | None = None) -> None:
    if data is not None and verify == 0:
        raise UsageError(f"{data}: --data is read only to verify the export; with --verify 0 nothing reads it")
    if opset is not None and fmt != "onnx":
        raise UsageError(f"--opset applies to ONNX only, not to {fmt}")
    if opset is not None and opset < 7:
        raise UsageError(f"ONNX opset must be >= 7, got {opset}")
    if verify < 0:
        raise UsageError(f"--verify must be >= 0 events, got {verify}")
    if fmt == "onnx":
        if output.suffix.lower() != ".onnx":
            raise UsageError(f"{output}: an ONNX file's name must end in .onnx (predict and evaluate go by it)")
        check_output_path(output, overwrite=overwrite)
        return
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{output}: output folder {parent} does not exist")
    if output.suffix.lower() == ".onnx":
        raise UsageError(f"{output}: a SavedModel is a directory; a .onnx name would be taken for an ONNX file")
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output}: exists and is not a directory (a SavedModel is a directory)")
    if output.exists() and not overwrite:
        raise UsageError(f"{output}: already exists (use --overwrite to replace it)")
    if output.is_dir() and any(output.iterdir()) and not (output / "saved_model.pb").is_file():
        # --overwrite replaces a SavedModel, never some other folder (a run, a user's files)
        raise UsageError(f"{output}: is a folder but not a SavedModel (no saved_model.pb); not replacing it")


def export_run(model: str | os.PathLike, output: str | os.PathLike, fmt: str | None = None, *,
               opset: int | None = None, verify: int = DEFAULT_VERIFY, data: str | os.PathLike | None = None,
               overwrite: bool = False, batch_size: int = 256) -> ExportResult:
    """Export a trained run's model to ONNX or a SavedModel, self-described and verified.

    Args:
        model: a run directory (its ``model.keras``), a ``.keras`` file inside one, or a deep
            ensemble's run directory (``train --ensemble K``: one graph averaging its members).
        output: the ``.onnx`` file, or the SavedModel directory, to write.
        fmt: ``"onnx"`` or ``"saved_model"``; None takes ``onnx`` from a ``.onnx`` output name.
        opset: ONNX opset (default: tf2onnx's).
        verify: events to compare against Keras (0: no verification).
        data: the data file to verify on (default: the run's validation data).
        overwrite: replace an existing output.
        batch_size: events per verification batch.

    Returns:
        The :class:`ExportResult`; the file is in place only if it verified.

    Raises:
        UsageError: a bad option, an existing output, or verification data that does not fit the model.
        RunDirError: no run there, or the run has no finished model.
        ExportError: the model cannot be exported, or the export does not reproduce Keras within
            :data:`nuclassify.export.TOLERANCE` or with the same argmax on every event.

    Example:
        >>> result = export_run("runs/c4", "c4.onnx")               # doctest: +SKIP
        >>> result.verification.max_abs_diff < 1e-4                 # doctest: +SKIP
        True
    """
    t0 = time.perf_counter()
    output = Path(output)
    fmt = resolve_format(fmt, output)
    _check_options(fmt, output, opset, int(verify), overwrite, data)
    from nuclassify.evaluation import (
        is_ensemble_dir,
        member_dirs,
        read_ensemble,
        stored_ensemble_temperature,
        stored_temperature,
    )
    from nuclassify.models import members_model
    from nuclassify.training import load_run  # imports Keras: only after the options are known to be good

    ensemble = is_ensemble_dir(model)
    if ensemble:  # a deep ensemble: one graph averaging its members (predict's mean)
        run_dir = Path(model)
        members = member_dirs(run_dir)
        runs = [load_run(m) for m in members]
        meta, spec = read_ensemble(run_dir), runs[0].spec
        model_path = run_dir / "members"
        temperature, _, stale = stored_ensemble_temperature(run_dir, members)
    else:
        runs = [load_run(model)]
        run_dir, meta, spec = runs[0].path, runs[0].meta, runs[0].spec
        model_path = Path(model) if Path(model).suffix == ".keras" else run_dir / "model.keras"
        temperature, _, stale = stored_temperature(str(model), model_path)  # calibrate's, if it fits this file
    views = list(meta["views"])
    shapes = {v: list(meta["input_shapes"][v]) for v in views}
    networks = [float32_model(r.model) for r in runs]
    keras_model = members_model(networks, views, shapes, join="average", name="ensemble") if ensemble \
        else networks[0]
    if temperature is not None:
        keras_model = with_temperature(keras_model, temperature)
    inputs = {v: [None, *shapes[v]] for v in views}

    def describe(opset_used: int | None) -> dict:
        out = build_metadata(meta, spec, run_dir=run_dir, model_file=model_path, fmt=fmt, opset=opset_used)
        if "ensemble" in meta:
            out["ensemble"] = meta["ensemble"]  # k, members, seeds: the file averages them
        out["temperature"] = temperature  # folded into the graph (None: not calibrated)
        if stale:
            out["temperature_not_applied"] = stale
        return out

    def check(written: Path) -> VerifyResult | None:
        if not verify:
            return None
        result = verify_export(written, fmt, keras_model, meta, data, int(verify), batch_size=batch_size,
                               label=str(model))
        if not result.passed:
            raise ExportError(f"{output}: verification failed, not written: {result.summary()}")
        return result

    if fmt == "onnx":
        with atomic_output(output, overwrite=overwrite, suffix=".onnx") as tmp:
            to_onnx(keras_model, views, shapes, tmp, opset)
            doc = (f"nuclassify {__version__}: {meta.get('arch', '?')} for {meta.get('target', '?')} "
                   f"({meta.get('layout', '?')}); inputs {', '.join(views)} channels last; output {OUTPUT_NAME}; "
                   "the rest is in metadata_props (JSON values)")
            opset_used = tidy_onnx(tmp, lambda o: onnx_metadata_props(describe(o)), doc)
            verification = check(tmp)
        metadata = describe(opset_used)
        return ExportResult(output, fmt, inputs, OUTPUT_NAME, opset_used, metadata, verification,
                            time.perf_counter() - t0)
    metadata = describe(None)
    with _atomic_directory(output, overwrite) as tmp:
        try:
            to_saved_model(keras_model, views, shapes, tmp)
        except Exception as exc:  # TensorFlow's own errors for a full disk or a read-only folder
            failure = _write_errno(exc)
            if failure is None:
                raise
            raise write_failure(output, OSError(failure, os.strerror(failure))) from exc
        sidecar = saved_model_sidecar(tmp)
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        sidecar.write_text(json.dumps(metadata, indent=1, default=str) + "\n")
        verification = check(tmp)
    return ExportResult(output, fmt, inputs, "output_0", None, metadata, verification, time.perf_counter() - t0)


def _write_errno(exc: BaseException) -> int | None:
    """The errno of a write failure that TensorFlow reports in its own exception types (by its words)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    text = str(exc)
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EFBIG):
        if os.strerror(code) in text:
            return code
    return None


@contextlib.contextmanager
def _atomic_directory(target: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a fresh directory beside ``target``; on success it replaces ``target``, on failure it goes.

    A directory cannot be renamed onto a non-empty one, so an old ``target`` is first renamed
    aside and removed only once the new one is in place.
    """
    parent = target.parent if str(target.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    try:
        yield tmp
        old = None
        if target.exists():
            if not overwrite:
                raise UsageError(f"{target}: already exists (use --overwrite to replace it)")
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.replace(target, old / "x")
        os.chmod(tmp, default_dir_mode())  # mkdtemp makes it 0700; a SavedModel is shared like any output
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
