"""``nuclassify explain``: where an event's evidence lies, and why the worst errors happen (thin over trust)."""

from __future__ import annotations

from pathlib import Path

import click

from nuclassify.cli._output import get_output, start_backend_quietly
from nuclassify.errors import UsageError
from nuclassify.trust._explain import METHODS


@click.command("explain")
@click.option("--model", "model_spec", required=True, metavar="RUN_DIR|MODEL.onnx",
              help="A trained run directory, or an exported .onnx file (occlusion only).")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False), help="The data file.")
@click.option("-e", "--event", type=int, default=None, help="Event index (0-based) to explain.")
@click.option("--method", type=click.Choice(METHODS), default="occlusion", show_default=True,
              help="occlusion works for any network; the gradient methods need a run directory.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="PNG to write; with --top-confused, the folder for the PNGs and summary.json.")
@click.option("--top-confused", "top", type=click.IntRange(min=1), default=None, metavar="N",
              help="Draw the N most confidently wrong events of the (labelled) file and tabulate their causes.")
@click.option("--max-events", type=click.IntRange(min=1), default=None,
              help="With --top-confused: predict this many events drawn at random (default: all).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seeds the --max-events draw.")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object (the explanation, or the cause table).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.pass_context
def explain(ctx: click.Context, model_spec: str, data_path: str, event: int | None, method: str, output: Path,
            top: int | None, max_events: int | None, seed: int, json_mode: bool, overwrite: bool,
            batch_size: int) -> None:
    """Draw where the evidence for a prediction lies on the event display, with the class probabilities.

    \b
    nuclassify explain --model runs/eps --data test.h5 --event 86 -o explain.png
    nuclassify explain --model runs/eps --data test.h5 --event 86 --method integrated-gradients -o ig.png
    nuclassify explain --model runs/eps --data test.h5 --top-confused 10 -o confused/

    Over each view a heat map shows what raises (red) or lowers (blue) the predicted class's
    probability: occlusion (the drop in log-odds when 7 strips x 2 planes are emptied; any network,
    .onnx included), saliency (|gradient|) or integrated gradients (from an empty detector, 32
    steps). Bands at the foot of each view mark the true (green) and predicted (orange) vertex
    segment; a panel shows the probabilities.

    --top-confused N predicts the whole file, draws its N most confidently wrong events to
    DIR/rank-XX-event-ID.png, each tagged with the simulation truth that explains it (distance of
    the true vertex to a segment boundary, pile-up, a backward track), and prints how often each
    cause occurs among all errors against among correct events (summary.json holds the same).
    """
    from nuclassify._fileio import check_output_dir, check_output_path, refuse_input_as_output
    from nuclassify.data import open_dataset
    from nuclassify.trust._confused import confusion_causes, format_causes, write_top_confused
    from nuclassify.trust._explain import check_event_index, explain_event, load_explainer
    from nuclassify.trust._explain_plot import draw_explanation

    out = get_output(ctx, json_mode)
    if (event is None) == (top is None):
        raise UsageError("give one of --event I (explain one event) or --top-confused N (the worst errors)")
    if max_events is not None and top is None:
        raise UsageError("--max-events goes with --top-confused")
    if top is None and ctx.get_parameter_source("seed") == click.core.ParameterSource.COMMANDLINE:
        raise UsageError("--seed goes with --top-confused (it draws the events searched; --event explains one)")
    refuse_input_as_output(output, data_path, model_spec)
    with open_dataset(data_path) as ds:
        if event is not None:  # bad input fails before the backend starts
            check_event_index(ds, event)
            if output.suffix.lower() != ".png":
                raise UsageError(f"{output}: explain --event draws a PNG; name the output *.png")
            check_output_path(output, overwrite=overwrite)
        else:
            check_output_dir(output)
        start_backend_quietly(out.verbose)
        explainer = load_explainer(model_spec, ds)
        if method != "occlusion":  # an ONNX file is refused, and the networks load, before the long work
            explainer.gradient_models(method)
        # As predict and evaluate: what the model's output rests on is said even under -q (not chatter).
        if explainer.predictor.warning:
            click.echo(f"nuclassify: warning: {explainer.predictor.warning}", err=True)
        if explainer.predictor.note:
            click.echo(f"nuclassify: note: {explainer.predictor.note}", err=True)
        if event is not None:
            ex = explain_event(explainer, ds, event, method)
            path = draw_explanation(ex, ds, output, overwrite=overwrite)
            if json_mode:
                out.json({**ex.to_dict(), "png": str(path)})
            else:
                out.result(f"event {ex.event} (id {ex.event_id}): predicted {ex.class_names[ex.predicted]} "
                           f"(P={ex.probabilities[ex.predicted]:.3f})"
                           + (f", true {ex.class_names[ex.true_label]}" if ex.true_label is not None else ""))
                out.info(f"wrote {path}")
            return
        n = ds.n_events if max_events is None else min(max_events, ds.n_events)
        with out.progress_bar(n, "predict") as bar:
            table = confusion_causes(explainer.predictor, ds, top=top, max_events=max_events, seed=seed,
                                     batch_size=batch_size, on_batch=bar.update)
        with out.progress_bar(len(table["top"]), f"explain ({method})", unit="events") as bar:
            paths = write_top_confused(explainer, ds, output, table, method=method, overwrite=overwrite,
                                       on_event=bar.update)
    if json_mode:
        out.json({**table, "method": method, "pngs": [str(p) for p in paths],
                  "summary": str(Path(output) / "summary.json")})
    else:
        out.result(format_causes(table))
        out.info(f"wrote {len(paths)} PNGs and summary.json to {output}")
