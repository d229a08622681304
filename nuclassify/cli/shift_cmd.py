"""``nuclassify shift``: how far does a data file lie from the training data (thin over :func:`shift_scores`)."""

from __future__ import annotations

import click

from nuclassify.cli._output import get_output, start_backend_quietly


@click.command("shift")
@click.option("--model", "model_spec", required=True, metavar="RUN_DIR",
              help="A trained run directory (its penultimate layer is read).")
@click.option("--reference", "reference", required=True, type=click.Path(dir_okay=False),
              help="Events of the training settings (best: a held-out sample, not the training file itself).")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="The file to judge (labels not needed).")
@click.option("--max-events", default=2000, show_default=True, type=click.IntRange(min=20),
              help="Events drawn at random from each file (the tests cost grows as N squared).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seeds the event draw, the reference split and the permutations.")
@click.option("--permutations", default=200, show_default=True, type=click.IntRange(min=1),
              help="Relabellings for the MMD and classifier p-values (p >= 1/(N+1)).")
@click.option("--json", "json_mode", is_flag=True,
              help="Print one JSON object (score, p_value, flagged, and each test's figures).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Draw the per-event score histograms (reference vs data) into this PNG.")
@click.option("--per-event", "events_path", type=click.Path(dir_okay=False), default=None,
              help="Write each data event's Mahalanobis score and classifier P(data) to this CSV.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --plot or --per-event file.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.pass_context
def shift(ctx: click.Context, model_spec: str, reference: str, data_path: str, max_events: int, seed: int,
          permutations: int, json_mode: bool, plot_path: str | None, events_path: str | None, overwrite: bool,
          batch_size: int) -> None:
    """Score how far DATA lies from the training data, as the network sees it and in the raw input.

    \b
    nuclassify shift --model runs/eps --reference heldout.h5 --data real.h5 --plot shift.png
    nuclassify shift --model runs/eps --reference heldout.h5 --data real.h5 --json

    Four tests, each with a p-value: MMD (RBF kernel, median bandwidth, permutation test) and a
    per-event Mahalanobis score (Ledoit-Wolf) on the penultimate-layer features; a classifier
    two-sample test (cross-validated AUC of a logistic regression on the features and input
    summaries, permutation p-value); KS tests of hit multiplicity, energy and time per view.
    'score' is the classifier test's 2*AUC-1 (0: alike, 1: fully separable); the data are
    flagged when the Bonferroni-combined p-value is below 0.05. Unlabelled files work.
    """
    import os

    from nuclassify._fileio import check_output_dir, check_output_path, refuse_input_as_output
    from nuclassify.errors import UsageError
    from nuclassify.trust import shift_scores
    from nuclassify.trust._shift_plot import draw_shift, write_shift_events

    out = get_output(ctx, json_mode)
    if plot_path is not None and events_path is not None and \
            os.path.abspath(plot_path) == os.path.abspath(events_path):
        raise UsageError(f"{plot_path}: --plot and --per-event name the same file; give each its own")
    for path, suffix, what in ((plot_path, ".png", "--plot draws a PNG; name it *.png"),
                               (events_path, ".csv", "--per-event writes CSV; name it *.csv")):
        if path is not None:  # a bad output fails before the model is read
            check_output_path(path, overwrite=overwrite)
            refuse_input_as_output(path, reference, data_path, model_spec)
            if os.path.splitext(path)[1].lower() != suffix:
                raise UsageError(f"{path}: {what}")
            check_output_dir(os.path.dirname(os.path.abspath(path)))  # writable (not read-only, not full of inodes)
    start_backend_quietly(out.verbose)
    from nuclassify.data import open_dataset

    sizes = []
    for path in (reference, data_path):  # the bar's total: what the draw will take from each file
        with open_dataset(path) as ds:
            sizes.append(min(ds.n_events, max_events))
    with out.progress_bar(sum(sizes), "shift") as bar:  # both files are checked before the first batch
        report = shift_scores(model_spec, reference, data_path, max_events=max_events, seed=seed,
                              permutations=permutations, batch_size=batch_size, on_batch=bar.update)
    # The files first: if one cannot be written, the command fails before any result reaches stdout.
    if plot_path is not None:
        out.info(f"wrote {draw_shift(report, plot_path, overwrite=overwrite)}")
    if events_path is not None:
        n = write_shift_events(report, events_path, overwrite=overwrite)
        out.info(f"wrote {n} rows to {events_path}")
    if json_mode:
        out.json(report.to_dict())
    else:
        out.result(report.format())
