"""Temperature scaling: one number that makes a network's probabilities mean what they say.

Modern networks are over-confident: of the events given probability 0.95, fewer than 95% are
right. Guo, Pleiss, Sun and Weinberger ("On Calibration of Modern Neural Networks", ICML 2017,
arXiv 1706.04599) found that dividing the logits by one temperature T, fitted by minimising the
negative log-likelihood on held-out labelled events, removes most of it without changing a
single prediction. A softmax output's logits are its log-probabilities up to a per-event
constant, so ``log p / T`` serves (:func:`nuclassify.evaluation.apply_temperature`).

The NLL is convex in 1/T (a log-sum-exp of a linear function minus a linear one), so a bounded
scalar search (scipy.optimize.minimize_scalar) finds its one minimum. The fit is stored in the
run directory (``calibration.json``, written atomically) with the figures before and after, the
data file's digest and the model file's sha256; every later ``predict`` and ``evaluate`` of the
run applies it, and only to the model file it was fitted for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy import optimize
from scipy.special import logsumexp

from nuclassify import __version__
from nuclassify._fileio import atomic_output
from nuclassify.errors import DataFileError, RunDirError, UsageError
from nuclassify.evaluation import (
    CALIBRATION_FILE,
    CLASSICAL,
    CalibrationTally,
    apply_temperature,
    is_ensemble_dir,
    is_onnx_path,
    load_predictor,
    model_file_sha256,
)

__all__ = ["fit_temperature", "nll_at_temperature", "CalibrationResult", "calibrate_run", "T_BOUNDS"]

#: The temperatures searched: from sharpening twentyfold to flattening twentyfold.
T_BOUNDS = (0.05, 20.0)
#: Fewest labelled events calibrate fits on (as ``shift``'s tests need 20).
MIN_CALIBRATION_EVENTS = 20


def _log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), 1e-30))


def nll_at_temperature(probabilities: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under softmax(log p / T)."""
    z = _log_probabilities(probabilities) / float(temperature)
    y = np.asarray(labels, dtype=np.int64)
    return float(np.mean(logsumexp(z, axis=1) - z[np.arange(len(y)), y]))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in :data:`T_BOUNDS` that minimises the NLL of ``labels`` (N,) under ``probabilities`` (N, K).

    Raises:
        UsageError: no events, or labels outside the K classes.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or len(p) == 0 or len(p) != len(y):
        raise UsageError(f"fit_temperature needs (N, K) probabilities and N labels, N > 0; "
                         f"received {p.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise UsageError(f"labels must be in 0..{p.shape[1] - 1}; received {int(y.min())}..{int(y.max())}")
    logp = _log_probabilities(p)
    rows = np.arange(len(y))

    def nll(beta: float) -> float:  # beta = 1/T: the NLL is convex in it
        z = beta * logp
        return float(np.mean(logsumexp(z, axis=1) - z[rows, y]))

    lo, hi = T_BOUNDS
    best = optimize.minimize_scalar(nll, bounds=(1.0 / hi, 1.0 / lo), method="bounded",
                                    options={"xatol": 1e-6})
    return float(1.0 / best.x)


def edge_warning(temperature: float) -> str | None:
    """A warning when the fitted T lies at an end of :data:`T_BOUNDS`, else None.

    The NLL's optimum then lies at or beyond the range searched: the model's probabilities are so
    far off on these events (an untrained model, a broken run, data unlike the training data) that
    no sensible temperature calibrates them, and the stored one should not be trusted.
    """
    lo, hi = T_BOUNDS
    if lo * 1.01 < temperature < hi / 1.01:
        return None
    how = ("far too flat (it would sharpen them twentyfold)" if temperature < 1 else
           "so often confidently wrong that it flattens them almost to uniform")
    return (f"T = {temperature:.4g} is at the edge of the searched range {list(T_BOUNDS)}: the model's "
            f"probabilities are {how}; check the model and the data before trusting it")


@dataclass(frozen=True)
class CalibrationResult:
    """What ``nuclassify calibrate`` fitted and stored.

    Attributes:
        path: the calibration file written (RUN_DIR/calibration.json).
        record: its content (temperature, before/after figures, data and model digests, when, how).
        warnings: what the user should hear (e.g. calibrated on the training file).
    """

    path: Path
    record: dict
    warnings: list[str] = field(default_factory=list)

    @property
    def temperature(self) -> float:
        """The fitted temperature."""
        return float(self.record["temperature"])

    def summary(self) -> str:
        """Text report: T, then ECE/NLL/Brier before and after."""
        b, a = self.record["before"], self.record["after"]
        lines = [f"temperature T = {self.temperature:.4f} fitted on {self.record['n_events']} events of "
                 f"{self.record['data']['path']}; stored in {self.path}",
                 f"{'':<8} {'ECE':>8} {'NLL':>8} {'Brier':>8}",
                 f"{'before':<8} {100 * b['ece']:>7.2f}% {b['nll']:>8.4f} {b['brier']:>8.4f}",
                 f"{'after':<8} {100 * a['ece']:>7.2f}% {a['nll']:>8.4f} {a['brier']:>8.4f}",
                 f"accuracy {100 * self.record['accuracy']:.2f}% (unchanged: temperature scaling keeps every argmax)"]
        return "\n".join(lines)


def _figures(probs: np.ndarray, labels: np.ndarray) -> dict:
    tally = CalibrationTally()
    tally.update(labels, probs)
    return {"ece": tally.ece, "nll": tally.nll, "brier": tally.brier}


def _model_path(spec: str) -> Path:
    path = Path(spec)
    return path / "model.keras" if path.is_dir() else path


def calibrate_run(spec: str | os.PathLike, data: str | os.PathLike, *, batch_size: int = 256,
                  on_batch: Callable[[int], None] | None = None) -> CalibrationResult:
    """Fit temperature scaling for the run ``spec`` on the labelled events of ``data`` and store it.

    Args:
        spec: a finished run directory (or its model.keras).
        data: labelled events the network was not trained on (a validation file).
        batch_size: events per batch through the network.
        on_batch: progress callback with each batch's event count.

    Returns:
        The :class:`CalibrationResult` (the file is already written).

    Raises:
        UsageError: ``spec`` is not a network run, is still being trained, or does not fit the data.
        DataFileError: ``data`` has no labels for the run's target.
        RunDirError: the run is missing or incomplete.

    Example:
        >>> result = calibrate_run("runs/eps", "valid.h5")                # doctest: +SKIP
        >>> round(result.temperature, 2)                                  # doctest: +SKIP
        1.7
    """
    from nuclassify._runlock import hold_run_dir, run_in_progress

    spec = os.fspath(spec)
    if spec.lower() in CLASSICAL or is_onnx_path(spec):
        raise UsageError(f"--model {spec}: calibrate stores a temperature in a run directory; give a trained run")
    if is_ensemble_dir(spec):  # one temperature for the members' average: that is what predict uses
        from nuclassify.trust._ensemble import calibrate_ensemble

        return calibrate_ensemble(spec, data, batch_size=batch_size, on_batch=on_batch)
    model_path = _model_path(spec)
    run_dir = model_path.parent
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    holder = run_in_progress(run_dir)
    if holder is not None:
        raise UsageError(f"{run_dir}: still being trained ({holder.describe()}); calibrate it when it has finished")
    with hold_run_dir(run_dir, cleanup_if_created=False):  # a writer of the run directory: one at a time
        if not model_path.is_file():
            raise RunDirError(f"{run_dir}: no {model_path.name} to calibrate (an unfinished run?)")
        return fit_and_store(
            run_dir, spec, data, batch_size=batch_size, on_batch=on_batch, trained="the network was",
            method="temperature scaling (Guo et al. 2017, arXiv 1706.04599): probabilities = softmax(log p / T)",
            model={"file": model_path.name, "sha256": model_file_sha256(model_path)},
            own_data_warning=("a network is over-confident on new events, not on its own training events, so this "
                              "temperature is likely too low; calibrate on held-out events"))


def fit_and_store(run_dir: Path, spec: str, data: str | os.PathLike, *, batch_size: int,
                  on_batch: Callable[[int], None] | None, trained: str, method: str, model: dict,
                  own_data_warning: str) -> CalibrationResult:
    """Predict the labelled events of ``data``, fit T, and write RUN/calibration.json atomically.

    The one fit-and-record for a single run and an ensemble (:func:`nuclassify.trust.calibrate_ensemble`);
    they differ only in the predictor ``spec`` loads, the ``method`` text and the ``model`` record
    that ties the temperature to its weights. The caller holds the run directory.
    """
    from nuclassify.data import open_dataset
    from nuclassify.training import file_digest

    with open_dataset(data) as ds:
        pred = load_predictor(spec, ds, calibrated=False)
        if not ds.labelled(pred.target):
            raise DataFileError(ds.path, f"has no {pred.target} labels (real data?); calibrate needs labelled "
                                         f"events {trained} not trained on, e.g. a validation file")
        labelled = ds.labelled_indices(pred.target)
        n_labelled = len(labelled)
        if n_labelled < MIN_CALIBRATION_EVENTS:  # one temperature from a handful of events replaces a good one
            raise DataFileError(ds.path, f"has {n_labelled} labelled events; a temperature needs at least "
                                         f"{MIN_CALIBRATION_EVENTS} (a validation file of hundreds is better)")
        chunks, labels = [], []
        for views, y in ds.batches(batch_size, target=pred.target, indices=labelled):
            out = pred.fn(views)
            chunks.append(np.asarray(out[0] if isinstance(out, tuple) else out, dtype=np.float64))
            labels.append(y)
            if on_batch is not None:
                on_batch(len(y))
    probs, y = np.concatenate(chunks), np.concatenate(labels)
    temperature = fit_temperature(probs, y)
    digest = file_digest(data)
    warnings = []
    meta = json.loads((run_dir / "run.json").read_text())
    if (meta.get("data") or {}).get("train", {}).get("sha256") == digest["sha256"]:
        warnings.append(f"{data} is the file {run_dir.name} was trained on: {own_data_warning}")
    edge = edge_warning(temperature)
    if edge:
        warnings.append(edge)
    record = {
        "method": method,
        "fit": ("T minimising the mean NLL, scipy.optimize.minimize_scalar (bounded) over 1/T, "
                f"T in {list(T_BOUNDS)}"),
        "temperature": temperature,
        "n_events": int(len(y)),
        "accuracy": float(np.mean(np.argmax(probs, axis=1) == y)),
        "ece_bins": CalibrationTally().bins,
        "before": _figures(probs, y),
        "after": _figures(apply_temperature(probs, temperature), y),
        "data": {**digest, "target": pred.target},
        "model": model,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "made_by": f"nuclassify {__version__} calibrate",
    }
    path = run_dir / CALIBRATION_FILE
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return CalibrationResult(path, record, warnings)
