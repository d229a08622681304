"""The upstream-hit-cluster rule: its logic on hand-made images, and the simulator's difficulty."""

import numpy as np
import pytest

from nuclassify.detector import minerva
from nuclassify.errors import UsageError
from nuclassify.evaluation.upstream_rule import upstream_rule_segments, upstream_rule_z
from nuclassify.simulate import simulate_minerva

ZS = {v: minerva.view_plane_z(v, c) for v, c in minerva.IMAGE_COLUMNS.items()}


def _empty(n=1):
    return {v: np.zeros((n, 127, c, 2), dtype=np.float32) for v, c in minerva.IMAGE_COLUMNS.items()}


def test_rule_finds_first_cluster_and_ignores_isolated_noise():
    views = _empty(2)
    # Event 0: a track in X planes 30-40 and U/V alongside, one noise hit far upstream.
    views["x"][0, 60, 30:41, 0] = 3.0
    views["u"][0, 60, 15:21, 0] = 3.0
    views["v"][0, 60, 15:21, 0] = 3.0
    views["x"][0, 10, 2, 0] = 5.0
    # Event 1: nothing.
    z = upstream_rule_z(views, ZS)
    merged = np.sort(np.concatenate([ZS["x"][30:41], ZS["u"][15:21], ZS["v"][15:21]]))
    assert z[0] == pytest.approx(merged[0] - 5.0)
    assert np.isnan(z[1])
    seg = upstream_rule_segments(views, ZS)
    assert seg[0] == minerva.segment_of_z(merged[0] - 5.0) and seg[1] == 10
    # Tuples in x, u, v order work the same, and below-threshold hits do not count.
    assert np.array_equal(upstream_rule_segments(tuple(views.values()), tuple(ZS.values())), seg)
    quiet = upstream_rule_z(views, ZS, threshold_mev=10.0)
    assert np.isnan(quiet[0])


def test_rule_rejects_mismatched_inputs():
    with pytest.raises(UsageError, match="one z array per view"):
        upstream_rule_z(_empty(), [ZS["x"]])


@pytest.mark.slow
def test_default_simulation_is_neither_trivial_nor_hopeless_for_the_rule():
    pred, truth, noisy = [], [], []
    for block in simulate_minerva(2000, seed=123):
        dense = {v: s.to_dense() for v, s in block.views.items()}
        pred.append(upstream_rule_segments(dense, ZS))
        truth.append(block.segments)
        noisy.append(block.truth["vtx_data"]["backward"] | block.truth["vtx_data"]["pileup"])
    pred, truth, noisy = np.concatenate(pred), np.concatenate(truth), np.concatenate(noisy).astype(bool)
    accuracy = np.mean(pred == truth)
    # Measured 0.797 on 20,000 events; the spec's band is 0.75-0.92 (2,000 events: +-0.01).
    assert 0.74 < accuracy < 0.90
    # Backward tracks and pile-up are where it fails most.
    assert np.mean(pred[noisy] == truth[noisy]) < accuracy - 0.2
