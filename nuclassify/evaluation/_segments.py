"""The seed's per-segment table: segments in detector z order, baseline and model side by side.

Segment labels are not in z order (their definition: MNVML/root2hdf5proj
``include/RecoTracksUtils.h``), so rows follow ``SEGMENT_Z_ORDER``; each row shows the target
number ("-" for the gaps between targets), the event count, and both accuracies with the better
one marked by ``*``. Counts are streamed per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nuclassify.detector.minerva import N_SEGMENTS, SEGMENT_TARGET, SEGMENT_Z_ORDER
from nuclassify.evaluation._metrics import mcnemar

__all__ = ["SegmentCounts", "ZProfile", "segment_rows", "format_segment_table", "segment_compare_rows",
           "format_segment_compare"]


@dataclass
class SegmentCounts:
    """Events and correct predictions per true segment for one classifier."""

    n: np.ndarray = field(default_factory=lambda: np.zeros(N_SEGMENTS, dtype=np.int64))
    correct: np.ndarray = field(default_factory=lambda: np.zeros(N_SEGMENTS, dtype=np.int64))
    # Each event's true segment in the order seen (one byte per event), for paired tests per segment.
    _true: list[np.ndarray] = field(default_factory=list, repr=False)

    def update(self, y_true: np.ndarray, is_correct: np.ndarray) -> None:
        y_true = np.asarray(y_true, dtype=np.int64)
        self._true.append(y_true.astype(np.int8))
        self.n += np.bincount(y_true, minlength=N_SEGMENTS)[:N_SEGMENTS]
        self.correct += np.bincount(y_true, weights=np.asarray(is_correct, dtype=np.float64),
                                    minlength=N_SEGMENTS)[:N_SEGMENTS].astype(np.int64)

    def true_segments(self) -> np.ndarray:
        """Every counted event's true segment, in the order the events were counted."""
        return np.concatenate(self._true) if self._true else np.empty(0, dtype=np.int8)

    def accuracy(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 0, self.correct / np.maximum(self.n, 1), np.nan)


@dataclass
class ZProfile:
    """Accuracy against true vertex z: events and correct counts in fixed z bins (mm)."""

    edges: np.ndarray = field(default_factory=lambda: np.arange(4280.0, 6020.0 + 1e-6, 20.0))
    n: np.ndarray = field(init=False)
    correct: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.n = np.zeros(len(self.edges) - 1, dtype=np.int64)
        self.correct = np.zeros(len(self.edges) - 1, dtype=np.int64)

    def update(self, z_true: np.ndarray, is_correct: np.ndarray) -> None:
        idx = np.searchsorted(self.edges, np.asarray(z_true, dtype=np.float64), side="right") - 1
        inside = (idx >= 0) & (idx < len(self.n))
        nb = len(self.n)
        self.n += np.bincount(idx[inside], minlength=nb)
        self.correct += np.bincount(idx[inside], weights=np.asarray(is_correct)[inside].astype(np.float64),
                                    minlength=nb).astype(np.int64)


def segment_rows(model: SegmentCounts, baseline: SegmentCounts | None = None) -> list[dict]:
    """One dict per segment in z order: segment, target, n, accuracy, baseline_accuracy, better.

    ``better`` is "model", "baseline", "tie" or None (no baseline / no events).
    """
    acc = model.accuracy()
    base = baseline.accuracy() if baseline is not None else None
    rows = []
    for seg in SEGMENT_Z_ORDER:
        a = float(acc[seg]) if np.isfinite(acc[seg]) else None
        b = None if base is None or not np.isfinite(base[seg]) else float(base[seg])
        better = None
        if a is not None and b is not None:
            better = "model" if a > b else "baseline" if b > a else "tie"
        target = SEGMENT_TARGET[seg]
        rows.append({"segment": seg, "target": target, "n": int(model.n[seg]), "accuracy": a,
                     "baseline_accuracy": b, "better": better})
    return rows


def _pct(value: float | None, mark: bool) -> str:
    text = "-" if value is None else f"{100 * value:.1f}%"
    return (text + " *") if mark else (text + "  ")


def format_segment_table(rows: list[dict], model_name: str = "model", baseline_name: str | None = "trackfit") -> str:
    """Render ``segment_rows`` as the seed's table; ``*`` marks the better accuracy of each row."""
    has_base = baseline_name is not None and any(r["baseline_accuracy"] is not None for r in rows)
    mw = max(10, len(model_name) + 2)
    bw = max(10, len(baseline_name or "") + 2)
    header = f"{'segment':>7}  {'target':>6}  {'n':>7}"
    if has_base:
        header += f"  {baseline_name:>{bw}}"
    header += f"  {model_name:>{mw}}"
    lines = [header, "-" * len(header)]
    for r in rows:
        target = "-" if r["target"] is None else str(r["target"])
        line = f"{r['segment']:>7}  {target:>6}  {r['n']:>7}"
        if has_base:
            line += f"  {_pct(r['baseline_accuracy'], r['better'] == 'baseline'):>{bw}}"
        line += f"  {_pct(r['accuracy'], r['better'] == 'model'):>{mw}}"
        lines.append(line)
    if has_base:
        lines.append("* marks the better accuracy of each row")
    return "\n".join(lines)


def segment_compare_rows(names: list[str], counts: list[SegmentCounts], correct: list[np.ndarray],
                         reference: int) -> list[dict]:
    """Per segment in z order, every model's accuracy and McNemar's p against the ``reference`` model.

    ``correct`` holds each model's per-event correctness on the same events, in the order the
    counts saw them; the test is paired on the segment's events only. A segment where a model
    falls below the reference with p < 0.05 is where the reference is really better.
    """
    truth = counts[reference].true_segments()
    rows = []
    for seg in SEGMENT_Z_ORDER:
        k = truth == seg
        row: dict = {"segment": seg, "target": SEGMENT_TARGET[seg], "n": int(k.sum()), "reference": names[reference],
                     "accuracy": {}, "p_value": {}}
        for name, ok in zip(names, correct, strict=True):
            row["accuracy"][name] = float(ok[k].mean()) if k.any() else None
            if name != names[reference] and k.any():
                row["p_value"][name] = mcnemar(correct[reference][k], ok[k]).p_value
        rows.append(row)
    return rows


def format_segment_compare(rows: list[dict]) -> str:
    """The per-segment comparison: each model's accuracy, with McNemar's p against the reference in brackets."""
    names = list(rows[0]["accuracy"])
    width = {n: max(len(n), 16) for n in names}
    lines = [f"{'segment':>7}  {'target':>6}  {'n':>6}" + "".join(f"  {n:>{width[n]}}" for n in names)]
    for r in rows:
        cells = []
        for n in names:
            a = r["accuracy"][n]
            text = "-" if a is None else f"{100 * a:.1f}%"
            p = r["p_value"].get(n)
            if p is not None:
                text += f" ({p:.0e})" if p < 1e-3 else f" ({p:.3f})"
            cells.append(f"  {text:>{width[n]}}")
        lines.append(f"{r['segment']:>7}  {r['target'] if r['target'] is not None else '-':>6}  {r['n']:>6}"
                     + "".join(cells))
    lines.append(f"(p): McNemar's test against {rows[0]['reference']} on the segment's events")
    return "\n".join(lines)
