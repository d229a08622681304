"""The uncertainty comparison: accuracy, calibration and out-of-distribution detection of several predictors.

The issue's anchors: temperature scaling lowers the ECE on held-out data (Guo et al., arXiv
1706.04599), and deep ensembles are the best calibrated and the best at flagging
out-of-distribution events (Koh, Mishra and Terao, arXiv 2302.03787; Ovadia et al., arXiv
1906.02530). This module measures both for any set of methods from their probabilities:

- on in-distribution labelled events: accuracy, ECE (top label, 15 bins), NLL, Brier;
- on each shifted sample: the same, and the AUROC of an uncertainty score (predictive entropy,
  and the mutual information where the method has samples) at telling shifted events from
  in-distribution ones (0.5: blind, 1: perfect).

Confidence intervals are bias-corrected percentile bootstraps over events (Efron and
Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13-14), with the same resampled events
for every method, so that the methods' intervals are comparable (paired).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.evaluation import CalibrationTally, confidence_entropy

__all__ = ["calibration_figures", "auroc", "compare_uncertainty", "format_uncertainty_table", "plot_uncertainty"]

_CI = (2.5, 97.5)


def calibration_figures(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """accuracy, ECE (15 bins, top label), NLL (nats) and Brier score of ``probs`` (N, K) against ``labels``."""
    tally = CalibrationTally()
    tally.update(np.asarray(labels), np.asarray(probs))
    acc = float(np.mean(np.argmax(probs, axis=1) == labels))
    return {"accuracy": acc, "ece": tally.ece, "nll": tally.nll, "brier": tally.brier}


def auroc(score_in: np.ndarray, score_out: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` at telling out-of-distribution (higher score) from in-distribution.

    The Mann-Whitney form (ties count a half): the probability that a random shifted event
    scores higher than a random in-distribution one.
    """
    from scipy.stats import rankdata

    s_in, s_out = np.asarray(score_in, np.float64), np.asarray(score_out, np.float64)
    ranks = rankdata(np.concatenate([s_in, s_out]))
    n_in, n_out = len(s_in), len(s_out)
    return float((ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out))


def _interval(values: list[float], point: float) -> list[float]:
    """Bias-corrected percentile interval (Efron's BC, Efron and Tibshirani 1993, sec. 14.3).

    The ECE is biased upwards and more so on a resample (repeated events fill bins unevenly), so
    plain percentiles can miss the estimate itself; BC shifts the percentiles by the fraction
    of resamples below the estimate, and equals the plain percentile interval when that is 1/2.
    """
    from scipy.stats import norm

    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if not len(arr):
        return [float("nan")] * 2
    below = np.clip((np.sum(arr < point) + 0.5 * np.sum(arr == point)) / len(arr), 1 / (len(arr) + 1),
                    len(arr) / (len(arr) + 1))
    z0 = norm.ppf(below)
    levels = [100 * norm.cdf(2 * z0 + norm.ppf(q / 100)) for q in _CI]
    return [float(v) for v in np.percentile(arr, levels)]


def _scores(probs: np.ndarray, mi: np.ndarray | None) -> dict[str, np.ndarray]:
    out = {"entropy": confidence_entropy(probs)[1]}
    if mi is not None:
        out["mutual_information"] = np.asarray(mi, dtype=np.float64)
    return out


def compare_uncertainty(probs: Mapping[str, Mapping[str, np.ndarray]], labels: Mapping[str, np.ndarray], *,
                        mutual_info: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                        reference: str = "test", bootstrap: int = 200, seed: int = 0) -> dict[str, Any]:
    """The comparison table as a JSON-ready dict.

    Args:
        probs: method -> sample -> probabilities (N, K); every method has every sample.
        labels: sample -> true labels (N,).
        mutual_info: method -> sample -> mutual information (N,), for methods that have samples.
        reference: the in-distribution sample; every other sample is a shifted one.
        bootstrap: resamples for the 95% intervals (0: none).
        seed: seeds the resampling.

    Returns:
        ``{"methods": {method: {"in_distribution": {...}, "shifted": {sample: {...}}}}, "n_events": ..., ...}``;
        each figure is ``{"value": v, "ci95": [lo, hi]}``.
    """
    mutual_info = mutual_info or {}
    samples = list(labels)
    shifted = [s for s in samples if s != reference]
    rng = np.random.default_rng(seed)
    draws = {s: [rng.integers(0, len(labels[s]), len(labels[s])) for _ in range(bootstrap)] for s in samples}
    out: dict[str, Any] = {"reference": reference, "shifted": shifted, "bootstrap": bootstrap,
                           "n_events": {s: int(len(labels[s])) for s in samples}, "methods": {}}
    for method, by_sample in probs.items():
        row: dict[str, Any] = {}
        for s in samples:
            p, y = np.asarray(by_sample[s], np.float64), np.asarray(labels[s])
            point = calibration_figures(p, y)
            boot = [calibration_figures(p[i], y[i]) for i in draws[s]]
            figures = {k: {"value": v, "ci95": _interval([b[k] for b in boot], v)} for k, v in point.items()}
            if s == reference:
                row["in_distribution"] = figures
                continue
            ref_scores = _scores(np.asarray(by_sample[reference]), mutual_info.get(method, {}).get(reference))
            s_scores = _scores(p, mutual_info.get(method, {}).get(s))
            for name in ref_scores:
                a, b = ref_scores[name], s_scores[name]
                value = auroc(a, b)
                figures[f"auroc_{name}"] = {"value": value, "ci95": _interval(
                    [auroc(a[i], b[j]) for i, j in zip(draws[reference], draws[s], strict=True)], value)}
            row.setdefault("shifted", {})[s] = figures
        out["methods"][method] = row
    return out


