"""Counting metrics that stream: confusion matrix, accuracy with its binomial interval, McNemar.

Everything here works on counts (or on paired correctness vectors for McNemar), so evaluating a
file of any size keeps memory flat: a batch is folded into a ``Tally`` and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from nuclassify.errors import UsageError

__all__ = ["binomial_ci", "Tally", "McNemarResult", "mcnemar"]


def binomial_ci(k: int, n: int, level: float = 0.95, method: str = "wilson") -> tuple[float, float]:
    """Two-sided confidence interval for a proportion k/n.

    Wilson's score interval is the default (close to nominal coverage even near 0 or 1, where
    per-segment accuracies of 99% live); ``method="clopper-pearson"`` gives the exact,
    conservative interval. ``n == 0`` returns (nan, nan): there is nothing to estimate.

    Raises:
        UsageError: ``k`` outside ``0..n``, or an unknown ``method``.
    """
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= k <= n:
        raise UsageError(f"binomial_ci needs 0 <= k <= n; received k={k}, n={n}")
    alpha = 1.0 - level
    if method == "wilson":
        zq = float(stats.norm.ppf(1.0 - alpha / 2.0))
        p = k / n
        denom = 1.0 + zq * zq / n
        centre = (p + zq * zq / (2 * n)) / denom
        half = zq * np.sqrt(p * (1 - p) / n + zq * zq / (4 * n * n)) / denom
        return float(max(0.0, centre - half)), float(min(1.0, centre + half))
    if method == "clopper-pearson":
        lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
        hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
        return lo, hi
    raise UsageError(f"unknown interval method {method!r}; use 'wilson' or 'clopper-pearson'")


@dataclass
class Tally:
    """A running confusion matrix (rows: true class, columns: predicted class)."""

    n_classes: int
    confusion: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.confusion = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Fold one batch of (true, predicted) labels into the matrix."""
        y_true = np.asarray(y_true, dtype=np.int64)
        y_pred = np.asarray(y_pred, dtype=np.int64)
        k = self.n_classes
        flat = np.bincount(y_true * k + y_pred, minlength=k * k)
        self.confusion += flat.reshape(k, k)

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def n_correct(self) -> int:
        return int(np.trace(self.confusion))

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n if self.n else float("nan")

    def accuracy_ci(self, level: float = 0.95) -> tuple[float, float]:
        return binomial_ci(self.n_correct, self.n, level)

    def per_class(self, class_names: list[str] | None = None) -> list[dict]:
        """Precision, recall and support per class (nan where undefined, e.g. never predicted)."""
        cm = self.confusion
        tp = np.diag(cm).astype(np.float64)
        support = cm.sum(axis=1)
        predicted = cm.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), np.nan)
            recall = np.where(support > 0, tp / np.maximum(support, 1), np.nan)
        names = class_names or [str(i) for i in range(self.n_classes)]
        return [{"class": i, "name": names[i], "precision": _nan_none(precision[i]),
                 "recall": _nan_none(recall[i]), "support": int(support[i]), "predicted": int(predicted[i])}
                for i in range(self.n_classes)]

    def normalised(self) -> np.ndarray:
        """Row-normalised confusion matrix (each true class sums to 1; empty rows stay 0)."""
        rows = self.confusion.sum(axis=1, keepdims=True)
        return self.confusion / np.maximum(rows, 1)


def _nan_none(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired predictions.

    ``b``: events A got right and B got wrong; ``c``: the reverse. ``method`` is "exact"
    (two-sided binomial test on b of b+c at p=1/2) or "chi2" (continuity-corrected, 1 dof).
    """

    b: int
    c: int
    statistic: float
    p_value: float
    method: str


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray, exact_below: int = 25) -> McNemarResult:
    """Test whether two classifiers scored on the same events differ in accuracy.

    Only discordant events carry information. With fewer than ``exact_below`` of them the chi2
    approximation is poor, so the exact binomial test is used instead.

    Raises:
        UsageError: the two vectors differ in shape (they are not paired).
    """
    a = np.asarray(correct_a, dtype=bool)
    b_arr = np.asarray(correct_b, dtype=bool)
    if a.shape != b_arr.shape:
        raise UsageError(f"paired predictions differ in length: {a.shape} vs {b_arr.shape}")
    b = int(np.count_nonzero(a & ~b_arr))
    c = int(np.count_nonzero(~a & b_arr))
    return mcnemar_counts(b, c, exact_below)


def mcnemar_counts(b: int, c: int, exact_below: int = 25) -> McNemarResult:
    """McNemar's test from the two discordant counts."""
    n = b + c
    if n == 0:
        return McNemarResult(b, c, 0.0, 1.0, "exact")
    if n < exact_below:
        p = float(stats.binomtest(min(b, c), n, 0.5).pvalue)
        return McNemarResult(b, c, float(min(b, c)), min(1.0, p), "exact")
    statistic = (abs(b - c) - 1.0) ** 2 / n
    return McNemarResult(b, c, float(statistic), float(stats.chi2.sf(statistic, 1)), "chi2")
