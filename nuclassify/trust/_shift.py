"""``nuclassify shift`` as a library call: how far does a data file lie from the training data?

Four views of one question, each with its own p-value:

- MMD on the network's penultimate-layer features (:mod:`._mmd`), the headline two-sample test
  on the representation the classifier decides from;
- a per-event Mahalanobis score under a Ledoit–Wolf covariance of the reference features
  (:mod:`._mahalanobis`), which says *which* events are unlike the training data;
- a classifier two-sample test on the features plus the input summaries (:mod:`._classifier`);
- per-feature Kolmogorov–Smirnov tests on input summaries (:mod:`._inputs`), which say *where*.

``score`` is the classifier test's 2·AUC − 1: 0 when the data cannot be told from the reference,
1 when every event can, comparable across files and models (MMD² depends on the kernel's
bandwidth and the feature width). ``p_value["overall"]`` is the Bonferroni combination of the
four tests (valid whatever their dependence): the data are flagged when it is below ``alpha``.
Nothing here reads labels, so real (unlabelled) data work.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from nuclassify.errors import UsageError
from nuclassify.trust._classifier import ClassifierTestResult, classifier_test
from nuclassify.trust._features import compute_features, load_feature_extractor
from nuclassify.trust._inputs import input_feature_names, input_features
from nuclassify.trust._mahalanobis import MahalanobisResult, mahalanobis_scores
from nuclassify.trust._mmd import MMDResult, mmd_test

__all__ = ["ShiftReport", "shift_scores", "ALPHA"]

#: Significance level at which ``flagged`` is set.
ALPHA = 0.05
#: Fewest events per sample for the tests to mean anything (half the reference fits the covariance).
MIN_EVENTS = 20


@dataclass
class ShiftReport:
    """Everything ``nuclassify shift`` measured (``to_dict`` is its --json, ``format`` its text)."""

    model: str
    reference_path: str
    data_path: str
    n_reference: int
    n_data: int
    n_features: int
    mmd: MMDResult
    mahalanobis: MahalanobisResult
    classifier: ClassifierTestResult
    inputs: list[dict]
    seed: int
    notes: list[str] = field(default_factory=list)
    data_event_ids: np.ndarray | None = None

    @property
    def score(self) -> float:
        """2·AUC − 1 of the classifier two-sample test, clipped at 0 (0: alike, 1: fully separable)."""
        return max(0.0, 2.0 * self.classifier.auc - 1.0)

    @property
    def input_p_value(self) -> float:
        """Bonferroni-combined KS p-value over the input summaries."""
        ps = [r["p_value"] for r in self.inputs]
        return min(1.0, len(ps) * min(ps)) if ps else 1.0

    @property
    def p_values(self) -> dict[str, float]:
        """Each test's p-value, and ``overall``: Bonferroni over the four."""
        parts = {"mmd": self.mmd.p_value, "mahalanobis": self.mahalanobis.p_value,
                 "classifier": self.classifier.p_value, "input_ks": self.input_p_value}
        return {"overall": min(1.0, len(parts) * min(parts.values())), **parts}

    @property
    def flagged(self) -> bool:
        """Whether the data differ from the reference at level :data:`ALPHA`."""
        return self.p_values["overall"] < ALPHA

    def to_dict(self) -> dict:
        """The JSON object of ``shift --json``: ``score``, ``p_value`` (a dict) and the detail."""
        return {"score": self.score, "p_value": self.p_values, "flagged": self.flagged, "alpha": ALPHA,
                "model": self.model, "reference": {"path": self.reference_path, "n_events": self.n_reference},
                "data": {"path": self.data_path, "n_events": self.n_data}, "n_features": self.n_features,
                "mmd": self.mmd.to_dict(), "mahalanobis": self.mahalanobis.to_dict(),
                "classifier": self.classifier.to_dict(), "input_features": self.inputs, "seed": self.seed,
                "notes": list(self.notes)}

    def format(self) -> str:
        """The text report."""
        p = self.p_values
        verdict = "SHIFTED" if self.flagged else "not flagged"
        lines = [f"shift of {self.data_path} ({self.n_data} events) from {self.reference_path} "
                 f"({self.n_reference} events), model {self.model} ({self.n_features} features)",
                 f"score {self.score:.3f} (classifier 2*AUC-1; 0 alike, 1 separable); overall p {_pv(p['overall'])}: "
                 f"{verdict} at {ALPHA}",
                 "",
                 f"{'test':<34} {'statistic':>12} {'p-value':>9}",
                 f"{'MMD^2 (penultimate, RBF)':<34} {self.mmd.mmd2:>12.3g} {_pv(p['mmd']):>9}",
                 f"{'Mahalanobis AUC (Ledoit-Wolf)':<34} {self.mahalanobis.auc:>12.3f} {_pv(p['mahalanobis']):>9}",
                 f"{'classifier AUC (features+inputs)':<34} {self.classifier.auc:>12.3f} {_pv(p['classifier']):>9}",
                 f"{'input KS (max over summaries)':<34} {max(r['ks'] for r in self.inputs):>12.3f} "
                 f"{_pv(p['input_ks']):>9}",
                 f"data events beyond the reference's 99th Mahalanobis percentile: "
                 f"{100 * self.mahalanobis.beyond_q99:.1f}% (1% expected)",
                 "",
                 f"{'input summary':<24} {'KS':>6} {'p-value':>9} {'ref median':>11} {'data median':>12}"]
        for r in sorted(self.inputs, key=lambda r: -r["ks"]):
            lines.append(f"{r['feature']:<24} {r['ks']:>6.3f} {_pv(r['p_value']):>9} {r['reference_median']:>11.4g} "
                         f"{r['data_median']:>12.4g}")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def _pv(p: float) -> str:
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def _sample(n: int, max_events: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``max_events`` of ``n`` events, drawn at random."""
    if max_events is None or n <= max_events:
        return np.arange(n)
    return np.sort(rng.choice(n, size=max_events, replace=False))


def normal_scores(ref: np.ndarray, dat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column mapped to normal scores of its rank in the pooled sample; constant columns dropped.

    Penultimate ReLU features are sparse and heavy-tailed (an event with ten times the energy
    has activations ten times larger), so a few events would set every distance, the kernel
    bandwidth and the covariance. Normal scores, Φ⁻¹((rank − ½)/N) with ties averaged, keep each
    feature's order and nothing of its tails. The map is fitted on the pooled sample, which is
    symmetric in the two labels, so the permutation tests stay exact.
    """
    pooled = np.vstack([ref, dat])
    keep = np.ptp(pooled, axis=0) > 0
    ranks = stats.rankdata(pooled[:, keep], axis=0, method="average")
    z = stats.norm.ppf((ranks - 0.5) / len(pooled))
    return z[:len(ref)], z[len(ref):]


def _ks_rows(names: list[str], ref: np.ndarray, dat: np.ndarray) -> list[dict]:
    rows = []
    for j, name in enumerate(names):
        test = stats.ks_2samp(ref[:, j], dat[:, j])
        rows.append({"feature": name, "ks": float(test.statistic), "p_value": float(test.pvalue),
                     "reference_median": float(np.median(ref[:, j])), "data_median": float(np.median(dat[:, j]))})
    return rows


def shift_scores(model: str | os.PathLike, reference: str | os.PathLike, data: str | os.PathLike, *,
                 max_events: int | None = 2000, seed: int = 0, permutations: int = 200, batch_size: int = 256,
                 on_batch: Callable[[int], None] | None = None) -> ShiftReport:
    """Score how far ``data`` lies from ``reference`` as the network ``model`` sees them.

    Args:
        model: a run directory (or a .keras file in one).
        reference: a file of the training settings (ideally events the model was not trained on).
        data: the file to judge; labels are not read.
        max_events: events drawn at random from each file (None: all; the tests cost O(N²)).
        seed: the event draw, the reference split and the permutations follow from it.
        permutations: relabellings for the MMD and classifier p-values (p >= 1/(permutations+1)).
        batch_size: events per batch through the network.
        on_batch: progress callback with each batch's event count.

    Raises:
        UsageError: either file is not of the model's detector, layout or views (one line), or a
            file has fewer than 20 events.
        RunDirError, DataFileError: the run or a file is missing or damaged.

    Example:
        >>> report = shift_scores("runs/eps", "train.h5", "data.h5")     # doctest: +SKIP
        >>> report.score, report.p_values["overall"]                      # doctest: +SKIP
    """
    from threadpoolctl import threadpool_limits

    from nuclassify.data import open_dataset

    if permutations < 1:
        raise UsageError(f"--permutations must be at least 1 (received {permutations})")
    extractor = load_feature_extractor(model)
    rng = np.random.default_rng(seed)
    samples = {}
    for role, path in (("--reference", reference), ("--data", data)):
        with open_dataset(path) as ds:
            extractor.check(ds, role)
            if ds.n_events < MIN_EVENTS:
                raise UsageError(f"{role} {path}: {ds.n_events} events; the shift tests need at least {MIN_EVENTS}")
            idx = _sample(ds.n_events, max_events, rng)
            feats, inputs = compute_features(extractor, ds, idx, batch_size=batch_size, also=input_features,
                                             on_batch=on_batch)
            channels = int(next(iter(ds.view_shapes.values()))[-1])
            names = input_feature_names(ds.view_names, channels)
            samples[role] = (feats, inputs, ds.event_ids(idx))
    (f_ref, i_ref, _), (f_dat, i_dat, ids) = samples["--reference"], samples["--data"]
    z_ref, z_dat = normal_scores(f_ref, f_dat)
    if z_ref.shape[1] == 0:
        raise UsageError(f"--model {model}: its penultimate features are constant on {reference}; "
                         "the model cannot tell these events apart")
    mmd = mmd_test(z_ref, z_dat, permutations=permutations, seed=seed)
    half = rng.permutation(len(z_ref))
    fit_on, held_out = half[: len(half) // 2], half[len(half) // 2:]
    maha = mahalanobis_scores(z_ref[fit_on], z_ref[held_out], z_dat)
    c_ref, c_dat = normal_scores(i_ref, i_dat)
    # One BLAS thread: hundreds of small fits gain nothing from threads, and on a busy machine
    # OpenBLAS's spinning threads made them ten times slower.
    with threadpool_limits(1):
        clf = classifier_test(np.hstack([z_ref, c_ref]), np.hstack([z_dat, c_dat]), permutations=permutations,
                              seed=seed)
    notes = []
    train_path = (extractor.meta.get("data") or {}).get("train", {}).get("path")
    if train_path and Path(train_path) == Path(reference).resolve():
        notes.append(f"the reference is the file {extractor.name} was trained on; a network's features are tighter "
                     "on its own training events, so a held-out sample of the training settings is the fairer "
                     "reference")
    return ShiftReport(extractor.name, str(reference), str(data), len(f_ref), len(f_dat), extractor.n_features,
                       mmd, maha, clf, _ks_rows(names, i_ref, i_dat), seed, notes, ids)


