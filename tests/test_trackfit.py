"""Trackfit: synthetic straight tracks with known vertex, backward tracks, noise, simulated events."""

from __future__ import annotations

import numpy as np
import pytest

from nuclassify.detector import minerva
from nuclassify.errors import UsageError
from nuclassify.evaluation.trackfit import TrackFit, segment_probabilities

SHAPES = {"x": (127, 94, 2), "u": (127, 47, 2), "v": (127, 47, 2)}


def straight_track_events(vertices_z, rng, n_tracks=3, backward=False, noise=0):
    """Dense x/u/v images of events made of straight tracks leaving a vertex at each z."""
    n = len(vertices_z)
    views = {v: np.zeros((n,) + SHAPES[v], dtype=np.float32) for v in "xuv"}
    for i, z0 in enumerate(vertices_z):
        x0, y0 = rng.uniform(-400, 400, 2)
        dirs = []
        for k in range(n_tracks):
            theta = rng.uniform(0.0, 0.25 if k == 0 else 0.9)
            phi = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(1500, 3000) if k == 0 else rng.uniform(150, 600)
            dirs.append((np.tan(theta) * np.cos(phi), np.tan(theta) * np.sin(phi), 1.0, length))
        if backward:
            # A backward particle at a steep angle, clearly apart from the muon in every view (one
            # that looks collinear with the muon in two projections is this method's blind spot).
            tb, pb = rng.uniform(1.0, 2.0), rng.uniform(0, 2 * np.pi)
            dirs.append((tb * np.cos(pb), tb * np.sin(pb), -1.0, rng.uniform(150, 300)))
        for view in "xuv":
            zc = minerva.view_plane_z(view, SHAPES[view][1])
            for tx, ty, sz, length in dirs:
                dz = zc - z0
                on = (dz * sz > 0) & (np.abs(dz) <= length)
                x = x0 + tx * np.abs(dz[on])
                y = y0 + ty * np.abs(dz[on])
                strip = minerva.strip_of(minerva.transverse_coordinate(view, x, y))
                ok = (strip >= 0) & (strip < 127)
                views[view][i, strip[ok], np.flatnonzero(on)[ok], 0] = 1.0
            for _ in range(noise):
                views[view][i, rng.integers(0, 127), rng.integers(0, SHAPES[view][1]), 0] = 0.5
    return tuple(views[v] for v in "xuv")


def _tf():
    return TrackFit(("x", "u", "v"), SHAPES)


def test_recovers_vertex_plane_z_of_forward_tracks():
    rng = np.random.default_rng(1)
    pz, _, _ = minerva.planes()
    # Vertices a few mm upstream of scintillator planes in the tracking region (no target gap before).
    planes = pz[[3, 5, 12, 20, 34, 50, 60, 70]]
    result = _tf().predict(straight_track_events(planes - 5.0, rng))
    assert np.all(np.abs(result.z - planes) < 30.0), result.z - planes
    assert np.array_equal(result.segment, minerva.segment_of_z(planes - 5.0))


def test_vertex_in_passive_target_is_put_at_target_centre():
    rng = np.random.default_rng(2)
    centres = np.array([t.z_center_mm for t in minerva.TARGETS])
    result = _tf().predict(straight_track_events(centres, rng))
    assert np.all(np.abs(result.z - centres) < 5.0), result.z - centres
    assert np.array_equal(result.segment, [t.segment for t in minerva.TARGETS])


def test_backward_track_and_noise_do_not_drag_vertex_upstream():
    rng = np.random.default_rng(3)
    z0 = np.array([t.z_center_mm for t in minerva.TARGETS] * 10)
    views = straight_track_events(z0, rng, backward=True, noise=2)
    result = _tf().predict(views)
    truth = minerva.segment_of_z(z0)
    # The naive "first hit plane" vertex follows the backward track upstream and is nearly always wrong.
    first_hit = []
    for i in range(len(z0)):
        zs = [minerva.view_plane_z(v, views[k].shape[2])[np.nonzero(views[k][i, ..., 0] == 1.0)[1]]
              for k, v in enumerate("xuv")]
        first_hit.append(np.concatenate(zs).min())
    naive = np.mean(minerva.segment_of_z(np.array(first_hit)) == truth)
    assert naive < 0.3
    assert np.mean(result.segment == truth) >= 0.55


