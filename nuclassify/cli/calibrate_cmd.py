"""``nuclassify calibrate``: fit temperature scaling on labelled data into the run (thin over :func:`calibrate_run`)."""

from __future__ import annotations

import click

from nuclassify.cli._output import get_output, start_backend_quietly


@click.command("calibrate")
@click.option("--model", "model_spec", required=True, metavar="RUN_DIR",
              help="A finished run directory (the temperature is stored in it).")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="Labelled events the network was not trained on (a validation file).")
@click.option("--json", "json_mode", is_flag=True, help="Print the stored record as one JSON object.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.pass_context
def calibrate(ctx: click.Context, model_spec: str, data_path: str, json_mode: bool, batch_size: int) -> None:
    """Fit a temperature T so that the run's probabilities match how often it is right.

    \b
    nuclassify calibrate --model runs/eps --data valid.h5
    nuclassify evaluate --model runs/eps --data test.h5     # applies T, and says so

    T minimises the negative log-likelihood of softmax(log p / T) on the labelled events (Guo
    et al. 2017, temperature scaling); no prediction changes, only how sure it claims to be. It
    is stored atomically in RUN_DIR/calibration.json with ECE/NLL/Brier before and after, the
    data file's digest and the model file's sha256; predict and evaluate apply it to that model
    file from then on. Running calibrate again refits it from the network's own probabilities.
    """
    from nuclassify.data import open_dataset
    from nuclassify.trust import calibrate_run

    out = get_output(ctx, json_mode)
    with open_dataset(data_path) as ds:  # a missing or damaged file fails before the backend starts
        n_events = ds.n_events
    start_backend_quietly(out.verbose)
    with out.progress_bar(n_events, "calibrate") as bar:
        result = calibrate_run(model_spec, data_path, batch_size=batch_size, on_batch=bar.update)
    for warning in result.warnings:
        click.echo(f"nuclassify: warning: {warning}", err=True)
    if json_mode:
        out.json({**result.record, "path": str(result.path)})
    else:
        out.result(result.summary())
