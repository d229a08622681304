"""Fit trackfit's vertex selector on simulated files and write ``vertex_selector.npz`` (issue 14).

For every event of the fitting files it runs trackfit's rule-based chain, takes the candidate
planes (:mod:`nuclassify.evaluation.trackfit._candidates`) and labels each by whether its segment
is the event's true one. scikit-learn's histogram gradient boosting learns the log-odds; its trees
are flattened into plain arrays (:class:`~nuclassify.evaluation.trackfit._selector.TreeEnsemble`),
checked to give scikit-learn's own scores to 1e-9, and written into the package. With
``--measure`` it prints trackfit's accuracy with and without the selector on files fitted on
none of their events.

The packaged file was made with (2026-12-01, 110,000 fitting events; no seed shared with the
README's test file, seed 7, or the tuning file, seed 11):

    nuclassify simulate minerva -n 40000 --seed 41 -o fit41.h5
    nuclassify simulate minerva -n 60000 --seed 51 -o fit51.h5
    nuclassify simulate minerva -n 10000 --seed 31 -o fit31.h5
    python benchmarks/fit_vertex_selector.py fit41.h5 fit51.h5 fit31.h5 --measure tune.h5 test.h5
    python benchmarks/fit_vertex_selector.py fit41.h5 fit51.h5 fit31.h5 --measure tune.h5 test.h5 --untimed

The second writes ``vertex_selector_untimed.npz``, for trackfit without its timed step
(``TrackFit(..., timed_start=False)``): its candidates come from that chain and it reads no hit time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from nuclassify.data import open_dataset
from nuclassify.evaluation.trackfit import TrackFit
from nuclassify.evaluation.trackfit._candidates import FEATURE_NAMES, PLANE_SEGMENT
from nuclassify.evaluation.trackfit._selector import TreeEnsemble, selector_features, selector_file

_BATCH = 2000
_PACKAGE = Path(__file__).resolve().parents[1] / "nuclassify" / "evaluation" / "trackfit"


def candidate_table(path: str, timed: bool) -> tuple[np.ndarray, np.ndarray]:
    """All candidates of a file: features (n, f) and labels (their segment is the true one)."""
    features, labels = [], []
    with open_dataset(path) as ds:
        fit = TrackFit(ds.view_names, ds.view_shapes, timed_start=timed)
        truth = ds.labels()
        for lo in range(0, ds.n_events, _BATCH):
            idx = np.arange(lo, min(lo + _BATCH, ds.n_events))
            for i, call in zip(idx, fit.vertex_calls(ds.read_views(idx)), strict=True):
                if call.candidates is not None:
                    features.append(call.candidates.features)
                    labels.append(PLANE_SEGMENT[call.candidates.planes] == truth[i])
    return np.concatenate(features), np.concatenate(labels).astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="simulated MINERvA files to fit on")
    parser.add_argument("--out", help="where to write the selector (default: the package's)")
    parser.add_argument("--untimed", action="store_true",
                        help="fit the selector for trackfit without its timed step (no hit-time features)")
    parser.add_argument("--measure", nargs="*", default=[], help="files to measure trackfit on, with and without")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--leaves", type=int, default=31)
    parser.add_argument("--max-depth", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sklearn.ensemble import HistGradientBoostingClassifier

    start = time.perf_counter()
    timed = not args.untimed
    out = args.out or str(_PACKAGE / selector_file(timed))
    names = selector_features(timed)
    tables = [candidate_table(path, timed) for path in args.files]
    x = np.concatenate([t[0] for t in tables])[:, [FEATURE_NAMES.index(n) for n in names]]
    y = np.concatenate([t[1] for t in tables])
    print(f"{len(x)} candidates from {len(args.files)} files ({y.mean():.1%} in the true segment) "
          f"in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    model = HistGradientBoostingClassifier(max_iter=args.iterations, learning_rate=args.learning_rate,
                                           max_leaf_nodes=args.leaves, max_depth=args.max_depth,
                                           early_stopping=False, random_state=args.seed).fit(x, y)
    ensemble = TreeEnsemble.from_sklearn(model, names)
    check = x[:: max(1, len(x) // 20000)]
    gap = np.abs(ensemble.scores(check) - model.decision_function(check)).max()
    if gap > 1e-9:
        raise SystemExit(f"the flattened trees differ from scikit-learn's by {gap:g}")
    ensemble.save(out)
    print(f"fitted {len(ensemble.roots)} trees (depth {ensemble.depth}, {len(ensemble.feature)} nodes) "
          f"in {time.perf_counter() - start:.0f} s; wrote {out}")
    for path in args.measure:
        with open_dataset(path) as ds:
            views, truth = ds.read_views(np.arange(ds.n_events)), ds.labels()
            chain = TrackFit(ds.view_names, ds.view_shapes, timed_start=timed,
                             select_vertex=False).predict(views).segment == truth
            t0 = time.perf_counter()
            selected = TrackFit(ds.view_names, ds.view_shapes, timed_start=timed,
                                selector=ensemble).predict(views).segment == truth
            rate = ds.n_events / (time.perf_counter() - t0)
        print(f"{path}: trackfit {selected.mean():.2%} with the selector, {chain.mean():.2%} without "
              f"({(selected & ~chain).sum()} fixed, {(chain & ~selected).sum()} broken; {rate:.0f} ev/s)")


if __name__ == "__main__":
    main()
