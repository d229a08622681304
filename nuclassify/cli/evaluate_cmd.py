"""``nuclassify evaluate``: score a model (or trackfit) on labelled data, or compare several."""

from __future__ import annotations

import click

from nuclassify.cli._output import get_output
from nuclassify.errors import UsageError


@click.command("evaluate")
@click.option("--model", "model_spec", default=None, metavar="RUN_DIR|model.keras|trackfit",
              help="The model to score: a run directory, a .keras file in one, or 'trackfit'.")
@click.option("--compare", "compare_specs", multiple=True, metavar="RUN",
              help="Compare several models on the same events (repeat, or list them after --compare).")
@click.argument("more", nargs=-1, metavar="[RUN ...]")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False), help="Labelled HDF5 test file.")
@click.option("--per-segment", is_flag=True, help="Per-segment table with the trackfit baseline side by side.")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), default=None,
              help="Draw confusion, per-segment, accuracy-vs-z (and NOvA efficiency/purity) PNGs here.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--score-cut", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="NOvA: flavour-score cut for the 'at cut' efficiency and purity.")
@click.pass_context
def evaluate(ctx: click.Context, model_spec: str | None, compare_specs: tuple[str, ...], more: tuple[str, ...],
             data_path: str, per_segment: bool, json_mode: bool, plots_dir: str | None, batch_size: int,
             score_cut: float) -> None:
    """Accuracy with a 95% CI, per-class precision/recall, confusion matrix; optionally per segment.

    \b
    nuclassify evaluate --model runs/eps --data test.h5 --per-segment --plots plots/
    nuclassify evaluate --model trackfit --data test.h5 --json
    nuclassify evaluate --compare runs/a runs/b trackfit --data test.h5

    With --per-segment the rows follow the detector's z order (0,1,6,2,7,3,8,4,9,5,10) and the
    track-based baseline runs on the same events beside the model; '*' marks the better one.
    --compare tests each model against the best with McNemar's test on the paired predictions.
    """
    from nuclassify.cli.predict_cmd import TRACKFIT, load_predictor
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import (
        compare_table,
        evaluate_models,
        format_compare,
        format_evaluation,
        pairwise_mcnemar,
        write_plots,
    )

    out = get_output(ctx, json_mode)
    specs = list(compare_specs) + list(more)
    if model_spec is None and not specs:
        raise UsageError("give --model RUN_DIR|trackfit, or --compare RUN_A RUN_B ...")
    if model_spec is not None and specs:
        if compare_specs:
            raise UsageError("use either --model or --compare, not both")
        raise UsageError(f"unexpected arguments {' '.join(more)} (several models need --compare)")
    comparing = bool(specs)
    if comparing and len(specs) < 2:
        raise UsageError("--compare needs at least two models")
    with open_dataset(data_path) as ds:
        predictors = {}
        for spec in specs or [model_spec]:
            pred = load_predictor(spec, ds)
            name = pred.name
            while name in predictors:
                name += "'"
            predictors[name] = pred
        targets = {p.target for p in predictors.values()}
        if len(targets) > 1:
            raise UsageError(f"the models predict different targets ({', '.join(sorted(targets))}); "
                             "compare like with like")
        target = targets.pop()
        main_name = next(iter(predictors))
        baseline_name = None
        want_segments = per_segment or (plots_dir is not None and target == "segment")
        if per_segment and target != "segment":
            raise UsageError(f"--per-segment needs a segment model; this one predicts {target}")
        is_trackfit = predictors[main_name].name == TRACKFIT
        if want_segments and not comparing and not is_trackfit and ds.layout.startswith("minerva"):
            baseline_name = TRACKFIT
            predictors[baseline_name] = load_predictor(TRACKFIT, ds)
        out.info(f"evaluating {', '.join(predictors)} on {data_path} ({ds.n_events} events, target {target})")
        with out.progress_bar(ds.n_events, "evaluate") as bar:
            evals = evaluate_models(ds, {k: p.fn for k, p in predictors.items()}, target=target,
                                    batch_size=batch_size, per_segment=want_segments, score_cut=score_cut,
                                    on_batch=bar.update)
    main = evals[main_name]
    baseline = evals.get(baseline_name) if baseline_name else None
    written = []
    if plots_dir is not None:
        for name, ev in evals.items():
            if comparing or name == main_name:
                sub = plots_dir if not comparing else f"{plots_dir}/{name.replace('/', '_')}"
                written += write_plots(ev, sub, baseline)
    if comparing:
        rows = compare_table(list(evals.values()))
        if json_mode:
            out.json({"n_events": main.tally.n, "models": rows,
                      "pairwise_p_value": pairwise_mcnemar(list(evals.values())),
                      "per_model": {k: _maybe_segments(ev.to_dict(), per_segment) for k, ev in evals.items()}})
        else:
            out.result(format_compare(rows))
    else:
        if json_mode:
            out.json(_maybe_segments(main.to_dict(baseline), per_segment))
        else:
            text = format_evaluation(main, baseline)
            if not per_segment:
                text = text.split("\nper segment (detector z order)")[0].rstrip()
            out.result(text)
    for path in written:
        out.info(f"wrote {path}")


def _maybe_segments(payload: dict, per_segment: bool) -> dict:
    """Keep the per-segment block only when it was asked for (plots may have computed it anyway)."""
    if not per_segment:
        payload.pop("per_segment", None)
        payload.pop("baseline", None)
    return payload
