"""``nuclassify inspect``: summarise a data file (thin over :func:`nuclassify.data.summarize`), or
what an exported model says about itself (:func:`nuclassify.export.read_exported`)."""

from __future__ import annotations

from pathlib import Path

import click

from nuclassify.cli._output import get_output
from nuclassify.errors import UsageError


@click.command("inspect")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True))
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object (event count under 'n_events').")
@click.option("--sample", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Events read for the occupancy estimate and the NaN/inf pixel check (0 = all).")
@click.pass_context
def inspect(ctx: click.Context, file: Path, json_mode: bool, sample: int) -> None:
    """Summarise FILE: layout, events, views, label distribution, occupancy, truth fields, provenance.

    An exported model (a .onnx file, or a SavedModel directory from 'nuclassify export') is
    described instead: target, class names, layout, views and input shapes, the training data's
    hashes and provenance, the spec, and how it was exported. This needs no TensorFlow.

    Provenance is how the file was made (seed, options, version, time; under "provenance" in
    --json, empty for files that do not record it, such as the experiments' own).

    The layout (MINERvA 2018/2016, NOvA CVN, generic images) is detected from the file.

    \b
    Example:
      nuclassify inspect train.h5
      nuclassify inspect train.h5 --json | python -c 'import json,sys; print(json.load(sys.stdin)["n_events"])'
      nuclassify inspect model.onnx
    """
    out = get_output(ctx, json_mode)
    if file.suffix.lower() == ".onnx" or (file / "saved_model.pb").is_file():
        from nuclassify.export import format_exported, read_exported

        described = read_exported(file)
        if json_mode:
            out.json(described)
        else:
            out.result(format_exported(described))
        return
    if (file / "run.json").is_file() or (file.suffix.lower() == ".keras" and file.is_file()):
        # a training run or its model: what inspect reads of it is its export or its data
        raise UsageError(f"{file}: is a training run{'' if file.is_dir() else ' model'}, not a data file or an "
                         "export; inspect its data file, or 'nuclassify export' it and inspect the .onnx")
    from nuclassify.data import format_summary, summarize

    summary = summarize(file, sample=sample)
    if json_mode:
        out.json(summary)
    else:
        out.result(format_summary(summary))
