"""The picture of a shift: per-event score histograms of the reference beside the data.

Left, the Mahalanobis score of each held-out reference event and each data event (a shifted
sample moves right, and its tail beyond the reference's 99th percentile is the events to
distrust); middle, the classifier test's out-of-fold probability that an event is "data" (two
piles at 0.5 when alike, pulled apart when not); right, the KS statistic of each input summary,
which says where the shift lies. Written atomically with matplotlib's Agg backend.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from nuclassify._fileio import atomic_output
from nuclassify.trust._shift import ALPHA, ShiftReport

__all__ = ["draw_shift", "write_shift_events"]


def draw_shift(report: ShiftReport, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Draw the three panels of ``report`` into the PNG ``path``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.1]})
    ref_label = f"reference ({Path(report.reference_path).name})"
    dat_label = f"data ({Path(report.data_path).name})"
    m = report.mahalanobis
    hi = float(np.quantile(np.r_[m.reference, m.data], 0.995))
    bins = np.linspace(0.0, hi, 41)
    ax = axes[0]
    ax.hist(np.minimum(m.reference, hi), bins, density=True, histtype="stepfilled", alpha=0.4, color="C0",
            label=f"{ref_label}, held-out half")
    ax.hist(np.minimum(m.data, hi), bins, density=True, histtype="step", lw=1.6, color="C3", label=dat_label)
    ax.axvline(float(np.quantile(m.reference, 0.99)), color="0.3", ls=":", lw=1)
    ax.set_xlabel("squared Mahalanobis distance (Ledoit-Wolf); dotted: reference 99%")
    ax.set_ylabel("events (normalised)")
    ax.set_title(f"Mahalanobis on penultimate features: AUC {m.auc:.3f}, p {_pv(m.p_value)}", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    c = report.classifier
    bins = np.linspace(0.0, 1.0, 41)
    ax = axes[1]
    ax.hist(c.reference, bins, density=True, histtype="stepfilled", alpha=0.4, color="C0", label=ref_label)
    ax.hist(c.data, bins, density=True, histtype="step", lw=1.6, color="C3", label=dat_label)
    ax.set_xlabel("classifier's out-of-fold P(event is data)")
    ax.set_title(f"classifier test: AUC {c.auc:.3f}, p {_pv(c.p_value)}", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    rows = sorted(report.inputs, key=lambda r: r["ks"])
    cut = ALPHA / max(1, len(rows))
    ax = axes[2]
    ax.barh(range(len(rows)), [r["ks"] for r in rows],
            color=["C3" if r["p_value"] < cut else "0.6" for r in rows])
    ax.set_yticks(range(len(rows)), [r["feature"] for r in rows], fontsize=7)
    ax.set_xlabel(f"KS statistic (red: p < {ALPHA}/{len(rows)})")
    ax.set_title("input summaries", fontsize=10)
    verdict = "SHIFTED" if report.flagged else "not flagged"
    fig.suptitle(f"{report.model}: score {report.score:.3f}, overall p {_pv(report.p_values['overall'])} ({verdict}); "
                 f"MMD² {report.mmd.mmd2:.2g} (p {_pv(report.mmd.p_value)})", fontsize=11)
    fig.tight_layout()
    target = Path(path)
    with atomic_output(target, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return target


def write_shift_events(report: ShiftReport, path: str | os.PathLike, *, overwrite: bool = False) -> int:
    """CSV of the data events: event_id, mahalanobis, p_data (classifier, out of fold); atomic. Returns rows."""
    ids = report.data_event_ids if report.data_event_ids is not None else np.arange(report.n_data)
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["event_id", "mahalanobis", "p_data"])
        for i, d2, p in zip(ids, report.mahalanobis.data, report.classifier.data, strict=True):
            writer.writerow([int(i), f"{float(d2):.6g}", f"{float(p):.6g}"])
    return len(ids)


def _pv(p: float) -> str:
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"
