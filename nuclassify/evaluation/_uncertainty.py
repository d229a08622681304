"""Predictors that average several samples of a network: deep ensembles and MC dropout, with BALD's mutual information.

Both give, for each event, S probability vectors instead of one: one per ensemble member
(Lakshminarayanan et al., arXiv 1612.01474) or one per dropout mask (Gal and Ghahramani, arXiv
1506.02142). The prediction is their mean. How much they disagree is the mutual information
between the prediction and the model (Houlsby et al., "Bayesian Active Learning for
Classification and Preference Learning", arXiv 1112.5745, "BALD"):

    MI = H(mean_s p_s) - mean_s H(p_s)

the entropy of the mean minus the mean entropy. It is >= 0 (entropy is concave), 0 exactly
when every sample says the same, and at most ln S and ln K. Predictive entropy counts both an
ambiguous event and an unsure model; MI counts only the second, which is what grows on events
unlike the training data.

The samplers here return the (S, N, K) stack; :func:`averaged_predict_fn` turns a list of them
into one ordinary predict function whose result also carries ``mutual_information`` (its
``columns``, written by ``predict``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.errors import RunDirError, UsageError
from nuclassify.evaluation._compat import check_model_data
from nuclassify.evaluation._ensemble import (
    ENSEMBLE_KEY,
    is_ensemble_dir,
    member_dirs,
    read_ensemble,
    stored_ensemble_temperature,
)
from nuclassify.evaluation._mcdropout import mc_dropout_model
from nuclassify.evaluation._onnx import is_onnx_path
from nuclassify.evaluation._predictor import (
    CALIBRATION_FILE,
    CLASSICAL,
    Predictor,
    WithColumns,
    apply_temperature,
    keras_predict_fn,
    model_name,
)
from nuclassify.evaluation._runner import split_output

__all__ = ["Sampler", "mutual_information", "averaged_predict_fn", "run_sampler", "uncertainty_predictor",
           "MI_COLUMN"]

#: A batch of views -> (probabilities (S, N, K), z (S, N) or None): S samples of one model.
Sampler = Callable[[Sequence[np.ndarray]], tuple[np.ndarray, np.ndarray | None]]

#: The per-event column that ensembles and MC dropout add to ``predict``'s output.
MI_COLUMN = "mutual_information"


def _entropy(p: np.ndarray) -> np.ndarray:
    """-sum p ln p over the last axis (nats), 0 ln 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=-1)


def mutual_information(samples: Any) -> np.ndarray:
    """BALD mutual information of each event from its S sampled probability vectors (S, N, K) -> (N,), nats.

    ``H(mean) - mean(H)``, clipped at 0 against round-off: exactly 0 when the samples agree.

    Example:
        >>> same = np.array([[[0.7, 0.3]], [[0.7, 0.3]]])
        >>> float(mutual_information(same)[0])
        0.0
        >>> float(mutual_information(np.array([[[1.0, 0.0]], [[0.0, 1.0]]]))[0]) == float(np.log(2))
        True
    """
    p = np.asarray(samples, dtype=np.float64)
    if p.ndim != 3:
        raise UsageError(f"mutual_information needs (samples, events, classes) probabilities; received {p.shape}")
    mi = np.maximum(_entropy(p.mean(axis=0)) - _entropy(p).mean(axis=0), 0.0)
    mi[np.all(p == p[:1], axis=(0, 2))] = 0.0  # the mean of equal numbers may round off by an ulp
    return mi


def averaged_predict_fn(samplers: Sequence[Sampler], temperature: float | None = None) -> Callable:
    """One predict function from several samplers: the mean of all their samples, with MI as a column.

    The temperature (if any) scales the averaged probabilities; the mutual information is taken
    from the samples as they are, since one temperature for the whole prediction says nothing
    about how far its samples disagree.
    """

    def fn(batch: Sequence[np.ndarray]) -> WithColumns:
        stacks, zs = [], []
        for sampler in samplers:
            probs, z = sampler(batch)
            stacks.append(np.asarray(probs, dtype=np.float64))
            if z is not None:
                zs.append(np.asarray(z, dtype=np.float64))
        samples = np.concatenate(stacks, axis=0)
        mean = samples.mean(axis=0).astype(np.float32)
        if temperature is not None:
            mean = apply_temperature(mean, temperature)
        z = np.concatenate(zs, axis=0).mean(axis=0).astype(np.float32) if zs else None
        return WithColumns(mean, z, {MI_COLUMN: mutual_information(samples).astype(np.float32)})

    return fn


