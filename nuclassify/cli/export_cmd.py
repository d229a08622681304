"""``nuclassify export``: a run directory -> a verified ONNX file or SavedModel (thin over :func:`export_run`)."""

from __future__ import annotations

import os
import sys

import click

from nuclassify.cli._output import get_output, start_backend_quietly


@click.command("export")
@click.option("--model", "model_spec", required=True, metavar="RUN_DIR|model.keras",
              help="A finished run directory, or a .keras model inside one.")
@click.option("--format", "fmt", type=click.Choice(["onnx", "saved_model"], case_sensitive=False), default=None,
              help="onnx (a file) or saved_model (a directory). Default: onnx for an -o ending in .onnx.")
@click.option("-o", "--output", required=True, type=click.Path(), help="The .onnx file or SavedModel directory.")
@click.option("--opset", type=int, default=None, help="ONNX opset (default: tf2onnx's).")
@click.option("--verify", "verify", type=click.IntRange(min=0), default=256, show_default=True,
              help="Compare with the Keras model on this many events (0: skip).")
@click.option("--data", "data_path", type=click.Path(dir_okay=False), default=None,
              help="Verify on this HDF5 file's events (default: the run's validation data).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object.")
@click.pass_context
def export(ctx: click.Context, model_spec: str, fmt: str | None, output: str, opset: int | None, verify: int,
           data_path: str | None, overwrite: bool, json_mode: bool) -> None:
    """Export a trained network for an experiment's reconstruction: ONNX or a TensorFlow SavedModel.

    Inputs are named after the views (x, u, v / xz, yz), channels last, with a dynamic batch
    dimension, and take raw values as in the data file; the output is class probabilities. The
    file describes itself (class names, target, layout, views, shapes, spec, training data
    hashes): 'nuclassify inspect model.onnx' prints it. Before it is renamed into place the
    export is run on --verify events (the run's validation data, or --data) and compared with
    Keras; a difference above 1e-4 in any probability, or any changed argmax, fails. A deep
    ensemble's folder (train --ensemble K) exports as one graph averaging its members.

    \b
    nuclassify export --model runs/c4 -o c4.onnx
    nuclassify export --model runs/c4 --format saved_model -o c4_savedmodel --data test.h5
    nuclassify predict --model c4.onnx --data test.h5        # onnxruntime, no TensorFlow
    """
    from nuclassify._fileio import refuse_input_as_output
    from nuclassify.export import export_run, resolve_format

    out = get_output(ctx, json_mode)
    fmt = resolve_format(fmt, output)  # a bad option fails before TensorFlow starts
    refuse_input_as_output(output, model_spec, data_path)
    backend = os.environ.get("KERAS_BACKEND")
    if "keras" not in sys.modules:  # Keras reads the backend once, at import (a library caller may have chosen)
        if backend and backend != "tensorflow":
            out.info(f"export runs on the TensorFlow backend (tf2onnx); ignoring KERAS_BACKEND={backend}")
        os.environ["KERAS_BACKEND"] = "tensorflow"
    start_backend_quietly(out.verbose)
    out.info(f"exporting {model_spec} to {output} ({fmt})" + (f", verifying on {verify} events" if verify else ""))
    result = export_run(model_spec, output, fmt, opset=opset, verify=verify, data=data_path, overwrite=overwrite)
    if json_mode:
        out.json(result.to_dict())
    else:
        out.result(result.summary())