def test_probabilities_sum_to_one_and_peak_at_segment():
    z = np.array([4300.0, 4482.3, 5722.2, 7000.0, np.nan])
    p = segment_probabilities(z)
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert list(p[:4].argmax(axis=1)) == [0, 1, 9, 10]
    assert np.allclose(p[4], 1 / 11)


def test_empty_event_gives_the_prior_or_uniform_probabilities():
    from nuclassify.evaluation.trackfit import HoughFit

    views = tuple(np.zeros((2,) + SHAPES[v], np.float32) for v in "xuv")
    result = _tf().predict(views)
    assert np.all(np.isnan(result.z))
    assert np.allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(np.argmax(result.probabilities, axis=1) == result.segment)
    assert np.allclose(HoughFit(("x", "u", "v"), SHAPES).predict(views).probabilities, 1 / 11)


def test_rejects_non_minerva_views():
    with pytest.raises(UsageError, match="x/u/v"):
        TrackFit(("xz", "yz"), [(100, 80, 1), (100, 80, 1)])


def write_track_file(path, n=120, seed=0, labelled=True, backward_every=4):
    """A small MINERvA 2018 file of straight-track events with vertices spread over all segments."""
    from nuclassify.data import MinervaBlock, SparseImages, write_minerva

    rng = np.random.default_rng(seed)
    pz, _, _ = minerva.planes()
    targets = np.array([t.z_center_mm for t in minerva.TARGETS])
    z0 = np.where(rng.random(n) < 0.5, rng.choice(targets, n) + rng.uniform(-10, 10, n),
                  rng.choice(pz[:70], n) - rng.uniform(1, 8, n))
    views = straight_track_events(z0[:n], rng)
    if backward_every:
        sel = np.arange(0, n, backward_every)
        back = straight_track_events(z0[sel], rng, backward=True)
        for k in range(3):
            views[k][sel] = back[k]
    seg = minerva.segment_of_z(z0).astype(np.uint8)
    block = MinervaBlock(
        views={v: SparseImages.from_dense(np.moveaxis(views[k], -1, 1)) for k, v in enumerate("xuv")},
        segments=seg if labelled else np.full(n, 0xFF, np.uint8),
        planecodes=np.zeros(n, np.uint16) if labelled else np.full(n, 0xFFFF, np.uint16),
        zs=z0.astype(np.float32), eventids=np.arange(1000, 1000 + n, dtype=np.uint64))
    write_minerva(path, [block])
    return path, z0, seg


def test_trackfit_through_the_reader(tmp_path):
    from nuclassify.data import open_dataset

    path, _, seg = write_track_file(tmp_path / "t.h5", n=60, seed=5)
    with open_dataset(path) as ds:
        fit = TrackFit(ds.view_names, ds.view_shapes)
        pred = np.concatenate([fit.predict(v).segment for v, _ in ds.batches(25, with_labels=False)])
    assert len(pred) == 60
    assert np.mean(pred == seg) >= 0.8


def test_trackfit_on_simulated_events_beats_first_hit(tmp_path):
    """On the project's simulator (noise, pile-up, backward hadrons) trackfit clears a floor.

    Measured 84.9% on 5,000 events (seed 99); the floor leaves ~4 standard errors of room at n=400.
    The naive "most upstream hit" vertex is fooled by noise and backward tracks.
    """
    simulate = pytest.importorskip("nuclassify.simulate")
    from nuclassify.data import open_dataset, write_minerva

    path = write_minerva(tmp_path / "sim.h5", simulate.simulate_minerva(400, seed=3))
    with open_dataset(path) as ds:
        views = ds.read_views(np.arange(ds.n_events))
        labels = ds.labels()
        result = TrackFit(ds.view_names, ds.view_shapes).predict(views)
    first = np.full(len(labels), np.inf)
    for k, v in enumerate(ds.view_names):
        b, _, c = np.nonzero(views[k][..., 0] > 0)
        np.minimum.at(first, b, minerva.view_plane_z(v, views[k].shape[2])[c])
    naive = np.mean(minerva.segment_of_z(first) == labels)
    accuracy = np.mean(result.segment == labels)
    assert accuracy >= 0.75
    assert accuracy >= naive + 0.15
    assert np.allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_empty_event_is_called_in_the_heaviest_segment_and_hough_keeps_the_old_call():
    """trackfit calls an event with nothing clean in segment 8 (the water target and its
    scintillator, the most mass); the old baseline (hough) keeps the uniform argmax, segment 0."""
    from nuclassify.evaluation.trackfit import HoughFit

    views = tuple(np.zeros((2,) + SHAPES[v], np.float32) for v in "xuv")
    assert list(_tf().predict(views).segment) == [8, 8]
    assert list(HoughFit(("x", "u", "v"), SHAPES).predict(views).segment) == [0, 0]
    assert HoughFit.name == "hough" and TrackFit.name == "trackfit"


