"""The track-based vertex of :class:`TrackFit`: the Hough baseline's chain, with an optional interval vote.

The baseline (:mod:`._vertex`) lets each view's main track, followed upstream, vote for where the
event starts, and takes the median. But the views are interleaved: X planes are every other
plane, U and V every fourth (L. Aliaga et al., NIM A 743 (2014) 130, the detector section), so a
view's first hit only says the vertex lies after that view's previous plane and at or before the
hit. A vertex in the V plane between targets 4 and 5 shows its first U hit 90 mm downstream,
behind target 5, and the median of (X, U, V) starts then lands behind the target. With
``interval_votes`` each view also gives the earliest z it allows (the first plane of any view
after its own previous plane), and the search for the first connected activity opens at the
earliest range of z that the most views allow.

Measured on a simulated tuning file (3,000 events, seed 11) the interval vote is a net loss:
it fixes 38 events (segment 9, the plane between targets 4 and 5, goes from 52% to 63%) and
breaks 70, mostly passive-target vertices moved to the plane upstream of their target by
activity there. It is therefore off by default and kept for the record.

The rest is the baseline's: time- and energy-cleaned hits, the longest X track and its stereo
partners, the upstream body of a hadronic system, and the first connected activity.

One step is trackfit's own: a vertex cannot lie downstream of the event's charged tracks. A
photon from a neutral pion converts tens of centimetres from the vertex, and a neutron scatters
further still, so the brightest, longest straight cluster (the one the chain follows) can be a
shower that starts well behind the vertex while the muon or a proton that left the vertex lies
upstream of it, apart from it. When a straight track of at least five hits is found in two or
more views wholly upstream of the call, and at least three scintillator planes between the end
of those tracks and the call are empty, the vertex is the first activity at the start of those
tracks. The empty planes keep out a backward hadron, which starts at the vertex and so touches
it, and the few planes of a passive target. Measured on simulated files: +8 events on the
tuning file (seed 11: 10 fixed, 2 broken), +27 on 10,000 events (seed 31: 36 and 9), which set
the thresholds, and +12 on the test file (seed 7: 16 and 4).

The last step reads the hit times. MINERvA's lattices store each hit's time relative to the
muon track's vertex time (``muon_trackVertexTime``, the time the muon left the vertex; the module
docstring of :mod:`._hits`), and nothing outruns light, so a muon's hits date its start: a hit at
z is at (z - z0) * k / c for a start z0, k being the path per unit z. Over all of the main track's
hits in the three views the hits' own time resolution (3.4 ns, about 1 m of light) cancels,
because the reference is the mean over the same hits, and the start is placed to about 4 cm
(:func:`muon_start_from_times`). When the event's main track starts downstream of the call and
its times put its start there too (nearer its start than the call, and within 25 cm of it), the
track left the vertex there, and what the chain followed upstream (a backward proton or pion, a
photon's or neutron's activity) came from it later. Times that put the start upstream of the call
are not used: they come as often from events whose clock is not the muon's (no muon track: the
reference is then the earliest cluster) and from slow or scattered particles, and moving the call
upstream on them breaks far more than it fixes (453 events against 15 on the tuning file).
Measured on simulated files: +15 events on the tuning file (seed 11: 17 fixed, 2 broken) and +60
on 10,000 events (seed 31: 82 and 22), which set the thresholds, and +30 on the test file (seed 7:
39 and 9); with one view's hits (the first version) it was +8, +37 and +11. On the test file's
charged-current events with a long main track (3,574) the timed start lies a median 0.4 mm from
the true vertex with a core width of 40 mm (97 mm from the X view alone);
``benchmarks/probe_trackfit_timing.py`` prints these figures. The step's discrimination is the
clock's: simulated times are referred to the muon's time with a perfect time-of-flight correction,
so they know where the muon truly started. With times that only agree with the main track's own
start (what a clock referred to a reconstructed muon track's start gives) the same move breaks 363
test events for 68 it fixes; on real data expect the step to gain only as far as the experiment's
own muon-track timing is right.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nuclassify.detector.minerva import PLANE_VIEW, PLANE_Z_MM, VIEWS
from nuclassify.evaluation.trackfit._candidates import Candidates
from nuclassify.evaluation.trackfit._hough import Track, find_tracks
from nuclassify.evaluation.trackfit._vertex import (
    _SLACK_MM,
    first_activity_z,
    main_tracks,
    stereo_partners,
    track_anchor,
)

__all__ = ["VertexCall", "refined_vertex"]

_VIEW_CODE = {v: k for k, v in enumerate(VIEWS)}
_DETACHED_MARGIN_MM = 40.0  # a detached track's hits lie at least this far upstream of the call
_DETACHED_MIN_HITS = 5
_DETACHED_MIN_VIEWS = 2
_DETACHED_EMPTY_PLANES = 3  # empty scintillator planes between the tracks' end and the call
C_MM_PER_NS = 299.792458  # the speed of light
_TIMED_MIN_SPAN_MM = 600.0  # the timed track is long (a muon): its hits set the reference time
_TIMED_MIN_OFFSET_MM = 40.0  # ... and starts at least this far downstream of the call (two planes)
_TIMED_TOLERANCE_MM = 250.0  # |flight the times imply - where the track starts| (0.8 ns of light)
_TIMED_ON_TRACK_MM = 20.0
_TIMED_MIN_HITS = 8
_TIMED_MIN_TRACK_HITS = 8
# Per view: for each plane index, the z of the first plane (any view) after that view's previous plane.
_EARLIEST = {}
for _name, _code in _VIEW_CODE.items():
    _own = np.flatnonzero(PLANE_VIEW == _code)
    _prev = np.searchsorted(_own, np.arange(len(PLANE_Z_MM))) - 1  # rank of this view's plane before p
    _EARLIEST[_name] = np.where(_prev >= 0, PLANE_Z_MM[np.minimum(_own[np.maximum(_prev, 0)] + 1,
                                                                  len(PLANE_Z_MM) - 1)], PLANE_Z_MM[0])


@dataclass(frozen=True)
class VertexCall:
    """One event's vertex plane z (mm, nan without hits), how many views' main tracks voted, and
    how far downstream of it the main track's hit times put the track's start (mm; negative:
    upstream; nan without times or a long main track, see :func:`muon_start_from_times`).
    ``candidates``: the planes the vertex selector weighs (:mod:`._candidates`), when it runs."""

    plane_z: float
    n_tracks: int
    timed_offset_mm: float = float("nan")
    candidates: Candidates | None = field(default=None, compare=False, repr=False)


def _earliest_z(view: str, z_start: float) -> float:
    """The most upstream z at which a vertex could sit when ``view``'s track starts at ``z_start``."""
    p = int(np.searchsorted(PLANE_Z_MM, z_start - 1e-3))
    return float(_EARLIEST[view][min(p, len(PLANE_Z_MM) - 1)])


