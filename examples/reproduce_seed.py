#!/usr/bin/env python3
"""Reproduce the seed talk's MINERvA and NOvA study with nuclassify's own commands, end to end.

``make reproduce-quick`` (2 CPU cores, under 30 minutes) and ``make reproduce`` (full size, a
GPU job) call this through ``examples/reproduce_seed.sh``. Every step is a ``nuclassify``
command run as a subprocess, exactly as a user would type it (the commands are logged in
``OUT/commands.log``); the tables are assembled from their JSON and CSV outputs:

1. simulate one MINERvA data set (2016-width images, as in the seed) and a held-out test set;
2. train the seed's networks: 1 view; 3 views + 1 column; 3 views + 3 columns; three, four and
   five conv layers per view;
3. score them and trackfit on the same test events; the seed's two tables side by side with
   its own figures, McNemar p-values between neighbouring rows;
4. the per-segment backup table: trackfit against the best network, segments in z order;
5. the misclassified events by cause, with ``explain --top-confused``;
6. ``evolve`` twice: from a deliberately poor network and from conv4;
7. NOvA: the CVN-style network against a cut-based selection, efficiency and purity per flavour
   and the efficiency–purity curves;
8. ``OUT/results.json`` (everything, with how it was made) and PNGs in ``OUT/plots/``.

It is resumable: a finished step leaves ``OUT/steps/NAME.json`` and is skipped when run again,
and an interrupted training continues with ``train --resume``. Whatever the run shows is the
result: nothing here is tuned toward the seed's numbers.

The seed's figures are from S. R. Young, "Deep Learning" (ORNL), the MINERvA vertex-finding
slides (after Terwilliger et al., "Vertex reconstruction of neutrino interactions using deep
learning", IJCNN 2017).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent

# The seed's two tables and its per-segment backup table (segments in z order, target column).
SEED_DESIGN_TABLE = [("previous methods", "trackfit", 0.9190), ("CNN - 1 view", "1view", 0.8042),
                     ("CNN - 3 views + 1 column", "3view-1col", 0.8871),
                     ("CNN - 3 views + 3 columns", "3view-3col", 0.9358)]
SEED_DEPTH_TABLE = [("three conv layers {6,6,3}x3", "conv3", 0.9358),
                    ("four conv layers {8,8,7,6}x3", "conv4", 0.9409),
                    ("five conv layers {8,7,7,3,3}x3", "conv5", 0.9355)]
SEED_PER_SEGMENT = [  # (target or None, previous, DL), z order
    (None, 0.789, 0.781), (1, 0.922, 0.964), (None, 0.884, 0.885), (2, 0.915, 0.964), (None, 0.886, 0.892),
    (3, 0.912, 0.954), (None, 0.951, 0.951), (4, 0.891, 0.934), (None, 0.737, 0.613), (5, 0.888, 0.949),
    (None, 0.980, 0.968)]
NETWORKS = ["1view", "3view-1col", "3view-3col", "conv3", "conv4", "conv5"]

SIZES: dict[str, dict[str, Any]] = {
    # Seconds: checks that every step runs (the test suite); the numbers mean nothing.
    "smoke": {"train": 400, "test": 300, "epochs": 1, "evo_events": 300, "evo_poor_budget": 2,
              "evo_conv4_budget": 2, "evo_epochs": 1, "nova_train": 600, "nova_test": 300, "nova_epochs": 1,
              "top_confused": 2, "workers": 1},
    # 2 CPU cores, under 30 minutes.
    "quick": {"train": 20000, "test": 5000, "epochs": 2, "evo_events": 3000, "evo_poor_budget": 12,
              "evo_conv4_budget": 6, "evo_epochs": 2, "nova_train": 20000, "nova_test": 5000, "nova_epochs": 3,
              "top_confused": 12, "workers": 2},
    # A GPU: about 2 hours on one H100-class GPU (the seed trained on 3.27 M events; this is a tenth).
    "full": {"train": 300000, "test": 50000, "epochs": 8, "evo_events": 30000, "evo_poor_budget": 60,
             "evo_conv4_budget": 40, "evo_epochs": 3, "nova_train": 200000, "nova_test": 40000, "nova_epochs": 8,
             "top_confused": 24, "workers": 2},
}


class Runner:
    """Runs nuclassify commands as subprocesses, logs them, and keeps the finished steps."""

    def __init__(self, out: Path, train_args: list[str]) -> None:
        self.out = out
        self.train_args = train_args
        (out / "steps").mkdir(parents=True, exist_ok=True)
        for folder in ("plots", "data", "runs"):
            (out / folder).mkdir(exist_ok=True)
        self.log = open(out / "commands.log", "a", buffering=1)  # noqa: SIM115 - lives as long as the run

    def nuclassify(self, *args: str, stdout: Path | None = None) -> str:
        """Run ``nuclassify ARGS``; return its stdout (or write it to ``stdout``). Fails loudly."""
        cmd = [sys.executable, "-m", "nuclassify", *args]
        shown = "nuclassify " + " ".join(shlex.quote(a) for a in args) + (f" > {stdout}" if stdout else "")
        print(f"$ {shown}", flush=True)
        self.log.write(f"{_dt.datetime.now().isoformat(timespec='seconds')} $ {shown}\n")
        t0 = time.time()
        if stdout is not None:
            tmp = stdout.with_name(stdout.name + ".part")
            with open(tmp, "w") as fh:
                proc = subprocess.run(cmd, stdout=fh, stderr=sys.stderr, text=True)
            if proc.returncode == 0:
                os.replace(tmp, stdout)
            text = ""
        else:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
            text = proc.stdout
        self.log.write(f"    exit {proc.returncode} after {time.time() - t0:.1f} s\n")
        if proc.returncode != 0:
            raise SystemExit(f"reproduce: '{shown}' failed with exit status {proc.returncode} (log: "
                             f"{self.out / 'commands.log'}); fix it and run again: finished steps are kept")
        return text

    def step(self, name: str, fn: Any) -> Any:
        """Run ``fn()`` once; its JSON-able result is kept in ``steps/NAME.json`` for a rerun."""
        path = self.out / "steps" / f"{name}.json"
        if path.exists():
            print(f"== {name}: done earlier ({path})", flush=True)
            return json.loads(path.read_text())
        print(f"== {name}", flush=True)
        t0 = time.time()
        result = fn()
        record = {"result": result, "seconds": round(time.time() - t0, 1)}
        tmp = path.with_suffix(".part")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)
        return record


def _labels(path: Path) -> np.ndarray:
    from nuclassify.data import open_dataset

    with open_dataset(path) as ds:
        return np.concatenate([y for _, y in ds.batches(2048)])


def _muon_track_events(path: Path) -> np.ndarray:
    """The test events with a muon track, the population of MINERvA's lattices (``evaluate --sample muon-track``)."""
    from nuclassify.data import open_dataset, sample_indices

    with open_dataset(path) as ds:
        return sample_indices(ds, "muon-track")


