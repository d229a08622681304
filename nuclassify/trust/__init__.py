"""Trust: how far new data lie from the training data, and how far to believe the probabilities.

- :func:`shift_scores` (``nuclassify shift``): two-sample tests of a data file against the
  training settings on the network's penultimate features (MMD, Mahalanobis/Ledoit–Wolf, a
  classifier test) and on input summaries (KS per feature).
- :func:`calibrate_run` (``nuclassify calibrate``): fits temperature scaling on labelled data
  and stores it in the run directory, where :func:`nuclassify.evaluation.load_predictor` finds it.

Imports evaluation, training, models and data; nothing but the CLI imports trust.
"""

from nuclassify.trust._classifier import ClassifierTestResult, classifier_test
from nuclassify.trust._features import FeatureExtractor, compute_features, load_feature_extractor, penultimate_model
from nuclassify.trust._inputs import input_feature_names, input_features
from nuclassify.trust._mahalanobis import MahalanobisResult, mahalanobis_scores
from nuclassify.trust._mmd import MMDResult, mmd_test, rbf_kernel_median
from nuclassify.trust._shift import ALPHA, ShiftReport, shift_scores
from nuclassify.trust._temperature import (
    T_BOUNDS,
    CalibrationResult,
    calibrate_run,
    fit_temperature,
    nll_at_temperature,
)

__all__ = [
    "ClassifierTestResult", "classifier_test",
    "FeatureExtractor", "compute_features", "load_feature_extractor", "penultimate_model",
    "input_feature_names", "input_features",
    "MahalanobisResult", "mahalanobis_scores",
    "MMDResult", "mmd_test", "rbf_kernel_median",
    "ALPHA", "ShiftReport", "shift_scores",
    "T_BOUNDS", "CalibrationResult", "calibrate_run", "fit_temperature", "nll_at_temperature",
]
