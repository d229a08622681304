"""The most confidently wrong events, and the simulation truth that explains errors.

The seed's "misclassified events" slide names three reasons a vertex lands in the wrong segment:
the vertex sits at a segment boundary, a second interaction overlays the event, or a track
runs backwards from the vertex. Simulated files carry each as truth (``vtx_data/zs``,
``vtx_data/pileup``, ``vtx_data/backward``), so every event can be tagged, and each cause's rate
among the errors compared with its rate among the correct events: a cause that explains errors is
over-represented among them (ratio > 1, Fisher's exact test on the 2x2 table).

:func:`confusion_causes` returns the table as plain data (for ``explain --top-confused`` and for
scripts that reproduce a figure); :func:`cause_table` is the arithmetic on given flags.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.detector import minerva
from nuclassify.errors import UsageError

__all__ = ["CAUSES", "BOUNDARY_MM", "boundary_distance", "truth_causes", "cause_table", "confusion_causes",
           "format_causes", "cause_tags", "write_top_confused"]

#: Cause name -> what it means (the summary's legend).
CAUSES = {
    "near_boundary": "true vertex within {boundary:g} mm of a segment boundary",
    "pileup": "a second (pile-up) interaction in the event",
    "backward": "a hadron thrown backwards from the vertex",
}
#: "Near a boundary": within one plane spacing (20.65 mm), the distance by which a vertex
#: placed one plane off crosses an edge. (Segments in the target region are only ~100 mm long,
#: so a module pitch, 44 mm, would already call 40% of all vertices "near".)
BOUNDARY_MM = minerva.PLANE_SPACING_MM


def boundary_distance(z_mm: np.ndarray) -> np.ndarray:
    """Distance (mm) from each vertex z to the nearest segment boundary (``SEGMENT_UPPER_Z_MM``)."""
    z = np.asarray(z_mm, dtype=np.float64)
    edges = np.asarray(minerva.SEGMENT_UPPER_Z_MM)
    return np.abs(z[:, None] - edges[None, :]).min(axis=1)


def _truth(dataset: Any, name: str, indices: np.ndarray) -> np.ndarray | None:
    for path in (f"vtx_data/{name}", name):
        if path in dataset.truth_fields:
            return np.asarray(dataset.read_truth(path, indices)).reshape(len(indices))
    return None


def truth_causes(dataset: Any, indices: np.ndarray, boundary_mm: float = BOUNDARY_MM
                 ) -> tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray | None]:
    """Per-event cause flags from the file's simulation truth.

    Returns:
        (flags, z, distance): flags holds a boolean array per cause the file can tell (a cause
        whose truth field is missing is left out); z the true vertex z and distance its distance
        to the nearest boundary (mm), or None without ``zs``.
    """
    flags: dict[str, np.ndarray] = {}
    z = _truth(dataset, "zs", indices)
    distance = None
    if z is not None:
        z = z.astype(np.float64)
        distance = boundary_distance(z)
        flags["near_boundary"] = distance <= boundary_mm
    for cause in ("pileup", "backward"):
        values = _truth(dataset, cause, indices)
        if values is not None:
            flags[cause] = values.astype(np.int64) > 0
    return flags, z, distance


def cause_table(is_error: np.ndarray, flags: Mapping[str, np.ndarray]) -> list[dict]:
    """Each cause's count and rate among the errors and among the correct events.

    A row per cause, then ``any`` (at least one cause) where there are flags. ``ratio`` is the
    rate among errors over the rate among correct events (> 1: over-represented among errors);
    ``p_value`` is Fisher's exact test of the 2x2 table (two-sided); the rates carry 95% Wilson
    intervals. A figure that is undefined (no errors, no correct events, a zero rate among the
    correct) is None, so the rows are valid JSON.
    """
    from scipy.stats import fisher_exact

    from nuclassify.evaluation import binomial_ci

    err = np.asarray(is_error, dtype=bool)
    n_err, n_ok = int(err.sum()), int((~err).sum())
    rows = []
    items = list(flags.items())
    if items:
        items.append(("any", np.any(np.stack([np.asarray(f, dtype=bool) for _, f in items]), axis=0)))
    for name, flag in items:
        flag = np.asarray(flag, dtype=bool)
        k_err, k_ok = int((flag & err).sum()), int((flag & ~err).sum())
        rate_err = k_err / n_err if n_err else float("nan")
        rate_ok = k_ok / n_ok if n_ok else float("nan")
        ratio = rate_err / rate_ok if n_err and n_ok and rate_ok > 0 else (float("inf") if k_err else float("nan"))
        p = float(fisher_exact([[k_err, n_err - k_err], [k_ok, n_ok - k_ok]])[1]) if n_err and n_ok else float("nan")
        rows.append({"cause": name, "errors": k_err, "error_rate": _finite(rate_err),
                     "error_rate_ci": _finite_pair(binomial_ci(k_err, n_err)), "correct": k_ok,
                     "correct_rate": _finite(rate_ok), "correct_rate_ci": _finite_pair(binomial_ci(k_ok, n_ok)),
                     "ratio": _finite(ratio), "p_value": _finite(p)})
    return rows


def _finite(x: float) -> float | None:
    """JSON has no NaN or infinity: an undefined figure (no errors, no correct events) is None."""
    return float(x) if np.isfinite(x) else None


def _finite_pair(ci: tuple[float, float]) -> list[float] | None:
    return [float(ci[0]), float(ci[1])] if np.all(np.isfinite(ci)) else None


def cause_tags(row: Mapping[str, Any], boundary_mm: float = BOUNDARY_MM) -> list[str]:
    """One-line tags of a confused event (an entry of ``confusion_causes(...)["top"]``)."""
    tags = [f"true {row['true_name']}, predicted {row['predicted_name']} (P={row['confidence']:.2f})"]
    if row.get("boundary_mm") is not None:
        near = " (near)" if row["boundary_mm"] <= boundary_mm else ""
        tags.append(f"vertex z {row['z_mm']:.0f} mm, {row['boundary_mm']:.0f} mm from a segment boundary{near}")
    for cause in ("pileup", "backward"):
        if row.get(cause) is not None:
            tags.append(f"{'pile-up' if cause == 'pileup' else 'backward track'}: {'yes' if row[cause] else 'no'}")
    return tags


def confusion_causes(predictor: Any, dataset: Any, *, top: int = 10, max_events: int | None = None,
                     boundary_mm: float = BOUNDARY_MM, batch_size: int = 256, seed: int = 0,
                     on_batch: Callable[[int], None] | None = None) -> dict:
    """Predict every labelled event, rank the errors by confidence and tabulate their truth causes.

    Args:
        predictor: from :func:`nuclassify.evaluation.load_predictor` (any model: a run, an .onnx
            file or trackfit; the probabilities are the ones ``predict`` writes).
        dataset: the open, labelled data file.
        top: how many of the most confidently wrong events to list.
        max_events: labelled events drawn at random (seeded) to predict; None: all.
        boundary_mm: "near a boundary" threshold.
        on_batch: progress callback with each batch's event count.

    Returns:
        Plain data: ``n_events``, ``n_errors``, ``accuracy``, ``causes`` (rows of
        :func:`cause_table`), ``legend``, ``top`` (the most confidently wrong events: index,
        event_id, true/predicted class and name, confidence, z_mm, boundary_mm, pileup,
        backward), ``unavailable`` (causes the file has no truth for) and ``notes``.

    Raises:
        UsageError: the file has no labels for the predictor's target.

    Example:
        >>> with open_dataset("test.h5") as ds:                                    # doctest: +SKIP
        ...     table = confusion_causes(load_predictor("runs/eps", ds), ds, top=5)
        >>> {r["cause"]: r["ratio"] for r in table["causes"]}                       # doctest: +SKIP
    """
    from nuclassify.evaluation._runner import split_output

    if top < 0:
        raise UsageError(f"--top-confused must be >= 0 (received {top})")
    target = predictor.target
    idx = dataset.labelled_indices(target)
    if len(idx) == 0:
        raise UsageError(f"{dataset.path}: no event has a {target} label; finding the wrong predictions needs "
                         "labelled (simulated) data")
    if max_events is not None and len(idx) > max_events:
        idx = np.sort(np.random.default_rng(seed).choice(idx, size=max_events, replace=False))
    probs, labels = [], []
    for views, y in dataset.batches(batch_size, target=target, indices=idx):
        probs.append(np.asarray(split_output(predictor.fn(list(views)))[0], dtype=np.float64))
        labels.append(y)
        if on_batch is not None:
            on_batch(len(y))
    p, y = np.concatenate(probs), np.concatenate(labels)
    pred = p.argmax(axis=1)
    confidence = p[np.arange(len(p)), pred]
    wrong = pred != y
    flags, z, distance = truth_causes(dataset, idx, boundary_mm)
    names = list(predictor.class_names)
    ids = dataset.event_ids(idx)
    ranked = np.flatnonzero(wrong)[np.argsort(-confidence[wrong], kind="stable")][:top]
    top_rows = []
    for j in ranked:
        top_rows.append({"index": int(idx[j]), "event_id": int(ids[j]), "true": int(y[j]),
                         "true_name": names[int(y[j])], "predicted": int(pred[j]),
                         "predicted_name": names[int(pred[j])], "confidence": float(confidence[j]),
                         "z_mm": None if z is None else float(z[j]),
                         "boundary_mm": None if distance is None else float(distance[j]),
                         **{c: (bool(flags[c][j]) if c in flags else None) for c in ("pileup", "backward")}})
    unavailable = [c for c in CAUSES if c not in flags]
    notes = []
    if not dataset.layout.startswith("minerva"):  # the causes are MINERvA's vertex-finding ones
        notes.append(f"the cause table is MINERvA's (segment boundaries, pile-up, backward hadrons); "
                     f"{dataset.path} is a {dataset.layout} file, so it has none of them")
    elif unavailable:
        notes.append(f"{dataset.path} carries no truth for: {', '.join(unavailable)} (real data, or a file not made "
                     "by 'nuclassify simulate')")
    legend = {c: text.format(boundary=boundary_mm) for c, text in CAUSES.items()}
    legend["any"] = "at least one of the causes above"
    return {"model": predictor.name, "data": str(dataset.path), "target": target, "n_events": int(len(y)),
            "n_errors": int(wrong.sum()), "accuracy": float(1 - wrong.mean()), "boundary_mm": float(boundary_mm),
            "median_boundary_mm": None if distance is None else {
                "errors": float(np.median(distance[wrong])) if wrong.any() else None,
                "correct": float(np.median(distance[~wrong])) if (~wrong).any() else None},
            "causes": cause_table(wrong, flags), "legend": legend, "top": top_rows, "unavailable": unavailable,
            "notes": notes}


def _pct(rate: float | None, ci: list[float] | None) -> str:
    if rate is None or ci is None:
        return "-"
    return f"{100 * rate:5.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def format_causes(table: Mapping[str, Any]) -> str:
    """The text summary of :func:`confusion_causes`: each cause among errors against correct events."""
    lines = [f"{table['model']} on {table['data']}: {table['n_errors']} errors in {table['n_events']} events "
             f"(accuracy {100 * table['accuracy']:.1f}%)", "",
             f"{'cause':<14} {'errors':>7} {'rate among errors':>22} {'correct':>8} {'rate among correct':>22} "
             f"{'ratio':>6} {'p (Fisher)':>10}"]
    for r in table["causes"]:
        p, ratio = r["p_value"], r["ratio"]
        p_text = "-" if p is None else f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"
        ratio_text = "-" if ratio is None else f"{ratio:.2f}"
        lines.append(f"{r['cause']:<14} {r['errors']:>7} {_pct(r['error_rate'], r['error_rate_ci']):>22} "
                     f"{r['correct']:>8} {_pct(r['correct_rate'], r['correct_rate_ci']):>22} {ratio_text:>6} "
                     f"{p_text:>10}")
    med = table.get("median_boundary_mm")
    if med and med.get("errors") is not None and med.get("correct") is not None:
        lines.append(f"median distance of the true vertex to a segment boundary: errors {med['errors']:.0f} mm, "
                     f"correct {med['correct']:.0f} mm")
    lines += [f"{c}: {text}" for c, text in table["legend"].items() if c not in table["unavailable"]]
    lines += [f"note: {n}" for n in table["notes"]]
    return "\n".join(lines)


def write_top_confused(explainer: Any, dataset: Any, out_dir: str | os.PathLike, table: Mapping[str, Any], *,
                       method: str = "occlusion", overwrite: bool = False,
                       on_event: Callable[[int], None] | None = None) -> list[Path]:
    """Explain and draw each event of ``table["top"]`` to ``out_dir/rank-XX-event-ID.png``, tagged with its causes.

    Also writes ``out_dir/summary.json`` (the table, each entry with its ``png``). Every file is
    written atomically; existing ones are refused unless ``overwrite``.

    Returns:
        The PNG paths, in rank order.
    """
    from nuclassify._fileio import atomic_output, check_output_path
    from nuclassify.trust._explain import explain_event
    from nuclassify.trust._explain_plot import draw_explanation

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = max(2, len(str(len(table["top"]))))
    names = [out / f"rank-{k:0{width}d}-event-{row['event_id']}.png" for k, row in enumerate(table["top"], 1)]
    for path in [*names, out / "summary.json"]:  # refuse before the first (slow) explanation
        check_output_path(path, overwrite=overwrite)
    boundary = float(table.get("boundary_mm", BOUNDARY_MM))
    for k, (row, path) in enumerate(zip(table["top"], names, strict=True), 1):
        ex = explain_event(explainer, dataset, row["index"], method)
        draw_explanation(ex, dataset, path, overwrite=overwrite,
                         tags=[f"rank {k} of the most confidently wrong", *cause_tags(row, boundary)])
        if on_event is not None:
            on_event(1)
    summary = {**table, "method": method,
               "top": [{**row, "png": path.name} for row, path in zip(table["top"], names, strict=True)]}
    with atomic_output(out / "summary.json", overwrite) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=_plain) + "\n")
    if overwrite:  # an earlier, longer list's PNGs would otherwise sit beside this one's, unlisted
        kept = {p.name for p in names}
        for stale in out.glob("rank-*-event-*.png"):
            if stale.name not in kept and re.fullmatch(r"rank-\d+-event-\d+\.png", stale.name):
                stale.unlink(missing_ok=True)
    return names


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