def _predicted(csv_path: Path) -> np.ndarray:
    with open(csv_path) as fh:
        return np.array([int(row["predicted"]) for row in csv.DictReader(fh)], dtype=np.int64)


def _accuracy_row(name: str, correct: np.ndarray) -> dict[str, Any]:
    from nuclassify.evaluation import binomial_ci

    k, n = int(correct.sum()), int(correct.size)
    low, high = binomial_ci(k, n)
    return {"model": name, "accuracy": k / n, "ci95": [low, high], "n": n}


def _mcnemar_p(a: np.ndarray, b: np.ndarray) -> float:
    from nuclassify.evaluation import mcnemar

    return float(mcnemar(a, b).p_value)


def minerva(run: Runner, size: dict[str, Any], seed: int) -> dict[str, Any]:
    """Steps 1–5: simulate, train the seed's networks, the tables, the per-segment table, the causes."""
    data = run.out / "data"
    data.mkdir(exist_ok=True)
    train_h5, test_h5 = data / "minerva_train.h5", data / "minerva_test.h5"
    w = str(size["workers"])

    def simulate() -> dict[str, Any]:
        run.nuclassify("simulate", "minerva", "-n", str(size["train"]), "-o", str(train_h5), "--layout", "2016",
                       "--seed", str(seed), "--workers", w, "--overwrite")
        run.nuclassify("simulate", "minerva", "-n", str(size["test"]), "-o", str(test_h5), "--layout", "2016",
                       "--seed", str(seed + 1), "--workers", w, "--overwrite")
        return {"train": str(train_h5), "test": str(test_h5), "train_events": size["train"],
                "test_events": size["test"]}

    sim = run.step("minerva_simulate", simulate)

    runs = run.out / "runs"
    trained: dict[str, Any] = {}
    for arch in NETWORKS:
        rd = runs / arch

        def train(arch: str = arch, rd: Path = rd) -> dict[str, Any]:
            resume = ["--resume"] if (rd / "run.json").exists() and not (rd / "model.keras").exists() else \
                ["--overwrite"]
            run.nuclassify("train", "--data", str(train_h5), "--valid-fraction", "0.1", "--arch", arch, "--out",
                           str(rd), "--epochs", str(size["epochs"]), "--seed", str(seed), *run.train_args,
                           *resume,)
            meta = json.loads((rd / "run.json").read_text())
            return {"run": str(rd), "parameters": meta.get("parameters"), "backend": meta.get("backend"),
                    "events_per_s": meta.get("events_per_s"), "timings": meta.get("timings")}

        trained[arch] = run.step(f"train_{arch}", train)

    preds = run.out / "predictions"
    preds.mkdir(exist_ok=True)
    for name in [*NETWORKS, "trackfit"]:
        model = "trackfit" if name == "trackfit" else str(runs / name)
        target = preds / f"{name}.csv"
        run.step(f"predict_{name}", lambda model=model, target=target: (
            run.nuclassify("-q", "predict", "--model", model, "--data", str(test_h5), stdout=target),
            str(target))[1])

    y = _labels(test_h5)
    correct = {name: _predicted(preds / f"{name}.csv") == y for name in [*NETWORKS, "trackfit"]}
    muon_track = _muon_track_events(test_h5)

    def table(rows: list[tuple[str, str, float]]) -> list[dict[str, Any]]:
        out = []
        for i, (label, name, seed_acc) in enumerate(rows):
            row = _accuracy_row(name, correct[name]) | {"label": label, "seed_accuracy": seed_acc}
            # The seed counted only events with a muon track (the experiment's lattices hold no other).
            row["muon_track"] = _accuracy_row(name, correct[name][muon_track])
            if i > 0:
                row["mcnemar_p_vs_previous_row"] = _mcnemar_p(correct[rows[i - 1][1]], correct[name])
            out.append(row)
        return out

    design, depth = table(SEED_DESIGN_TABLE), table(SEED_DEPTH_TABLE)
    best = max(NETWORKS, key=lambda n: float(correct[n].mean()))

    def per_segment() -> dict[str, Any]:
        text = run.nuclassify("evaluate", "--model", str(runs / best), "--data", str(test_h5), "--per-segment",
                              "--json", "--plots", str(run.out / "plots" / "evaluate_best"), "--overwrite")
        return json.loads(text)

    evaluation = run.step("evaluate_best", per_segment)["result"]
    z_order = [0, 1, 6, 2, 7, 3, 8, 4, 9, 5, 10]
    seg_rows = []
    for pos, seg in enumerate(z_order):
        ours = evaluation["per_segment"][str(seg)]
        target, seed_prev, seed_dl = SEED_PER_SEGMENT[pos]
        seg_rows.append({"z_position": pos, "segment": seg, "target": ours["target"], "n": ours["n"],
                         "trackfit": ours["baseline_accuracy"], "network": ours["accuracy"],
                         "seed_previous": seed_prev, "seed_dl": seed_dl})

    def confused() -> dict[str, Any]:
        out_dir = run.out / "confused"
        text = run.nuclassify("explain", "--model", str(runs / best), "--data", str(test_h5), "--top-confused",
                              str(size["top_confused"]), "-o", str(out_dir), "--json", "--seed", str(seed))
        return json.loads(text)

    causes = run.step("explain_confused", confused)["result"]
    beats = _mcnemar_p(correct["trackfit"], correct[best])
    return {"data": sim["result"], "networks": {k: v["result"] | {"seconds": v["seconds"]} for k, v in trained.items()},
            "design_table": design, "depth_table": depth, "best_network": best,
            "best_vs_trackfit": {"network": float(correct[best].mean()), "trackfit": float(correct["trackfit"].mean()),
                                 "mcnemar_p": beats},
            "per_segment": seg_rows, "calibration_best": evaluation.get("calibration", {}) | {"reliability": None},
            "misclassified_causes": causes}


