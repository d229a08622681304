"""Evaluation plots (matplotlib Agg, written atomically): confusion, per segment, vs z, NOvA curves,
and the calibration pair: a reliability diagram and accuracy against confidence."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nuclassify._fileio import atomic_output
from nuclassify.detector.minerva import SEGMENT_TARGET, SEGMENT_UPPER_Z_MM, SEGMENT_Z_ORDER, TARGETS
from nuclassify.errors import UsageError
from nuclassify.evaluation._metrics import CalibrationTally
from nuclassify.evaluation._runner import ModelEvaluation

__all__ = ["write_plots", "write_calibration_plots"]


def _save(fig, path: Path, note: str = "") -> Path:
    if note:  # which events were counted, where a sample left some out (evaluate --sample)
        # Under everything drawn (tick labels reach below the figure's own edge): the tight
        # bounding box, in inches, says where that is; the tight save then takes the line in.
        box = fig.get_tightbbox(fig.canvas.get_renderer())
        fig.text(box.x1 / fig.get_figwidth(), (box.y0 - 0.04) / fig.get_figheight(), note,
                 ha="right", va="top", fontsize=7, color="0.35")
    with atomic_output(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return path


def write_plots(ev: ModelEvaluation, out_dir: str | os.PathLike, baseline: ModelEvaluation | None = None,
                note: str = "") -> list[Path]:
    """Draw every plot that ``ev`` has data for into ``out_dir`` (created); returns the files.

    ``note``: a line written in each figure's corner (which events were counted).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: --plots needs a folder, this is a file")
    out.mkdir(parents=True, exist_ok=True)
    written = [_confusion(plt, ev, out / "confusion.png", note)]
    if ev.segments is not None:
        written.append(_segments(plt, ev, baseline, out / "per_segment.png", note))
    if ev.zprofile is not None and ev.zprofile.n.sum():
        written.append(_vs_z(plt, ev, baseline, out / "accuracy_vs_z.png", note))
    if ev.flavour is not None:
        written.append(_eff_pur(plt, ev, out / "efficiency_purity.png", note))
    return written


def _confusion(plt, ev: ModelEvaluation, path: Path, note: str = "") -> Path:
    cm = ev.tally.normalised()
    k = len(cm)
    order = list(SEGMENT_Z_ORDER) if ev.segments is not None and k == len(SEGMENT_Z_ORDER) else list(range(k))
    cm = cm[np.ix_(order, order)]
    labels = [str(i) if ev.segments is not None else ev.class_names[i] for i in order]
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * k, 0.8 + 0.45 * k))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if cm[i, j] >= 0.005:
                ax.text(j, i, f"{100 * cm[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), labels, rotation=45 if ev.segments is None else 0)
    ax.set_yticks(range(k), labels)
    what = "segment, z order" if ev.segments is not None else "class"
    ax.set_xlabel(f"predicted {what}")
    ax.set_ylabel(f"true {what}")
    ax.set_title(f"{ev.name}: confusion (% of true class), acc {100 * ev.tally.accuracy:.1f}%")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    _save(fig, path, note)
    plt.close(fig)
    return path


def _segments(plt, ev: ModelEvaluation, baseline: ModelEvaluation | None, path: Path, note: str = "") -> Path:
    x = np.arange(len(SEGMENT_Z_ORDER))
    acc = ev.segments.accuracy()[list(SEGMENT_Z_ORDER)]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.4 if baseline is not None else 0.7
    if baseline is not None:
        base = baseline.segments.accuracy()[list(SEGMENT_Z_ORDER)]
        ax.bar(x - width / 2, np.nan_to_num(100 * base), width, label=baseline.name, color="0.6")
        ax.bar(x + width / 2, np.nan_to_num(100 * acc), width, label=ev.name, color="C0")
    else:
        ax.bar(x, np.nan_to_num(100 * acc), width, label=ev.name, color="C0")
    names = [f"{s}\n{'T' + str(SEGMENT_TARGET[s]) if SEGMENT_TARGET[s] else '-'}" for s in SEGMENT_Z_ORDER]
    ax.set_xticks(x, names)
    ax.set_xlabel("segment (upstream -> downstream), target")
    return _finish_accuracy_plot(plt, fig, ax, "per-segment accuracy", path, note)


def _finish_accuracy_plot(plt, fig, ax, title: str, path: Path, note: str = "") -> Path:
    """Shared accuracy axis (0-100 % with head-room for the legend), title, atomic save."""
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 118)
    ax.set_yticks(range(0, 101, 20))
    ax.legend(loc="upper center", ncol=2, frameon=False)
    ax.set_title(title)
    _save(fig, path, note)
    plt.close(fig)
    return path