def test_trackfit_reports_z_sigma_and_views_voting():
    rng = np.random.default_rng(4)
    pz, _, _ = minerva.planes()
    target = minerva.TARGETS[1].z_center_mm
    result = _tf().predict(straight_track_events(np.array([pz[34] - 5.0, target]), rng))
    cols = result.columns()
    assert set(cols) == {"z_sigma", "n_tracks"}
    # Three views' main tracks vote; the uncertainty is the core width measured on simulation for
    # the placement: 9.7 mm in scintillator, 12.1 mm in a passive target, 106 mm in the water.
    assert list(cols["n_tracks"]) == [3, 3]
    assert cols["z_sigma"][0] == pytest.approx(9.7, abs=0.01)
    assert cols["z_sigma"][1] == pytest.approx(12.1, abs=0.01)
    water = _tf().predict(straight_track_events(np.array([5290.0]), rng)).columns()["z_sigma"]
    assert water[0] == pytest.approx(106.0, abs=0.01)


def test_a_views_first_hit_allows_the_vertex_back_to_its_previous_plane():
    """U and V planes come every fourth plane (NIM A 743 (2014) 130): a U track starting at plane
    44 (behind target 5) allows a vertex as far back as plane 41, the first plane after U plane 40."""
    from nuclassify.evaluation.trackfit._refined import _earliest_z

    pz = minerva.PLANE_Z_MM
    assert minerva.PLANE_VIEW[44] == minerva.VIEWS.index("u") and minerva.PLANE_VIEW[40] == minerva.VIEWS.index("u")
    assert _earliest_z("u", pz[44]) == pytest.approx(pz[41])
    assert _earliest_z("x", pz[45]) == pytest.approx(pz[44])


def _timed(views, energy, time):
    """Copies of ``views`` with every hit given ``energy`` (MeV) and ``time`` (ns)."""
    out = []
    for img in views:
        img = img.copy()
        lit = img[..., 0] > 0
        img[..., 0] = np.where(lit, energy, 0.0)
        img[..., 1] = np.where(lit, time, 0.0)
        out.append(img)
    return out


def test_an_overlapping_interaction_with_more_hits_does_not_take_the_events_time():
    """Hit times are relative to the event's reconstructed vertex time (MINERvA's lattices store
    ``latticeRelativeTimes``), so the interaction of interest is the one at t = 0. An overlapping
    interaction 40 ns later and upstream, with more hits, moved the old median-time rule (kept by
    ``hough``) onto it; trackfit keeps the hits at 0. With times that are not relative (a gate
    clock, nothing lit near 0) trackfit falls back to the median time and still finds the vertex.
    trackreco shares the time cleaning."""
    from nuclassify.evaluation.trackfit import HoughFit, TrackReco

    rng = np.random.default_rng(5)
    pz, _, _ = minerva.planes()
    main_z = np.full(6, pz[120] - 5.0)
    pile_z = np.full(6, minerva.TARGETS[1].z_center_mm)
    main = _timed(straight_track_events(main_z, rng, n_tracks=1), 2.0, 1.0)
    pile = _timed(straight_track_events(pile_z, rng, n_tracks=3), 2.0, 40.0)
    views = tuple(np.where(p[..., :1] > 0, p, m) for m, p in zip(main, pile, strict=True))
    n_main = sum(((v[..., 0] > 0) & (v[..., 1] < 10)).sum(axis=(1, 2)) for v in views)
    n_pile = sum(((v[..., 0] > 0) & (v[..., 1] > 10)).sum(axis=(1, 2)) for v in views)
    assert np.all(n_pile > n_main)  # the overlap outnumbers the event: the median time is its time
    truth = minerva.segment_of_z(main_z)
    assert np.array_equal(_tf().predict(views).segment, truth)
    assert np.array_equal(TrackReco(("x", "u", "v"), SHAPES).predict(views).segment, truth)
    assert np.all(HoughFit(("x", "u", "v"), SHAPES).predict(views).segment == minerva.TARGETS[1].segment)
    gate_clock = tuple(np.where(v[..., :1] > 0, v + np.array([0.0, 5000.0], np.float32), v) for v in main)
    assert np.array_equal(_tf().predict(gate_clock).segment, truth)


