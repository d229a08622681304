"""The reconstruction chain, batch by batch: hits -> tracks -> Kalman fit -> vertex -> activity -> segment.

1. Hits are gathered and cleaned in time (:mod:`._hits`).
2. Per event, 2D tracks per view are found and matched into 3D tracks (:mod:`._patrec`).
3. Every 3D track of the batch is fitted at once by the Kalman filter (:mod:`._kalman`).
4. Per event, the vertex is the adaptive fit of the tracks' common point (:mod:`._vertexfit`),
   seeded at the upstream end of each of the two longest tracks; the seed that gathers more
   tracks wins (a backward track then joins the muon at the vertex instead of being taken for
   the event's start).
5. Vertex activity: the most upstream plane whose hits lie in a cone around the vertex, leaving
   out the hits of backward tracks (they end at the vertex) and of tracks the fit rejected
   (pile-up, noise), connected to the vertex's own planes. Events without a 3D track fall back
   to the first connected activity of all their hits.
6. The segment, z and its uncertainty follow from that plane and the fit (:mod:`._segment`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nuclassify.detector.minerva import DETECTOR_APOTHEM_MM, PLANE_Z_MM, inside_hexagon
from nuclassify.evaluation.trackfit._hits import VIEW_COS, VIEW_SIN, EventHits, batch_hits
from nuclassify.evaluation.trackfit._kalman import TrackStates, kalman_fit
from nuclassify.evaluation.trackfit._material import grammage_between, momentum_from_grammage
from nuclassify.evaluation.trackfit._patrec import Track2D, Track3D, find_tracks_2d, match_3d
from nuclassify.evaluation.trackfit._segment import assign_segment
from nuclassify.evaluation.trackfit._vertexfit import fit_vertices

__all__ = ["EventReco", "BatchReco", "reconstruct_batch", "RecoOptions"]

_MAX_TRACKS = 6  # tracks per event entering the vertex fit (most hits first)
_N_SEEDS = 3  # the vertex fit starts from the upstream end of each of this many tracks


@dataclass(frozen=True)
class RecoOptions:
    """Tunable cuts of the chain (defaults measured on simulated events, not the test file)."""

    energy_threshold: float = 0.5
    time_window_ns: tuple[float, float] | None = (-20.0, 30.0)
    cone_mm: float = 40.0  # vertex-activity cone: half-width at the vertex
    cone_slope: float = 0.5  # and its growth per mm of z away from it
    support_mm: float = 100.0  # an activity plane counts only with another within this downstream
    weight_cut: float = 0.5  # a track with a vertex-fit weight above this is attached to the vertex
    prior_sigma_mm: float = 80.0
    walk_mm: float = 400.0  # how far upstream of the seed track's start activity is followed
    max_missing_planes: int = 2  # the walk upstream through vertex activity jumps at most this many empty planes


@dataclass
class EventReco:
    """One event's reconstruction: what the display and the per-event columns need."""

    hits: EventHits
    tracks: list[Track3D] = field(default_factory=list)
    leftovers: list[Track2D] = field(default_factory=list)
    track_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    backward: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    vertex: np.ndarray | None = None
    vertex_cov: np.ndarray | None = None
    first_plane: int = -1
    seed: int = 0
    segment: int = -1
    z: float = float("nan")
    z_sigma: float = float("nan")
    probabilities: np.ndarray | None = None
    quality: float = float("nan")
    n_tracks: int = 0


@dataclass
class BatchReco:
    """Per-event results of a batch plus the fitted states of all its tracks."""

    events: list[EventReco]
    states: TrackStates | None


