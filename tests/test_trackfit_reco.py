"""Physics-level checks of the track-and-vertex reconstruction (evaluation/trackfit, TrackReco).

References and tolerances are stated per test. Toy events are made here (straight or scattered
tracks digitised into strips), so the tests do not depend on the simulator.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_trackfit import SHAPES, straight_track_events

from nuclassify.detector import minerva
from nuclassify.evaluation.trackfit import TrackReco, reconstruct_batch
from nuclassify.evaluation.trackfit._kalman import kalman_fit
from nuclassify.evaluation.trackfit._material import PLANE_X0, highland_theta0, momentum_from_grammage
from nuclassify.evaluation.trackfit._segment import assign_segment

_ANGLE = {0: 0.0, 1: np.deg2rad(60.0), 2: np.deg2rad(-60.0)}


def test_highland_matches_pdg_example():
    """PDG Eq. 34.16 by hand: 1 GeV/c muon through 0.1 X0 -> 13.6/(beta p) sqrt(0.1)(1 + 0.038 ln 0.1) = 3.95 mrad."""
    beta = 1000 / np.hypot(1000, 105.658)
    expected = 13.6 / (beta * 1000) * np.sqrt(0.1) * (1 + 0.038 * np.log(0.1))
    assert highland_theta0(1000.0, 0.1) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(3.95e-3, abs=0.01e-3)


def _scattered_muons(n, p_mev, rng, first=60, last=160):
    """Muons from plane ``first`` to ``last``: Highland-scattered at every plane, one smeared coordinate per plane."""
    planes = np.arange(first, last + 1)
    z = minerva.PLANE_Z_MM[planes]
    view = minerva.PLANE_VIEW[planes]
    truth = rng.normal(0, 0.15, (n, 2))
    meas = np.empty((n, len(planes)))
    pos = rng.uniform(-300, 300, (n, 2))
    slope = truth.copy()
    for j in range(len(planes)):
        if j:
            pos += slope * (z[j] - z[j - 1])
            norm2 = 1 + (slope ** 2).sum(axis=1)
            theta = highland_theta0(p_mev, PLANE_X0[planes[j]] * np.sqrt(norm2))
            slope += rng.normal(0, 1, (n, 2)) * (theta * np.sqrt(norm2))[:, None]
        a = _ANGLE[int(view[j])]
        meas[:, j] = np.cos(a) * pos[:, 0] + np.sin(a) * pos[:, 1] + rng.normal(0, 4.0, n)
    return planes, meas, truth


def test_kalman_recovers_muon_direction_within_scattering():
    """Reference: the filter's own covariance (Highland noise, 4 mm planes). The direction at the
    upstream end must be recovered without bias and with pulls of unit width (0.8-1.25: 400
    tracks give the width to ~4%), and its error must be of the size multiple scattering allows
    (a few mrad for 1.5 GeV/c muons over 100 planes)."""
    rng = np.random.default_rng(4)
    n, p = 400, 1500.0
    planes, meas, truth = _scattered_muons(n, p, rng)
    p_first = np.full(n, planes[0])
    p_last = np.full(n, planes[-1])
    init = np.zeros((n, 4))
    st = kalman_fit(meas, p_first, p_last, init, np.full(n, minerva.PLANE_Z_MM[planes[0]]), np.full(n, p))
    err = st.state_up[:, 2:4] - truth
    sigma = np.sqrt(st.cov_up[:, [2, 3], [2, 3]])
    pulls = err / sigma
    assert abs(pulls.mean()) < 0.15
    assert 0.8 < pulls.std() < 1.25, pulls.std()
    assert 1e-3 < np.sqrt((err ** 2).mean()) < 1e-2
    # Chi2 per degree of freedom of a well-modelled fit is about 1.
    assert 0.8 < np.mean(st.chi2 / st.ndf) < 1.25


def test_momentum_scale_grows_with_range():
    assert momentum_from_grammage(1000.0) > momentum_from_grammage(100.0) >= momentum_from_grammage(0.0)


def test_vertex_resolution_on_two_track_events():
    """Two straight tracks from a vertex inside a tracker scintillator plane: the fitted z has a
    core width (median absolute deviation x 1.4826) under 15 mm: less than one module (45 mm);
    the reported uncertainty covers the error in at least 80% of events."""
    rng = np.random.default_rng(7)
    pz = minerva.PLANE_Z_MM
    vz = pz[rng.integers(60, 90, 120)] - 2.0
    views = straight_track_events(vz, rng, n_tracks=2)
    batch = reconstruct_batch(views, ("x", "u", "v"))
    fitted = np.array([e.vertex[2] if e.vertex is not None else np.nan for e in batch.events])
    two = np.array([e.n_tracks >= 2 for e in batch.events])
    assert two.mean() > 0.3  # short hadron tracks are not always matched in all views
    dz = (fitted - vz)[two]
    core = 1.4826 * np.median(np.abs(dz - np.median(dz)))
    assert core < 15.0, core
    zsig = np.array([np.sqrt(e.vertex_cov[2, 2]) for e in batch.events])[two]
    assert np.mean(np.abs(dz) < 3 * zsig + 25.0) > 0.8


def test_target_events_are_placed_in_their_target():
    """Vertices inside each passive target (muon plus hadrons, all forward): at least 90% go to the
    target's segment, and the z estimate falls inside the target slab, not always at its centre."""
    rng = np.random.default_rng(3)
    targets = [t for t in minerva.TARGETS]
    which = rng.integers(0, len(targets), 150)
    centre = np.array([targets[k].z_center_mm for k in which])
    half = np.array([max(targets[k].thickness_mm) / 2 if targets[k].number != 0 else 100.0 for k in which])
    vz = centre + rng.uniform(-0.8, 0.8, len(which)) * half
    views = straight_track_events(vz, rng, n_tracks=3)
    result = TrackReco(("x", "u", "v"), SHAPES).predict(views)
    want = np.array([targets[k].segment for k in which])
    assert np.mean(result.segment == want) >= 0.9
    inside = np.abs(result.z - centre) <= half + 1.0
    assert np.mean(inside[result.segment == want]) > 0.9
    assert np.std(result.z - centre) > 0.5  # placed by the fit, not pinned to the centre


