"""``evaluate`` as a library call: which models, which baseline, which tables, then one streamed pass.

The rules that decide what an evaluation measures used to live in the CLI command; they live
here so that a search or a notebook evaluates exactly as ``nuclassify evaluate`` does:

- several models are compared (McNemar) when more than one spec is given;
- two specs with the same display name are told apart by a ``'`` suffix;
- all models must predict the same target (comparing a segment model with a plane-code model
  is meaningless);
- a single segment model on MINERvA data gets the track-based baseline beside it when the
  per-segment table (or a plot that draws it) is wanted.

It is split in two steps, :func:`plan_evaluation` (loads and checks everything, fails fast
before a batch is read) and :meth:`EvaluationPlan.run` (the streamed pass), so that a caller can
report what is about to run; :func:`evaluate_runs` does both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.data import describe_sample, sample_indices
from nuclassify.errors import UsageError
from nuclassify.evaluation._metrics import CalibrationTally
from nuclassify.evaluation._plots import write_calibration_plots, write_plots
from nuclassify.evaluation._predictor import (
    CLASSICAL,
    TRACKFIT,
    Predictor,
    load_predictor,
    model_spec_text,
)
from nuclassify.evaluation._report import format_compare, format_evaluation
from nuclassify.evaluation._runner import (
    ModelEvaluation,
    PredictFn,
    compare_table,
    evaluate_models,
    pairwise_mcnemar,
)
from nuclassify.evaluation._segments import format_segment_compare, segment_compare_rows
from nuclassify.evaluation._vertex_resolution import format_vertex_table

__all__ = ["EvaluationPlan", "EvaluationRun", "plan_evaluation", "evaluate_runs", "unique_name"]


def unique_name(name: str, taken: Any) -> str:
    """``name``, with ``'`` appended until it is not in ``taken`` (two runs both called ``run``)."""
    while name in taken:
        name += "'"
    return name


