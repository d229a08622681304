"""Does domain-adversarial training narrow the source-target accuracy gap? A study on simulated MINERvA.

MINERvA trained its vertex finder on simulation and used domain-adversarial training (DANN:
gradient reversal, a dense 1024-1024-1 domain classifier, loss weight 0.1; Perdue et al., JINST
13 (2018) P11020, arXiv 1808.08332) to make it rely less on what differs in the detector data.
Real data is not public, so here the "data" is simulation with shifted detector settings (by
default a hundred times the channel noise rate: stray hits all over the detector, which cost a
plain network most of its accuracy), whose labels are used only to evaluate. For each seed:

1. simulate (2016 layout) a source training and test file and a target training and test file;
2. train the same network twice with the same seed: plain, and with ``--domain-adapt`` on the
   target training file (its labels never read);
3. evaluate both on the source and target test files.

Reported (DIR/dann.json, DIR/dann.png): accuracies with Wilson 95% intervals (Wilson, JASA 22
(1927) 209), the gap (source - target) with a bootstrap 95% interval, and the change of the gap
and of the target accuracy from plain to DANN with paired bootstrap intervals (the same
resampled events scored by both networks); over the seeds, the mean narrowing, target gain and
source change with Student-t 95% intervals (training noise included). Whatever comes out is the
result.

    python examples/domain_adapt_study.py --out study/dann --seed 1 --seeds 5 --jobs 2
    python examples/domain_adapt_study.py --out study/dann-w1 --seed 1 --seeds 5 --jobs 2 --domain-weight 1
    python examples/domain_adapt_study.py --out study/dann-w1-ramp --seed 1 --seeds 5 --jobs 2 --domain-weight 1 --ramp
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: CPU-sized three-column network (about 0.11 M parameters; epsilon is 1.7 M).
STUDY_SPEC = {
    "name": "dann-study",
    "description": "CPU-sized tri-columnar net for the domain-adaptation study",
    "views": ["x", "u", "v"],
    "input_transform": "log1p",
    "combine": "columns",
    "columns": {v: [{"kind": "conv", "filters": 8, "kernel": [8, 3]}, {"kind": "pool", "size": [4, 2]},
                    {"kind": "conv", "filters": 16, "kernel": [5, 3]}, {"kind": "pool", "size": [2, 2]},
                    {"kind": "dense", "units": 64}] for v in ("x", "u", "v")},
    "merge": "concat",
    "head": [{"kind": "dropout", "rate": 0.3}, {"kind": "dense", "units": 64}],
    "training": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 128},
}


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95% interval of a binomial proportion k/n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (centre - half, centre + half)


def _nuclassify(args: list[str], log: Path) -> subprocess.Popen:
    """Start ``python -m nuclassify ARGS`` with its output in ``log``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(log, "w") as fh:
        return subprocess.Popen([sys.executable, "-m", "nuclassify", "-q", *args], stdout=fh, stderr=subprocess.STDOUT,
                                env=env)


def _wait(procs: list[tuple[subprocess.Popen, Path]]) -> None:
    for proc, log in procs:
        if proc.wait() != 0:
            raise SystemExit(f"domain_adapt_study: failed, see {log}:\n{log.read_text()[-2000:]}")


def _run_all(commands: list[tuple[list[str], Path]], jobs: int) -> None:
    """Run the commands, at most ``jobs`` at a time."""
    pending = list(commands)
    while pending:
        batch, pending = pending[:jobs], pending[jobs:]
        _wait([(_nuclassify(args, log), log) for args, log in batch])


def _correct(run_dir: Path, data: Path) -> np.ndarray:
    """Per-event 0/1 correctness of the run's final model (class probabilities only) on ``data``."""
    from nuclassify.data import open_dataset
    from nuclassify.training import load_run

    run = load_run(run_dir)
    views = run.meta["views"]
    out = []
    with open_dataset(data) as ds:
        pick = [list(ds.view_names).index(v) for v in views]
        for xs, y in ds.batches(500):
            probs = np.asarray(run.model.predict_on_batch([xs[k] for k in pick]))
            out.append(np.argmax(probs, axis=1) == y)
    return np.concatenate(out).astype(np.int8)


def _summary(c: np.ndarray) -> dict:
    k, n = int(c.sum()), int(len(c))
    lo, hi = wilson(k, n)
    return {"accuracy": k / n, "ci95": [lo, hi], "correct": k, "events": n}


