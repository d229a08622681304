"""``nuclassify predict``: per-event predictions as CSV (stdout by default) or HDF5.

The work is :func:`nuclassify.evaluation.load_predictor` and
:func:`nuclassify.evaluation.write_predictions`; this module adds only what a command needs on
top: checking the output name before anything is read, muting the backend's start-up chatter,
progress on stderr, and the closing message.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import click

from nuclassify._runlock import in_progress_note
from nuclassify.cli._output import get_output, start_backend_quietly


@click.command("predict")
@click.option("--model", "model_spec", required=True, metavar="RUN_DIR|model.keras|model.onnx|trackfit",
              help="A run directory, a .keras model inside one, an exported .onnx file (onnxruntime, no "
                   "TensorFlow), or 'trackfit' (the track-based baseline; 'hough', 'trackreco' and 'upstream', "
                   "the upstream-hit rule, are the others).")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="HDF5 file (labels optional).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write here instead of stdout: .csv or .h5/.hdf5 (atomic).")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--mc-samples", type=click.IntRange(min=2), default=None, metavar="N",
              help="MC dropout: average N predictions with the network's dropout on; adds mutual_information.")
@click.pass_context
def predict(ctx: click.Context, model_spec: str, data_path: str, output: str | None, batch_size: int,
            overwrite: bool, mc_samples: int | None = None) -> None:
    """Write one row per event: event id, predicted label, each class's probability, predicted z.

    CSV goes to stdout by default (a header line, then rows; progress goes to stderr), so
    pipelines work: ``nuclassify predict --model runs/eps --data f.h5 | sort -t, -k3 -g``.
    Columns: event_id, predicted, p_0..p_K-1 (class order as in training), confidence (the top
    probability), entropy (-sum p ln p, nats), z_mm where the model has a z head (trackfit
    always does); trackfit, hough and trackreco add z_sigma (mm) and n_tracks before z_mm, trackreco
    also fit_quality. Unlabelled real-data files work. A run calibrated with 'nuclassify calibrate'
    has its temperature applied (said on stderr). An ensemble (train --ensemble K) averages its
    members; it and --mc-samples N add mutual_information (BALD: entropy of the mean minus the
    mean entropy of the samples, nats): how far the members or dropout samples disagree.

    Example: nuclassify predict --model trackfit --data test.h5 -o trackfit.csv
    """
    from nuclassify._diskfaults import is_write_failure, reason
    from nuclassify._fileio import check_output_path, refuse_input_as_output
    from nuclassify.data import open_dataset
    from nuclassify.errors import OutputError
    from nuclassify.evaluation import load_predictor, prediction_format, uses_keras, write_predictions

    out = get_output(ctx)
    prediction_format(output)  # a bad -o fails before the data or the model is read
    refuse_input_as_output(output, data_path, model_spec)
    if output is not None:
        check_output_path(output, overwrite=overwrite)  # a missing folder or a kept file: before the model loads
    note = in_progress_note(model_spec) if os.path.isdir(model_spec) else None
    if note:  # readers are served while a run is written; say so (see nuclassify._runlock)
        click.echo(f"nuclassify: note: {note}", err=True)
    with open_dataset(data_path) as ds:
        if uses_keras(model_spec):  # trackfit and .onnx files run without Keras
            start_backend_quietly(out.verbose)
        pred = load_predictor(model_spec, ds, mc_samples=mc_samples)
        if pred.warning:
            click.echo(f"nuclassify: warning: {pred.warning}", err=True)
        if pred.note:
            click.echo(f"nuclassify: note: {pred.note}", err=True)
        out.info(f"predicting {ds.n_events} events of {data_path} with {pred.name}")
        with out.progress_bar(ds.n_events, "predict") as bar:
            counted = _Counted(bar.update)
            try:
                n = write_predictions(ds, pred, output, batch_size=batch_size, overwrite=overwrite,
                                      on_batch=counted)
            except OSError as exc:  # an -o file says so itself (OutputError); this is stdout
                if output is not None or not is_write_failure(exc):
                    raise
                raise OutputError(f"stdout: {reason(exc)} with {counted.events:,} of {ds.n_events:,} events written "
                                  "whole (the next batch's rows in part); the output is incomplete") from exc
    out.info(f"wrote {n} rows" + (f" to {output}" if output else ""))


class _Counted:
    """Progress callback that also counts the events done, for the message of a failed write."""

    def __init__(self, update: Callable[[int], None]) -> None:
        self.update = update
        self.events = 0

    def __call__(self, n: int) -> None:
        self.events += n
        self.update(n)