def evolve(run: Runner, size: dict[str, Any], seed: int) -> dict[str, Any]:
    """Step 6: evolve from a deliberately poor network and from conv4, on a smaller MINERvA file."""
    data = run.out / "data" / "minerva_evolve.h5"
    run.step("evolve_simulate", lambda: (run.nuclassify(
        "simulate", "minerva", "-n", str(size["evo_events"]), "-o", str(data), "--layout", "2016",
        "--seed", str(seed + 4), "--workers", str(size["workers"]), "--overwrite"), str(data))[1])
    results = {}
    for label, seed_arch, budget in (("poor", str(HERE / "poor_minerva.json"), size["evo_poor_budget"]),
                                     ("conv4", "conv4", size["evo_conv4_budget"])):
        rd = run.out / "runs" / f"evolve_{label}"

        def search(seed_arch: str = seed_arch, budget: int = budget, rd: Path = rd) -> dict[str, Any]:
            resume = ["--resume"] if (rd / "journal.jsonl").exists() else []
            text = run.nuclassify("evolve", "--data", str(data), "--valid-fraction", "0.2", "--seed-arch", seed_arch,
                                  "--budget", str(budget), "--epochs", str(size["evo_epochs"]), "--executor",
                                  "process", "--workers", str(size["workers"]), "--seed", str(seed + 2), "--out",
                                  str(rd), "--json", *resume)
            return json.loads(text)

        summary = run.step(f"evolve_{label}", search)
        results[label] = {"run": str(rd), "seconds": summary["seconds"], "summary": summary["result"],
                          "seed_objective": _seed_objective(rd)}
        for png in rd.glob("*.png"):
            shutil.copy(png, run.out / "plots" / f"evolve_{label}_{png.name}")
    return results