def reconstruct_batch(views: Sequence[np.ndarray], view_names: Sequence[str],
                      options: RecoOptions = RecoOptions()) -> BatchReco:
    """Reconstruct every event of a batch of dense channels-last views."""
    batch = batch_hits(views, view_names, energy_threshold=options.energy_threshold,
                       time_window_ns=options.time_window_ns)
    n = len(views[0])
    events: list[EventReco] = []
    for i in range(n):
        hits = batch.event(i)
        reco = EventReco(hits)
        if len(hits) >= 3:
            per_view = {v: find_tracks_2d(hits, v) for v in (0, 1, 2)}
            reco.tracks, reco.leftovers = match_3d(hits, per_view)
            reco.tracks = [t for t in reco.tracks if _inside(t)]
            reco.tracks.sort(key=lambda tr: -len(tr.hits))
        events.append(reco)
    states = _fit_tracks(events)
    _fit_vertices(events, states, options)
    for reco in events:
        _activity_and_segment(reco, states, options)
    return BatchReco(events, states)


def _fit_tracks(events: list[EventReco]) -> TrackStates | None:
    """Kalman-fit every 3D track of the batch at once; each event learns its tracks' rows."""
    tracks = []
    for reco in events:
        start = len(tracks)
        tracks.extend(reco.tracks)
        reco.track_rows = np.arange(start, len(tracks))
    if not tracks:
        return None
    k = len(tracks)
    p_first = np.empty(k, dtype=np.int64)
    p_last = np.empty(k, dtype=np.int64)
    entries = []
    for j, (tr, reco) in enumerate(zip(tracks, (r for r in events for _ in r.tracks), strict=True)):
        h = reco.hits
        planes = h.plane[tr.hits]
        e = h.energy[tr.hits]
        # One measurement per plane: the energy-weighted centre of the track's strips there.
        uniq, inv = np.unique(planes, return_inverse=True)
        m = np.bincount(inv, weights=e * h.t[tr.hits]) / np.bincount(inv, weights=e)
        p_first[j], p_last[j] = uniq[0], uniq[-1]
        entries.append((uniq, m))
    p0, p1 = int(p_first.min()), int(p_last.max())
    meas = np.full((k, p1 - p0 + 1), np.nan)
    for j, (uniq, m) in enumerate(entries):
        meas[j, uniq - p0] = m
    init = np.stack([tr.params for tr in tracks])
    init_z = np.array([tr.z_ref for tr in tracks])
    norm = np.sqrt(1 + init[:, 2] ** 2 + init[:, 3] ** 2)
    momentum = momentum_from_grammage(grammage_between(PLANE_Z_MM[p_first], PLANE_Z_MM[p_last]) * norm)
    return kalman_fit(meas, p_first, p_last, init, init_z, momentum)


def _fit_vertices(events: list[EventReco], states: TrackStates | None, options: RecoOptions) -> None:
    """Adaptive vertex fits of all events with tracks, from two seeds each; keep the better."""
    with_tracks = [r for r in events if len(r.tracks)]
    if not with_tracks or states is None:
        return
    nb = len(with_tracks)
    index = np.zeros((nb, _MAX_TRACKS), dtype=np.int64)
    mask = np.zeros((nb, _MAX_TRACKS), dtype=bool)
    for b, reco in enumerate(with_tracks):
        rows = reco.track_rows[:_MAX_TRACKS]
        index[b, :len(rows)] = rows
        index[b, len(rows):] = rows[0]
        mask[b, :len(rows)] = True
    n_hits = np.zeros((nb, _MAX_TRACKS))
    for b, reco in enumerate(with_tracks):
        n_hits[b, :len(reco.track_rows[:_MAX_TRACKS])] = [len(t.hits) for t in reco.tracks[:_MAX_TRACKS]]
    best_score = np.full(nb, -1.0)
    take = np.zeros(nb, dtype=np.int64)
    fits = []
    for s in range(min(_N_SEEDS, _MAX_TRACKS)):
        col = np.where(mask[:, s], index[:, s], index[:, 0])
        seed = np.stack([states.state_up[col, 0], states.state_up[col, 1], states.z_up[col] - 10.0], axis=1)
        fit = fit_vertices(states, index, mask, seed, prior_sigma_mm=options.prior_sigma_mm)
        # A seed's score: the hits of the tracks it gathers (a backward track joins the muon's vertex).
        score = np.where(mask[:, s], np.sum((fit.weights > options.weight_cut) * n_hits, axis=1), -1.0)
        better = score > best_score
        take[better] = s
        best_score = np.maximum(score, best_score)
        fits.append(fit)
    for b, reco in enumerate(with_tracks):
        f = fits[take[b]]
        nt = len(reco.track_rows[:_MAX_TRACKS])
        reco.vertex = f.position[b]
        reco.vertex_cov = f.cov[b]
        reco.weights = f.weights[b, :nt]
        reco.backward = ~f.upstream_end[b, :nt]
        reco.quality = float(f.chi2[b] / f.ndf[b])
        reco.n_tracks = int((reco.weights > options.weight_cut).sum())
        reco.seed = int(take[b])


