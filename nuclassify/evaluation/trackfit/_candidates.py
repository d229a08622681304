"""Candidate vertex planes of one event, and what the event's hits say about each.

trackfit's chain (:mod:`._refined`) ends in one call: the first connected activity at the start
of the main track, moved by a detached upstream track or by the main track's hit times. Each of
its rules reads one cue and its thresholds were set one at a time. The candidates here let the
cues be weighed together (:mod:`._selector`): the call itself and, for every segment with a lit
plane within ``WINDOW_PLANES`` planes of it, that segment's most upstream lit plane (the vertex
of a segment shows first at its first lit plane; the call keeps its own plane when its segment
wins, so its z is unchanged).

Each candidate plane p gets the features in ``FEATURE_NAMES``, all from the event's cleaned hits
and trackfit's own tracks: where p lies against the call and the first activity; the activity
upstream of p (hits, energy, lit planes, the contiguous block that ends at p); the activity from
p on (energy and hits in the first planes, how many views see it, its density); the gap before
p and whether a passive target fills it; where the longest X track and the muon's timed start
lie against p; the hit times at and before p; and the event's size.

Pandora's vertex selection for liquid-argon TPCs scores its candidates in the same way, by
features of the hits around each (the energy kick, local and global asymmetries) fed to a
trained classifier (PandoraPFA/LArContent, ``LArVertex/MvaVertexSelectionAlgorithm``; J. S.
Marshall and M. A. Thomson, Eur. Phys. J. C 75 (2015) 439 for the framework).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuclassify.detector.minerva import PLANE_Z_MM, segment_of_z
from nuclassify.evaluation.trackfit._hough import Track
from nuclassify.evaluation.trackfit._segment import target_before_planes
from nuclassify.evaluation.trackfit._vertex import first_activity_z, vertex_to_prediction_z

__all__ = ["FEATURE_NAMES", "TIME_FEATURES", "WINDOW_PLANES", "Candidates", "vertex_candidates", "PLANE_SEGMENT"]

WINDOW_PLANES = 20  # candidates lie within this many planes of trackfit's call
_N_PLANES = len(PLANE_Z_MM)
_PAD = 12  # room past the last plane for the downstream windows
# The segment a vertex found first at each plane is called in (a target's when a target gap precedes it).
PLANE_SEGMENT = segment_of_z(vertex_to_prediction_z(PLANE_Z_MM)).astype(np.int64)
_TARGET_AHEAD = np.zeros(_N_PLANES)
_TARGET_AHEAD[list(target_before_planes())] = 1.0

FEATURE_NAMES = (
    "call_mm", "is_call", "call_planes", "first_activity_planes", "first_hit_planes",
    "hits_up", "energy_up", "energy_up_share", "lit_up", "lit_up5", "energy_up3", "hits_up3",
    "block_planes", "block_energy", "gap_before", "target_before", "segment", "z_m",
    "energy_3", "hits_3", "views_3", "energy_8", "lit_8", "max_hits_4", "lit_5",
    "energy_0", "hits_0", "energy_1", "hits_1",
    "x_start_mm", "has_x_track", "x_hits",
    "timed_start_mm", "has_timed_start", "time_min_3", "time_mean_3", "time_mean_up",
    "hits_event", "energy_event",
)
# What the hit times say: the selector fitted without them (for trackfit without its timed step) leaves these out.
TIME_FEATURES = ("timed_start_mm", "has_timed_start", "time_min_3", "time_mean_3", "time_mean_up")
_COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True)
class Candidates:
    """One event's candidate planes (indices into ``PLANE_Z_MM``; the call first) and their features."""

    planes: np.ndarray
    features: np.ndarray  # (len(planes), len(FEATURE_NAMES)), float64