def _bootstrap(src: dict[str, np.ndarray], tgt: dict[str, np.ndarray], rng: np.random.Generator,
               n_boot: int = 4000) -> dict:
    """Gap per network, and plain - DANN of the gap and DANN - plain of target accuracy (paired resamples)."""
    i = rng.integers(0, len(src["plain"]), (n_boot, len(src["plain"])))
    j = rng.integers(0, len(tgt["plain"]), (n_boot, len(tgt["plain"])))
    gaps = {m: src[m][i].mean(1) - tgt[m][j].mean(1) for m in ("plain", "dann")}
    target_gain = tgt["dann"][j].mean(1) - tgt["plain"][j].mean(1)

    def ci(a: np.ndarray) -> list[float]:
        return [float(np.percentile(a, 2.5)), float(np.percentile(a, 97.5))]

    return {"gap_ci95": {m: ci(g) for m, g in gaps.items()},
            "gap_narrowing_ci95": ci(gaps["plain"] - gaps["dann"]),
            "target_gain_ci95": ci(target_gain)}


def _done(run_dir: Path, epochs: int, domain_weight: float | None, ramp: bool = False) -> bool:
    """The run is complete with these settings (a rerun of the study reuses it; its data files are the same)."""
    try:
        meta = json.loads((run_dir / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (meta.get("status") == "complete" and meta.get("epochs") == epochs
            and meta.get("domain_weight") == domain_weight and bool(meta.get("domain_ramp")) == ramp)


def study_seed(out: Path, seed: int, args: argparse.Namespace) -> dict:
    """Simulate, train plain and DANN, evaluate: one seed's figures."""
    d = out / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    shift = args.shift.split()
    files = {"src_train": (args.n_train, 100 * seed + 1, []), "src_test": (args.n_test, 100 * seed + 2, []),
             "tgt_train": (args.n_train, 100 * seed + 3, shift), "tgt_test": (args.n_test, 100 * seed + 4, shift)}
    sims = []
    for name, (n, s, extra) in files.items():
        if not (d / f"{name}.h5").is_file():
            sims.append((["simulate", "minerva", "--layout", "2016", "-n", str(n), "-o", str(d / f"{name}.h5"),
                          "--seed", str(s), *extra], d / f"sim_{name}.log"))
    _run_all(sims, args.jobs)
    spec = d / "spec.json"
    spec.write_text(json.dumps(STUDY_SPEC, indent=1))
    common = ["train", "--data", str(d / "src_train.h5"), "--valid-fraction", "0.1", "--arch", str(spec),
              "--epochs", str(args.epochs), "--seed", str(seed), "--overwrite", "--json"]
    t0 = time.perf_counter()
    runs = []  # only what is not already there with these settings (another --domain-weight reuses plain)
    if not _done(d / "plain", args.epochs, None):
        runs.append((common + ["--out", str(d / "plain")], d / "train_plain.log"))
    if not _done(d / "dann", args.epochs, args.domain_weight, args.ramp):
        runs.append((common + ["--out", str(d / "dann"), "--domain-adapt", str(d / "tgt_train.h5"), "--domain-weight",
                               str(args.domain_weight), *(["--domain-ramp"] if args.ramp else [])],
                     d / "train_dann.log"))
    _run_all(runs, args.jobs)
    train_s = time.perf_counter() - t0
    src = {m: _correct(d / m, d / "src_test.h5") for m in ("plain", "dann")}
    tgt = {m: _correct(d / m, d / "tgt_test.h5") for m in ("plain", "dann")}
    boot = _bootstrap(src, tgt, np.random.default_rng(seed))
    result: dict = {"seed": seed, "train_seconds": round(train_s, 1)}
    for m in ("plain", "dann"):
        result[m] = {"source": _summary(src[m]), "target": _summary(tgt[m]),
                     "gap": float(src[m].mean() - tgt[m].mean()), "gap_ci95": boot["gap_ci95"][m],
                     "history": json.loads((d / m / "run.json").read_text()).get("best")}
    result["gap_narrowing"] = result["plain"]["gap"] - result["dann"]["gap"]
    result["gap_narrowing_ci95"] = boot["gap_narrowing_ci95"]
    result["target_gain"] = result["dann"]["target"]["accuracy"] - result["plain"]["target"]["accuracy"]
    result["target_gain_ci95"] = boot["target_gain_ci95"]
    return result


def _over_seeds(values: list[float]) -> dict:
    """Mean over seeds with a Student-t 95% interval: the seed-to-seed (training) spread, not only events."""
    from scipy import stats

    a = np.asarray(values, np.float64)
    if len(a) < 2:
        return {"mean": float(a.mean()), "ci95": None, "seeds": len(a)}
    half = stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a))
    return {"mean": float(a.mean()), "ci95": [float(a.mean() - half), float(a.mean() + half)], "seeds": len(a)}