def _seed_objective(run_dir: Path) -> float | None:
    """The seed network's own validation accuracy: candidate 0 of the search's results.csv."""
    path = run_dir / "results.csv"
    if not path.exists():
        return None
    with open(path) as fh:
        for row in csv.DictReader(fh):
            if row.get("status") == "finished" and not row.get("parents") and row.get("val_accuracy"):
                return float(row["val_accuracy"])
    return None


def nova(run: Runner, size: dict[str, Any], seed: int) -> dict[str, Any]:
    """Step 7: the CVN-style network against the cut-based selection, per flavour and as curves."""
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import FlavourTally
    from nuclassify.evaluation.nova_cuts import FEATURE_NAMES, dataset_features, fit_cut_classifier

    data = run.out / "data"
    train_h5, test_h5 = data / "nova_train.h5", data / "nova_test.h5"
    def simulate() -> dict[str, str]:
        for n, path, s in ((size["nova_train"], train_h5, seed + 10), (size["nova_test"], test_h5, seed + 11)):
            run.nuclassify("simulate", "nova", "-n", str(n), "-o", str(path), "--seed", str(s), "--workers",
                           str(size["workers"]), "--overwrite")
        return {"train": str(train_h5), "test": str(test_h5)}

    run.step("nova_simulate", simulate)
    rd = run.out / "runs" / "cvn"

    def train() -> dict[str, Any]:
        resume = ["--resume"] if (rd / "run.json").exists() and not (rd / "model.keras").exists() else ["--overwrite"]
        run.nuclassify("train", "--data", str(train_h5), "--valid-fraction", "0.1", "--arch", "cvn", "--out", str(rd),
                       "--epochs", str(size["nova_epochs"]), "--seed", str(seed), *resume)
        return {"run": str(rd)}

    run.step("nova_train_cvn", train)
    cvn = run.step("nova_evaluate_cvn", lambda: json.loads(run.nuclassify(
        "evaluate", "--model", str(rd), "--data", str(test_h5), "--json", "--plots",
        str(run.out / "plots" / "nova_cvn"), "--overwrite")))["result"]

    def cuts() -> dict[str, Any]:
        with open_dataset(train_h5) as ds:
            class_names = list(ds.class_names())
            x_train, y_train = dataset_features(ds.batches(1024))
        with open_dataset(test_h5) as ds:
            x_test, y_test = dataset_features(ds.batches(1024))
        clf = fit_cut_classifier(x_train, y_train, len(class_names), max_depth=3, seed=seed)
        scores = clf.predict_proba(x_test)
        tally = FlavourTally(class_names)
        tally.update(y_test, scores)
        correct = scores.argmax(axis=1) == y_test
        return {"accuracy": _accuracy_row("cuts", correct), "flavours": tally.summary(), "curves": tally.curves(),
                "features": list(FEATURE_NAMES), "cuts": clf.describe()}

    cut = run.step("nova_cuts", cuts)["result"]
    cvn_curves = _cvn_curves(rd, test_h5)
    _plot_nova(cvn_curves, cut["curves"], run.out / "plots" / "nova_efficiency_purity.png")
    return {"cvn": {"accuracy": cvn["accuracy"], "ci95": cvn["accuracy_ci95"], "n": cvn["n_events"],
                    "flavours": cvn.get("flavours"), "run": str(rd)},
            "cuts": {k: v for k, v in cut.items() if k != "curves"}}