def test_trackfits_z_uncertainty_is_honest_on_independent_simulated_events(tmp_path):
    """The reported z_sigma was set from a tuning file (seed 11); on other events (seed 3) the pulls
    (z - z_true) / z_sigma have a core width near 1 where the vertex lies in scintillator or in a
    passive target, and the z core width is about a centimetre (10-11 mm on 5,000 events)."""
    simulate = pytest.importorskip("nuclassify.simulate")
    from nuclassify.data import open_dataset, write_minerva
    from nuclassify.evaluation._vertex_resolution import VertexResolution

    path = write_minerva(tmp_path / "sim.h5", simulate.simulate_minerva(800, seed=3))
    with open_dataset(path) as ds:
        result = TrackFit(ds.view_names, ds.view_shapes).predict(ds.read_views(np.arange(ds.n_events)))
        z_true = ds.read_truth("vtx_data/zs")
    res = VertexResolution()
    res.update(result.z, z_true, result.columns())
    regions = res.summary()["regions"]
    for name in ("targets", "tracker"):
        assert regions[name]["n"] > 250
        assert 0.7 <= regions[name]["pull_core_width"] <= 1.35, (name, regions[name])
        assert 6.0 <= regions[name]["core_width_mm"] <= 15.0, (name, regions[name])
    assert 0.6 <= regions["water"]["pull_core_width"] <= 1.5, regions["water"]
    # Its segment probabilities follow the same uncertainty, with a floor for vertices put a module
    # or more away: calibrated (ECE 3.5% here, 3.6% on 5,000 events) where hough's keep the old
    # over-confident 5 mm and floor 0.001 (ECE 10.6%); the argmax is the called segment in both.
    from nuclassify.evaluation import CalibrationTally
    from nuclassify.evaluation.trackfit import HoughFit

    with open_dataset(path) as ds:
        views, labels = ds.read_views(np.arange(ds.n_events)), ds.labels()
        hough = HoughFit(ds.view_names, ds.view_shapes).predict(views)
    ours, old = CalibrationTally(), CalibrationTally()
    ours.update(labels, result.probabilities)
    old.update(labels, hough.probabilities)
    assert ours.ece < 0.06 < old.ece
    assert ours.nll < old.nll - 0.1
    assert np.array_equal(result.probabilities.argmax(axis=1), result.segment)


def test_a_dense_hadronic_body_upstream_of_the_track_holds_the_vertex_but_a_backward_track_does_not():
    """A deep-inelastic event's hadron shower can carry under a fifth of the energy beside a bright
    downstream shower; its density (many hits per plane) still marks it as the vertex's body, while a
    single backward particle of the same energy (one hit per plane) does not move the vertex."""
    from nuclassify.evaluation.trackfit import _vertex

    pz = minerva.PLANE_Z_MM
    anchor_plane = 80
    anchor = float(pz[anchor_plane])
    downstream = np.repeat(pz[anchor_plane:anchor_plane + 40], 3)  # the track and its shower: 600 MeV
    body_planes = np.arange(anchor_plane - 7, anchor_plane - 1)  # six planes just upstream, contiguous
    dense_z = np.repeat(pz[body_planes], 6)  # six hits a plane, 2 MeV each: 72 MeV
    single_z = pz[np.arange(anchor_plane - 9, anchor_plane - 1)]  # one hit a plane, 9 MeV each: 72 MeV
    for upstream_z, hit_mev, moves in ((dense_z, 2.0, True), (single_z, 9.0, False)):
        z_all = np.concatenate([upstream_z, downstream])
        e_all = np.concatenate([np.full(len(upstream_z), hit_mev), np.full(len(downstream), 5.0)])
        assert e_all[:len(upstream_z)].sum() < 0.2 * e_all.sum()  # under the energy-share rule
        moved = _vertex._upstream_body(z_all, e_all, anchor, dense_body=True)
        if moves:
            assert moved == pytest.approx(upstream_z.min() + _vertex._SLACK_MM)
        else:
            assert moved == anchor
        assert _vertex._upstream_body(z_all, e_all, anchor) == anchor  # the old baseline (hough) keeps its rule