def plot(results: list[dict], path: Path, shift: str, setting: str = "") -> None:
    """Source and target accuracy (Wilson 95%) of plain and DANN, one group per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.8 + 2.6 * len(results), 4.2))
    width = 0.2
    colours = {("plain", "source"): "#9ecae1", ("plain", "target"): "#3182bd",
               ("dann", "source"): "#fdae6b", ("dann", "target"): "#e6550d"}
    for g, r in enumerate(results):
        for k, (m, s) in enumerate(colours):
            a = r[m][s]
            x = g + (k - 1.5) * width
            ax.bar(x, a["accuracy"], width, color=colours[(m, s)], label=f"{m} on {s}" if g == 0 else None)
            ax.errorbar(x, a["accuracy"], yerr=[[a["accuracy"] - a["ci95"][0]], [a["ci95"][1] - a["accuracy"]]],
                        color="k", capsize=3, lw=1)
        ax.text(g, 0.02, f"gap {100 * r['plain']['gap']:.1f} -> {100 * r['dann']['gap']:.1f} pts",
                ha="center", fontsize=8, color="w")
    ax.set_xticks(range(len(results)), [f"seed {r['seed']}" for r in results])
    ax.set_ylabel("segment accuracy (Wilson 95%)")
    ax.set_ylim(0, 1)
    ax.set_title(f"plain vs domain-adversarial{setting}; target = simulate {shift}", fontsize=9)
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    """Parse the options, run each seed, write DIR/dann.json and DIR/dann.png."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path,
                    help="output folder (a seed already there is reused: use a new one for other sizes)")
    ap.add_argument("--seed", type=int, default=1, help="first seed")
    ap.add_argument("--seeds", type=int, default=1, help="how many seeds (seed, seed+1, ...)")
    ap.add_argument("--n-train", type=int, default=3000, help="events in each training file")
    ap.add_argument("--n-test", type=int, default=1500, help="events in each test file")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--domain-weight", type=float, default=0.1, help="train --domain-weight (MINERvA's 0.1)")
    ap.add_argument("--shift", default="--noise-rate 0.02", help="simulate options of the target sample")
    ap.add_argument("--ramp", action="store_true", help="train --domain-ramp (Ganin et al.'s schedule)")
    ap.add_argument("--jobs", type=int, default=1, help="processes at a time (simulations, the two trainings)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = [study_seed(args.out, s, args) for s in range(args.seed, args.seed + args.seeds)]
    gaps = np.array([[r["plain"]["gap"], r["dann"]["gap"]] for r in results])
    report = {
        "what": "segment accuracy on source (nominal simulation) and target (shifted simulation) test files, "
                "plain vs --domain-adapt, same seed; gap = source - target",
        "shift": args.shift, "layout": "2016", "n_train": args.n_train, "n_test": args.n_test,
        "epochs": args.epochs, "domain_weight": args.domain_weight, "ramp": args.ramp, "spec": STUDY_SPEC["name"],
        "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "seeds": results,
        "mean_gap": {"plain": float(gaps[:, 0].mean()), "dann": float(gaps[:, 1].mean())},
        "narrowed_in_seeds": int(sum(r["gap_narrowing"] > 0 for r in results)),
        "narrowed_significantly_in_seeds": int(sum(r["gap_narrowing_ci95"][0] > 0 for r in results)),
        "target_rose_in_seeds": int(sum(r["target_gain"] > 0 for r in results)),
        "over_seeds": {name: _over_seeds([key(r) for r in results]) for name, key in (
            ("gap_narrowing", lambda r: r["gap_narrowing"]), ("target_gain", lambda r: r["target_gain"]),
            ("source_change", lambda r: r["dann"]["source"]["accuracy"] - r["plain"]["source"]["accuracy"]))},
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    (args.out / "dann.json").write_text(json.dumps(report, indent=1))
    plot(results, args.out / "dann.png", args.shift,
         f" (domain weight {args.domain_weight:g}{', ramped' if args.ramp else ''}, {args.n_train} events)")
    for r in results:
        p, d = r["plain"], r["dann"]
        print(f"seed {r['seed']}: plain source {p['source']['accuracy']:.3f} target {p['target']['accuracy']:.3f} "
              f"gap {p['gap']:+.3f} | dann source {d['source']['accuracy']:.3f} target {d['target']['accuracy']:.3f} "
              f"gap {d['gap']:+.3f} | narrowing {r['gap_narrowing']:+.3f} {r['gap_narrowing_ci95']}")
    for name, f in report["over_seeds"].items():
        ci = "" if f["ci95"] is None else f" [{f['ci95'][0]:+.3f}, {f['ci95'][1]:+.3f}]"
        print(f"over {f['seeds']} seeds: {name} {f['mean']:+.3f}{ci}")


if __name__ == "__main__":
    main()
