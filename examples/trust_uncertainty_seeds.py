"""Koh et al.'s ensemble anchor over several seeds of ``trust_uncertainty.py`` (issue 11).

Koh, Mishra and Terao (JINST 18 (2023) P12013, arXiv 2302.03787) compared uncertainty methods on
LArTPC particle classification and concluded that deep ensembles give the best-calibrated
probabilities, higher accuracy, and better rejection of mistakes and of out-of-distribution
events. One seed of ``trust_uncertainty.py`` cannot say whether that holds here: the methods'
ECEs differ by less than their bootstrap intervals. This script reads several seeds' outputs
(each a separate simulation and training) and reports, per method, the mean and standard
deviation over seeds, and in how many seeds the method was the best, of:

- in-distribution accuracy, ECE (15 bins, top label), NLL and Brier score;
- ECE under shift (Ovadia et al., arXiv 1906.02530): the mean over the shifted samples;
- mistake rejection: the AUROC of predictive entropy at telling wrong from right events
  (in-distribution test file);
- out-of-distribution AUROC on the samples far from training (``--far``): mutual information where
  the method has it, else entropy (the better of the two for each method, as a user would pick).

    python examples/trust_uncertainty.py --out uq1 --seed 1   # and --seed 2, --seed 3
    python examples/trust_uncertainty_seeds.py uq1 uq2 uq3 --out uq-seeds

writes OUT/anchor.json and OUT/anchor.md. Whatever comes out is the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

#: (key, label, larger is better)
METRICS = [("accuracy", "accuracy %", True), ("ece", "ECE %", False), ("nll", "NLL", False),
           ("brier", "Brier", False), ("shift_ece", "ECE under shift %", False),
           ("mistake_auroc", "mistake AUROC", True), ("far_ood_auroc", "far-OOD AUROC", True)]
PERCENT = {"accuracy", "ece", "shift_ece"}


def seed_figures(folder: Path, far: list[str]) -> dict[str, dict[str, float]]:
    """method -> metric -> value, for one seed's output folder."""
    from nuclassify.evaluation import apply_temperature, confidence_entropy
    from nuclassify.trust._uncertainty_table import auroc

    result = json.loads((folder / "uncertainty.json").read_text())
    saved = np.load(folder / "predictions.npz")
    y = saved["test|y"]
    out: dict[str, dict[str, float]] = {}
    for method, figs in result["methods"].items():
        ind = figs["in_distribution"]
        row = {k: ind[k]["value"] for k in ("accuracy", "ece", "nll", "brier")}
        row["shift_ece"] = float(np.mean([s["ece"]["value"] for s in figs["shifted"].values()]))
        base = method.removesuffix(" + temperature")
        p = saved[f"{base}|test|p"]
        if base != method:
            p = apply_temperature(p, result["temperatures"][base])
        wrong = np.argmax(p, axis=1) != y
        entropy = confidence_entropy(p)[1]
        row["mistake_auroc"] = auroc(entropy[~wrong], entropy[wrong])
        far_scores = []
        for name in far:
            s = figs["shifted"][name]
            far_scores.append(max(s["auroc_entropy"]["value"], s.get("auroc_mutual_information", {}).get("value", 0.0)))
        row["far_ood_auroc"] = float(np.mean(far_scores))
        out[method] = row
    return out


def summarise(per_seed: list[dict[str, dict[str, float]]]) -> dict:
    """Mean, standard deviation and best-in-how-many-seeds of every metric, per method."""
    methods = list(per_seed[0])
    summary: dict = {}
    for key, _, larger in METRICS:
        values = np.array([[seed[m][key] for m in methods] for seed in per_seed])  # seeds x methods
        best = values.argmax(axis=1) if larger else values.argmin(axis=1)
        for j, m in enumerate(methods):
            summary.setdefault(m, {})[key] = {"mean": float(values[:, j].mean()),
                                              "sd": float(values[:, j].std(ddof=1)) if len(values) > 1 else 0.0,
                                              "best_in_seeds": int(np.sum(best == j))}
    return summary


def format_table(summary: dict, n_seeds: int) -> str:
    head = "| method | " + " | ".join(label for _, label, _ in METRICS) + " |"
    lines = [head, "|---" * (len(METRICS) + 1) + "|"]
    for m, row in summary.items():
        cells = []
        for key, _, _ in METRICS:
            f = row[key]
            scale = 100.0 if key in PERCENT else 1.0
            digits = 1 if key in PERCENT else 3
            spread = f"{scale * f['mean']:.{digits}f} ± {scale * f['sd']:.{digits}f}"
            cells.append(f"{spread} ({f['best_in_seeds']}/{n_seeds})")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path, help="output folders of trust_uncertainty.py, one per seed")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--far", default="noise100x,pileup-all", help="shifted samples that count as far OOD")
    args = ap.parse_args(argv)
    far = [s for s in args.far.split(",") if s]
    per_seed = [seed_figures(f, far) for f in args.folders]
    summary = summarise(per_seed)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"what": "mean ± sd over seeds (best in how many seeds) of each method's figures",
              "seeds": [str(f) for f in args.folders], "far_ood": far, "per_seed": per_seed, "summary": summary,
              "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}
    (args.out / "anchor.json").write_text(json.dumps(report, indent=1) + "\n")
    table = format_table(summary, len(per_seed))
    (args.out / "anchor.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
