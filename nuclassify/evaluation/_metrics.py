"""Counting metrics that stream: confusion matrix, accuracy with its binomial interval, McNemar,
and the calibration of the probabilities (ECE, NLL, Brier score, reliability bins).

Everything here works on counts and sums (or on paired correctness vectors for McNemar), so
evaluating a file of any size keeps memory flat: a batch is folded into a ``Tally`` (and a
``CalibrationTally``) and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from nuclassify.errors import UsageError

__all__ = ["binomial_ci", "Tally", "McNemarResult", "mcnemar", "CalibrationTally", "ECE_BINS"]

#: Equal-width confidence bins of the expected calibration error (Guo, Pleiss, Sun and
#: Weinberger, "On Calibration of Modern Neural Networks", arXiv 1706.04599, use 15).
ECE_BINS = 15
#: Smallest probability taken in a log: a hard 0 for the true class costs -log(1e-12) = 27.6 nats,
#: not infinity, so that one event cannot make the mean NLL meaningless (scikit-learn's log_loss
#: clips the same way).
_P_FLOOR = 1e-12


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


@dataclass
class CalibrationTally:
    """Running sums for how far to trust the predicted probabilities.

    - ECE, top-label: events binned by their top probability (confidence) into ``bins``
      equal-width bins; ECE = sum over bins of (n_b / N) |accuracy_b - mean confidence_b|
      (Guo et al., arXiv 1706.04599, eq. 3; Naeini, Cooper and Hauskrecht, AAAI 2015).
    - NLL: mean of -ln p(true class), p floored at 1e-12.
    - Brier score: mean over events of sum over classes of (p_k - [k = true])^2 (Brier, Mon.
      Weather Rev. 78 (1950) 1), between 0 and 2.
    - ``fine``: 100 finer bins of confidence for the accuracy-against-confidence curve.
    """

    bins: int = ECE_BINS
    fine: int = 100
    n: int = field(init=False, default=0)
    nll_sum: float = field(init=False, default=0.0)
    brier_sum: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.count = np.zeros(self.bins, np.int64)
        self.confidence_sum = np.zeros(self.bins, np.float64)
        self.correct = np.zeros(self.bins, np.int64)
        self.fine_count = np.zeros(self.fine, np.int64)
        self.fine_correct = np.zeros(self.fine, np.int64)

    @staticmethod
    def _bin(confidence: np.ndarray, bins: int) -> np.ndarray:
        # (lo, hi] bins as in Guo et al.; a confidence of exactly 0 joins the first bin
        return np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)

    def update(self, labels: np.ndarray, probabilities: np.ndarray) -> None:
        """Fold one batch of true labels (N,) and probabilities (N, K) into the sums."""
        y = np.asarray(labels, dtype=np.int64)
        p = np.asarray(probabilities, dtype=np.float64)
        if len(y) == 0:
            return
        pred = np.argmax(p, axis=1)
        conf = p[np.arange(len(y)), pred]
        ok = pred == y
        b = self._bin(conf, self.bins)
        self.count += np.bincount(b, minlength=self.bins)
        self.confidence_sum += np.bincount(b, weights=conf, minlength=self.bins)
        self.correct += np.bincount(b, weights=ok, minlength=self.bins).astype(np.int64)
        f = self._bin(conf, self.fine)
        self.fine_count += np.bincount(f, minlength=self.fine)
        self.fine_correct += np.bincount(f, weights=ok, minlength=self.fine).astype(np.int64)
        p_true = p[np.arange(len(y)), y]
        self.nll_sum += float(-np.log(np.maximum(p_true, _P_FLOOR)).sum())
        onehot_sq = (p * p).sum(axis=1) - 2.0 * p_true + 1.0
        self.brier_sum += float(onehot_sq.sum())
        self.n += len(y)

    @property
    def ece(self) -> float:
        """Expected calibration error (top label, equal-width bins); nan without events."""
        if not self.n:
            return float("nan")
        return float(np.abs(self.correct - self.confidence_sum).sum() / self.n)

    @property
    def nll(self) -> float:
        """Mean negative log-likelihood of the true class (nats)."""
        return self.nll_sum / self.n if self.n else float("nan")

    @property
    def brier(self) -> float:
        """Mean multi-class Brier score."""
        return self.brier_sum / self.n if self.n else float("nan")

    def reliability(self) -> list[dict]:
        """Per bin: edges, events, mean confidence and accuracy (None where empty)."""
        rows = []
        for i in range(self.bins):
            n = int(self.count[i])
            rows.append({"low": i / self.bins, "high": (i + 1) / self.bins, "n": n,
                         "confidence": float(self.confidence_sum[i] / n) if n else None,
                         "accuracy": float(self.correct[i] / n) if n else None})
        return rows

    def accuracy_above(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(thresholds, accuracy of events with confidence >= threshold, fraction of events kept).

        The curve of Lakshminarayanan, Pritzel and Blundell (arXiv 1612.01474, fig. 3): a
        trustworthy confidence makes accuracy rise as the less confident events are set aside.
        """
        kept = np.cumsum(self.fine_count[::-1])[::-1]
        right = np.cumsum(self.fine_correct[::-1])[::-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(kept > 0, right / np.maximum(kept, 1), np.nan)
        return np.arange(self.fine) / self.fine, acc, kept / max(self.n, 1)

    def to_dict(self) -> dict:
        """JSON form: ece, nll, brier, the bin count and the reliability bins."""
        return {"ece": _nan_none(self.ece), "nll": _nan_none(self.nll), "brier": _nan_none(self.brier),
                "ece_bins": self.bins, "n_events": self.n, "reliability": self.reliability()}