def _cvn_curves(run_dir: Path, test_h5: Path) -> dict[str, Any]:
    """The network's efficiency–purity curves, through the library predictor (one pass)."""
    from nuclassify._backend import start_backend_quietly
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import FlavourTally, load_predictor

    start_backend_quietly()  # TensorFlow's start-up chatter stays out of the log, as in the commands
    with open_dataset(test_h5) as ds:
        predictor = load_predictor(str(run_dir), ds)
        tally = FlavourTally(list(ds.class_names()))
        for views, y in ds.batches(512):
            keep = np.asarray(y) >= 0
            probabilities, _ = predictor.fn([v[keep] for v in views])[:2]
            tally.update(np.asarray(y)[keep], probabilities)
    return tally.curves()


def _plot_nova(cvn: dict[str, Any], cuts: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flavours = [f for f in cvn if f in cuts]
    fig, axes = plt.subplots(1, len(flavours), figsize=(4 * len(flavours), 3.6))
    for ax, f in zip(np.atleast_1d(axes), flavours, strict=True):
        for curves, label, style in ((cvn, "CVN-style net", "-"), (cuts, "cut-based", "--")):
            eff = np.array(curves[f]["efficiency"], dtype=float)
            pur = np.array([np.nan if p is None else p for p in curves[f]["purity"]], dtype=float)
            ax.plot(eff, pur, style, label=label)
        ax.set_title(f.replace("_", " "))
        ax.set_xlabel("efficiency")
        ax.set_ylabel("purity")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(loc="lower left")
    fig.suptitle("NOvA flavour selection: efficiency against purity (score cut scanned)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_tables(minerva_result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = minerva_result["design_table"] + minerva_result["depth_table"]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(len(rows))
    ours = np.array([r["accuracy"] for r in rows])
    err = np.array([[r["accuracy"] - r["ci95"][0], r["ci95"][1] - r["accuracy"]] for r in rows]).T
    ax.bar(x - 0.2, 100 * ours, 0.4, yerr=100 * err, label="nuclassify (simulated)", capsize=3)
    ax.bar(x + 0.2, [100 * r["seed_accuracy"] for r in rows], 0.4, label="seed talk (MINERvA simulation)")
    ax.set_xticks(x, [r["model"] for r in rows], rotation=20)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(50, 100)
    ax.legend(loc="lower right")
    ax.set_title("The seed's network-design tables, reproduced")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_segments(rows: list[dict[str, Any]], best: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    x = np.arange(len(rows))
    ax.plot(x, [100 * r["trackfit"] for r in rows], "o-", label="trackfit (ours)")
    ax.plot(x, [100 * r["network"] for r in rows], "s-", label=f"{best} (ours)")
    ax.plot(x, [100 * r["seed_previous"] for r in rows], "o:", color="grey", label="seed: previous")
    ax.plot(x, [100 * r["seed_dl"] for r in rows], "s:", color="black", label="seed: DL")
    ax.set_xticks(x, [f"{r['segment']}\n{'T' + str(r['target']) if r['target'] else ''}" for r in rows])
    ax.set_xlabel("segment (detector z order)")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--out", type=Path, default=Path("reproduce_out"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--train-args", default="",
                        help="extra 'nuclassify train' options for the MINERvA networks (quoted)")
    parser.add_argument("--only", choices=["minerva", "evolve", "nova"], action="append",
                        help="run only these parts (repeatable)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, here and in children
    size = SIZES[args.size]
    args.out.mkdir(parents=True, exist_ok=True)
    run = Runner(args.out, shlex.split(args.train_args))
    t0 = time.time()
    parts = args.only or ["minerva", "evolve", "nova"]
    results: dict[str, Any] = {}
    results_path = args.out / "results.json"
    if results_path.exists():
        results = json.loads(results_path.read_text())
    if "minerva" in parts:
        results["minerva"] = minerva(run, size, args.seed)
        _plot_tables(results["minerva"], args.out / "plots" / "seed_tables.png")
        _plot_segments(results["minerva"]["per_segment"], results["minerva"]["best_network"],
                       args.out / "plots" / "per_segment_vs_seed.png")
    if "evolve" in parts:
        results["evolve"] = evolve(run, size, args.seed)
    if "nova" in parts:
        results["nova"] = nova(run, size, args.seed)
    from nuclassify import __version__

    results["meta"] = {
        "command": "python examples/reproduce_seed.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "size": args.size, "sizes": size, "seed": args.seed, "train_args": args.train_args,
        "date": _dt.date.today().isoformat(), "wall_seconds_this_call": round(time.time() - t0, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(), "nuclassify": __version__, "git_commit": _git_commit(),
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "step_seconds": {p.stem: json.loads(p.read_text())["seconds"]
                         for p in sorted((args.out / "steps").glob("*.json"))},
    }
    results["meta"]["total_step_seconds"] = round(sum(results["meta"]["step_seconds"].values()), 1)
    tmp = results_path.with_suffix(".part")
    tmp.write_text(json.dumps(results, indent=1, default=float))
    os.replace(tmp, results_path)
    print(f"== done in {time.time() - t0:.0f} s: {results_path}, plots in {args.out / 'plots'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