def vertex_candidates(hits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                      times: dict[str, np.ndarray] | None, call_z: float, timed_z: float,
                      tracks: dict[str, list[Track]]) -> Candidates:
    """The candidate planes around trackfit's call ``call_z`` and their features.

    Args:
        hits: view -> (z, t, column, energy) of the event's cleaned hits (at least one).
        times: view -> each hit's time relative to the interaction (ns); None without them.
        call_z: the z of trackfit's vertex plane.
        timed_z: where the main track's hit times put its start (nan without).
        tracks: :func:`._vertex.main_tracks` of ``hits``.
    """
    names = list(hits)
    plane = np.concatenate([np.searchsorted(PLANE_Z_MM, hits[v][0] - 1e-3) for v in names])
    energy = np.concatenate([hits[v][3] for v in names])
    view = np.concatenate([np.full(len(hits[v][0]), k) for k, v in enumerate(names)])
    time = np.concatenate([times[v] for v in names]) if times and all(v in times for v in names) else None
    size = _N_PLANES + _PAD
    per_plane = np.empty((size, 3))  # hits, energy, lit
    per_plane[:, 0] = np.bincount(plane, minlength=size)
    per_plane[:, 1] = np.bincount(plane, energy, minlength=size)
    per_plane[:, 2] = per_plane[:, 0] > 0
    cum = np.zeros((size + 1, 3))
    np.cumsum(per_plane, axis=0, out=cum[1:])
    n_at, e_at = per_plane[:, 0], per_plane[:, 1]
    n_cum, e_cum, lit_cum = cum[:, 0], cum[:, 1], cum[:, 2]
    lit = np.flatnonzero(n_at)
    call = int(np.searchsorted(PLANE_Z_MM, call_z - 1e-3))
    p = _candidate_planes(lit, call)
    k = len(p)
    # Hits sit at their plane's z, so the lit planes' z are the event's distinct hit z.
    first_activity = int(np.searchsorted(PLANE_Z_MM, first_activity_z(PLANE_Z_MM[lit]) - 1e-3))
    x_start = tracks["x"][0].z_start if tracks.get("x") else np.nan
    x_hits = tracks["x"][0].n_hits if tracks.get("x") else 0

    zp = PLANE_Z_MM[p]
    # The contiguous block ending at p (at most one empty plane inside): its first plane.
    run_start = lit[np.r_[0, np.flatnonzero(np.diff(lit) > 2) + 1]]
    prev_rank = np.searchsorted(lit, p) - 1  # the last lit plane before p
    prev = np.where(prev_rank >= 0, lit[np.maximum(prev_rank, 0)], -100)
    prev_start = run_start[np.searchsorted(run_start, prev, side="right") - 1]
    block = np.where(p - prev <= 2, prev_start, p)
    seen = np.zeros((size, len(names)), dtype=bool)
    seen[plane, view] = True
    ahead = p[:, None] + np.arange(4)
    total = float(e_cum[-1])
    up3 = np.maximum(p - 3, 0)
    out = np.empty((k, len(FEATURE_NAMES)))
    col = _COLUMN
    out[:, col["call_mm"]] = (zp - call_z) / 100.0
    out[:, col["is_call"]] = p == call
    out[:, col["call_planes"]] = np.clip(p - call, -20, 20)
    out[:, col["first_activity_planes"]] = np.clip(p - first_activity, -30, 30)
    out[:, col["first_hit_planes"]] = np.clip(p - lit[0], 0, 60)
    out[:, col["hits_up"]] = np.log1p(n_cum[p])
    out[:, col["energy_up"]] = np.log1p(e_cum[p])
    out[:, col["energy_up_share"]] = e_cum[p] / total if total > 0 else 0.0
    out[:, col["lit_up"]] = np.log1p(lit_cum[p])
    out[:, col["lit_up5"]] = lit_cum[p] - lit_cum[np.maximum(p - 5, 0)]
    out[:, col["energy_up3"]] = np.log1p(e_cum[p] - e_cum[up3])
    out[:, col["hits_up3"]] = n_cum[p] - n_cum[up3]
    out[:, col["block_planes"]] = p - block
    out[:, col["block_energy"]] = np.log1p(e_cum[p] - e_cum[block])
    out[:, col["gap_before"]] = np.where(prev >= 0, np.minimum(p - prev - 1, 30), 30)
    out[:, col["target_before"]] = _TARGET_AHEAD[p]
    out[:, col["segment"]] = PLANE_SEGMENT[p]
    out[:, col["z_m"]] = (zp - PLANE_Z_MM[0]) / 1000.0
    out[:, col["energy_3"]] = np.log1p(e_cum[p + 3] - e_cum[p])
    out[:, col["hits_3"]] = np.log1p(n_cum[p + 3] - n_cum[p])
    out[:, col["views_3"]] = seen[ahead[:, :3]].any(axis=1).sum(axis=1)
    out[:, col["energy_8"]] = np.log1p(e_cum[p + 8] - e_cum[p])
    out[:, col["lit_8"]] = lit_cum[p + 8] - lit_cum[p]
    out[:, col["max_hits_4"]] = n_at[ahead].max(axis=1)
    out[:, col["lit_5"]] = lit_cum[p + 5] - lit_cum[p]
    out[:, col["energy_0"]] = np.log1p(e_at[p])
    out[:, col["hits_0"]] = n_at[p]
    out[:, col["energy_1"]] = np.log1p(e_at[p + 1])
    out[:, col["hits_1"]] = n_at[p + 1]
    out[:, col["x_start_mm"]] = (x_start - zp) / 100.0 if np.isfinite(x_start) else 0.0
    out[:, col["has_x_track"]] = float(np.isfinite(x_start))
    out[:, col["x_hits"]] = float(x_hits)
    out[:, col["timed_start_mm"]] = np.clip((timed_z - zp) / 100.0, -5.0, 5.0) if np.isfinite(timed_z) else 0.0
    out[:, col["has_timed_start"]] = float(np.isfinite(timed_z))
    out[:, col["hits_event"]] = np.log1p(len(plane))
    out[:, col["energy_event"]] = np.log1p(total)
    _time_features(out, plane, time, p, n_cum, size)
    return Candidates(p, out)


