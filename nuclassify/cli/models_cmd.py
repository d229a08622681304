"""``nuclassify models``: the named architectures with their parameter counts (no Keras import)."""

from __future__ import annotations

import click

from nuclassify.cli._output import get_output


@click.command("models")
@click.option("--input-shapes", "preset", type=click.Choice(["minerva", "minerva2016", "nova"]), default=None,
              help="Count parameters at these inputs (default: each spec's own: minerva2016 or nova).")
@click.option("--json", "json_mode", is_flag=True, help="One JSON object on stdout.")
@click.pass_context
def models(ctx: click.Context, preset: str | None, json_mode: bool) -> None:
    """List the named architectures with parameter counts and a one-line description.

    Counts come from shape arithmetic on the spec (identical to Keras' count_params), at the
    preset's inputs: minerva = X (127,94,2), U/V (127,47,2), 11 classes; minerva2016 = widths
    50/25; nova = two (80,100,1) views (cells x planes), 4 flavour classes. A spec whose views or shapes do not
    fit the preset shows "n/a" with the reason.

    \b
    Examples:
      nuclassify models
      nuclassify models --input-shapes minerva --json
      nuclassify train --arch conv4 ...   # any name listed here, or a spec.json
    """
    from nuclassify.errors import SpecError
    from nuclassify.models import count_params, list_specs, load_spec, preset_shapes

    out = get_output(ctx, json_mode)
    rows = []
    for name in list_specs():
        spec = load_spec(name)
        inputs = preset if preset is not None else spec.get("default_inputs", "minerva2016")
        shapes, n_classes = preset_shapes(inputs)
        row = {"name": name, "inputs": inputs, "n_classes": n_classes, "views": spec["views"],
               "combine": spec.get("combine", "columns"), "description": spec.get("description", "")}
        try:
            row["parameters"] = count_params(spec, shapes, n_classes)
        except SpecError as exc:
            row["parameters"] = None
            row["problem"] = str(exc)
        rows.append(row)
    if json_mode:
        out.json({"models": rows})
        return
    width = max(len(r["name"]) for r in rows)
    out.result(f"{'name':<{width}}  {'parameters':>10}  {'inputs':<11}  description")
    for r in rows:
        count = f"{r['parameters']:,}" if r["parameters"] is not None else "n/a"
        out.result(f"{r['name']:<{width}}  {count:>10}  {r['inputs']:<11}  {r['description']}")
        if r["parameters"] is None:
            out.result(f"{'':<{width}}  {'':>10}  {'':<11}  ({r['problem']})")
