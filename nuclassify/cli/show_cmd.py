"""``nuclassify show``: draw one event to a PNG (thin over :func:`nuclassify.data.draw_event`)."""

from __future__ import annotations

from pathlib import Path

import click

from nuclassify.cli._output import get_output
from nuclassify.errors import UsageError


@click.command("show")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True))
@click.option("-e", "--event", type=int, default=0, show_default=True, help="Event index (0-based).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="PNG file to write.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--reco", is_flag=True,
              help="MINERvA: draw the track-and-vertex reconstruction (trackreco) over the views.")
@click.pass_context
def show(ctx: click.Context, file: Path, event: int, output: Path, overwrite: bool, reco: bool) -> None:
    """Draw event I of FILE: every view side by side, energy as log colour, true label in the title.

    MINERvA views are drawn in z (mm) against transverse position (mm) with the nuclear targets
    marked along z; NOvA XZ/YZ views in plane and cell numbers.

    With --reco (MINERvA) the reconstruction is drawn on top: fitted tracks (red: attached to the
    vertex; orange dashed: backward; grey dotted: left out), the fitted vertex (star) and its
    first plane.

    \b
    Example:
      nuclassify show train.h5 --event 3 -o event3.png
      nuclassify show test.h5 --event 86 --reco -o event86_reco.png
    """
    from nuclassify._fileio import refuse_input_as_output
    from nuclassify.data import draw_event, open_dataset

    out = get_output(ctx)
    if output.suffix.lower() != ".png":
        raise UsageError(f"{output}: show draws a PNG; name the output *.png")
    refuse_input_as_output(output, file)
    overlay = None
    if reco:
        with open_dataset(file) as ds:
            if not ds.layout.startswith("minerva"):
                raise UsageError(f"{file}: --reco draws the MINERvA reconstruction; this file is {ds.layout}")
            view_names = list(ds.view_names)

        def overlay(axes, views):  # noqa: ANN001, ANN202 - the data layer's Overlay
            from nuclassify.evaluation.trackfit import draw_reco_overlay, reconstruct_batch

            draw_reco_overlay(axes, view_names, reconstruct_batch(views, view_names).events[0])

    path = draw_event(file, event, output, overwrite=overwrite, overlay=overlay)
    out.info(f"wrote {path}")
