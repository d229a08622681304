"""Per-event Mahalanobis scores under a Ledoit–Wolf covariance of the reference features.

An event far from the reference cloud, measured in the reference's own covariance, is one the
network has not seen the like of (Lee, Lee, Lee and Shin, "A Simple Unified Framework for
Detecting Out-of-Distribution Samples", arXiv 1807.03888, score penultimate features this way).
Penultimate features are many and correlated, so the sample covariance is poorly conditioned;
the Ledoit–Wolf shrinkage estimate (J. Multivariate Anal. 88 (2004) 365; scikit-learn's
``LedoitWolf``) stays well conditioned.

The covariance is fitted on one half of the reference events and the other half is scored
beside the data: scores of the events a covariance was fitted on are biased low, so comparing
them with new data would flag any new sample. The sample-level p-value is the one-sided
Mann–Whitney test that the data's scores are larger than the held-out reference's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["MahalanobisResult", "mahalanobis_scores"]


@dataclass(frozen=True)
class MahalanobisResult:
    """Per-event squared Mahalanobis distances and their comparison.

    Attributes:
        reference: scores of the held-out reference events.
        data: scores of the data events.
        auc: probability that a data event scores above a reference event (0.5: no shift).
        p_value: one-sided Mann–Whitney p-value (data larger).
        beyond_q99: fraction of data events above the held-out reference's 99th percentile
            (about 0.01 without a shift).
        shrinkage: the Ledoit–Wolf shrinkage coefficient.
    """

    reference: np.ndarray
    data: np.ndarray
    auc: float
    p_value: float
    beyond_q99: float
    shrinkage: float

    def to_dict(self) -> dict:
        """JSON form (summaries; the per-event scores are in the library object and --per-event)."""
        return {"auc": self.auc, "p_value": self.p_value, "beyond_reference_q99": self.beyond_q99,
                "reference_median": float(np.median(self.reference)), "data_median": float(np.median(self.data)),
                "shrinkage": self.shrinkage, "covariance": "Ledoit-Wolf, fitted on half the reference events"}


def mahalanobis_scores(fit_on: np.ndarray, reference: np.ndarray, data: np.ndarray) -> MahalanobisResult:
    """Fit Ledoit–Wolf on ``fit_on``; score ``reference`` (held out) and ``data``; compare them."""
    from sklearn.covariance import LedoitWolf

    lw = LedoitWolf().fit(fit_on)
    ref = lw.mahalanobis(reference)
    dat = lw.mahalanobis(data)
    test = stats.mannwhitneyu(dat, ref, alternative="greater")
    auc = float(test.statistic) / (len(dat) * len(ref))
    q99 = float(np.quantile(ref, 0.99))
    return MahalanobisResult(ref, dat, auc, float(test.pvalue), float(np.mean(dat > q99)), float(lw.shrinkage_))
