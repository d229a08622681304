"""The cut-based NOvA classifier: its quantities on constructed events, their physics on simulated ones."""

from __future__ import annotations

import numpy as np
import pytest

from nuclassify.evaluation.nova_cuts import FEATURE_NAMES, dataset_features, fit_cut_classifier, nova_features


def _empty(n: int = 1) -> np.ndarray:
    return np.zeros((n, 80, 100, 1), dtype=np.float32)


def test_a_straight_track_is_long_and_showerless() -> None:
    xz, yz = _empty(), _empty()
    xz[0, 40, 10:40, 0] = 20.0                     # one cell per plane over planes 10..39
    yz[0, 30, 10:25, 0] = 20.0
    length, shower, hits = nova_features([xz, yz])[0]
    assert length == 30
    assert shower == 0.0
    assert hits == 45


def test_a_wide_shower_has_shower_fraction_one_and_a_gap_breaks_the_run() -> None:
    xz, yz = _empty(), _empty()
    xz[0, 35:41, 50:56, 0] = 10.0                  # 6 cells x 6 planes
    yz[0, 20, 0:5, 0] = 1.0                         # a 5-plane stub ...
    yz[0, 20, 6:9, 0] = 1.0                         # ... a gap, then 3 planes
    length, shower, hits = nova_features([xz, yz])[0]
    assert length == 6
    assert shower == pytest.approx(360.0 / 368.0)
    assert hits == 36 + 8


def test_flavours_differ_as_the_physics_says(tmp_path) -> None:
    """νμ CC has the muon track, νe CC the shower, NC the least activity (PRL 116, 151806)."""
    from nuclassify.data import open_dataset, write_nova
    from nuclassify.simulate import simulate_nova

    path = tmp_path / "nova.h5"
    write_nova(path, simulate_nova(3000, seed=4))
    with open_dataset(path) as ds:
        names = [n.lower() for n in ds.class_names()]
        feats, labels = dataset_features(ds.batches(500))
    numu, nue, nc = (names.index(k) for k in ("numu cc", "nue cc", "nc"))
    mean = {c: feats[labels == c].mean(axis=0) for c in (numu, nue, nc)}
    length, shower, hits = (FEATURE_NAMES.index(k) for k in FEATURE_NAMES)
    assert mean[numu][length] > 1.2 * mean[nue][length]
    assert mean[nue][shower] > mean[numu][shower] + 0.2
    assert mean[nc][hits] < 0.6 * mean[numu][hits]

    clf = fit_cut_classifier(feats[:2000], labels[:2000], len(names), max_depth=3)
    scores = clf.predict_proba(feats[2000:])
    assert scores.shape == (len(feats) - 2000, len(names))
    assert np.allclose(scores.sum(axis=1), 1.0)
    accuracy = float(np.mean(scores.argmax(axis=1) == labels[2000:]))
    majority = float(np.max(np.bincount(labels[2000:])) / len(labels[2000:]))
    assert accuracy > majority + 0.15
    assert "track_length" in clf.describe() or "shower_fraction" in clf.describe()