def _sampler(fn: Callable, n: int) -> Sampler:
    """``n`` calls of a (stochastic) predict function stacked into (n, N, K) and (n, N)."""

    def sample(batch: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        outs = [split_output(fn(batch)) for _ in range(n)]
        z = None if outs[0][1] is None else np.stack([np.asarray(o[1]).reshape(-1) for o in outs])
        return np.stack([np.asarray(o[0]) for o in outs]), z

    return sample


def run_sampler(spec: str | Path, dataset: Any, target: str | None, *, mc_samples: int | None = None,
                seed: int | None = 0, label: str | None = None) -> tuple[Sampler, dict, str, bool]:
    """One run directory (or .keras) -> (sampler, run.json, target, has_z), checked against ``dataset``.

    Without ``mc_samples`` the sampler gives the network's one deterministic output (S = 1);
    with it, ``mc_samples`` outputs of the MC-dropout copy (:func:`mc_dropout_model`).

    Raises:
        RunDirError: the run is missing, incomplete or damaged.
        UsageError: the run does not fit the data or the target, or (MC) has no dropout.
    """
    from nuclassify.training import load_run  # imports Keras

    label = str(spec) if label is None else label
    run = load_run(spec)
    run_target = check_model_data(run.meta, dataset, label)
    if target is not None and target != run_target:
        raise UsageError(f"{label} was trained for target {run_target}, not {target}")
    model = run.model
    has_z = len(getattr(model, "outputs", []) or []) > 1
    views, data_views = list(run.meta["views"]), list(dataset.view_names)
    if mc_samples is None:
        fn = keras_predict_fn(model, views, data_views)
        return _sampler(fn, 1), run.meta, run_target, has_z
    fn = keras_predict_fn(mc_dropout_model(model, seed=seed, label=label), views, data_views)
    return _sampler(fn, mc_samples), run.meta, run_target, has_z


def _check_mc(mc_samples: int | None) -> None:
    if mc_samples is not None and (isinstance(mc_samples, bool) or int(mc_samples) < 2):
        raise UsageError(f"--mc-samples must be an integer >= 2 (samples to average), got {mc_samples!r}")


def uncertainty_predictor(spec: str, dataset: Any, target: str | None = None, *, calibrated: bool = True,
                          mc_samples: int | None = None, seed: int | None = 0) -> Predictor:
    """An ensemble run directory, or a run with ``mc_samples``, -> a Predictor with a mutual-information column.

    Args:
        spec: an ensemble run directory (``train --ensemble K``), or any run directory / .keras
            file when ``mc_samples`` is given.
        dataset: the open data file.
        target: the target the caller needs; None accepts the model's own.
        calibrated: apply an ensemble's stored temperature to its averaged probabilities. A
            temperature fitted for a network's deterministic output is not applied to MC-dropout
            averages (they are already softer; the note says so).
        mc_samples: dropout samples per network (per member for an ensemble); None: none.
        seed: seeds the dropout masks so that a prediction repeats; None: fresh masks.

    Raises:
        RunDirError: a member is missing, incomplete or damaged (named), or the run is.
        UsageError: the model is not a Keras run, has no dropout (MC), or does not fit the data.
    """
    _check_mc(mc_samples)
    if spec.lower() in CLASSICAL or is_onnx_path(spec):
        raise UsageError(f"--mc-samples needs a Keras run directory (dropout is switched on inside the network); "
                         f"{spec} is not one")
    name = model_name(spec)
    suffix = f" [MC dropout x{mc_samples}]" if mc_samples else ""
    if not is_ensemble_dir(spec):
        sampler, meta, run_target, has_z = run_sampler(spec, dataset, target, mc_samples=mc_samples, seed=seed)
        note = None
        run_dir = Path(spec) if Path(spec).is_dir() else Path(spec).parent
        if (run_dir / CALIBRATION_FILE).is_file():
            note = (f"{spec}: the temperature in {run_dir / CALIBRATION_FILE} was fitted for the network's "
                    f"deterministic output and is not applied to MC-dropout averages")
        names = list(meta.get("class_names") or dataset.class_names(run_target))
        return Predictor(name + suffix, averaged_predict_fn([sampler]), run_target, names, has_z,
                         note=note, extra_columns=("mutual_information",))
    meta = read_ensemble(spec)
    members = member_dirs(spec, meta)
    samplers, targets, names, has_z = [], set(), None, False
    for i, path in enumerate(members):
        label = f"{spec}: ensemble member {path.name}"
        try:
            sampler, m_meta, m_target, m_z = run_sampler(
                path, dataset, target, mc_samples=mc_samples, label=label,
                seed=None if seed is None else int(seed) + 1000 * i)
        except RunDirError as exc:
            raise RunDirError(f"{label}: {exc}") from exc
        samplers.append(sampler)
        targets.add(m_target)
        member_names = list(m_meta.get("class_names") or dataset.class_names(m_target))
        if names is not None and member_names != names:
            raise RunDirError(f"{label} predicts classes {member_names}, member m0 {names}: not one ensemble")
        names, has_z = member_names, has_z or m_z
    if len(targets) > 1:
        raise RunDirError(f"{spec}: the ensemble's members predict different targets ({', '.join(sorted(targets))})")
    temperature = note = warning = None
    if calibrated and mc_samples is None:
        temperature, note, warning = stored_ensemble_temperature(Path(spec), members)
    elif calibrated and (Path(spec) / CALIBRATION_FILE).is_file():
        note = f"{spec}: the ensemble's temperature was fitted without MC dropout and is not applied to these averages"
    fn = averaged_predict_fn(samplers, temperature)
    k = len(meta[ENSEMBLE_KEY]["members"])
    return Predictor(f"{name} (ensemble of {k}){suffix}", fn, targets.pop(), names, has_z, warning, note,
                     temperature, extra_columns=("mutual_information",))
