"""Does ``train --domain-adapt`` narrow a domain gap on a toy where the shift is obvious? A quick probe.

Source: scikit-learn's built-in 8x8 digits (1,200 to train, 597 to test). Target: the same
digits on a random grey background (``--shift background``) or inverted (``--shift invert``);
the target training file is written unlabelled (labels -1) and only the target test file's labels
are read, to score. The same network is trained with the same seed plainly and with
``--domain-adapt`` on the target training file, and both are scored on the source and target
test files. Whatever comes out is the result (issue 11: in the 2026-11-30 runs it did not narrow
the gap; see the session note).

Usage: python examples/dann_digits_toy.py --out DIR [--shift background] [--epochs 10]
       [--weight 0.3] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

SPEC = {"name": "dann-digits", "views": ["image"], "combine": "columns",
        "columns": {"image": [{"kind": "conv", "filters": 16, "kernel": [3, 3], "padding": "same"},
                              {"kind": "pool", "size": [2, 2]},
                              {"kind": "conv", "filters": 32, "kernel": [3, 3], "padding": "same"},
                              {"kind": "pool", "size": [2, 2]}, {"kind": "dense", "units": 64}]},
        "merge": "concat", "head": [], "training": {"optimizer": "adam", "learning_rate": 0.002, "batch_size": 32}}
N_TRAIN = 1200


def shifted(images: np.ndarray, shift: str, rng: np.random.Generator) -> np.ndarray:
    if shift == "invert":
        return (1.0 - images).astype(np.float32)
    background = rng.uniform(0.3, 0.7, size=(len(images), 1, 1, 1)) + rng.normal(0, 0.1, size=images.shape)
    return np.clip(images + background, 0, 1.5).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--shift", choices=["background", "invert"], default="background")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--weight", type=float, default=0.3, help="--domain-weight")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ramp", action="store_true", help="--domain-ramp (Ganin's schedule)")
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    from nuclassify.data import open_dataset, write_images
    from nuclassify.evaluation import load_predictor
    from nuclassify.training import TrainConfig, fit

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x = (digits.images[order] / 16.0).astype(np.float32)[..., None]
    y = digits.target[order].astype(np.int64)
    rng = np.random.default_rng(1)
    files = {"source_train": (x[:N_TRAIN], y[:N_TRAIN]), "source_test": (x[N_TRAIN:], y[N_TRAIN:]),
             "target_train": (shifted(x[:N_TRAIN], args.shift, rng), np.full(N_TRAIN, -1)),
             "target_test": (shifted(x[N_TRAIN:], args.shift, rng), y[N_TRAIN:])}
    for name, (images, labels) in files.items():
        write_images(out / f"{name}.h5", images, labels, overwrite=True, class_names=[str(i) for i in range(10)])
    result: dict = {"shift": args.shift, "epochs": args.epochs, "domain_weight": args.weight, "seed": args.seed,
                    "ramp": args.ramp}
    for mode in ("plain", "dann"):
        t0 = time.time()
        extra = {"domain_adapt": out / "target_train.h5", "domain_weight": args.weight,
                 "domain_ramp": args.ramp or None} if mode == "dann" else {}
        run = out / f"run-{mode}"
        fit(copy.deepcopy(SPEC), TrainConfig(out / "source_train.h5", run, epochs=args.epochs, valid_fraction=0.15,
                                             seed=args.seed, quiet=True, overwrite=True, **extra))
        scores = {}
        for test in ("source_test", "target_test"):
            with open_dataset(out / f"{test}.h5") as ds:
                predictor = load_predictor(str(run), ds)
                probs = predictor.fn(ds.read_views(np.arange(ds.n_events)))[0]
                scores[test] = round(float(np.mean(np.argmax(probs, axis=1) == ds.labels(predictor.target))), 4)
        result[mode] = {**scores, "gap": round(scores["source_test"] - scores["target_test"], 4),
                        "seconds": round(time.time() - t0, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