@dataclass(frozen=True)
class EvaluationRun:
    """The measured result of an evaluation, and the views of it that ``evaluate`` prints.

    Attributes:
        evaluations: display name -> measurements, the models in the order given, then the
            baseline (only ever beside a single model: a comparison adds none).
        main: the first model's display name (the one reported when not comparing).
        baseline: the baseline's display name, if one ran beside a single model.
        per_segment: whether the per-segment table was asked for (it may be measured for plots only).
        comparing: several models were given; reports are the comparison table.
        calibration: display name -> ECE/NLL/Brier sums of each model (not the baseline).
        temperatures: display name -> the stored temperature applied to it, or None.
        sample: which of the file's events were counted (:data:`nuclassify.data.SAMPLES`).
        n_file_events: how many events the file holds (the sample may count fewer).
    """

    evaluations: dict[str, ModelEvaluation]
    main: str
    baseline: str | None
    per_segment: bool
    comparing: bool
    calibration: dict[str, CalibrationTally] = field(default_factory=dict)
    temperatures: dict[str, float | None] = field(default_factory=dict)
    sample: str = "all"
    n_file_events: int | None = None

    @property
    def main_evaluation(self) -> ModelEvaluation:
        """The measurements of the first model."""
        return self.evaluations[self.main]

    @property
    def baseline_evaluation(self) -> ModelEvaluation | None:
        """The baseline's measurements, or None when no baseline ran."""
        return self.evaluations[self.baseline] if self.baseline else None

    def to_dict(self) -> dict:
        """The JSON object of ``evaluate --json``.

        One model: its accuracy, CI, per-class figures and confusion (plus per_segment and the
        baseline when the table was asked for). Several: ``n_events``, the comparison rows,
        ``pairwise_p_value`` and each model's own object under ``per_model``. Both carry
        ``sample`` (its name and how many of the file's events it counted).
        """
        if self.comparing:
            evals = list(self.evaluations.values())
            payload = {"n_events": self.main_evaluation.tally.n, "models": self._compare_rows(),
                       "pairwise_p_value": pairwise_mcnemar(evals),
                       "per_model": {ev.name: self._with_calibration(ev.name, self._segments_if_asked(ev.to_dict()))
                                     for ev in evals}}
            segments = self._segment_compare()
            if segments is not None:
                payload["per_segment"] = segments
            return {**payload, "sample": self._sample_dict()}
        payload = self._segments_if_asked(self.main_evaluation.to_dict(self.baseline_evaluation))
        return {**self._with_calibration(self.main, payload), "sample": self._sample_dict()}

    def _sample_counts(self) -> tuple[int, int]:
        """(events counted, events in the file); a run built without the file's count counted them all."""
        n = self.main_evaluation.tally.n
        return n, n if self.n_file_events is None else self.n_file_events

    def _sample_dict(self) -> dict:
        n, n_file = self._sample_counts()
        return {"name": self.sample, "n_events": n, "n_file_events": n_file}

    def _sample_line(self) -> str:
        """The report's head line when a sample leaves events out; empty for the whole file."""
        return "" if self.sample == "all" else describe_sample(self.sample, *self._sample_counts()) + "\n"

    def format(self) -> str:
        """The text report: the comparison table, or the single model's report."""
        if self.comparing:
            text = self._sample_line() + format_compare(self._compare_rows())
            segments = self._segment_compare()
            if segments is not None:
                text += "\n\nper segment (detector z order)\n" + format_segment_compare(segments)
            vertex = {name: ev.vertex for name, ev in self.evaluations.items() if ev.vertex is not None}
            return text + ("\n\n" + format_vertex_table(vertex) if vertex else "")
        return self._sample_line() + format_evaluation(
            self.main_evaluation, self.baseline_evaluation, per_segment=self.per_segment,
            calibration=self.calibration.get(self.main), temperature=self.temperatures.get(self.main))

    def _segment_compare(self) -> list[dict] | None:
        """With --per-segment, every model per segment against the most accurate one; else None."""
        evals = list(self.evaluations.values())
        if not self.per_segment or any(ev.segments is None for ev in evals):
            return None
        best = max(range(len(evals)), key=lambda i: evals[i].tally.accuracy)
        return segment_compare_rows([ev.name for ev in evals], [ev.segments for ev in evals],
                                    [ev.correct for ev in evals], best)

    def _compare_rows(self) -> list[dict]:
        """The comparison table's rows, each with the model's ECE, NLL and Brier score."""
        rows = compare_table(list(self.evaluations.values()))
        for row in rows:
            tally = self.calibration.get(row["model"])
            if tally is not None:
                row.update(ece=tally.ece, nll=tally.nll, brier=tally.brier)
        return rows

    def _with_calibration(self, name: str, payload: dict) -> dict:
        tally = self.calibration.get(name)
        if tally is not None:
            payload["calibration"] = {**tally.to_dict(), "temperature": self.temperatures.get(name)}
        return payload

    def write_plots(self, directory: str | os.PathLike) -> list[Path]:
        """Draw the plots into ``directory``: one sub-folder per model when comparing; returns the files."""
        written: list[Path] = []
        note = self._sample_line().strip()  # the figures say which events they count
        for name, ev in self.evaluations.items():
            if self.comparing:
                folder = Path(directory) / name.replace("/", "_")
                written += write_plots(ev, folder, note=note)
            elif name == self.main:
                folder = Path(directory)
                written += write_plots(ev, directory, self.baseline_evaluation, note=note)
            else:
                continue
            if name in self.calibration:
                written += write_calibration_plots(self.calibration[name], name, folder,
                                                   self.temperatures.get(name), note=note)
        return written

    def _segments_if_asked(self, payload: dict) -> dict:
        # Plots may have measured the per-segment counts; the JSON carries them only when asked for.
        if not self.per_segment:
            payload.pop("per_segment", None)
            payload.pop("baseline", None)
        return payload


@dataclass(frozen=True)
class EvaluationPlan:
    """Loaded, checked predictors and what to measure; :meth:`run` makes the streamed pass.

    Attributes:
        dataset: the open data file.
        predictors: display name -> predictor, the models in the order given, baseline last.
        target: the target every predictor predicts.
        main: the first model's display name.
        baseline: the baseline's display name (trackfit), if one was added.
        per_segment: the per-segment table was asked for.
        count_segments: per-segment counts are measured (asked for, or needed by the plots).
        comparing: several models were given.
        sample: the named sample of events counted (:data:`nuclassify.data.SAMPLES`).
        indices: the sample's event indices; None counts every event.
    """

    dataset: Any
    predictors: dict[str, Predictor]
    target: str
    main: str
    baseline: str | None
    per_segment: bool
    count_segments: bool
    comparing: bool
    sample: str = "all"
    indices: np.ndarray | None = None

    @property
    def n_events(self) -> int:
        """How many of the file's events the sample holds (labelled or not)."""
        return self.dataset.n_events if self.indices is None else len(self.indices)

    @property
    def warnings(self) -> list[str]:
        """What the user should hear before the results (an ONNX model without metadata), in model order."""
        return [p.warning for p in self.predictors.values() if p.warning]

    @property
    def notes(self) -> list[str]:
        """How the outputs are made, where the user should know (a stored temperature applied), in model order."""
        return [p.note for p in self.predictors.values() if p.note]

    def run(self, *, batch_size: int = 256, score_cut: float = 0.5,
            on_batch: Callable[[int], None] | None = None) -> EvaluationRun:
        """Score every predictor on the labelled events in one streamed pass.

        Args:
            batch_size: events per batch read and predicted.
            score_cut: NOvA's flavour-score cut for the "at cut" efficiency and purity.
            on_batch: called with each batch's event count (progress).

        Raises:
            DataFileError: the file has no labels for the target (use predict for such files).
            UsageError: a score cut outside [0, 1] (the CLI's range); a bad batch size is refused
                by the dataset's reader.
        """
        if not 0.0 <= float(score_cut) <= 1.0:
            raise UsageError(f"score_cut must lie in [0, 1]; received {score_cut}")
        fns: dict[str, PredictFn] = {k: p.fn for k, p in self.predictors.items()}
        evals = evaluate_models(self.dataset, fns, target=self.target, batch_size=batch_size, indices=self.indices,
                                per_segment=self.count_segments, score_cut=score_cut, on_batch=on_batch)
        tallies: dict[str, CalibrationTally] = {name: ev.calibration for name, ev in evals.items()
                                                if name != self.baseline}
        return EvaluationRun(evals, self.main, self.baseline, self.per_segment, self.comparing, tallies,
                             {k: p.temperature for k, p in self.predictors.items()}, self.sample,
                             self.dataset.n_events)


