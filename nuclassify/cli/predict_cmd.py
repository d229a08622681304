"""``nuclassify predict``: per-event predictions as CSV (stdout by default) or HDF5.

The work is :func:`nuclassify.evaluation.load_predictor` and
:func:`nuclassify.evaluation.write_predictions`; this module adds only what a command needs on
top: checking the output name before anything is read, muting the backend's start-up chatter,
progress on stderr, and the closing message.
"""

from __future__ import annotations

import click

from nuclassify.cli._output import get_output, start_backend_quietly


@click.command("predict")
@click.option("--model", "model_spec", required=True, metavar="RUN_DIR|model.keras|trackfit",
              help="A run directory, a .keras model inside one, or 'trackfit' (the track-based baseline).")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="HDF5 file (labels optional).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write here instead of stdout: .csv or .h5/.hdf5 (atomic).")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.pass_context
def predict(ctx: click.Context, model_spec: str, data_path: str, output: str | None, batch_size: int,
            overwrite: bool) -> None:
    """Write one row per event: event id, predicted label, each class's probability, predicted z.

    CSV goes to stdout by default (a header line, then rows; progress goes to stderr), so
    pipelines work: ``nuclassify predict --model runs/eps --data f.h5 | sort -t, -k3 -g``.
    Columns: event_id, predicted, p_0..p_K-1 (class order as in training), z_mm where the
    model has a z head (trackfit always does). Unlabelled real-data files work.

    Example: nuclassify predict --model trackfit --data test.h5 -o trackfit.csv
    """
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import TRACKFIT, load_predictor, prediction_format, write_predictions

    out = get_output(ctx)
    prediction_format(output)  # a bad -o fails before the data or the model is read
    with open_dataset(data_path) as ds:
        if model_spec.lower() != TRACKFIT:
            start_backend_quietly(out.verbose)
        pred = load_predictor(model_spec, ds)
        out.info(f"predicting {ds.n_events} events of {data_path} with {pred.name}")
        with out.progress_bar(ds.n_events, "predict") as bar:
            n = write_predictions(ds, pred, output, batch_size=batch_size, overwrite=overwrite, on_batch=bar.update)
    out.info(f"wrote {n} rows" + (f" to {output}" if output else ""))