def _line_hits(view, z_lo, z_hi, t0, slope, per_plane=1, spread_mm=0.0, energy=3.0):
    """One view's hits (z, t, column, energy) along a straight line over the view's planes in [z_lo, z_hi]."""
    zc = minerva.view_plane_z(view)
    cols = np.flatnonzero((zc >= z_lo) & (zc <= z_hi))
    col = np.repeat(cols, per_plane)
    offsets = np.tile(np.linspace(-spread_mm, spread_mm, per_plane), len(cols))
    z = zc[col]
    return z, t0 + slope * (z - z_lo) + offsets, col, np.full(len(col), energy)


def _join(*parts):
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))


def test_a_shower_behind_the_vertex_does_not_hide_the_charged_track_upstream_of_it():
    """A neutral pion's photon converts tens of centimetres behind the vertex. When its shower is
    the longest straight cluster, the chain calls the vertex at the shower; the muon that left the
    vertex, seen in all three views upstream of the shower with empty planes between, moves the
    call back to where it starts. A backward hadron that touches the call (no empty planes) does not."""
    from nuclassify.evaluation.trackfit._refined import refined_vertex

    pz = minerva.PLANE_Z_MM
    vertex_plane, track_end, shower_start = 70, 92, 100  # seven empty planes between track and shower
    shower = {v: _line_hits(v, pz[shower_start], pz[shower_start + 24], -300.0, 0.4, per_plane=4, spread_mm=15.0)
              for v in "xuv"}
    muon = {v: _line_hits(v, pz[vertex_plane], pz[track_end], 200.0, 0.1) for v in "xuv"}
    assert refined_vertex(shower).plane_z == pytest.approx(pz[shower_start])
    both = {v: _join(muon[v], shower[v]) for v in "xuv"}
    assert refined_vertex(both).plane_z == pytest.approx(pz[vertex_plane])
    # The old baseline keeps its call at the shower (hough is the unchanged yardstick).
    from nuclassify.evaluation.trackfit._vertex import event_vertex_z
    assert event_vertex_z(both, stereo_match=True) == pytest.approx(pz[shower_start])
    # The rule itself: a track that runs up to the shower's first plane touches it (a backward
    # hadron's shape) and is not taken as detached; the muon with its empty planes is.
    from nuclassify.evaluation.trackfit._refined import _detached_track_start

    def all_z(hits):
        return np.concatenate([h[0] for h in hits.values()])

    touching = {v: _join(_line_hits(v, pz[vertex_plane], pz[shower_start - 1], 200.0, 0.1), shower[v])
                for v in "xuv"}
    assert _detached_track_start(touching, all_z(touching), pz[shower_start]) is None
    assert _detached_track_start(both, all_z(both), pz[shower_start]) == pytest.approx(pz[vertex_plane])