def plan_evaluation(dataset: Any, model_specs: Sequence[str], *, per_segment: bool = False,
                    plots: bool = False, mc_samples: int | None = None, sample: str = "all") -> EvaluationPlan:
    """Load every model in ``model_specs`` against ``dataset`` and decide what to measure.

    Args:
        dataset: the open, labelled data file.
        model_specs: ``RUN_DIR``, ``model.keras``, an exported ``model.onnx`` (run by onnxruntime,
            no Keras import) or ``trackfit`` each; two or more are compared.
        per_segment: the per-segment table is wanted (segment models only).
        plots: plots will be drawn, so segment counts are measured for a segment model even
            without the table.
        mc_samples: score every network by MC dropout with this many passes (classical methods
            are scored as they are).
        sample: count only these events: ``"all"``, or ``"muon-track"`` (MINERvA events with a
            muon track, the population of the experiment's lattices and of the seed's comparison;
            :func:`nuclassify.data.sample_indices`).

    Raises:
        UsageError: no model given, the models predict different targets, ``per_segment``
            for a model that does not predict segments, an unknown sample or one the file cannot
            hold; and whatever :func:`load_predictor` raises.
        RunDirError: a run directory is missing or incomplete.
        DataFileError: the sample cannot be told apart in this file, or it holds no event.
    """
    # one model named on its own is one model, not a list of its characters (load_predictor checks the dataset)
    specs = [model_specs] if isinstance(model_specs, (str, os.PathLike)) else list(model_specs)
    specs = [model_spec_text(spec) for spec in specs]
    if not specs:
        raise UsageError("give at least one model (a run directory, a .keras or .onnx file, or 'trackfit')")
    indices = sample_indices(dataset, sample)  # before any model loads: a wrong sample fails fast
    comparing = len(specs) > 1
    predictors: dict[str, Predictor] = {}
    for spec in specs:
        is_network = spec.lower() not in CLASSICAL
        pred = load_predictor(spec, dataset, mc_samples=mc_samples if is_network else None)
        predictors[unique_name(pred.name, predictors)] = pred
    targets = {p.target for p in predictors.values()}
    if len(targets) > 1:
        raise UsageError(f"the models predict different targets ({', '.join(sorted(targets))}); "
                         "compare like with like")
    target = targets.pop()
    main = next(iter(predictors))
    if per_segment and target != "segment":
        raise UsageError(f"--per-segment needs a segment model; this one predicts {target}")
    count_segments = per_segment or (plots and target == "segment")
    baseline = None
    if (count_segments and not comparing and predictors[main].name != TRACKFIT
            and dataset.layout.startswith("minerva")):
        baseline = TRACKFIT
        predictors[baseline] = load_predictor(TRACKFIT, dataset)
    return EvaluationPlan(dataset, predictors, target, main, baseline, per_segment, count_segments, comparing,
                          sample, indices)


def evaluate_runs(dataset: Any, model_specs: Sequence[str], *, per_segment: bool = False, plots: bool = False,
                  batch_size: int = 256, score_cut: float = 0.5,
                  on_batch: Callable[[int], None] | None = None, sample: str = "all") -> EvaluationRun:
    """``nuclassify evaluate`` as one call: :func:`plan_evaluation`, then :meth:`EvaluationPlan.run`.

    Example:
        >>> from nuclassify.data import open_dataset                      # doctest: +SKIP
        >>> with open_dataset("test.h5") as ds:                           # doctest: +SKIP
        ...     result = evaluate_runs(ds, ["runs/eps", "trackfit"])
        >>> print(result.format())                                        # doctest: +SKIP
    """
    plan = plan_evaluation(dataset, model_specs, per_segment=per_segment, plots=plots, sample=sample)
    return plan.run(batch_size=batch_size, score_cut=score_cut, on_batch=on_batch)