def refined_vertex(hits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                   stereo_match: bool = True, interval_votes: bool = False,
                   times: dict[str, np.ndarray] | None = None,
                   tracks: dict[str, list[Track]] | None = None) -> VertexCall:
    """Vertex plane of one event from its cleaned hits (view -> (z, t, column, energy)).

    Args:
        stereo_match: take the U and V tracks that satisfy u + v = x with the primary X track.
        interval_votes: open the first-activity search at the median of each view's earliest
            allowed z (see the module docstring) rather than at the median start less a slack.
        times: view -> each hit's time (ns) relative to the interaction, as the data stores it;
            None (no time channel) leaves out the timed-track step.
        tracks: :func:`._vertex.main_tracks` of ``hits`` when the caller has them (found here otherwise).
    """
    z_all = np.concatenate([h[0] for h in hits.values()]) if hits else np.empty(0)
    if len(z_all) == 0:
        return VertexCall(float("nan"), 0)
    if tracks is None:
        tracks = main_tracks(hits, stereo_match)
    anchor, mains = track_anchor(hits, z_all, stereo_match, dense_body=True, tracks=tracks)
    if anchor is None:
        return VertexCall(first_activity_z(z_all), 0)
    starts = [m.z_start for m in mains]
    earliest = [_earliest_z(m.view, m.z_start) for m in mains]
    lower = anchor - _SLACK_MM
    if interval_votes and len(starts) == 3:
        lower = min(lower, _consistent_start(np.asarray(earliest), np.asarray(starts)) - _SLACK_MM)
    plane_z = first_activity_z(z_all[z_all >= lower])
    start = _detached_track_start(hits, z_all, plane_z)
    if start is not None:
        plane_z = first_activity_z(z_all[z_all >= start - _SLACK_MM])
    if times is None:
        return VertexCall(plane_z, len(starts))
    timed = muon_start_from_times(hits, times, tracks)
    start = _timed_track_start(timed, plane_z)
    if start is not None:
        plane_z = first_activity_z(z_all[z_all >= start - 2 * _SLACK_MM])
    return VertexCall(plane_z, len(starts), float("nan") if timed is None else timed[0] - plane_z)


