"""Turn ``RUN_DIR | model.keras | model.onnx | trackfit`` into a predict function over a data file's views.

``predict``, ``evaluate``, the benchmarks and anything that searches or wraps models (evolve,
the trust features) all need the same thing: a function from one batch of the *file's* views
to class probabilities (and z where the model has a z head), checked against the file before
any batch is read. It lives here, in the library, so that none of them imports the CLI.

Keras is not imported at module level: trackfit and the metrics work without it, and
:func:`load_predictor` imports :mod:`nuclassify.training` only when it loads a run. An ``.onnx``
file runs through onnxruntime (:mod:`nuclassify.evaluation._onnx`) and never imports Keras or
TensorFlow, so a machine with only ``nuclassify[onnx]`` installed predicts and evaluates. Muting
the backend's start-up chatter is the caller's business (the CLI does it before calling in, when
:func:`uses_keras` says a spec needs the backend).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.errors import UsageError
from nuclassify.evaluation._compat import check_model_data, describe_views
from nuclassify.evaluation._onnx import is_onnx_path, open_onnx
from nuclassify.evaluation._runner import PredictFn, split_output

__all__ = ["TRACKFIT", "CLASSICAL", "Predictor", "keras_predict_fn", "onnx_predict_fn", "load_predictor",
           "model_name", "uses_keras", "CALIBRATION_FILE", "apply_temperature", "model_file_sha256",
           "stored_temperature"]

#: The file in a run directory that holds its temperature (written by ``nuclassify calibrate``).
CALIBRATION_FILE = "calibration.json"

#: The model spec that selects the track-based baseline instead of a trained network.
TRACKFIT = "trackfit"
#: Every classical (no network) model spec: the baseline, the original Hough method it refines,
#: the experimental Kalman + adaptive-vertex chain (nuclassify.evaluation.trackfit), and the
#: upstream-hit rule, the difficulty yardstick (nuclassify.evaluation.upstream_rule).
CLASSICAL = (TRACKFIT, "hough", "trackreco", "upstream")


@dataclass(frozen=True)
class Predictor:
    """A named predict function with what output columns and metrics need to know.

    Attributes:
        name: display name (the run directory's name, or ``trackfit``).
        fn: batch of views in the data file's order -> ``(probabilities (N, K), z (N,) or None)``.
        target: the label target the model predicts, e.g. ``"segment"``.
        class_names: K names, indexed by class.
        has_z: whether ``fn`` returns a z estimate (a z head, or trackfit).
        warning: something the user should hear about the model before trusting its output (an
            ONNX file that carries no nuclassify metadata), or None.
        note: something the user should know about how the output is made (a stored temperature
            is applied), or None.
        temperature: the temperature applied to the probabilities, or None.
    """

    name: str
    fn: PredictFn
    target: str
    class_names: list[str]
    has_z: bool
    warning: str | None = None
    note: str | None = None
    temperature: float | None = None
    #: per-event columns beyond probabilities and z that ``fn``'s result carries (its ``columns()``),
    #: e.g. the classical methods' z uncertainty and track count, for predict's output
    extra_columns: tuple[str, ...] = ()


def uses_keras(spec: str) -> bool:
    """Whether loading ``spec`` starts Keras: a run directory or .keras file does; trackfit and .onnx do not."""
    return spec.lower() not in CLASSICAL and not is_onnx_path(spec)


def _softmax_if_needed(p: Any) -> np.ndarray:
    """Probabilities from a classifier head that may end in logits.

    A run's model should end in softmax, but a ``.keras`` file from elsewhere may not; rows that
    are not already a distribution (a negative entry, or a sum off 1) are taken to be logits, so
    that argmax, metrics and the written probabilities stay meaningful.
    """
    p = np.asarray(p, dtype=np.float32)
    if p.ndim == 2 and (p.min(initial=0) < 0 or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3)):
        e = np.exp(p - p.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
    return p


def keras_predict_fn(model: Any, model_views: Sequence[str], data_views: Sequence[str]) -> PredictFn:
    """Wrap a Keras model (anything with ``predict_on_batch``) as a predict function.

    The returned function takes a batch as the data file delivers it (views in the file's
    order) and feeds the model its views in the order it was trained with, so a model trained
    on ``(u, v, x)`` reads a ``(x, u, v)`` file correctly. Multi-output models (a list, tuple
    or dict of outputs) are split into the class head (the first 2-D output with more than one
    column) and a z head (the first output with one value per event); a head that returns
    logits is turned into probabilities.

    Args:
        model: the model; called once per batch with ``predict_on_batch``.
        model_views: the model's input views, in its input order (run.json's ``views``).
        data_views: the data file's views, in the order its batches come.

    Raises:
        UsageError: the model needs a view the file does not have.
    """
    order = _view_order(model_views, data_views)

    def fn(batch: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        inputs = [batch[i] for i in order]
        return _split_heads(model.predict_on_batch(inputs if len(inputs) > 1 else inputs[0]))

    return fn


def onnx_predict_fn(model: Any, model_views: Sequence[str], data_views: Sequence[str]) -> PredictFn:
    """Wrap an open ONNX model (:func:`nuclassify.evaluation._onnx.open_onnx`) as a predict function.

    Inputs are fed by name (the views), so the file's input order does not matter; outputs are
    split and turned into probabilities as for :func:`keras_predict_fn`.

    Raises:
        UsageError: the model needs a view the file does not have.
    """
    order = _view_order(model_views, data_views)

    def fn(batch: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        return _split_heads(model.run({v: batch[i] for v, i in zip(model_views, order, strict=True)}))

    return fn


def _view_order(model_views: Sequence[str], data_views: Sequence[str]) -> list[int]:
    """Positions in the data's batch of each of the model's views, in the model's order."""
    missing = [v for v in model_views if v not in data_views]
    if missing:
        raise UsageError(f"the model needs view(s) {', '.join(missing)}; the data has {', '.join(data_views)}")
    return [list(data_views).index(v) for v in model_views]