def _candidate_planes(lit: np.ndarray, call: int) -> np.ndarray:
    """The call, then each other segment's most upstream lit plane within the window."""
    near = lit[(lit >= call - WINDOW_PLANES) & (lit <= call + WINDOW_PLANES)]
    segment = PLANE_SEGMENT[near]
    _, first = np.unique(segment, return_index=True)  # near is sorted: the first of each segment
    others = near[first][segment[first] != PLANE_SEGMENT[call]]
    return np.concatenate([[call], others]).astype(np.int64)


def _time_features(out: np.ndarray, plane: np.ndarray, time: np.ndarray | None, p: np.ndarray,
                   n_cum: np.ndarray, size: int) -> None:
    """Fill in the earliest and mean hit time in the 3 planes from p and the mean time upstream (0 without times)."""
    columns = [_COLUMN[name] for name in ("time_min_3", "time_mean_3", "time_mean_up")]
    if time is None:
        out[:, columns] = 0.0
        return
    t_cum = np.concatenate([[0.0], np.cumsum(np.bincount(plane, time, minlength=size))])
    earliest = np.full(size, np.inf)
    np.minimum.at(earliest, plane, time)
    n3 = n_cum[p + 3] - n_cum[p]
    min3 = earliest[p[:, None] + np.arange(3)].min(axis=1)
    out[:, columns[0]] = np.where(n3 > 0, min3, 0.0)
    out[:, columns[1]] = np.where(n3 > 0, (t_cum[p + 3] - t_cum[p]) / np.maximum(n3, 1), 0.0)
    out[:, columns[2]] = np.where(n_cum[p] > 0, t_cum[p] / np.maximum(n_cum[p], 1), 0.0)