def muon_start_from_times(hits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                          times: dict[str, np.ndarray],
                          tracks: dict[str, list[Track]] | None = None) -> tuple[float, Track] | None:
    """The z at which the main track's hit times put its start, and the track; None without a long one.

    The main track is the longest X track with its U and V stereo partners (a muon's three
    projections, before any following upstream); it must span ``_TIMED_MIN_SPAN_MM``. A hit at z
    on a track that left z0 at t = 0 at light speed is at t = (z - z0) * k / c, k being the path
    per unit z from the 3D direction, so z0 = mean(z - t c / k) over the track's hits in all
    three views. Taking all of the muon's hits matters: the data's reference time is the mean
    over them, so their own time resolution (3.4 ns a hit) cancels, and on simulated events this
    places the muon's start to 4 cm (core width; 10 cm from the X view alone).
    ``tracks``: :func:`._vertex.main_tracks` of ``hits`` (found again when not given).
    """
    if tracks is None:
        tracks = main_tracks(hits, stereo_match=True)
    if not tracks.get("x") or "x" not in times:
        return None
    primary = tracks["x"][0]
    if (primary.n_hits < _TIMED_MIN_TRACK_HITS or primary.z_end - primary.z_start < _TIMED_MIN_SPAN_MM
            or abs(primary.dz) < 1e-6):
        return None
    parts = [primary] + [p for p in stereo_partners(primary, tracks.get("u", []), tracks.get("v", []))
                         if p.view in times and abs(p.dz) > 1e-6]
    slope = {p.view: p.dt / p.dz for p in parts}
    # 3D direction from the projections: u = x cos60 + y sin60, v = x cos60 - y sin60.
    slope_y = (slope["u"] - slope["v"]) / np.sqrt(3.0) if "u" in slope and "v" in slope else 0.0
    path_per_z = float(np.sqrt(1.0 + slope["x"] ** 2 + slope_y ** 2))
    starts = []
    for p in parts:
        z, t, _, _ = hits[p.view]
        on = ((np.abs(t - (p.t0 + (z - p.z0) * slope[p.view])) < _TIMED_ON_TRACK_MM)
              & (z >= p.z_start - 1.0) & (z <= p.z_end + 1.0))
        starts.append(z[on] - times[p.view][on] * C_MM_PER_NS / path_per_z)
    each = np.concatenate(starts)
    if len(each) < _TIMED_MIN_HITS:
        return None
    return float(np.mean(each)), primary


def _timed_track_start(found: tuple[float, Track] | None, plane_z: float) -> float | None:
    """Where the event's main track starts, when its hit times say it left the vertex there; else None.

    ``found``: :func:`muon_start_from_times` of the event. The main track must start more than
    ``_TIMED_MIN_OFFSET_MM`` downstream of ``plane_z``, and the start its times give must lie
    nearer the track's start than the call and within ``_TIMED_TOLERANCE_MM`` of the track's
    start (see the module docstring).
    """
    if found is None:
        return None
    timed_z, primary = found
    offset = primary.z_start - plane_z
    if offset <= _TIMED_MIN_OFFSET_MM:
        return None
    flight = timed_z - plane_z  # where along z, from the call, the times put the start
    if flight <= 0.5 * offset or abs(flight - offset) >= _TIMED_TOLERANCE_MM:
        return None
    return primary.z_start


def _detached_track_start(hits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                          z_all: np.ndarray, plane_z: float) -> float | None:
    """Where charged tracks lying wholly upstream of, and apart from, the called vertex start; else None.

    Each view's longest straight track among the hits more than ``_DETACHED_MARGIN_MM`` upstream
    of ``plane_z`` counts if it has ``_DETACHED_MIN_HITS`` hits; with ``_DETACHED_MIN_VIEWS`` such
    views and ``_DETACHED_EMPTY_PLANES`` empty planes between their downstream end and the call,
    the most upstream start is returned (see the module docstring).
    """
    upstream = z_all < plane_z - _DETACHED_MARGIN_MM
    if upstream.sum() < _DETACHED_MIN_VIEWS * _DETACHED_MIN_HITS:
        return None
    lit = np.unique(_plane_index(z_all))
    call = int(_plane_index(plane_z))
    # Cheap necessary condition first (the track search is most of the cost): empty planes
    # between the first upstream hit and the call.
    if _empty_planes(int(_plane_index(z_all[upstream].min())), call, lit) < _DETACHED_EMPTY_PLANES:
        return None
    tracks = []
    for view, (z, t, col, e) in hits.items():
        up = z < plane_z - _DETACHED_MARGIN_MM
        if up.sum() < _DETACHED_MIN_HITS:
            continue
        found = find_tracks(view, z[up], t[up], col[up], e[up], max_tracks=1, min_hits=3)
        if found and found[0].n_hits >= _DETACHED_MIN_HITS:
            tracks.append(found[0])
    if len(tracks) < _DETACHED_MIN_VIEWS:
        return None
    if _empty_planes(int(_plane_index(max(tr.z_end for tr in tracks))), call, lit) < _DETACHED_EMPTY_PLANES:
        return None
    return min(tr.z_start for tr in tracks)


def _plane_index(z: np.ndarray | float) -> np.ndarray:
    """Index of the plane at (or the first after) each z: hits sit exactly at their plane's z."""
    return np.searchsorted(PLANE_Z_MM, np.asarray(z) - 1e-3)


def _empty_planes(after: int, before: int, lit: np.ndarray) -> int:
    """How many planes strictly between plane indices ``after`` and ``before`` have no hit (``lit``: sorted)."""
    return (before - after - 1) - int(np.count_nonzero((lit > after) & (lit < before)))


def _consistent_start(lo: np.ndarray, hi: np.ndarray) -> float:
    """The start of the earliest z range that the most views allow: view v allows [lo_v, hi_v].

    Returns the upper end of that range (the earliest first hit among the views that agree).
    """
    cand = np.concatenate([lo, hi])
    allowed = (cand[:, None] >= lo[None, :] - 1.0) & (cand[:, None] <= hi[None, :] + 1.0)
    count = allowed.sum(axis=1)
    best = count == count.max()
    z = cand[best]
    first = int(np.argmin(z))
    return float(hi[allowed[np.flatnonzero(best)[first]]].min())
