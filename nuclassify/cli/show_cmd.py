"""``nuclassify show``: draw one event to a PNG (thin over :func:`nuclassify.data.draw_event`)."""

from __future__ import annotations

from pathlib import Path

import click

from nuclassify.cli._output import get_output


@click.command("show")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True))
@click.option("-e", "--event", type=int, default=0, show_default=True, help="Event index (0-based).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="PNG file to write.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.pass_context
def show(ctx: click.Context, file: Path, event: int, output: Path, overwrite: bool) -> None:
    """Draw event I of FILE: every view side by side, energy as log colour, true label in the title.

    MINERvA views are drawn in z (mm) against transverse position (mm) with the nuclear targets
    marked along z; NOvA XZ/YZ views in plane and cell numbers.

    \b
    Example:
      nuclassify show train.h5 --event 3 -o event3.png
    """
    from nuclassify.data import draw_event

    out = get_output(ctx)
    path = draw_event(file, event, output, overwrite=overwrite)
    out.info(f"wrote {path}")
