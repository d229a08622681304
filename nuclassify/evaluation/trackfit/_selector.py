"""The vertex selector: boosted decision trees that weigh the candidate planes' evidence together.

Each of trackfit's rules reads one cue and moves the call on it alone; most of the errors left
are where several weak cues disagree (a backward proton against a timed muon start, a quiet
target gap against a lit plane upstream). A boosted ensemble of small regression trees, trained on
simulated events to tell the candidate plane whose segment holds the vertex from the others,
weighs them all at once. Each candidate's score is a log-odds; the event's call is the candidate
with the highest. A naive likelihood over the planes' energies alone, one table per plane taken
as independent, lost 2 points (``benchmarks/probe_vertex_likelihood.py``): the trees see the
correlations that product missed.

The trees are stored as plain arrays in ``vertex_selector.npz`` beside this module (and, fitted
without the hit-time features for trackfit without its timed step, ``vertex_selector_untimed.npz``) and evaluated
with numpy, so no pickled estimator and no library version has to match at run time. They were
fitted by ``benchmarks/fit_vertex_selector.py`` (scikit-learn's histogram gradient boosting on
simulated files of other seeds than any file measured in the README), which writes this file and
checks that these arrays reproduce scikit-learn's own scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from nuclassify.evaluation.trackfit._candidates import FEATURE_NAMES, TIME_FEATURES

__all__ = ["TreeEnsemble", "load_selector", "selector_file", "selector_features"]


def selector_file(timed: bool) -> str:
    """The packaged selector's file name: with the hit-time features, or without them."""
    return "vertex_selector.npz" if timed else "vertex_selector_untimed.npz"


def selector_features(timed: bool) -> tuple[str, ...]:
    """The candidate features a selector reads: all of them, or all but the hit times'."""
    return FEATURE_NAMES if timed else tuple(n for n in FEATURE_NAMES if n not in TIME_FEATURES)


@dataclass(frozen=True)
class TreeEnsemble:
    """Additive decision trees over ``feature_names``, flattened into one node table.

    A node goes left when ``x[feature] <= threshold``. Leaves point to themselves (threshold
    +inf), so walking ``depth`` steps from every root lands each sample on its leaf in every tree.
    """

    feature_names: tuple[str, ...]
    feature: np.ndarray  # (n_nodes,) int
    threshold: np.ndarray  # (n_nodes,) float64
    left: np.ndarray  # (n_nodes,) int
    right: np.ndarray  # (n_nodes,) int
    value: np.ndarray  # (n_nodes,) float64, used at the leaves
    roots: np.ndarray  # (n_trees,) int
    depth: int
    baseline: float

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The ensemble's log-odds for each row of ``x`` (n, n_features: ``feature_names``, in order)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        n, n_features = x.shape
        if n == 0:
            return np.empty(0)
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        base = (np.arange(n) * n_features)[:, None]
        flat = x.ravel()
        for _ in range(self.depth):
            go_left = flat[base + self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        return self.baseline + self.value[node].sum(axis=1)

    def candidate_scores(self, features: np.ndarray) -> np.ndarray:
        """Log-odds for rows of all candidate features (:data:`._candidates.FEATURE_NAMES`), whichever it reads."""
        if self.feature_names == FEATURE_NAMES:
            return self.scores(features)
        return self.scores(features[:, [FEATURE_NAMES.index(name) for name in self.feature_names]])

    def save(self, path: str | Path) -> None:
        """Write the arrays (``np.savez_compressed``)."""
        np.savez_compressed(path, feature_names=np.array(self.feature_names),
                            feature=self.feature.astype(np.int16), threshold=self.threshold,
                            left=self.left.astype(np.int32), right=self.right.astype(np.int32),
                            value=self.value, roots=self.roots.astype(np.int32),
                            depth=np.int64(self.depth), baseline=np.float64(self.baseline))

    @classmethod
    def from_sklearn(cls, model, feature_names: tuple[str, ...]) -> TreeEnsemble:
        """A fitted binary ``sklearn.ensemble.HistGradientBoostingClassifier`` as one node table.

        It reads the fitted predictors' node arrays (``_predictors``, ``_baseline_prediction``), for
        which scikit-learn has no public accessor; ``benchmarks/fit_vertex_selector.py`` checks the
        result against the model's ``decision_function`` before writing it, and a test does too.
        Features must be free of NaN (scikit-learn's missing-value branches are not kept).
        """
        feature, threshold, left, right, value, roots = [], [], [], [], [], []
        offset, depth = 0, 0
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not supported")
            leaf = nodes["is_leaf"].astype(bool)
            own = np.arange(len(nodes)) + offset
            feature.append(np.where(leaf, 0, nodes["feature_idx"]))
            threshold.append(np.where(leaf, np.inf, nodes["num_threshold"]))
            left.append(np.where(leaf, own, nodes["left"] + offset))
            right.append(np.where(leaf, own, nodes["right"] + offset))
            value.append(np.where(leaf, nodes["value"], 0.0))
            roots.append(offset)
            depth = max(depth, int(nodes["depth"].max()))
            offset += len(nodes)
        return cls(tuple(feature_names), np.concatenate(feature).astype(np.intp), np.concatenate(threshold),
                   np.concatenate(left).astype(np.intp), np.concatenate(right).astype(np.intp),
                   np.concatenate(value), np.asarray(roots, dtype=np.intp), depth,
                   float(np.ravel(model._baseline_prediction)[0]))

    @classmethod
    def load(cls, path) -> TreeEnsemble:
        with np.load(path, allow_pickle=False) as data:
            return cls(tuple(str(s) for s in data["feature_names"]), data["feature"].astype(np.intp),
                       data["threshold"].astype(np.float64), data["left"].astype(np.intp),
                       data["right"].astype(np.intp), data["value"].astype(np.float64),
                       data["roots"].astype(np.intp), int(data["depth"]), float(data["baseline"]))


@lru_cache(maxsize=2)
def load_selector(timed: bool = True) -> TreeEnsemble:
    """The packaged selector, with the hit-time features or without; it must read :func:`selector_features`."""
    name = selector_file(timed)
    with resources.as_file(resources.files("nuclassify.evaluation.trackfit") / name) as path:
        ensemble = TreeEnsemble.load(path)
    if ensemble.feature_names != selector_features(timed):
        raise RuntimeError(f"{name} was fitted on other candidate features; "
                           "refit it with benchmarks/fit_vertex_selector.py")
    return ensemble
