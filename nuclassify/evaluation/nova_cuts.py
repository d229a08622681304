"""A cut-based NOvA flavour classifier: the classical yardstick for the CVN-style networks.

Before CVN, NOvA selected flavours with a handful of reconstructed quantities: a muon's long
track for νμ CC, a compact electromagnetic shower for νe CC, little of either for NC (NOvA's
first νe appearance analyses, Adamson et al., PRL 116 (2016) 151806, and the CVN paper,
Aurisano et al., arXiv:1604.01444, which it replaced). This module computes three such
quantities from the two pixel maps themselves — no reconstruction:

- ``track_length``: the longest run of consecutive planes with a hit, in either view (a muon
  crosses many planes; a shower stops within a few radiation lengths);
- ``shower_fraction``: the fraction of the charge in planes where the view has three or more
  hit cells (a shower is wide, a track one or two cells per plane);
- ``n_hits``: the number of hit cells in both views (the visible activity).

The cuts on them are learnt from the training file by a decision tree of depth ``max_depth``
(axis-parallel cuts, at most 2**depth boxes), so the selection is "cut-based" and its cuts are
optimised on the same events the network sees, not hand-tuned toward a result. Its leaves'
class fractions are the scores, so the efficiency–purity machinery of
:class:`~nuclassify.evaluation.FlavourTally` applies to it as to a network.

scikit-learn is imported only when the cuts are fitted (it is not in the light install).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FEATURE_NAMES", "CutClassifier", "nova_features", "fit_cut_classifier", "dataset_features"]

FEATURE_NAMES: tuple[str, ...] = ("track_length", "shower_fraction", "n_hits")
_WIDE_PLANE_CELLS = 3


def _longest_run(hit_planes: np.ndarray) -> np.ndarray:
    """Per event, the longest run of consecutive True values along the last axis."""
    n_events, n_planes = hit_planes.shape
    run = np.zeros(n_events, dtype=np.int64)
    best = np.zeros(n_events, dtype=np.int64)
    for p in range(n_planes):
        run = np.where(hit_planes[:, p], run + 1, 0)
        np.maximum(best, run, out=best)
    return best


def nova_features(views: Sequence[np.ndarray]) -> np.ndarray:
    """The three selection quantities per event from the (cells, planes, 1) images of both views.

    Args:
        views: the batch as the data layer hands it out: one array per view, shape
            (n_events, 80 cells, 100 planes, 1), charge as stored (uint8 scale).

    Returns:
        (n_events, 3) float64 array in the order of :data:`FEATURE_NAMES`.
    """
    if not views:
        raise ValueError("nova_features needs at least one view")
    n_events = len(views[0])
    longest = np.zeros(n_events, dtype=np.int64)
    wide_charge = np.zeros(n_events)
    total = np.zeros(n_events)
    hits = np.zeros(n_events, dtype=np.int64)
    for view in views:
        img = np.asarray(view, dtype=np.float64)[..., 0]          # (n, cells, planes)
        hit = img > 0
        cells_per_plane = hit.sum(axis=1)                          # (n, planes)
        charge_per_plane = img.sum(axis=1)
        run = _longest_run(cells_per_plane > 0)
        wide = np.where(cells_per_plane >= _WIDE_PLANE_CELLS, charge_per_plane, 0.0).sum(axis=1)
        longest = np.maximum(longest, run)
        wide_charge += wide
        total += charge_per_plane.sum(axis=1)
        hits += hit.sum(axis=(1, 2))
    shower = np.divide(wide_charge, total, out=np.zeros_like(wide_charge), where=total > 0)
    return np.stack([longest.astype(np.float64), shower, hits.astype(np.float64)], axis=1)


def dataset_features(batches: Iterable[tuple[Sequence[np.ndarray], np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every labelled event in ``batches`` (``dataset.batches(...)``).

    Events without a label (label < 0: outside the flavour scheme, such as ν–e elastic) are
    left out, as they are left out of training and evaluation.
    """
    feats, labels = [], []
    for views, y in batches:
        y = np.asarray(y)
        keep = y >= 0
        if keep.any():
            feats.append(nova_features([v[keep] for v in views]))
            labels.append(y[keep])
    if not feats:
        return np.zeros((0, len(FEATURE_NAMES))), np.zeros(0, dtype=np.int64)
    return np.concatenate(feats), np.concatenate(labels).astype(np.int64)


@dataclass
class CutClassifier:
    """Fitted cuts: a depth-limited tree over :data:`FEATURE_NAMES`, and the class count."""

    tree: Any
    n_classes: int

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class scores (the training fractions of each event's box), shape (n, n_classes)."""
        raw = self.tree.predict_proba(np.asarray(features, dtype=np.float64))
        out = np.zeros((len(raw), self.n_classes))
        out[:, self.tree.classes_.astype(np.int64)] = raw
        return out

    def describe(self) -> str:
        """The cuts as readable text (``sklearn.tree.export_text``)."""
        from sklearn.tree import export_text

        return export_text(self.tree, feature_names=list(FEATURE_NAMES))


def fit_cut_classifier(features: np.ndarray, labels: np.ndarray, n_classes: int, *, max_depth: int = 3,
                       seed: int = 0) -> CutClassifier:
    """Learn the cuts on labelled training events.

    ``min_samples_leaf`` is 1% of the events so that no box is cut around a handful of events;
    the class fractions in a box are then stable enough to serve as scores.
    """
    from sklearn.tree import DecisionTreeClassifier

    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise ValueError("no labelled events to fit the cuts on")
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=max(1, len(labels) // 100),
                                  random_state=seed)
    tree.fit(features, labels)
    return CutClassifier(tree, n_classes)
