"""Write scikit-learn's built-in 8x8 handwritten digits as nuclassify data files (generic images layout).

Why: ``nuclassify`` runs on any labelled image file, not only on detector data. The 1,797 digits
ship with scikit-learn (no download), are small enough to train a network in seconds on a CPU,
and are the data set of the ``evolve`` proof of concept (a poor seed network evolving into a
good one) and of the comparison with Keras Tuner in the issue.

Usage::

    python examples/digits_to_h5.py OUT_DIR [--valid-fraction 0.2] [--seed 0] [--limit N]
    nuclassify evolve --data OUT_DIR/digits_train.h5 --valid OUT_DIR/digits_valid.h5 --budget 30 --out runs/digits

Images are stored as float32 in [0, 1] (the raw values are 0..16), shape (8, 8, 1), labels 0-9.
The split is random but fixed by ``--seed`` (80/20 by default), and stratified by nothing:
with 180 digits per class the classes stay balanced enough.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def write_digits(out_dir: str | Path, valid_fraction: float = 0.2, seed: int = 0, limit: int | None = None,
                 overwrite: bool = True) -> tuple[Path, Path]:
    """Write ``digits_train.h5`` and ``digits_valid.h5`` into ``out_dir``; return their paths.

    Args:
        out_dir: folder to write into (created if missing).
        valid_fraction: share of the events in the validation file.
        seed: fixes the shuffle (and so the split).
        limit: use only the first ``limit`` events after the shuffle (tests use a few hundred).
        overwrite: replace existing files.
    """
    from sklearn.datasets import load_digits

    from nuclassify.data import write_images

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    if limit is not None:
        order = order[:limit]
    n_valid = int(round(len(order) * valid_fraction))
    valid, train = order[:n_valid], order[n_valid:]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [str(i) for i in range(10)]
    paths = []
    for role, idx in (("train", np.sort(train)), ("valid", np.sort(valid))):
        provenance = {"source": "sklearn.datasets.load_digits (UCI optical recognition of handwritten digits)",
                      "split": role, "valid_fraction": valid_fraction, "seed": seed, "limit": limit}
        paths.append(write_images(out / f"digits_{role}.h5", images[idx], labels[idx], overwrite=overwrite,
                                  class_names=names, provenance=provenance))
    return paths[0], paths[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder for digits_train.h5 and digits_valid.h5")
    parser.add_argument("--valid-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only N events (after the shuffle)")
    args = parser.parse_args(argv)
    train, valid = write_digits(args.out_dir, args.valid_fraction, args.seed, args.limit)
    print(f"wrote {train} and {valid}")


if __name__ == "__main__":
    main()
