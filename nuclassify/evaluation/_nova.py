"""NOvA flavour selection figures: efficiency and purity per flavour, at argmax and at a cut.

Flavour scores are sums of the interaction sub-class scores (NOvA's CVN: Aurisano et al.,
arXiv:1604.01444; the codes as in DUNE/dunereco ``CVN/func/InteractionType.h``: 0-11 are
{numu, nue, nutau} CC x {QE, RES, DIS, Other}, 13 is NC). The efficiency-vs-purity curve is
built from fixed-bin score histograms, so it streams with flat memory.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FLAVOURS", "flavour_groups", "FlavourTally"]

FLAVOURS: tuple[str, ...] = ("nue_cc", "numu_cc", "nutau_cc", "nc")
_CODE_FLAVOUR = {0: "numu_cc", 1: "nue_cc", 2: "nutau_cc"}


def flavour_groups(class_names: list[str]) -> dict[str, list[int]]:
    """Which class indices make up each flavour, judged from the class names or the 16-code scheme."""
    groups: dict[str, list[int]] = {f: [] for f in FLAVOURS}
    n = len(class_names)
    if n >= 14 and not any(_name_flavour(c) for c in class_names):
        for code in range(12):
            groups[_CODE_FLAVOUR[code // 4]].append(code)
        groups["nc"].append(13)
        return groups
    for i, name in enumerate(class_names):
        flavour = _name_flavour(name)
        if flavour is not None:
            groups[flavour].append(i)
    return groups


def _name_flavour(name: str) -> str | None:
    key = name.lower().replace(" ", "").replace("-", "_").replace("ν", "nu")
    for flavour, tags in (("nue_cc", ("nue",)), ("numu_cc", ("numu",)), ("nutau_cc", ("nutau",)),
                          ("nc", ("nc", "neutral"))):
        if any(key.startswith(t) for t in tags):
            return flavour
    return None


class FlavourTally:
    """Running flavour-selection counts for one classifier.

    Args:
        class_names: the model's classes; mapped onto ``FLAVOURS`` by :func:`flavour_groups`.
        score_cut: the chosen cut on a flavour's summed score for the "at cut" figures.
        n_bins: resolution of the score histograms behind the efficiency-vs-purity curve.
    """

    def __init__(self, class_names: list[str], score_cut: float = 0.5, n_bins: int = 100) -> None:
        self.groups = flavour_groups(class_names)
        self.flavours = [f for f in FLAVOURS if self.groups[f]]
        n_cls = len(class_names)
        self.class_flavour = np.full(n_cls, -1, dtype=np.int64)
        for j, f in enumerate(self.flavours):
            self.class_flavour[self.groups[f]] = j
        self.score_cut = float(score_cut)
        self.n_bins = n_bins
        k = len(self.flavours)
        self.true_n = np.zeros(k, dtype=np.int64)
        self.argmax_selected = np.zeros(k, dtype=np.int64)
        self.argmax_true_selected = np.zeros(k, dtype=np.int64)
        self.cut_selected = np.zeros(k, dtype=np.int64)
        self.cut_true_selected = np.zeros(k, dtype=np.int64)
        self.hist_all = np.zeros((k, n_bins), dtype=np.int64)
        self.hist_true = np.zeros((k, n_bins), dtype=np.int64)

    def update(self, y_true: np.ndarray, probabilities: np.ndarray) -> None:
        probs = np.asarray(probabilities, dtype=np.float64)
        k = len(self.flavours)
        scores = np.zeros((len(probs), k))
        for j, f in enumerate(self.flavours):
            scores[:, j] = probs[:, self.groups[f]].sum(axis=1)
        true_f = self.class_flavour[np.asarray(y_true, dtype=np.int64)]
        pred_f = np.argmax(scores, axis=1)
        bins = np.clip((scores * self.n_bins).astype(np.int64), 0, self.n_bins - 1)
        for j in range(k):
            is_true = true_f == j
            self.true_n[j] += int(is_true.sum())
            sel = pred_f == j
            self.argmax_selected[j] += int(sel.sum())
            self.argmax_true_selected[j] += int((sel & is_true).sum())
            cut = scores[:, j] >= self.score_cut
            self.cut_selected[j] += int(cut.sum())
            self.cut_true_selected[j] += int((cut & is_true).sum())
            self.hist_all[j] += np.bincount(bins[:, j], minlength=self.n_bins)
            self.hist_true[j] += np.bincount(bins[is_true, j], minlength=self.n_bins)

    def summary(self) -> dict[str, dict]:
        """Per flavour: n, efficiency and purity at argmax and at the score cut."""
        out = {}
        for j, f in enumerate(self.flavours):
            out[f] = {
                "n": int(self.true_n[j]),
                "argmax": {"efficiency": _ratio(self.argmax_true_selected[j], self.true_n[j]),
                           "purity": _ratio(self.argmax_true_selected[j], self.argmax_selected[j])},
                "cut": {"score_cut": self.score_cut,
                        "efficiency": _ratio(self.cut_true_selected[j], self.true_n[j]),
                        "purity": _ratio(self.cut_true_selected[j], self.cut_selected[j])},
            }
        return out

    def curves(self) -> dict[str, dict[str, list]]:
        """Efficiency and purity against the score cut (bin lower edges), per flavour."""
        cuts = np.arange(self.n_bins) / self.n_bins
        out = {}
        for j, f in enumerate(self.flavours):
            sel_all = np.cumsum(self.hist_all[j][::-1])[::-1]
            sel_true = np.cumsum(self.hist_true[j][::-1])[::-1]
            eff = sel_true / max(int(self.true_n[j]), 1)
            with np.errstate(invalid="ignore", divide="ignore"):
                pur = np.where(sel_all > 0, sel_true / np.maximum(sel_all, 1), np.nan)
            out[f] = {"cut": cuts.tolist(), "efficiency": eff.tolist(),
                      "purity": [None if not np.isfinite(p) else float(p) for p in pur]}
        return out

    def format(self) -> str:
        lines = [f"{'flavour':<10} {'n':>7}  {'eff@argmax':>10} {'pur@argmax':>10}  "
                 f"{'eff@' + format(self.score_cut, '.2f'):>10} {'pur@' + format(self.score_cut, '.2f'):>10}"]
        for f, s in self.summary().items():
            lines.append(f"{f:<10} {s['n']:>7}  {_fmt(s['argmax']['efficiency'])} {_fmt(s['argmax']['purity'])}  "
                         f"{_fmt(s['cut']['efficiency'])} {_fmt(s['cut']['purity'])}")
        return "\n".join(lines)


def _ratio(k: int, n: int) -> float | None:
    return float(k) / float(n) if n else None


def _fmt(v: float | None) -> str:
    return f"{'-':>10}" if v is None else f"{100 * v:>9.1f}%"
