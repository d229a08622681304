"""Turn ``RUN_DIR | model.keras | trackfit`` into a predict function over a data file's views.

``predict``, ``evaluate``, the benchmarks and anything that searches or wraps models (evolve,
the trust features) all need the same thing: a function from one batch of the *file's* views
to class probabilities (and z where the model has a z head), checked against the file before
any batch is read. It lives here, in the library, so that none of them imports the CLI.

Keras is not imported at module level: trackfit and the metrics work without it, and
:func:`load_predictor` imports :mod:`nuclassify.training` only when it loads a run. Muting the
backend's start-up chatter is the caller's business (the CLI does it before calling in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.errors import UsageError
from nuclassify.evaluation._compat import check_model_data
from nuclassify.evaluation._runner import PredictFn

__all__ = ["TRACKFIT", "Predictor", "keras_predict_fn", "load_predictor", "model_name"]

#: The model spec that selects the track-based baseline instead of a trained network.
TRACKFIT = "trackfit"


@dataclass(frozen=True)
class Predictor:
    """A named predict function with what output columns and metrics need to know.

    Attributes:
        name: display name (the run directory's name, or ``trackfit``).
        fn: batch of views in the data file's order -> ``(probabilities (N, K), z (N,) or None)``.
        target: the label target the model predicts, e.g. ``"segment"``.
        class_names: K names, indexed by class.
        has_z: whether ``fn`` returns a z estimate (a z head, or trackfit).
    """

    name: str
    fn: PredictFn
    target: str
    class_names: list[str]
    has_z: bool


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
    missing = [v for v in model_views if v not in data_views]
    if missing:
        raise UsageError(f"the model needs view(s) {', '.join(missing)}; the data has {', '.join(data_views)}")
    order = [list(data_views).index(v) for v in model_views]

    def fn(batch: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        inputs = [batch[i] for i in order]
        out = model.predict_on_batch(inputs if len(inputs) > 1 else inputs[0])
        if isinstance(out, dict):
            out = list(out.values())
        if isinstance(out, (list, tuple)):
            arrays = [np.asarray(o) for o in out]
            probs = next(a for a in arrays if a.ndim == 2 and a.shape[1] > 1)
            z = next((a.reshape(-1) for a in arrays if a.ndim <= 2 and a.size == len(probs)), None)
            return _softmax_if_needed(probs), z
        return _softmax_if_needed(out), None

    return fn


def model_name(spec: str) -> str:
    """Short display name: the run directory's name (plus the file for a .keras other than model.keras)."""
    path = Path(spec.rstrip("/"))
    if path.suffix == ".keras":
        run = path.parent.name or "."
        return run if path.name == "model.keras" else f"{run}/{path.name}"
    return path.name or spec


def _trackfit_predictor(dataset: Any, target: str | None) -> Predictor:
    from nuclassify.evaluation.trackfit import TrackFit

    if not dataset.layout.startswith("minerva"):
        raise UsageError(f"trackfit works on MINERvA files; {dataset.path} is {dataset.layout}")
    if target not in (None, "segment"):
        raise UsageError(f"trackfit predicts vertex segments, not {target}")
    fit = TrackFit(dataset.view_names, dataset.view_shapes)

    def fn(views: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        result = fit.predict(views)
        return result.probabilities, result.z

    return Predictor(TRACKFIT, fn, "segment", list(dataset.class_names("segment")), True)


def load_predictor(spec: str, dataset: Any, target: str | None = None) -> Predictor:
    """``trackfit``, a run directory or a ``.keras`` file in one -> a Predictor checked against ``dataset``.

    Args:
        spec: ``"trackfit"`` (any case), a run directory, or a ``.keras`` file beside a run.json.
        dataset: the open :class:`nuclassify.data.Dataset` the predictor will read.
        target: the target the caller needs; None accepts the model's own.

    Raises:
        RunDirError: the run directory is missing or incomplete.
        UsageError: the model was trained for another target, views or input shapes than the data
            (both sides named), or trackfit was asked for on a non-MINERvA file.
    """
    if spec.lower() == TRACKFIT:
        return _trackfit_predictor(dataset, target)
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
    return Predictor(model_name(spec), fn, run_target, names, has_z)