def _vs_z(plt, ev: ModelEvaluation, baseline: ModelEvaluation | None, path: Path, note: str = "") -> Path:
    zp = ev.zprofile
    centres = 0.5 * (zp.edges[1:] + zp.edges[:-1])
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for e, style in ((baseline, dict(color="0.5", ls="--")), (ev, dict(color="C0"))):
        if e is None or e.zprofile is None:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(e.zprofile.n > 0, e.zprofile.correct / np.maximum(e.zprofile.n, 1), np.nan)
        ax.step(centres, 100 * acc, where="mid", label=e.name, **style)
    for t in TARGETS:
        half = max(t.thickness_mm) / 2
        ax.axvspan(t.z_center_mm - half, t.z_center_mm + half, color="C3", alpha=0.25, lw=0)
        ax.text(t.z_center_mm, 2, t.name, ha="center", fontsize=7, color="C3")
    for edge in SEGMENT_UPPER_Z_MM:
        ax.axvline(edge, color="0.8", lw=0.6, ls=":")
    ax.set_xlabel("true vertex z (mm); dotted: segment edges")
    return _finish_accuracy_plot(plt, fig, ax, "accuracy against true vertex z (targets shaded)", path, note)


def _eff_pur(plt, ev: ModelEvaluation, path: Path, note: str = "") -> Path:
    curves = ev.flavour.curves()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for f, c in curves.items():
        pur = np.array([np.nan if p is None else p for p in c["purity"]])
        ax.plot(100 * np.asarray(c["efficiency"]), 100 * pur, label=f)
    ax.set_xlabel("efficiency (%)")
    ax.set_ylabel("purity (%)")
    ax.set_xlim(0, 101)
    ax.set_ylim(0, 101)
    ax.legend(loc="best", framealpha=0.8, fontsize=8)
    ax.set_title(f"{ev.name}: efficiency vs purity (score cut scan)")
    _save(fig, path, note)
    plt.close(fig)
    return path


def write_calibration_plots(tally: CalibrationTally, name: str, out_dir: str | os.PathLike,
                            temperature: float | None = None, note: str = "") -> list[Path]:
    """reliability.png and accuracy_vs_confidence.png of one model into ``out_dir``; returns the files.

    ``note``: a line written in each figure's corner (which events were counted).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not tally.n:
        return []
    applied = f", T={temperature:.2f} applied" if temperature is not None else ""
    return [_reliability(plt, tally, f"{name}{applied}", out / "reliability.png", note),
            _accuracy_vs_confidence(plt, tally, f"{name}{applied}", out / "accuracy_vs_confidence.png", note)]


def _reliability(plt, tally: CalibrationTally, title: str, path: Path, note: str = "") -> Path:
    """Guo et al.'s reliability diagram (arXiv 1706.04599, fig. 1): accuracy per confidence bin, with the gap."""
    rows = tally.reliability()
    width = 1.0 / tally.bins
    left = np.array([r["low"] for r in rows])
    acc = np.array([np.nan if r["accuracy"] is None else r["accuracy"] for r in rows])
    conf = np.array([np.nan if r["confidence"] is None else r["confidence"] for r in rows])
    fig, (ax, axn) = plt.subplots(2, 1, figsize=(5, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(left, np.nan_to_num(acc), width, align="edge", color="C0", edgecolor="k", lw=0.5, label="accuracy")
    gap_lo = np.minimum(acc, conf)
    ax.bar(left, np.nan_to_num(np.abs(conf - acc)), width, bottom=np.nan_to_num(gap_lo), align="edge",
           color="C3", alpha=0.35, edgecolor="C3", lw=0.5, label="gap to mean confidence")
    ax.plot([0, 1], [0, 1], color="0.3", ls="--", lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_title(f"{title}\nECE {100 * tally.ece:.2f}% ({tally.bins} bins), NLL {tally.nll:.3f}, "
                 f"Brier {tally.brier:.3f}", fontsize=10)
    axn.bar(left, [r["n"] for r in rows], width, align="edge", color="0.6", edgecolor="k", lw=0.5)
    axn.set_xlabel("confidence (top-class probability)")
    axn.set_ylabel("events")
    _save(fig, path, note)
    plt.close(fig)
    return path


def _accuracy_vs_confidence(plt, tally: CalibrationTally, title: str, path: Path, note: str = "") -> Path:
    """Accuracy of the events at or above each confidence threshold, and the fraction of events kept."""
    thresholds, acc, kept = tally.accuracy_above()
    acc = np.where(kept * tally.n >= 20, acc, np.nan)  # a handful of events above a threshold is noise
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(thresholds, 100 * acc, color="C0", label="accuracy of events kept")
    ax.plot(thresholds, 100 * kept, color="0.5", ls="--", label="events kept")
    ax.plot(thresholds, 100 * thresholds, color="C3", ls=":", lw=1, label="threshold (calibrated floor)")
    ax.set_xlabel("confidence threshold")
    ax.set_ylabel("%")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 102)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.set_title(f"{title}: accuracy against confidence\n(drawn while at least 20 events are kept)", fontsize=10)
    _save(fig, path, note)
    plt.close(fig)
    return path