def test_the_muons_hit_times_say_where_it_left_the_vertex():
    """Hit times are relative to the muon's vertex time, and nothing outruns light: a muon whose
    hits arrive early for a start at the call, by the flight from the call to where the muon's
    track starts, left the vertex there. Activity upstream (here a dense block the chain takes for
    the vertex's body) came after. Times that fit a start at the call, or a start far from the
    track's, or no times at all, leave the call alone."""
    from nuclassify.evaluation.trackfit._refined import (
        C_MM_PER_NS,
        _timed_track_start,
        muon_start_from_times,
        refined_vertex,
    )

    pz = minerva.PLANE_Z_MM
    block_start, muon_start, muon_end = 72, 80, 150  # 8 planes (~170 mm) of block; a 1.5 m muon
    # A muon in 3D, x = 200 + 0.1 dz, y = -100 + 0.2 dz, seen by each view as cos x + sin y, so that
    # its three projections satisfy the stereo relation u + v = x.
    x0, sx, y0, sy = 200.0, 0.1, -100.0, 0.2
    proj = {v: (np.cos(np.deg2rad(minerva.VIEW_ANGLE_DEG[v])), np.sin(np.deg2rad(minerva.VIEW_ANGLE_DEG[v])))
            for v in "xuv"}
    muon = {v: _line_hits(v, pz[muon_start], pz[muon_end], c * x0 + s_ * y0, c * sx + s_ * sy)
            for v, (c, s_) in proj.items()}
    path_per_z = np.sqrt(1.0 + sx**2 + sy**2)
    block = {v: _line_hits(v, pz[block_start], pz[muon_start - 1], -300.0, 0.0, per_plane=6, spread_mm=40.0,
                           energy=2.0) for v in "xuv"}
    hits = {v: _join(block[v], muon[v]) for v in "xuv"}

    def times_from(start_z):
        """Each hit's light flight from ``start_z`` along the muon (the block's hits at 0)."""
        out = {}
        for v, (z, _, _, _) in hits.items():
            on_muon = np.arange(len(z)) >= len(block[v][0])
            out[v] = np.where(on_muon, (z - start_z) * path_per_z / C_MM_PER_NS, 0.0)
        return out

    # The estimate itself: the three projections' hits give back the start the times were made from.
    timed_z, track = muon_start_from_times(hits, times_from(pz[muon_start]))
    assert track.view == "x" and timed_z == pytest.approx(pz[muon_start], abs=5.0)
    untimed = refined_vertex(hits).plane_z
    assert untimed == pytest.approx(pz[block_start])  # the chain calls the block's start
    assert refined_vertex(hits, times=times_from(pz[block_start])).plane_z == pytest.approx(untimed)
    timed = refined_vertex(hits, times=times_from(pz[muon_start])).plane_z
    assert pz[muon_start - 3] <= timed <= pz[muon_start]  # the first activity within a slack of the muon
    # The rule: the X track's start when the times agree with it, else nothing.
    def rule(event_hits, start_z):
        return _timed_track_start(muon_start_from_times(event_hits, times_from(start_z)), pz[block_start])

    start = rule(hits, pz[muon_start])
    assert start is not None and pz[muon_start] <= start < pz[muon_start] + 45.0
    assert rule(hits, pz[block_start]) is None
    assert rule(hits, pz[muon_start] + 600.0) is None  # too early
    short = {v: _join(block[v], _line_hits(v, pz[muon_start], pz[muon_start + 20], *muon[v][1][:1], 0.1))
             for v in "xuv"}
    assert rule(short, pz[muon_start]) is None  # not a long track


