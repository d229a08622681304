"""Streaming evaluation of one or more classifiers on the same labelled events.

Each classifier is a function ``views -> probabilities`` (or ``-> (probabilities, z)``); the
runner reads one batch, hands it to every classifier, folds the results into counts and drops
the batch. Memory holds only counts plus one bool per event and classifier (for McNemar's
paired test). Reading runs ahead in a thread (:mod:`nuclassify._readahead`), so file I/O
overlaps the model's work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nuclassify._readahead import prefetch
from nuclassify.errors import DataFileError
from nuclassify.evaluation._metrics import CalibrationTally, Tally, mcnemar
from nuclassify.evaluation._nova import FlavourTally
from nuclassify.evaluation._segments import SegmentCounts, ZProfile, segment_rows
from nuclassify.evaluation._vertex_resolution import VertexResolution

__all__ = ["PredictFn", "ModelEvaluation", "evaluate_models", "prefetch", "split_output", "compare_table",
           "pairwise_mcnemar"]

PredictFn = Callable[[tuple[np.ndarray, ...]], Any]


def split_output(out: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities, z or None) from whatever a predict function returned."""
    if isinstance(out, tuple):
        return np.asarray(out[0]), (None if out[1] is None else np.asarray(out[1]))
    if hasattr(out, "probabilities"):
        return np.asarray(out.probabilities), getattr(out, "z", None)
    return np.asarray(out), None


@dataclass
class ModelEvaluation:
    """Everything measured for one classifier on the evaluated events."""

    name: str
    class_names: tuple[str, ...]
    tally: Tally
    correct: np.ndarray  # bool per evaluated event, for paired tests
    segments: SegmentCounts | None = None
    zprofile: ZProfile | None = None
    flavour: FlavourTally | None = None
    vertex: VertexResolution | None = None  # z residuals, for methods that return a vertex z
    extra: dict = field(default_factory=dict)
    calibration: CalibrationTally = field(default_factory=CalibrationTally)  # ECE, NLL, Brier

    def to_dict(self, baseline: ModelEvaluation | None = None) -> dict:
        """The JSON form: accuracy, its 95% CI, n_events, per_class, confusion, and more if measured."""
        lo, hi = self.tally.accuracy_ci()
        out: dict[str, Any] = {
            "model": self.name, "accuracy": self.tally.accuracy, "accuracy_ci95": [lo, hi],
            "n_events": self.tally.n, "n_correct": self.tally.n_correct,
            "per_class": {str(r["class"]): r for r in self.tally.per_class(list(self.class_names))},
            "confusion": self.tally.confusion.tolist(), "class_names": list(self.class_names),
        }
        if self.segments is not None:
            rows = segment_rows(self.segments, baseline.segments if baseline is not None else None)
            out["per_segment"] = {str(r["segment"]): r for r in rows}
            if baseline is not None:
                out["baseline"] = {"model": baseline.name, "accuracy": baseline.tally.accuracy,
                                   "accuracy_ci95": list(baseline.tally.accuracy_ci())}
                if len(self.correct) == len(baseline.correct):  # the paired test, as the text report prints it
                    test = mcnemar(self.correct, baseline.correct)
                    out["baseline"]["mcnemar"] = {"p_value": test.p_value, "only_model_right": test.b,
                                                  "only_baseline_right": test.c}
        if self.vertex is not None:
            out["vertex"] = self.vertex.summary()
        if self.flavour is not None:
            out["flavours"] = self.flavour.summary()
            out["efficiency_purity_curve"] = self.flavour.curves()
        return out