def _fmt(fig: dict | None, scale: float = 1.0, digits: int = 3) -> str:
    if fig is None:
        return "–"
    lo, hi = fig["ci95"]
    ci = "" if not np.isfinite(lo) else f" ({scale * lo:.{digits}f}–{scale * hi:.{digits}f})"
    return f"{scale * fig['value']:.{digits}f}{ci}"


def format_uncertainty_table(result: Mapping[str, Any]) -> str:
    """A Markdown table, one row per method, 95% intervals in brackets (the JSON also has ECE/NLL per shift)."""
    shifted = list(result["shifted"])
    head = ["method", "accuracy %", "ECE %", "NLL", "Brier"]
    for s in shifted:
        head += [f"acc. {s} %", f"OOD AUROC {s}: entropy", "MI"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, row in result["methods"].items():
        ind = row["in_distribution"]
        cells = [method, _fmt(ind["accuracy"], 100, 1), _fmt(ind["ece"], 100, 1), _fmt(ind["nll"]),
                 _fmt(ind["brier"])]
        for s in shifted:
            sh = row["shifted"][s]
            cells += [_fmt(sh["accuracy"], 100, 1), _fmt(sh["auroc_entropy"], digits=2),
                      _fmt(sh.get("auroc_mutual_information"), digits=2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _roc(score_in: np.ndarray, score_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) of flagging by ``score``, shifted events as positives."""
    scores = np.concatenate([score_in, score_out])
    truth = np.concatenate([np.zeros(len(score_in)), np.ones(len(score_out))])
    order = np.argsort(-scores, kind="stable")
    tpr = np.concatenate([[0], np.cumsum(truth[order]) / truth.sum()])
    fpr = np.concatenate([[0], np.cumsum(1 - truth[order]) / (1 - truth).sum()])
    return fpr, tpr


def plot_uncertainty(probs: Mapping[str, Mapping[str, np.ndarray]], labels: Mapping[str, np.ndarray],
                     result: Mapping[str, Any], path: str | Path, *,
                     mutual_info: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> Path:
    """Reliability curves of each method (in distribution), then one ROC panel per shifted sample.

    Solid lines flag by predictive entropy, dashed ones by mutual information.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mutual_info = mutual_info or {}
    ref, shifts = result["reference"], list(result["shifted"])
    n_rows = (len(shifts) + 2) // 2
    fig, axes = plt.subplots(n_rows, 2, figsize=(11, 4.6 * n_rows), squeeze=False)
    axes = axes.ravel()
    edges = np.linspace(0, 1, 11)
    for i, (method, by_sample) in enumerate(probs.items()):
        p, y = np.asarray(by_sample[ref]), np.asarray(labels[ref])
        conf, ok = p.max(axis=1), p.argmax(axis=1) == y
        b = np.clip(np.digitize(conf, edges) - 1, 0, 9)
        xs = [conf[b == k].mean() for k in range(10) if np.sum(b == k) >= 20]
        ys = [ok[b == k].mean() for k in range(10) if np.sum(b == k) >= 20]
        ece = 100 * result["methods"][method]["in_distribution"]["ece"]["value"]
        axes[0].plot(xs, ys, "o-", color=f"C{i}", ms=4, label=f"{method} (ECE {ece:.1f}%)")
        ref_s = _scores(p, mutual_info.get(method, {}).get(ref))
        for ax, shift in zip(axes[1:], shifts, strict=False):
            sh_s = _scores(np.asarray(by_sample[shift]), mutual_info.get(method, {}).get(shift))
            for name, style in (("entropy", "-"), ("mutual_information", "--")):
                if name not in ref_s:
                    continue
                fpr, tpr = _roc(ref_s[name], sh_s[name])
                a = result["methods"][method]["shifted"][shift][f"auroc_{name}"]["value"]
                ax.plot(fpr, tpr, style, color=f"C{i}", lw=1.2,
                        label=f"{method}, {'MI' if name != 'entropy' else 'entropy'} ({a:.2f})")
    axes[0].plot([0, 1], [0, 1], "--", color="0.5", lw=1)
    axes[0].set(xlabel="confidence (top probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
                title=f"reliability on {ref} ({result['n_events'][ref]} events)")
    axes[0].legend(fontsize=8, loc="upper left")
    for ax, shift in zip(axes[1:], shifts, strict=False):
        ax.plot([0, 1], [0, 1], ":", color="0.5", lw=1)
        ax.set(xlabel=f"false-positive rate ({ref} flagged)", ylabel=f"true-positive rate ({shift} flagged)",
               xlim=(0, 1), ylim=(0, 1), title=f"flagging {shift} events by uncertainty (AUROC)")
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[1 + len(shifts):]:
        ax.set_visible(False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