def _inside(track: Track3D) -> bool:
    """Whether the straight line stays inside the detector's hexagon at both ends (bad stereo matches do not)."""
    x0, y0, tx, ty = track.params
    for z in (track.z_start, track.z_end):
        x, y = x0 + tx * (z - track.z_ref), y0 + ty * (z - track.z_ref)
        if not inside_hexagon(x, y, DETECTOR_APOTHEM_MM + 60.0):
            return False
    return True


def _first_connected(planes: np.ndarray, support_mm: float) -> int:
    """Most upstream plane followed by another hit plane within ``support_mm`` (isolated hits are noise)."""
    uniq = np.unique(planes)
    if len(uniq) == 1:
        return int(uniq[0])
    ok = np.flatnonzero(np.diff(PLANE_Z_MM[uniq]) <= support_mm)
    return int(uniq[ok[0]]) if len(ok) else int(uniq[0])


def _activity_and_segment(reco: EventReco, states: TrackStates | None, options: RecoOptions) -> None:
    """The vertex's first active plane, then segment, z and uncertainty."""
    hits = reco.hits
    if len(hits) == 0:
        return
    if reco.vertex is None or states is None:
        # No 3D track: the first connected activity of the whole event.
        first = _first_connected(hits.plane, options.support_mm)
        call = assign_segment(first, PLANE_Z_MM[first] - 10.0, 40.0)
        reco.first_plane, reco.segment, reco.z, reco.z_sigma = first, call.segment, call.z, call.sigma
        reco.probabilities = call.probabilities
        return
    x_v, y_v, z_v = reco.vertex
    sigma_z = float(np.sqrt(max(reco.vertex_cov[2, 2], 1.0)))
    excluded = np.zeros(len(hits), dtype=bool)
    attached = reco.weights > options.weight_cut
    for j, tr in enumerate(reco.tracks[:_MAX_TRACKS]):
        if not attached[j] or reco.backward[j]:
            excluded[tr.hits] = True
    # The vertex is at or upstream of the start of the seed's track (the track the fit started
    # from, which the vertex gathers most hits around).
    forward_first = reco.tracks[reco.seed].z_start
    # The seed track's line, extrapolated upstream, and a cone around it: activity there that
    # connects (at most two planes missing) to the track's first plane belongs to the vertex.
    row = reco.track_rows[reco.seed]
    z_s = states.z_up[row]
    xs, ys, txs, tys = states.state_up[row]
    dz = hits.z - z_s
    t_line = VIEW_COS[hits.view] * (xs + txs * dz) + VIEW_SIN[hits.view] * (ys + tys * dz)
    t_v = VIEW_COS[hits.view] * x_v + VIEW_SIN[hits.view] * y_v
    cone = options.cone_mm + options.cone_slope * np.abs(hits.z - z_v)
    near = ~excluded & ((np.abs(hits.t - t_v) < cone) | (np.abs(hits.t - t_line) < cone))
    near &= (hits.z <= forward_first + 1.0) & (hits.z >= forward_first - options.walk_mm)
    first = int(np.searchsorted(PLANE_Z_MM, forward_first - 1.0))
    planes = np.unique(hits.plane[near])[::-1]
    for q in planes:
        if q >= first:
            continue
        if first - q > options.max_missing_planes + 1:
            break
        first = int(q)
    call = assign_segment(first, float(z_v), sigma_z)
    reco.first_plane, reco.segment, reco.z, reco.z_sigma = first, call.segment, call.z, call.sigma
    reco.probabilities = call.probabilities
