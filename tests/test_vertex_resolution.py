"""Vertex z resolution for the classical methods: the robust core width, the regions, the summary."""

from __future__ import annotations

import numpy as np
import pytest

from nuclassify.detector import minerva
from nuclassify.evaluation._vertex_resolution import VertexResolution, core_width


def test_core_width_is_a_gaussians_sigma_and_ignores_the_tails():
    rng = np.random.default_rng(0)
    core = rng.normal(3.0, 10.0, 20000)
    assert core_width(core) == pytest.approx(10.0, rel=0.03)
    # 10% of vertices put a module or more away: the standard deviation explodes, the core does not.
    tails = rng.choice([-1, 1], 2000) * rng.uniform(200, 1500, 2000)
    mixed = np.concatenate([core, tails])
    assert np.std(mixed) > 100
    assert core_width(mixed) == pytest.approx(10.0, rel=0.15)
    assert np.isnan(core_width(np.array([np.nan])))


def test_vertex_region_follows_the_targets_material():
    """Targets' material (T3's carbon block reaches 25 mm further downstream), water, scintillator."""
    centres = [t.z_center_mm for t in minerva.TARGETS]
    expected = [1 if t.number == 0 else 0 for t in minerva.TARGETS]
    assert list(minerva.vertex_region(centres)) == expected
    t1 = minerva.TARGETS[0]
    assert list(minerva.vertex_region([t1.z_center_mm + 12.0, t1.z_center_mm + 14.0])) == [0, 2]
    assert list(minerva.vertex_region([4980.0, 4990.0])) == [0, 2]  # T3 carbon ends at 4984.05 mm
    pz, _, _ = minerva.planes()
    assert np.all(minerva.vertex_region(pz) == 2)
    assert minerva.VERTEX_REGIONS[minerva.vertex_region(5300.0)[0]] == "water"


def test_trackfit_places_target_vertices_where_the_targets_mass_lies():
    """trackfit's slab for each target lies inside the material the regions use, on its heaviest part:
    T3's iron and lead, not the whole 76 mm of its lighter carbon block beside them."""
    from nuclassify.evaluation.trackfit._segment import _TARGET_SLABS

    for target, (lo, hi, _grammage, _plane) in zip(minerva.TARGETS, _TARGET_SLABS, strict=True):
        assert np.all(minerva.vertex_region(np.linspace(lo + 0.1, hi - 0.1, 7)) == (1 if target.number == 0 else 0))
    t3 = _TARGET_SLABS[[t.number for t in minerva.TARGETS].index(3)]
    assert t3[:2] == pytest.approx((4920.7 - 25.75 / 2, 4920.7 + 25.75 / 2))


def test_summary_measures_each_region_and_the_pulls():
    rng = np.random.default_rng(1)
    z_true = np.concatenate([np.full(3000, 4482.3), rng.uniform(5200, 5380, 3000), np.full(3000, 6000.0)])
    sigma = np.concatenate([np.full(3000, 8.0), np.full(3000, 60.0), np.full(3000, 12.0)])
    z_reco = z_true + rng.normal(0.0, 1.0, len(z_true)) * sigma
    z_reco[::100] = np.nan  # no vertex found
    tracks = np.tile([0, 1, 2, 3, 5], len(z_true) // 5)
    res = VertexResolution()
    for lo in range(0, len(z_true), 1000):  # streamed in batches
        part = slice(lo, lo + 1000)
        res.update(z_reco[part], z_true[part], {"z_sigma": sigma[part], "n_tracks": tracks[part]})
    out = res.summary()
    regions = out["regions"]
    assert [regions[r]["n"] for r in ("targets", "water", "tracker", "all")] == [3000, 3000, 3000, 9000]
    assert regions["all"]["no_vertex"] == 90
    for name, s in (("targets", 8.0), ("water", 60.0), ("tracker", 12.0)):
        assert regions[name]["core_width_mm"] == pytest.approx(s, rel=0.08)
        assert regions[name]["pull_core_width"] == pytest.approx(1.0, rel=0.08)
        assert abs(regions[name]["bias_mm"]) < 0.1 * s
    assert regions["targets"]["beyond_100mm"] == 0.0
    assert out["n_tracks"]["mean"] == pytest.approx(2.2)
    assert out["n_tracks"]["fraction"] == {"0": 0.2, "1": 0.2, "2": 0.2, "3+": 0.4}
    assert "fit_quality" not in out
    assert res.format().startswith("vertex z core width: targets 8 mm")
