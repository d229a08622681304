"""Human-readable text for evaluation results (the CLI prints these; JSON comes from to_dict)."""

from __future__ import annotations

from nuclassify.evaluation._metrics import CalibrationTally, mcnemar
from nuclassify.evaluation._runner import ModelEvaluation
from nuclassify.evaluation._segments import format_segment_table, segment_rows

__all__ = ["format_evaluation", "format_compare", "format_calibration", "format_paired"]


def _p(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def format_calibration(tally: CalibrationTally, temperature: float | None = None) -> str:
    """One line: ECE (top label, 15 bins), NLL and Brier score, and the temperature if one was applied."""
    applied = f"; temperature T={temperature:.3f} applied" if temperature is not None else ""
    return (f"calibration: ECE {_p(tally.ece)} ({tally.bins} bins, top label), NLL {tally.nll:.4f}, "
            f"Brier {tally.brier:.4f}{applied}")


def format_evaluation(ev: ModelEvaluation, baseline: ModelEvaluation | None = None, *,
                      per_segment: bool = True, calibration: CalibrationTally | None = None,
                      temperature: float | None = None) -> str:
    """Accuracy with its 95% CI, per-class precision/recall, confusion matrix, and the optional tables.

    Args:
        ev: the model's measurements.
        baseline: measured beside it on the same events (its accuracy is shown in the header, and
            in the per-segment table).
        per_segment: include the per-segment table when ``ev`` has segment counts. Plots may need
            the counts when the table was not asked for, so measuring them and showing them are
            separate choices.
        calibration: the model's ECE/NLL/Brier sums, shown under the accuracy when given.
        temperature: the stored temperature applied to the model's probabilities, if any.
    """
    lo, hi = ev.tally.accuracy_ci()
    lines = [f"model {ev.name}: accuracy {_p(ev.tally.accuracy)} "
             f"(95% CI {_p(lo)} - {_p(hi)}) on {ev.tally.n} events"]
    if calibration is not None and calibration.n:
        lines.append(format_calibration(calibration, temperature))
    vertex_line = ev.vertex.format() if ev.vertex is not None else ""
    if vertex_line:
        lines.append(vertex_line)
    if baseline is not None:
        blo, bhi = baseline.tally.accuracy_ci()
        lines.append(f"baseline {baseline.name}: accuracy {_p(baseline.tally.accuracy)} (95% CI {_p(blo)} - {_p(bhi)})")
        lines.append(format_paired(ev, baseline))
    lines += ["", f"{'class':<16} {'precision':>9} {'recall':>9} {'n':>8}"]
    for r in ev.tally.per_class(list(ev.class_names)):
        lines.append(f"{r['name'][:16]:<16} {_p(r['precision']):>9} {_p(r['recall']):>9} {r['support']:>8}")
    cm = ev.tally.confusion
    width = max(5, len(str(int(cm.max(initial=0)))) + 1)
    lines += ["", "confusion matrix (rows: true, columns: predicted)",
              " " * 6 + "".join(f"{j:>{width}}" for j in range(len(cm)))]
    for i, row in enumerate(cm):
        lines.append(f"{i:>5} " + "".join(f"{int(v):>{width}}" for v in row))
    if per_segment and ev.segments is not None:
        rows = segment_rows(ev.segments, baseline.segments if baseline is not None else None)
        lines += ["", "per segment (detector z order)",
                  format_segment_table(rows, ev.name, baseline.name if baseline is not None else None)]
    if ev.flavour is not None:
        lines += ["", "flavour selection", ev.flavour.format()]
    return "\n".join(lines)


def format_paired(ev: ModelEvaluation, baseline: ModelEvaluation) -> str:
    """One line: the model's accuracy minus the baseline's on the same events, with McNemar's p.

    Why: the two 95% intervals overlap long before the difference stops being significant, since
    both classifiers score the same events; only the paired test (McNemar 1947, Psychometrika
    12:153) says whether the model really beats the baseline.
    """
    test = mcnemar(ev.correct, baseline.correct)
    diff = 100 * (ev.tally.accuracy - baseline.tally.accuracy)
    pv = f"{test.p_value:.2e}" if test.p_value < 1e-3 else f"{test.p_value:.3f}"
    return (f"{ev.name} vs {baseline.name}: {diff:+.2f} points, McNemar p = {pv} ({test.b} events only "
            f"{ev.name} got right, {test.c} only {baseline.name})")


def format_compare(rows: list[dict]) -> str:
    """The seed's model comparison table, with the McNemar p-value of each gap to the best model."""
    name_w = max(12, *(len(r["model"]) for r in rows))
    calib = any(r.get("ece") is not None for r in rows)
    extra = f" {'ECE':>7} {'NLL':>7} {'Brier':>7}" if calib else ""
    lines = [f"{'model':<{name_w}} {'accuracy':>9} {'95% CI':>17} {'diff vs best':>12} {'McNemar p':>10}{extra}"]
    for r in rows:
        ci = f"{100 * r['accuracy_ci95'][0]:.2f}-{100 * r['accuracy_ci95'][1]:.2f}%"
        diff = "(best)" if r["best"] else f"{100 * r['difference']:+.2f}"
        pv = "" if r["p_value"] is None else (f"{r['p_value']:.2e}" if r["p_value"] < 1e-3 else f"{r['p_value']:.3f}")
        mark = " *" if r["best"] else ""
        cal = ""
        if calib:
            cal = (f" {_p(r['ece']):>7} {r['nll']:>7.4f} {r['brier']:>7.4f}" if r.get("ece") is not None
                   else f" {'-':>7} {'-':>7} {'-':>7}")
        lines.append(f"{r['model']:<{name_w}} {_p(r['accuracy']):>9} {ci:>17} {diff:>12} {pv:>10}{cal}{mark}")
    lines.append(f"n = {rows[0]['n_events']} paired events; p from McNemar's test on the paired predictions")
    return "\n".join(lines)