def evaluate_models(dataset: Any, predictors: Mapping[str, PredictFn], *, target: str | None = None,
                    batch_size: int = 256, indices: Any = None, per_segment: bool | None = None,
                    score_cut: float = 0.5, on_batch: Callable[[int], None] | None = None
                    ) -> dict[str, ModelEvaluation]:
    """Score every predictor on the labelled events of ``dataset``, streaming in batches.

    Args:
        dataset: an open :class:`nuclassify.data.Dataset`.
        predictors: name -> predict function over a batch's tuple of views (data's view order).
        target: label target (default the file's).
        per_segment: also count per true segment and per true z (default: when the target is
            "segment"); needs the truth z field for the z profile (skipped if absent).
            A method that returns a vertex z (the classical ones) has its z residuals measured
            whenever the target is "segment" and the file holds the true z.
        score_cut: the flavour-score cut for NOvA's "at cut" efficiency and purity.
        on_batch: called with the batch's event count (progress bars).

    Raises:
        DataFileError: the file has no labels for ``target`` (use predict for such files).
    """
    target = dataset.default_target if target is None else target
    if not dataset.labelled(target):
        raise DataFileError(dataset.path, f"has no {target} labels (real data?); evaluate needs labelled events "
                                          f"- use 'nuclassify predict' to get predictions for unlabelled files")
    idx = dataset.labelled_indices(target, indices)
    names = tuple(dataset.class_names(target))
    k = len(names)
    segment_mode = (target == "segment") if per_segment is None else bool(per_segment and target == "segment")
    z_field = _z_field(dataset) if target == "segment" else None
    flavour_mode = dataset.layout == "nova-cvn"
    evals = {name: ModelEvaluation(name, names, Tally(k), np.zeros(len(idx), dtype=bool),
                                   SegmentCounts() if segment_mode else None,
                                   ZProfile() if z_field and segment_mode else None,
                                   FlavourTally(list(names), score_cut) if flavour_mode else None)
             for name in predictors}
    pos = 0
    for views, labels in prefetch(dataset.batches(batch_size, target=target, indices=idx)):
        n = len(labels)
        z_true = None  # read on first need: networks without the z profile never need it

        def true_z(lo: int = pos, n: int = n) -> np.ndarray:
            nonlocal z_true
            if z_true is None:
                z_true = dataset.read_truth(z_field, idx[lo:lo + n])
            return z_true

        for name, fn in predictors.items():
            out = fn(views)
            probs, z_reco = split_output(out)
            if probs.shape != (n, k):
                raise DataFileError(dataset.path, f"{name} returned probabilities of shape {probs.shape}, "
                                                  f"expected ({n}, {k}) for target {target}")
            pred = np.argmax(probs, axis=1)
            ok = pred == labels
            ev = evals[name]
            ev.tally.update(labels, pred)
            ev.calibration.update(labels, probs)
            ev.correct[pos:pos + n] = ok
            if ev.segments is not None:
                ev.segments.update(labels, ok)
            if ev.zprofile is not None:
                ev.zprofile.update(true_z(), ok)
            if ev.flavour is not None:
                ev.flavour.update(labels, probs)
            if z_reco is not None and z_field:
                if ev.vertex is None:
                    ev.vertex = VertexResolution()
                ev.vertex.update(z_reco, true_z(), getattr(out, "columns", None))
        pos += n
        if on_batch is not None:
            on_batch(n)
    return evals


def _z_field(dataset: Any) -> str | None:
    fields = getattr(dataset, "truth_fields", [])
    for name in ("vtx_data/zs", "zs"):
        if name in fields:
            return name
    return None


def compare_table(evals: list[ModelEvaluation], reference: str = "best") -> list[dict]:
    """Rows of the seed's "Model / Test Set Accuracy" table with McNemar p-values.

    Each model is tested against the most accurate one (``reference="best"``) on the paired
    per-event correctness; the best model's own row carries no p-value.
    """
    best = max(evals, key=lambda e: e.tally.accuracy)
    rows = []
    for ev in evals:
        lo, hi = ev.tally.accuracy_ci()
        row = {"model": ev.name, "accuracy": ev.tally.accuracy, "accuracy_ci95": [lo, hi], "n_events": ev.tally.n,
               "best": ev is best, "vs": None, "difference": None, "p_value": None, "test": None}
        if ev is not best:
            test = mcnemar(best.correct, ev.correct)
            row.update(vs=best.name, difference=ev.tally.accuracy - best.tally.accuracy, p_value=test.p_value,
                       test=test.method, discordant=[test.b, test.c])
        rows.append(row)
    return rows


def pairwise_mcnemar(evals: list[ModelEvaluation]) -> dict[str, dict[str, float]]:
    """McNemar p-value of every pair of models: ``out[a][b]`` (symmetric, no diagonal)."""
    out: dict[str, dict[str, float]] = {ev.name: {} for ev in evals}
    for i, a in enumerate(evals):
        for b in evals[i + 1:]:
            p = mcnemar(a.correct, b.correct).p_value
            out[a.name][b.name] = p
            out[b.name][a.name] = p
    return out
