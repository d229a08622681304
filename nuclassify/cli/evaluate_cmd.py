"""``nuclassify evaluate``: score a model (or trackfit) on labelled data, or compare several.

The work is :func:`nuclassify.evaluation.plan_evaluation` and its ``run``; this module checks the
option combinations, mutes the backend's start-up chatter, shows progress and prints the result.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from nuclassify._runlock import in_progress_note
from nuclassify.cli._output import get_output, start_backend_quietly
from nuclassify.errors import UsageError


@click.command("evaluate")
@click.option("--model", "model_spec", default=None, metavar="RUN_DIR|model.keras|model.onnx|trackfit",
              help="The model to score: a run directory, a .keras file in one, an exported .onnx file "
                   "(onnxruntime, no TensorFlow), or 'trackfit' ('hough', 'trackreco', 'upstream': other "
                   "classical methods).")
@click.option("--compare", "compare_specs", multiple=True, metavar="RUN",
              help="Compare several models on the same events (repeat, or list them after --compare).")
@click.argument("more", nargs=-1, metavar="[RUN ...]")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False), help="Labelled HDF5 test file.")
@click.option("--per-segment", is_flag=True,
              help="Per-segment table with the trackfit baseline side by side (with --compare: every model, "
                   "and McNemar's p per segment against the best).")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), default=None,
              help="Draw confusion, per-segment, accuracy-vs-z, reliability and accuracy-vs-confidence "
                   "(and NOvA efficiency/purity) PNGs here.")
@click.option("--overwrite", is_flag=True, help="Replace PNGs already in the --plots folder.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--score-cut", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="NOvA: flavour-score cut for the 'at cut' efficiency and purity.")
@click.option("--mc-samples", type=click.IntRange(min=2), default=None, metavar="N",
              help="Score each network by MC dropout: the mean of N passes with its dropout on.")
@click.option("--sample", type=click.Choice(["all", "muon-track"]), default="all", show_default=True,
              help="Count only these events. muon-track: MINERvA events with a muon track, the only ones "
                   "the experiment's lattices hold and those its published comparisons counted "
                   "(simulated files: vtx_data/time_ref_source = 0).")
@click.pass_context
def evaluate(ctx: click.Context, model_spec: str | None, compare_specs: tuple[str, ...], more: tuple[str, ...],
             data_path: str, per_segment: bool, json_mode: bool, plots_dir: str | None, overwrite: bool,
             batch_size: int, score_cut: float, mc_samples: int | None = None, sample: str = "all") -> None:
    """Accuracy with a 95% CI, calibration (ECE, NLL, Brier), per-class figures, confusion; optionally per segment.

    \b
    nuclassify evaluate --model runs/eps --data test.h5 --per-segment --plots plots/
    nuclassify evaluate --model trackfit --data test.h5 --json
    nuclassify evaluate --compare runs/a runs/b trackfit --data test.h5
    nuclassify evaluate --compare runs/a trackfit --data test.h5 --sample muon-track

    With --per-segment the rows follow the detector's z order (0,1,6,2,7,3,8,4,9,5,10) and the
    track-based baseline runs on the same events beside the model; '*' marks the better one.
    --compare tests each model against the best with McNemar's test on the paired predictions.
    """
    from nuclassify._fileio import check_output_dir
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import plan_evaluation, uses_keras

    out = get_output(ctx, json_mode)
    specs = list(compare_specs) + list(more)
    if model_spec is None and not specs:
        raise UsageError("give --model RUN_DIR|trackfit, or --compare RUN_A RUN_B ...")
    if model_spec is not None and specs:
        if compare_specs:
            raise UsageError("use either --model or --compare, not both")
        raise UsageError(f"unexpected arguments {' '.join(more)} (several models need --compare)")
    if specs and len(specs) < 2:
        if not compare_specs:  # one bare RUN argument
            raise UsageError(f"{specs[0]}: give one model with --model, or several with --compare")
        raise UsageError("--compare needs at least two models")
    if not specs and model_spec is not None:
        specs = [model_spec]
    if plots_dir is not None:
        _check_plots_dir(Path(plots_dir), overwrite)
        check_output_dir(plots_dir)  # a read-only or foreign --plots folder fails now, not after the evaluation
    for spec in specs:  # readers are served while a run is written; say so (see nuclassify._runlock)
        note = in_progress_note(spec) if os.path.isdir(spec) else None
        if note:
            click.echo(f"nuclassify: note: {note}", err=True)
    with open_dataset(data_path) as ds:
        given = ctx.get_parameter_source("score_cut") == click.core.ParameterSource.COMMANDLINE
        if given and ds.layout != "nova-cvn":  # a cut that would silently do nothing
            raise UsageError(f"{data_path}: --score-cut applies to NOvA flavour files; this file is {ds.layout}")
        if any(uses_keras(spec) for spec in specs):  # trackfit and .onnx files run without Keras
            start_backend_quietly(out.verbose)
        plan = plan_evaluation(ds, specs, per_segment=per_segment, plots=plots_dir is not None,
                               mc_samples=mc_samples, sample=sample)
        for warning in plan.warnings:
            click.echo(f"nuclassify: warning: {warning}", err=True)
        for note in plan.notes:  # a stored temperature is applied: said once per model
            click.echo(f"nuclassify: note: {note}", err=True)
        counted = (f"{ds.n_events} events" if plan.indices is None
                   else f"{plan.n_events} of {ds.n_events} events, sample {sample}")
        out.info(f"evaluating {', '.join(plan.predictors)} on {data_path} ({counted}, target {plan.target})")
        with out.progress_bar(plan.n_events, "evaluate") as bar:
            result = plan.run(batch_size=batch_size, score_cut=score_cut, on_batch=bar.update)
    # The results first: a disk that fills while the plots are drawn must not cost them.
    if json_mode:
        out.json(result.to_dict())
    else:
        out.result(result.format())
    written = result.write_plots(plots_dir) if plots_dir is not None else []
    for path in written:
        out.info(f"wrote {path}")


def _check_plots_dir(folder: Path, overwrite: bool) -> None:
    """Refuse a --plots folder already holding PNGs (unless ``overwrite``).

    The plots' names are fixed (confusion.png, per_segment.png...; one sub-folder per model with
    --compare), so drawing into a used folder would replace a person's files without a word.
    """
    if folder.is_dir() and not overwrite:
        existing = sorted(folder.glob("*.png")) + sorted(folder.glob("*/*.png"))
        if existing:
            raise UsageError(f"{folder}: already holds {existing[0].relative_to(folder)}"
                             f"{f' and {len(existing) - 1} more PNG(s)' if len(existing) > 1 else ''}; "
                             "pass --overwrite to replace them, or name another --plots folder")
