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
    z_all = np.concatenate([hits[v][0] for v in names])
    size = _N_PLANES + _PAD
    n_at = np.bincount(plane, minlength=size).astype(np.float64)
    e_at = np.bincount(plane, energy, minlength=size)
    lit_at = (n_at > 0).astype(np.float64)
    n_cum, e_cum, lit_cum = (np.concatenate([[0.0], np.cumsum(a)]) for a in (n_at, e_at, lit_at))
    lit = np.flatnonzero(n_at)
    call = int(np.searchsorted(PLANE_Z_MM, call_z - 1e-3))
    planes = _candidate_planes(lit, call)

    first_activity = int(np.searchsorted(PLANE_Z_MM, first_activity_z(z_all) - 1e-3))
    x_start = tracks["x"][0].z_start if tracks.get("x") else np.nan
    x_hits = tracks["x"][0].n_hits if tracks.get("x") else 0

    p = planes
    zp = PLANE_Z_MM[p]
    # The contiguous block ending at p (at most one empty plane inside): its first plane.
    run_start = lit[np.r_[0, np.flatnonzero(np.diff(lit) > 2) + 1]]
    prev_rank = np.searchsorted(lit, p) - 1  # the last lit plane before p
    prev = np.where(prev_rank >= 0, lit[np.maximum(prev_rank, 0)], -100)
    prev_start = run_start[np.searchsorted(run_start, prev, side="right") - 1] if len(run_start) else prev
    block = np.where(p - prev <= 2, prev_start, p)
    views_3 = sum((np.bincount(plane[view == k], minlength=size)[p[:, None] + np.arange(3)] > 0).any(axis=1)
                  for k in range(len(names)))
    total = float(e_cum[-1])
    cols = {
        "call_mm": (zp - call_z) / 100.0,
        "is_call": (p == call).astype(np.float64),
        "call_planes": np.clip(p - call, -20, 20),
        "first_activity_planes": np.clip(p - first_activity, -30, 30),
        "first_hit_planes": np.clip(p - lit[0], 0, 60),
        "hits_up": np.log1p(n_cum[p]),
        "energy_up": np.log1p(e_cum[p]),
        "energy_up_share": e_cum[p] / total if total > 0 else np.zeros(len(p)),
        "lit_up": np.log1p(lit_cum[p]),
        "lit_up5": lit_cum[p] - lit_cum[np.maximum(p - 5, 0)],
        "energy_up3": np.log1p(e_cum[p] - e_cum[np.maximum(p - 3, 0)]),
        "hits_up3": n_cum[p] - n_cum[np.maximum(p - 3, 0)],
        "block_planes": p - block,
        "block_energy": np.log1p(e_cum[p] - e_cum[block]),
        "gap_before": np.where(prev >= 0, np.minimum(p - prev - 1, 30), 30),
        "target_before": _TARGET_AHEAD[p],
        "segment": PLANE_SEGMENT[p].astype(np.float64),
        "z_m": (zp - PLANE_Z_MM[0]) / 1000.0,
        "energy_3": np.log1p(e_cum[p + 3] - e_cum[p]),
        "hits_3": np.log1p(n_cum[p + 3] - n_cum[p]),
        "views_3": views_3,
        "energy_8": np.log1p(e_cum[p + 8] - e_cum[p]),
        "lit_8": lit_cum[p + 8] - lit_cum[p],
        "max_hits_4": n_at[p[:, None] + np.arange(4)].max(axis=1),
        "lit_5": lit_cum[p + 5] - lit_cum[p],
        "energy_0": np.log1p(e_at[p]),
        "hits_0": n_at[p],
        "energy_1": np.log1p(e_at[p + 1]),
        "hits_1": n_at[p + 1],
        "x_start_mm": np.nan_to_num((x_start - zp) / 100.0),
        "has_x_track": np.full(len(p), float(np.isfinite(x_start))),
        "x_hits": np.full(len(p), float(x_hits)),
        "timed_start_mm": np.clip(np.nan_to_num((timed_z - zp) / 100.0), -5.0, 5.0),
        "has_timed_start": np.full(len(p), float(np.isfinite(timed_z))),
        "hits_event": np.full(len(p), np.log1p(len(plane))),
        "energy_event": np.full(len(p), np.log1p(total)),
    }
    cols.update(_time_features(plane, time, p, size))
    features = np.column_stack([np.asarray(cols[name], dtype=np.float64) for name in FEATURE_NAMES])
    return Candidates(p, features)


def _candidate_planes(lit: np.ndarray, call: int) -> np.ndarray:
    """The call, then each other segment's most upstream lit plane within the window."""
    near = lit[(lit >= call - WINDOW_PLANES) & (lit <= call + WINDOW_PLANES)]
    segment = PLANE_SEGMENT[near]
    _, first = np.unique(segment, return_index=True)  # near is sorted: the first of each segment
    others = near[first][segment[first] != PLANE_SEGMENT[call]]
    return np.concatenate([[call], others]).astype(np.int64)


def _time_features(plane: np.ndarray, time: np.ndarray | None, p: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """The earliest and mean hit time in the three planes from p, and the mean time upstream of p (0 without times)."""
    if time is None:
        zeros = np.zeros(len(p))
        return {"time_min_3": zeros, "time_mean_3": zeros, "time_mean_up": zeros}
    n_cum = np.concatenate([[0.0], np.cumsum(np.bincount(plane, minlength=size))])
    t_cum = np.concatenate([[0.0], np.cumsum(np.bincount(plane, time, minlength=size))])
    earliest = np.full(size, np.inf)
    np.minimum.at(earliest, plane, time)
    n3 = n_cum[p + 3] - n_cum[p]
    min3 = earliest[p[:, None] + np.arange(3)].min(axis=1)
    return {
        "time_min_3": np.where(n3 > 0, min3, 0.0),
        "time_mean_3": np.where(n3 > 0, (t_cum[p + 3] - t_cum[p]) / np.maximum(n3, 1), 0.0),
        "time_mean_up": np.where(n_cum[p] > 0, t_cum[p] / np.maximum(n_cum[p], 1), 0.0),
    }
