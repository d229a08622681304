"""``nuclassify predict``: per-event predictions as CSV (stdout by default) or HDF5.

Also home of :func:`load_predictor`, which both predict and evaluate use to turn
``--model RUN_DIR|model.keras|trackfit`` into a predict function over the data's views.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from nuclassify.cli._output import get_output, start_backend_quietly
from nuclassify.errors import UsageError

TRACKFIT = "trackfit"


@dataclass
class Predictor:
    """A named predict function with what the output columns need to know."""

    name: str
    fn: Any
    target: str
    class_names: list[str]
    has_z: bool


def _softmax_if_needed(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float32)
    if p.ndim == 2 and (p.min(initial=0) < 0 or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3)):
        e = np.exp(p - p.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
    return p


def _model_fn(model: Any, views: list[str], data_views: list[str]) -> Any:
    """Wrap a Keras model: reorder the data's views into the model's input order, split z heads."""
    order = [data_views.index(v) for v in views]

    def fn(batch: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray | None]:
        inputs = [batch[i] for i in order]
        out = model.predict_on_batch(inputs if len(inputs) > 1 else inputs[0])
        if isinstance(out, dict):
            out = list(out.values())
        if isinstance(out, (list, tuple)):
            arrays = [np.asarray(o) for o in out]
            probs = next(a for a in arrays if a.ndim == 2 and a.shape[1] > 1)
            z = next((a.reshape(-1) for a in arrays if a.ndim <= 2 and a.size == len(probs)), None)
            return _softmax_if_needed(probs), z
        return _softmax_if_needed(out), None

    return fn


def model_name(spec: str) -> str:
    """Short display name: the run directory's name (plus the file for a .keras other than model.keras)."""
    path = Path(spec.rstrip("/"))
    if path.suffix == ".keras":
        run = path.parent.name or "."
        return run if path.name == "model.keras" else f"{run}/{path.name}"
    return path.name or spec


def load_predictor(spec: str, dataset: Any, target: str | None = None) -> Predictor:
    """``trackfit`` or a run dir / .keras file -> Predictor checked against the data file.

    Raises:
        RunDirError: the run dir is missing or incomplete.
        UsageError: the model was trained for another target or input shape than the data.
    """
    if spec.lower() == TRACKFIT:
        from nuclassify.evaluation import TrackFit

        if not dataset.layout.startswith("minerva"):
            raise UsageError(f"trackfit works on MINERvA files; {dataset.path} is {dataset.layout}")
        if target not in (None, "segment"):
            raise UsageError(f"trackfit predicts vertex segments, not {target}")
        tf = TrackFit(dataset.view_names, dataset.view_shapes)
        return Predictor(TRACKFIT, lambda views: (lambda r: (r.probabilities, r.z))(tf.predict(views)),
                         "segment", list(dataset.class_names("segment")), True)
    from nuclassify.evaluation import check_model_data
    from nuclassify.training import load_run

    start_backend_quietly(_verbose())
    run = load_run(spec)
    meta = run.meta
    run_target = check_model_data(meta, dataset, spec)
    if target is not None and target != run_target:
        raise UsageError(f"{spec} was trained for target {run_target}, not {target}")
    names = list(meta.get("class_names") or dataset.class_names(run_target))
    model = run.model
    has_z = len(getattr(model, "outputs", []) or []) > 1
    fn = _model_fn(model, list(meta["views"]), list(dataset.view_names))
    return Predictor(model_name(spec), fn, run_target, names, has_z)


@click.command("predict")
@click.option("--model", "model_spec", required=True, metavar="RUN_DIR|model.keras|trackfit",
              help="A run directory, a .keras model inside one, or 'trackfit' (the track-based baseline).")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="HDF5 file (labels optional).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write here instead of stdout: .csv or .h5/.hdf5 (atomic).")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.pass_context
def predict(ctx: click.Context, model_spec: str, data_path: str, output: str | None, batch_size: int,
            overwrite: bool) -> None:
    """Write one row per event: event id, predicted label, each class's probability, predicted z.

    CSV goes to stdout by default (a header line, then rows; progress goes to stderr), so
    pipelines work: ``nuclassify predict --model runs/eps --data f.h5 | sort -t, -k3 -g``.
    Columns: event_id, predicted, p_0..p_K-1 (class order as in training), z_mm where the
    model has a z head (trackfit always does). Unlabelled real-data files work.

    Example: nuclassify predict --model trackfit --data test.h5 -o trackfit.csv
    """
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import iter_predictions, write_predictions_csv, write_predictions_h5

    out = get_output(ctx)
    suffix = Path(output).suffix.lower() if output else ".csv"
    if suffix not in (".csv", ".h5", ".hdf5"):
        raise UsageError(f"{output}: output must end in .csv, .h5 or .hdf5")
    with open_dataset(data_path) as ds:
        pred = load_predictor(model_spec, ds)
        out.info(f"predicting {ds.n_events} events of {data_path} with {pred.name}")
        with out.progress_bar(ds.n_events, "predict") as bar:
            rows = iter_predictions(ds, pred.fn, batch_size=batch_size, on_batch=bar.update)
            if output is None:
                n = write_predictions_csv(sys.stdout, rows, pred.class_names, pred.has_z)
            elif suffix == ".csv":
                from nuclassify._fileio import atomic_output

                with atomic_output(output, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as fh:
                    n = write_predictions_csv(fh, rows, pred.class_names, pred.has_z)
                # (the file is renamed into place only after every row was written)
            else:
                n = write_predictions_h5(output, rows, pred.class_names, pred.has_z, overwrite=overwrite)
    out.info(f"wrote {n} rows" + (f" to {output}" if output else ""))


def _verbose() -> bool:
    """The global -v flag of the running command (False outside a Click context)."""
    ctx = click.get_current_context(silent=True)
    return bool(getattr(ctx.find_root().obj, "verbose", False)) if ctx is not None else False
