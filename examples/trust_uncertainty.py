"""Single net, MC dropout, deep ensemble and temperature scaling compared on simulated MINERvA (issue 11).

Simulates a training file, a validation file (for the temperature), an in-distribution test file
and shifted samples (a 30% readout-gain shift, the medium-energy beam, ten and a hundred times
the channel noise rate, a second interaction in every event), all in the 2016 layout; trains an
ensemble of K small networks with dropout (member 0 is the single net, exactly what
``train --seed SEED`` gives); predicts every file with each method through the library
predictor; writes

    OUT/uncertainty.json   the table (accuracy, ECE, NLL, Brier; per shifted sample accuracy,
                           ECE and the OOD AUROC of entropy and mutual information; 95% bootstrap CIs)
    OUT/uncertainty.md     the same table in Markdown
    OUT/uncertainty.png    reliability curves and OOD ROC curves
    OUT/predictions.npz    every method's probabilities (reused by a second call with the same OUT)

CPU-sized by default (6,000 training events, 4 epochs, 4 members): about 20 minutes on 2 busy
cores, half of it training. Run again with the same --out, it reuses the files and the trained
members (the ensemble resumes) and only predicts.

    python examples/trust_uncertainty.py --out uq --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

#: A small three-view network with dropout (so that MC dropout has something to sample).
SPEC = {
    "name": "uq-small",
    "description": "small tri-columnar net with dropout, for the uncertainty comparison",
    "views": ["x", "u", "v"],
    "input_transform": "log1p",
    "combine": "columns",
    "columns": {v: [{"kind": "conv", "filters": 8, "kernel": [8, 3]}, {"kind": "pool", "size": [2, 1]},
                    {"kind": "conv", "filters": 16, "kernel": [6, 3]}, {"kind": "pool", "size": [2, 1]},
                    {"kind": "conv", "filters": 16, "kernel": [4, 3]}, {"kind": "pool", "size": [2, 1]},
                    {"kind": "dropout", "rate": 0.3}, {"kind": "dense", "units": 64}] for v in ("x", "u", "v")},
    "merge": "concat",
    "head": [{"kind": "dropout", "rate": 0.3}, {"kind": "dense", "units": 64}],
    "training": {"optimizer": "adam", "learning_rate": 0.002, "batch_size": 64, "l2": 0.0001},
}

#: name -> simulate_minerva options of each shifted sample.
SHIFTS = {"noise10x": {"noise_rate": 2e-3}, "gain1.3": {"gain": 1.3}, "beam-me": {"beam": "me"},
          # far from the training data, for the out-of-distribution anchor: 100x the noise, and a
          # second overlapping interaction in every event (training: 4% of events)
          "noise100x": {"noise_rate": 2e-2}, "pileup-all": {"pileup": 1.0}}


def _simulate(path: Path, n: int, seed: int, **options: object) -> Path:
    from nuclassify.data import write_minerva
    from nuclassify.simulate import simulate_minerva

    if not path.is_file():
        write_minerva(path, simulate_minerva(n, layout="2016", seed=seed, **options), layout="2016")
    return path


def _predict(spec: str, path: Path, *, mc_samples: int | None = None, batch_size: int = 256
             ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(probabilities, mutual information or None, labels) of every event of ``path``."""
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import MI_COLUMN, load_predictor

    with open_dataset(path) as ds:
        pred = load_predictor(spec, ds, calibrated=False, mc_samples=mc_samples)
        probs, mi, labels = [], [], []
        for views, y in ds.batches(batch_size, target=pred.target):
            out = pred.fn(views)
            probs.append(np.asarray(out[0], np.float64))
            columns = getattr(out, "columns", {}) or {}
            if MI_COLUMN in columns:
                mi.append(np.asarray(columns[MI_COLUMN], np.float64))
            labels.append(y)
    return np.concatenate(probs), (np.concatenate(mi) if mi else None), np.concatenate(labels)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison end to end; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder (data, runs, results)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the simulation, the members and the bootstrap")
    parser.add_argument("--train-events", type=int, default=6000)
    parser.add_argument("--valid-events", type=int, default=2000, help="for the temperature fit")
    parser.add_argument("--test-events", type=int, default=3000, help="per test sample (in-distribution and shifted)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--members", type=int, default=4, help="ensemble size K")
    parser.add_argument("--mc-samples", type=int, default=20)
    parser.add_argument("--bootstrap", type=int, default=200, help="resamples for the 95%% intervals")
    args = parser.parse_args(argv)

    from nuclassify.training import TrainConfig
    from nuclassify.trust import fit_temperature, train_ensemble
    from nuclassify.trust._uncertainty_table import compare_uncertainty, format_uncertainty_table, plot_uncertainty

    out = args.out
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    s = args.seed * 100
    train = _simulate(data / "train.h5", args.train_events, s)
    valid = _simulate(data / "valid.h5", args.valid_events, s + 1)
    samples = {"test": _simulate(data / "test.h5", args.test_events, s + 2)}
    for i, (name, options) in enumerate(SHIFTS.items()):
        samples[name] = _simulate(data / f"{name}.h5", args.test_events, s + 3 + i, **options)
    print(f"simulated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    t1 = time.perf_counter()
    run = out / "ensemble"
    config = TrainConfig(train, run, valid=valid, epochs=args.epochs, seed=args.seed, quiet=True,
                         resume=(run / "run.json").is_file(), tensorboard=False)
    train_ensemble(SPEC, config, args.members)
    train_s = time.perf_counter() - t1
    print(f"trained {args.members} members in {train_s:.0f} s", file=sys.stderr)

    single = str(run / "members" / "m0")
    probs: dict[str, dict[str, np.ndarray]] = {}
    mis: dict[str, dict[str, np.ndarray]] = {}
    labels: dict[str, np.ndarray] = {}
    cache = out / "predictions.npz"  # a second call (a new table or plot) need not predict again
    setup = json.dumps(vars(args), default=str, sort_keys=True)
    saved = dict(np.load(cache)) if cache.is_file() else {}
    if str(saved.get("setup", "")) != setup:  # made with other options: predict again
        saved = {"setup": np.array(setup)}
    for method, spec, mc in (("single net", single, None), (f"MC dropout (x{args.mc_samples})", single,
                                                            args.mc_samples),
                             (f"ensemble (K={args.members})", str(run), None)):
        probs[method], mis[method] = {}, {}
        for name, path in samples.items():
            key = f"{method}|{name}"
            if f"{key}|p" not in saved:
                p, mi, y = _predict(spec, path, mc_samples=mc)
                saved.update({f"{key}|p": p, f"{name}|y": y, **({f"{key}|mi": mi} if mi is not None else {})})
            probs[method][name] = saved[f"{key}|p"]
            labels[name] = saved[f"{name}|y"]
            if f"{key}|mi" in saved:
                mis[method][name] = saved[f"{key}|mi"]
    np.savez_compressed(cache, **saved)
    # temperature scaling: T fitted on the validation file (never on the test events), then applied
    from nuclassify.evaluation import apply_temperature

    temps = {}
    for base, spec in (("single net", single), (f"ensemble (K={args.members})", str(run))):
        p_valid, _, y_valid = _predict(spec, valid)
        temps[base] = fit_temperature(p_valid, y_valid)
        probs[f"{base} + temperature"] = {n: apply_temperature(p, temps[base]).astype(np.float64)
                                          for n, p in probs[base].items()}
        if base in mis:  # one temperature for the whole prediction leaves the members' disagreement as it was
            mis[f"{base} + temperature"] = mis[base]
    order = ["single net", "single net + temperature", f"MC dropout (x{args.mc_samples})",
             f"ensemble (K={args.members})", f"ensemble (K={args.members}) + temperature"]
    probs = {m: probs[m] for m in order}
    result = compare_uncertainty(probs, labels, mutual_info=mis, reference="test", bootstrap=args.bootstrap,
                                 seed=args.seed)
    result["temperatures"] = temps
    result["setup"] = {"seed": args.seed, "train_events": args.train_events, "valid_events": args.valid_events,
                       "test_events": args.test_events, "epochs": args.epochs, "members": args.members,
                       "mc_samples": args.mc_samples, "layout": "2016", "shifts": SHIFTS, "spec": SPEC,
                       "train_seconds": round(train_s, 1), "total_seconds": round(time.perf_counter() - t0, 1)}
    (out / "uncertainty.json").write_text(json.dumps(result, indent=1) + "\n")
    table = format_uncertainty_table(result)
    (out / "uncertainty.md").write_text(table + "\n")
    plot_uncertainty(probs, labels, result, out / "uncertainty.png", mutual_info=mis)
    print(table)
    print("temperatures: " + ", ".join(f"{k} T={v:.3f}" for k, v in temps.items()))
    print(f"wrote {out / 'uncertainty.json'}, {out / 'uncertainty.md'}, {out / 'uncertainty.png'} "
          f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