def test_segment_assignment_prefers_heavy_target_within_uncertainty():
    """Bayes with a mass prior: a fit 20 mm downstream of target 1's centre, 30 mm wide, lies
    nearer the plane after the gap yet goes to the lead/iron target (50 g/cm^2 against 2)."""
    first = int(np.searchsorted(minerva.PLANE_Z_MM, 4482.3))
    call = assign_segment(first, 4482.3 + 20.0, 30.0)
    assert call.segment == 1
    assert 4482.3 - 12.9 <= call.z <= 4482.3 + 12.9
    assert abs(call.probabilities.sum() - 1) < 1e-6


def test_empty_and_bad_input():
    views = tuple(np.zeros((2,) + SHAPES[v], np.float32) for v in "xuv")
    result = TrackReco(("x", "u", "v"), SHAPES).predict(views)
    # Nothing seen: called by where interactions happen (the mass), the water segment, as trackfit does.
    assert np.all(np.isnan(result.z))
    assert np.array_equal(result.segment, [8, 8])
    assert np.array_equal(result.probabilities.argmax(axis=1), result.segment)
    assert np.allclose(result.probabilities.sum(axis=1), 1.0)
    from nuclassify.errors import UsageError

    with pytest.raises(UsageError, match="x/u/v"):
        TrackReco(("xz", "yz"), [(100, 80, 1), (100, 80, 1)])


def test_trackrecos_uncertainties_are_calibrated_on_independent_simulated_events(tmp_path, monkeypatch):
    """The fit's z covariance and the slab posterior were over-confident (pull core widths 1.2-1.65;
    0.99 on calls right 81% of the time). Scaled and floored on a tuning file (seed 11), they hold
    on other events (seed 3): pulls near 1 by the true vertex's region and a small ECE, where the
    raw output's pulls are wider and its ECE about 15%; the argmax stays the called segment."""
    simulate = pytest.importorskip("nuclassify.simulate")
    from nuclassify.data import open_dataset, write_minerva
    from nuclassify.evaluation import CalibrationTally
    from nuclassify.evaluation._vertex_resolution import VertexResolution
    from nuclassify.evaluation.trackfit import _reco_predictor

    path = write_minerva(tmp_path / "sim.h5", simulate.simulate_minerva(800, seed=3))
    with open_dataset(path) as ds:
        views, labels, z_true = ds.read_views(np.arange(ds.n_events)), ds.labels(), ds.read_truth("vtx_data/zs")
        result = TrackReco(ds.view_names, ds.view_shapes).predict(views)
        monkeypatch.setattr(_reco_predictor, "calibrate", lambda z, sigma, probs: (sigma, probs))
        raw = TrackReco(ds.view_names, ds.view_shapes).predict(views)
    assert np.array_equal(result.segment, raw.segment)
    summaries = []
    for r in (result, raw):
        res = VertexResolution()
        res.update(r.z, z_true, r.columns())
        tally = CalibrationTally()
        tally.update(labels, r.probabilities)
        summaries.append((res.summary()["regions"], tally.ece))
    (regions, ece), (raw_regions, raw_ece) = summaries
    for name in ("targets", "tracker"):
        assert regions[name]["n"] > 250
        assert 0.75 <= regions[name]["pull_core_width"] <= 1.3, (name, regions[name])
    assert 0.6 <= regions["water"]["pull_core_width"] <= 1.5, regions["water"]
    assert raw_regions["tracker"]["pull_core_width"] > 1.4
    assert ece < 0.05 < raw_ece - 0.05
    assert np.array_equal(result.probabilities.argmax(axis=1), result.segment)
