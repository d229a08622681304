"""Evaluation: streaming metrics (accuracy, calibration), the per-segment table, NOvA efficiency/purity, McNemar model
comparison, plots, per-event prediction output, and the track-based baseline ``trackfit``.

Knows nothing of Keras at import: classifiers come in as functions from a batch of views to class
probabilities. :func:`load_predictor` builds one from a run directory (importing Keras then), from
an exported ``.onnx`` file (through onnxruntime, with no Keras or TensorFlow) or from ``trackfit``;
:func:`evaluate_runs` is ``nuclassify evaluate`` as a library call.
"""

from nuclassify.evaluation._compat import check_model_data, describe_views
from nuclassify.evaluation._ensemble import (
    ENSEMBLE_KEY,
    MEMBERS_DIR,
    ensemble_digest,
    is_ensemble_dir,
    member_dirs,
    member_name,
    read_ensemble,
    stored_ensemble_temperature,
    summary_meta,
)
from nuclassify.evaluation._evaluate import EvaluationPlan, EvaluationRun, evaluate_runs, plan_evaluation, unique_name
from nuclassify.evaluation._mcdropout import dropout_layers, mc_dropout_model
from nuclassify.evaluation._metrics import (
    ECE_BINS,
    CalibrationTally,
    McNemarResult,
    Tally,
    binomial_ci,
    mcnemar,
    mcnemar_counts,
)
from nuclassify.evaluation._nova import FLAVOURS, FlavourTally, flavour_groups
from nuclassify.evaluation._onnx import MARKER as ONNX_MARKER
from nuclassify.evaluation._onnx import OnnxModel, is_onnx_path, open_onnx
from nuclassify.evaluation._plots import write_calibration_plots, write_plots
from nuclassify.evaluation._predict import (
    confidence_entropy,
    iter_predictions,
    prediction_format,
    probability_columns,
    write_predictions,
    write_predictions_csv,
    write_predictions_h5,
)
from nuclassify.evaluation._predictor import (
    CALIBRATION_FILE,
    CLASSICAL,
    TRACKFIT,
    Predictor,
    apply_temperature,
    keras_predict_fn,
    load_predictor,
    model_file_sha256,
    model_name,
    onnx_predict_fn,
    stored_temperature,
    uses_keras,
)
from nuclassify.evaluation._report import format_calibration, format_compare, format_evaluation
from nuclassify.evaluation._runner import (
    ModelEvaluation,
    PredictFn,
    compare_table,
    evaluate_models,
    pairwise_mcnemar,
    prefetch,
)
from nuclassify.evaluation._segments import SegmentCounts, ZProfile, format_segment_table, segment_rows
from nuclassify.evaluation._uncertainty import (
    MI_COLUMN,
    averaged_predict_fn,
    mutual_information,
    run_sampler,
    uncertainty_predictor,
)
from nuclassify.evaluation.trackfit import TrackFit, TrackFitResult, segment_probabilities
from nuclassify.evaluation.upstream_rule import upstream_rule_segments, upstream_rule_z

__all__ = [
    "binomial_ci", "Tally", "McNemarResult", "mcnemar", "mcnemar_counts", "CalibrationTally", "ECE_BINS",
    "SegmentCounts", "ZProfile", "segment_rows", "format_segment_table",
    "FLAVOURS", "FlavourTally", "flavour_groups",
    "PredictFn", "ModelEvaluation", "evaluate_models", "compare_table", "pairwise_mcnemar", "prefetch",
    "format_evaluation", "format_compare", "format_calibration", "write_plots", "write_calibration_plots",
    "check_model_data", "describe_views",
    "TRACKFIT", "CLASSICAL", "Predictor", "keras_predict_fn", "load_predictor", "model_name", "onnx_predict_fn",
    "uses_keras", "CALIBRATION_FILE", "apply_temperature", "model_file_sha256", "stored_temperature",
    "ONNX_MARKER", "OnnxModel", "is_onnx_path", "open_onnx",
    "EvaluationPlan", "EvaluationRun", "plan_evaluation", "evaluate_runs", "unique_name",
    "iter_predictions", "probability_columns", "write_predictions_csv", "write_predictions_h5",
    "prediction_format", "write_predictions", "confidence_entropy",
    "TrackFit", "TrackFitResult", "segment_probabilities",
    "upstream_rule_z", "upstream_rule_segments",
    "ENSEMBLE_KEY", "MEMBERS_DIR", "is_ensemble_dir", "read_ensemble", "member_dirs", "member_name",
    "ensemble_digest", "stored_ensemble_temperature", "summary_meta",
    "dropout_layers", "mc_dropout_model",
    "MI_COLUMN", "mutual_information", "averaged_predict_fn", "run_sampler", "uncertainty_predictor",
]
