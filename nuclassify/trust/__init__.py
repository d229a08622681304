"""Trust: how far new data lie from the training data, and how far to believe the probabilities.

- :func:`shift_scores` (``nuclassify shift``): two-sample tests of a data file against the
  training settings on the network's penultimate features (MMD, Mahalanobis/Ledoit–Wolf, a
  classifier test) and on input summaries (KS per feature).
- :func:`calibrate_run` (``nuclassify calibrate``): fits temperature scaling on labelled data
  and stores it in the run directory, where :func:`nuclassify.evaluation.load_predictor` finds it.
- :func:`explain_event` (``nuclassify explain``): occlusion, saliency or integrated-gradients
  maps of one event (gradients through :func:`input_gradients` on any backend), drawn by
  :func:`draw_explanation`; :func:`confusion_causes` tabulates the truth behind the errors.
- :func:`train_ensemble` (``nuclassify train --ensemble K``): K members from K seeds in one run
  directory, which ``load_predictor`` averages; :func:`calibrate_ensemble` fits the temperature
  of their average.

Imports evaluation, training, models and data; nothing but the CLI imports trust.
"""

from nuclassify.trust._classifier import ClassifierTestResult, classifier_test
from nuclassify.trust._confused import (
    BOUNDARY_MM,
    CAUSES,
    boundary_distance,
    cause_table,
    confusion_causes,
    format_causes,
    truth_causes,
    write_top_confused,
)
from nuclassify.trust._ensemble import MAX_MEMBERS, EnsembleResult, calibrate_ensemble, train_ensemble
from nuclassify.trust._explain import (
    METHODS,
    Explainer,
    Explanation,
    explain_event,
    integrated_gradients_maps,
    load_explainer,
    near_vertex_fraction,
    occlusion_maps,
    saliency_maps,
)
from nuclassify.trust._explain_plot import draw_explanation
from nuclassify.trust._features import FeatureExtractor, compute_features, load_feature_extractor, penultimate_model
from nuclassify.trust._gradients import SCORES, input_gradients, score_function
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
    "BOUNDARY_MM", "CAUSES", "boundary_distance", "cause_table", "confusion_causes", "format_causes", "truth_causes",
    "write_top_confused", "METHODS", "Explainer", "Explanation", "explain_event", "integrated_gradients_maps",
    "load_explainer", "near_vertex_fraction", "occlusion_maps", "saliency_maps", "draw_explanation",
    "SCORES", "input_gradients", "score_function",
    "MAX_MEMBERS", "EnsembleResult", "train_ensemble", "calibrate_ensemble",
]