def test_hit_times_place_a_simulated_muons_start_to_centimetres(tmp_path):
    """On simulated charged-current events the main track's hit times, read against light-speed
    flight, put its start at the true vertex: the reference time is the mean over the muon's own
    hits, so their 3.4 ns resolution (a metre of light) cancels."""
    simulate = pytest.importorskip("nuclassify.simulate")
    from nuclassify.data import open_dataset, write_minerva
    from nuclassify.evaluation.trackfit import _predictor
    from nuclassify.evaluation.trackfit._refined import muon_start_from_times

    seen, calls = [], []

    class Spy(_predictor.TrackFit):
        def _event_vertex(self, hits, times=None):
            seen.append(None if times is None else muon_start_from_times(hits, times))
            calls.append(super()._event_vertex(hits, times))
            return calls[-1]

    path = write_minerva(tmp_path / "sim.h5", simulate.simulate_minerva(400, seed=5))
    with open_dataset(path) as ds:
        # The rule-based chain's own calls (the vertex selector, which may move them, is tested apart).
        result = Spy(ds.view_names, ds.view_shapes, select_vertex=False).predict(ds.read_views(np.arange(ds.n_events)))
        true_z = ds.read_truth("zs")
        charged = ds.read_truth("gen_data/current") == 1
        labels = ds.labels()
    offsets = np.array([found[0] - true_z[i] for i, found in enumerate(seen) if found is not None and charged[i]])
    assert len(offsets) > 150
    core = 1.4826 * np.median(np.abs(offsets - np.median(offsets)))
    assert abs(np.median(offsets)) < 20.0, np.median(offsets)
    assert core < 80.0, core
    # Where the timed start agrees with the final call, the call is right far more often than
    # where the times put the start well downstream of it, and trackfit's confidence says so.
    timed = np.array([call.timed_offset_mm for call in calls])
    right = result.segment == labels
    confidence = result.probabilities.max(axis=1)
    agrees, downstream = np.abs(timed) <= 100.0, timed > 100.0
    assert agrees.sum() > 150 and downstream.sum() >= 10
    assert right[agrees].mean() > 0.9 and right[agrees].mean() > right[downstream].mean() + 0.15
    assert confidence[agrees].mean() > confidence[downstream].mean() + 0.15


def test_trackfit_is_surer_where_the_hit_times_agree_with_its_call():
    """The floor that spreads probability over the other segments depends on what the hit times
    say of the call: least where they agree, most where they put the start downstream of it."""
    from nuclassify.evaluation.trackfit import TrackFit

    fit = TrackFit(["x", "u", "v"], [(127, 80, 2), (127, 40, 2), (127, 40, 2)])
    z = np.full(4, 5000.0)
    sigma = np.full(4, 9.7)
    probs = fit._segment_probabilities(z, sigma, np.array([0.0, -500.0, np.nan, 500.0]))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    peak = probs.max(axis=1)
    assert peak[0] > 0.9 > peak[1] > peak[2] > peak[3]  # agrees > upstream > no timed start > downstream
    assert (probs.argmax(axis=1) == probs[0].argmax()).all()  # the call itself does not change


def test_the_timed_step_owes_its_gain_to_a_clock_that_knows_where_the_muon_started(tmp_path, monkeypatch):
    """The simulated clock is the muon's time with a perfect time-of-flight correction, so the
    main track's hit times say where the muon truly started. The timed step's time check is what
    makes the move pay: fed times that always agree with the main track's own start (what a clock
    referred to a reconstructed muon track's start says), the same move breaks far more events
    than it fixes, while with the simulated times it breaks fewer than it fixes."""
    simulate = pytest.importorskip("nuclassify.simulate")
    from nuclassify.data import open_dataset, write_minerva
    from nuclassify.evaluation.trackfit import TrackFit, _refined

    path = write_minerva(tmp_path / "sim.h5", simulate.simulate_minerva(400, seed=5))
    with open_dataset(path) as ds:
        views = ds.read_views(np.arange(ds.n_events))
        labels = ds.labels()
        fit = TrackFit(ds.view_names, ds.view_shapes, select_vertex=False)  # the chain's step alone
    with_times = fit.predict(views).segment == labels
    step = _refined._timed_track_start
    on_its_own = TrackFit(ds.view_names, ds.view_shapes, timed_start=False, select_vertex=False).predict(views)
    assert np.isnan(on_its_own.timed_offset_mm).all()
    monkeypatch.setattr(_refined, "_timed_track_start", lambda found, plane_z: None)
    without = fit.predict(views).segment == labels
    assert (without == (on_its_own.segment == labels)).all()  # timed_start=False is trackfit without the step
    monkeypatch.setattr(_refined, "_timed_track_start",
                        lambda found, plane_z: None if found is None else step((found[1].z_start, found[1]), plane_z))
    track_clock = fit.predict(views).segment == labels

    def fixed_broken(after: np.ndarray) -> tuple[int, int]:
        return int((after & ~without).sum()), int((~after & without).sum())

    fixed, broken = fixed_broken(with_times)
    assert fixed > broken, (fixed, broken)
    fixed, broken = fixed_broken(track_clock)
    assert broken >= 10 and broken > 3 * fixed, (fixed, broken)