def _split_heads(out: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities, z or None) from a model's output: one array, or a list/tuple/dict of heads.

    The class head is the first 2-D output with more than one column, a z head the first output
    with one value per event; a head that returns logits is turned into probabilities.
    """
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        arrays = [np.asarray(o) for o in out]
        if len(arrays) == 1:
            return _softmax_if_needed(arrays[0]), None
        probs = next(a for a in arrays if a.ndim == 2 and a.shape[1] > 1)
        z = next((a.reshape(-1) for a in arrays if a is not probs and a.ndim <= 2 and a.size == len(probs)), None)
        return _softmax_if_needed(probs), z
    return _softmax_if_needed(out), None


def apply_temperature(probabilities: Any, temperature: float) -> np.ndarray:
    """Temperature scaling: softmax(log p / T), rows renormalised (float32).

    The logits of a softmax output are its log-probabilities up to a per-row constant, which
    the softmax removes, so dividing log p by T is Guo et al.'s ``softmax(z / T)`` (arXiv
    1706.04599, section 4.2). T > 1 softens over-confident probabilities; the argmax, and so the
    accuracy, never changes.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    z = np.log(np.maximum(p, 1e-30)) / float(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def model_file_sha256(path: str | Path) -> str:
    """sha256 of a model file: ties a stored temperature to the weights it was fitted for."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for piece in iter(lambda: fh.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def read_calibration(path: Path, expected_sha256: str, mismatch: str) -> tuple[float | None, dict, str | None]:
    """(temperature, record, warning) from a calibration.json, if it is readable and fits the weights.

    Shared by single runs and ensembles; ``mismatch`` is the warning when the recorded digest is
    not ``expected_sha256`` (the weights changed since the fit). A missing file is (None, {}, None).
    """
    if not path.is_file():
        return None, {}, None
    try:
        cal = json.loads(path.read_text())
        temperature = float(cal["temperature"])
        recorded = cal["model"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, {}, f"{path}: unreadable ({type(exc).__name__}: {exc}); predictions are not calibrated"
    if not np.isfinite(temperature) or temperature <= 0:
        return None, {}, f"{path}: temperature {temperature} is not positive; predictions are not calibrated"
    if recorded != expected_sha256:
        return None, {}, mismatch
    return temperature, cal, None


def stored_temperature(spec: str, model_path: Path) -> tuple[float | None, str | None, str | None]:
    """(temperature, note, warning) from the run's calibration.json for the model file loaded.

    A temperature fitted for other weights (the run was retrained since, or ``best.keras`` is
    loaded) would mis-calibrate them, so it is applied only when the model file's sha256 matches.
    """
    path = model_path.parent / CALIBRATION_FILE
    if not path.is_file():
        return None, None, None
    temperature, cal, warning = read_calibration(
        path, model_file_sha256(model_path),
        f"{path} was fitted for another model file than {model_path.name} (retrained since?); "
        f"not applied: run 'nuclassify calibrate' again")
    if temperature is None:
        return None, None, warning
    data = Path(str((cal.get("data") or {}).get("path", "?"))).name
    return temperature, (f"{spec}: applying temperature T={temperature:.3f} from {path} (fitted on {data}, "
                         f"{cal.get('created', '?')})"), None


def _model_file(spec: str) -> Path:
    """The model file that ``load_run(spec)`` loaded: model.keras of a run (last.keras while it is written)."""
    path = Path(spec)
    if not path.is_dir():
        return path
    return path / "model.keras" if (path / "model.keras").is_file() else path / "last.keras"


def _calibrated(fn: PredictFn, temperature: float) -> PredictFn:
    def scaled(batch: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        probs, z = split_output(fn(batch))
        return apply_temperature(probs, temperature), z

    return scaled


def model_name(spec: str) -> str:
    """Short display name: the run directory's name (plus the file for a .keras other than model.keras)."""
    path = Path(spec.rstrip("/"))
    if is_onnx_path(path):
        return path.name
    if path.suffix == ".keras":
        run = path.parent.name or "."
        return run if path.name == "model.keras" else f"{run}/{path.name}"
    return path.name or spec


class WithColumns(tuple):
    """``(probabilities, z)`` as every predict function returns it, with ``columns``: more
    per-event values (name -> array) that ``predict`` writes after the probabilities.

    A tuple, so that every caller that unpacks two values keeps working.
    """

    columns: dict[str, np.ndarray]

    def __new__(cls, probabilities: np.ndarray, z: np.ndarray | None, columns: dict[str, np.ndarray]) -> WithColumns:
        out = super().__new__(cls, (probabilities, z))
        out.columns = dict(columns)
        return out


def _trackfit_predictor(dataset: Any, target: str | None, name: str = TRACKFIT) -> Predictor:
    from nuclassify.evaluation.trackfit import HoughFit, TrackFit, TrackReco
    from nuclassify.evaluation.upstream_rule import UpstreamRule

    if not dataset.layout.startswith("minerva"):
        raise UsageError(f"{name} works on MINERvA files; {dataset.path} is {dataset.layout}")
    if target not in (None, "segment"):
        raise UsageError(f"{name} predicts vertex segments, not {target}")
    method = {TRACKFIT: TrackFit, "hough": HoughFit, "trackreco": TrackReco, "upstream": UpstreamRule}[name]
    fit = method(dataset.view_names, dataset.view_shapes)

    def fn(views: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        result = fit.predict(views)
        return WithColumns(result.probabilities, result.z, result.columns())

    return Predictor(name, fn, "segment", list(dataset.class_names("segment")), True,
                     extra_columns=method.extra_columns)


def _onnx_predictor(spec: str, dataset: Any, target: str | None) -> Predictor:
    """An exported ``.onnx`` file -> a Predictor, checked against ``dataset`` by its own metadata.

    A file that is not ours (no metadata) is accepted when its inputs are named after views of
    the data with fitting shapes; it then predicts the data's default target, and says so.
    """
    model = open_onnx(spec)
    warning = None
    if model.ours:
        meta = model.metadata
        run_target = check_model_data(meta, dataset, spec)
        views = list(meta["views"])
        if sorted(views) != sorted(model.inputs):
            raise UsageError(f"{spec}: its inputs ({', '.join(model.inputs)}) are not the views its metadata "
                             f"names ({', '.join(views)}); the file was altered after export")
        names = list(meta.get("class_names") or dataset.class_names(run_target))
        width = model.session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and len(names) != width:  # a header that does not fit the rows
            raise UsageError(f"{spec}: its metadata names {len(names)} classes but the network scores {width}; "
                             "the file was altered, or exported from a damaged run record")
    else:
        views = list(model.inputs)
        if any(v not in dataset.view_shapes for v in views):
            raise UsageError(f"{spec} carries no nuclassify metadata and its inputs ({', '.join(views)}) are not "
                             f"named after the views of {dataset.path} ({', '.join(dataset.view_names)})")
        run_target = target if target is not None else dataset.default_target
        names = list(dataset.class_names(run_target))
        warning = (f"{spec} carries no nuclassify metadata (not made by 'nuclassify export'): its inputs are fed "
                   f"by name ({', '.join(views)}); target {run_target} and class names are taken from {dataset.path}")
    bad = [v for v in views if not _shape_fits(model.inputs[v], dataset.view_shapes[v])]
    if bad:
        declared = ",".join(f"{v}({','.join('?' if d is None else str(d) for d in model.inputs[v][1:])})"
                            for v in views)
        raise UsageError(f"{spec} expects inputs {declared} (channels last); {dataset.path} has "
                         f"{describe_views(dataset.view_names, dataset.view_shapes)} ({dataset.layout}): "
                         f"the input shapes differ")
    if target is not None and target != run_target:
        raise UsageError(f"{spec} was trained for target {run_target}, not {target}")
    fn = onnx_predict_fn(model, views, list(dataset.view_names))
    return Predictor(model_name(spec), fn, run_target, names, len(model.outputs) > 1, warning)


def _shape_fits(declared: tuple[int | None, ...], data_shape: tuple[int, ...]) -> bool:
    """An input declared (batch, H, W, C) takes the data's (H, W, C); a dynamic dimension takes any size."""
    return len(declared) == len(data_shape) + 1 and all(
        d is None or d == int(s) for d, s in zip(declared[1:], data_shape, strict=True))


def model_spec_text(spec: Any) -> str:
    """A model named by the caller as text: a str, or a path object (``pathlib.Path("runs/c4")``).

    Raises:
        UsageError: anything else (a number, None), named, rather than an AttributeError further in.
    """
    if isinstance(spec, (str, os.PathLike)):
        return os.fspath(spec)
    raise UsageError(f"a model is a run directory, a .keras or .onnx path, or a classical method's name "
                     f"('trackfit'); received {type(spec).__name__} {spec!r}")


def check_open_dataset(dataset: Any) -> None:
    """Refuse a file name where an open dataset belongs (``load_predictor("runs/c4", "test.h5")``)."""
    if not (hasattr(dataset, "view_names") and hasattr(dataset, "layout")):
        hint = f" (open it first: nuclassify.data.open_dataset({os.fspath(dataset)!r}))" \
            if isinstance(dataset, (str, os.PathLike)) else ""
        raise UsageError(f"expected an open dataset, received {type(dataset).__name__} {dataset!r}{hint}")


def load_predictor(spec: str | os.PathLike, dataset: Any, target: str | None = None, *, calibrated: bool = True,
                   mc_samples: int | None = None) -> Predictor:
    """``trackfit``, a run directory, a ``.keras`` or an ``.onnx`` file -> a Predictor checked against ``dataset``.

    Args:
        spec: ``"trackfit"``, ``"hough"``, ``"trackreco"`` or ``"upstream"`` (any case; classical methods), a run
            directory, a ``.keras`` file beside a run.json, or an ``.onnx`` file from ``nuclassify
            export`` (run by onnxruntime; Keras is not imported).
        dataset: the open :class:`nuclassify.data.Dataset` the predictor will read.
        target: the target the caller needs; None accepts the model's own.
        calibrated: apply the temperature that ``nuclassify calibrate`` stored in a run directory
            (its ``note`` says so); False gives the network's own probabilities.
        mc_samples: MC dropout: average this many predictions with the network's Dropout layers
            on (batch normalisation stays in inference mode); adds a ``mutual_information``
            column. An ensemble run directory (``train --ensemble K``) averages its members, and
            with ``mc_samples`` each member's dropout samples (:mod:`nuclassify.evaluation._uncertainty`).

    Raises:
        RunDirError: the run directory is missing or incomplete, or the ONNX file is missing or damaged.
        UsageError: the model was trained for another target, views or input shapes than the data
            (both sides named), trackfit was asked for on a non-MINERvA file, or an ONNX file needs
            onnxruntime and it is not installed.
    """
    spec = model_spec_text(spec)
    check_open_dataset(dataset)
    predictor = _load_predictor(spec, dataset, target, calibrated, mc_samples)
    return replace(predictor, fn=_input_checked(predictor.fn, predictor.name, dataset))


def _input_checked(fn: PredictFn, name: str, dataset: Any) -> PredictFn:
    """``fn`` refusing, in one line, a batch that is not the dataset's views: the wrong number of
    views, a view that is not a (N, rows, columns, channels) array of the file's shape, or views
    of different lengths. Without it a caller's mistake surfaces as a backend's multi-line error
    (TensorFlow's shape mismatch) or an IndexError deep in the model."""
    names = list(dataset.view_names)
    shapes = [tuple(int(d) for d in dataset.view_shapes[v]) for v in names]

    def checked(views: Sequence[np.ndarray]) -> Any:
        if isinstance(views, np.ndarray) or not isinstance(views, Sequence) or len(views) != len(names):
            got = f"{len(views)} views" if isinstance(views, Sequence) and not isinstance(views, np.ndarray) \
                else f"a {type(views).__name__}"
            raise UsageError(f"{name}: expected a sequence of {len(names)} view arrays "
                             f"({', '.join(names)}), got {got}")
        lengths = set()
        for view, array, shape in zip(names, views, shapes, strict=True):
            got = tuple(getattr(array, "shape", ()))
            if len(got) != 4 or got[1:] != shape:
                raise UsageError(f"{name}: view {view} must have shape (N, {', '.join(map(str, shape))}), "
                                 f"got {got if got else type(array).__name__}")
            lengths.add(got[0])
        if len(lengths) > 1:
            raise UsageError(f"{name}: the views hold different numbers of events ({sorted(lengths)})")
        return fn(views)

    return checked


def _load_predictor(spec: str, dataset: Any, target: str | None, calibrated: bool,
                    mc_samples: int | None) -> Predictor:
    """load_predictor's work after its argument checks, by the kind of model."""
    from nuclassify.evaluation._ensemble import is_ensemble_dir

    if mc_samples is not None or is_ensemble_dir(spec):  # several samples of a network, and their spread
        from nuclassify.evaluation._uncertainty import uncertainty_predictor

        return uncertainty_predictor(spec, dataset, target, calibrated=calibrated, mc_samples=mc_samples)
    if spec.lower() in CLASSICAL:
        return _trackfit_predictor(dataset, target, spec.lower())
    if is_onnx_path(spec):
        return _onnx_predictor(spec, dataset, target)
    from nuclassify.training import load_run  # imports Keras: only when a network is asked for

    run = load_run(spec)
    meta = run.meta
    run_target = check_model_data(meta, dataset, spec)
    if target is not None and target != run_target:
        raise UsageError(f"{spec} was trained for target {run_target}, not {target}")
    names = list(meta.get("class_names") or dataset.class_names(run_target))
    model = run.model
    has_z = len(getattr(model, "outputs", []) or []) > 1
    fn = keras_predict_fn(model, list(meta["views"]), list(dataset.view_names))
    temperature, note, warning = stored_temperature(spec, _model_file(spec)) if calibrated else (None, None, None)
    if temperature is not None:
        fn = _calibrated(fn, temperature)
    return Predictor(model_name(spec), fn, run_target, names, has_z, warning, note, temperature)
