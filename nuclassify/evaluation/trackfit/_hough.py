"""Per-view track finding: an iterated Hough transform on hit positions (z, transverse).

A view's image has one column per plane of that view and one row per strip, so a hit is a
point (z of its plane, strip coordinate). Straight tracks are lines in that plane. The Hough
accumulator votes once per hit (not per unit of energy) so that the longest track, usually
the muon, wins over a compact shower of a few bright hits. Each found line is refined by a
total-least-squares fit to its inliers and cut to its longest run of nearly consecutive
columns, which lets a track cross a passive-target gap (adjacent columns) but not jump a hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Track", "find_tracks"]

_N_THETA = 48
_THETA = np.linspace(0.0, np.pi, _N_THETA, endpoint=False)
_THETA_INDEX = np.arange(_N_THETA)
_COS = np.cos(_THETA)
_SIN = np.sin(_THETA)
_RHO_BIN_MM = 20.0
_MAX_VOTERS = 160
_SLOPE_UPDATE = 0.4  # weight of each new step in the followed track's direction


@dataclass(frozen=True)
class Track:
    """A straight track in one view: point (z0, t0) with direction (dz, dt), z extent, hits."""

    view: str
    z0: float
    t0: float
    dz: float
    dt: float
    z_start: float
    z_end: float
    n_hits: int
    energy: float

    def t_at(self, z: float) -> float:
        """Transverse coordinate of the line at ``z`` (a steep line returns its centre)."""
        if abs(self.dz) < 1e-6:
            return self.t0
        return self.t0 + (z - self.z0) * self.dt / self.dz


def find_tracks(view: str, z: np.ndarray, t: np.ndarray, col: np.ndarray, e: np.ndarray, *,
                max_tracks: int = 3, min_hits: int = 3, tolerance_mm: float = 25.0,
                max_column_gap: int = 2) -> list[Track]:
    """Find up to ``max_tracks`` straight tracks among one view's hits of one event.

    Args:
        view: the view's name, kept on each track.
        z, t: hit positions in mm (plane z, strip coordinate).
        col: the hit's column (plane index within the view), for the contiguity cut.
        e: hit energies (summed on the track, used only to rank and report).
        min_hits: fewest hits a track may have.
        tolerance_mm: largest perpendicular distance of a hit from its line.
        max_column_gap: largest jump in columns between consecutive hits of one track.
    """
    tracks: list[Track] = []
    live = np.ones(len(z), dtype=bool)
    n_live = len(z)
    for _ in range(max_tracks):
        if n_live < min_hits:
            break
        remaining = np.flatnonzero(live)
        zr, tr = z[remaining], t[remaining]
        zc = zr.sum() / n_live
        tc = tr.sum() / n_live
        dzr, dtr = zr - zc, tr - tc
        # Vote with at most _MAX_VOTERS hits (an even stride through them): a track of many
        # hits still wins, and a 300-hit shower costs no more than a 100-hit event.
        step = -(-n_live // _MAX_VOTERS)
        rho = dzr[::step, None] * _COS + dtr[::step, None] * _SIN  # (voters, n_theta)
        rmax = float(np.abs(rho).max()) + _RHO_BIN_MM
        n_rho = int(2 * rmax / _RHO_BIN_MM) + 2
        flat = ((rho + rmax) * (1.0 / _RHO_BIN_MM)).astype(np.int64) * _N_THETA + _THETA_INDEX
        acc = np.bincount(flat.ravel(), minlength=n_rho * _N_THETA).reshape(n_rho, _N_THETA)
        # Add the next rho bin so a line on a bin edge is not split in two.
        acc[:-1] += acc[1:]
        peak = int(acc.argmax())
        pr, pt = divmod(peak, _N_THETA)
        if acc[pr, pt] * step < min_hits:
            break
        rho0 = (pr + 1) * _RHO_BIN_MM - rmax
        inl = np.abs(dzr * _COS[pt] + dtr * _SIN[pt] - rho0) < tolerance_mm + _RHO_BIN_MM / 2
        n_in = int(inl.sum())
        if n_in < min_hits:
            break
        # Refine: total least squares on the inliers, then re-select inliers.
        zi, ti = zr[inl], tr[inl]
        mz, mt = zi.sum() / n_in, ti.sum() / n_in
        dzi, dti = zi - mz, ti - mt
        angle = 0.5 * np.arctan2(2.0 * (dzi @ dti), dzi @ dzi - dti @ dti)
        dz, dt = float(np.cos(angle)), float(np.sin(angle))
        inl = np.abs((tr - mt) * dz - (zr - mz) * dt) < tolerance_mm
        idx = np.flatnonzero(inl)
        if len(idx) < min_hits:
            break
        idx = _longest_run(idx, col[remaining[idx]], max_column_gap)
        if len(idx) < min_hits:
            # The line's hits are scattered: drop them so the next pass looks elsewhere.
            live[remaining[inl]] = False
            n_live -= int(inl.sum())
            continue
        hits = remaining[idx]
        zh = z[hits]
        tracks.append(Track(view, float(mz), float(mt), dz, dt, float(zh.min()), float(zh.max()), len(hits),
                            float(e[hits].sum())))
        live[hits] = False
        n_live -= len(hits)
    return tracks


def _longest_run(idx: np.ndarray, cols: np.ndarray, max_gap: int) -> np.ndarray:
    """Keep the inliers forming the longest run of columns with jumps of at most ``max_gap``."""
    order = np.argsort(cols, kind="stable")
    idx, cols = idx[order], cols[order]
    breaks = np.flatnonzero((cols[1:] - cols[:-1]) > max_gap) + 1
    if len(breaks) == 0:
        return idx
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [len(idx)]))
    best = int(np.argmax(ends - starts))
    return idx[starts[best]:ends[best]]


def extend_upstream(track: Track, z: np.ndarray, t: np.ndarray, col: np.ndarray, *, max_column_gap: int = 3,
                    base_tolerance_mm: float = 25.0, angular_tolerance: float = 0.1, max_steps: int = 60) -> Track:
    """Follow ``track`` upstream hit by hit, beyond where its straight-line fit stopped.

    Muons scatter and bend a little, so one straight line covers only part of a long track, and
    the part it misses is often the upstream end where the vertex is. From the track's first
    hit, step to the nearest upstream columns (up to ``max_column_gap`` away) whose hits lie
    near the extrapolation; the window widens with the distance stepped, so a track can cross a
    passive target's gap. The direction is updated as the track is followed.
    """
    slope = track.dt / track.dz if abs(track.dz) > 0.2 else 0.0
    at_start = np.abs(z - track.z_start) < 1.0
    near = at_start & (np.abs(t - track.t_at(track.z_start)) < base_tolerance_mm)
    if not near.any():
        return track
    cur_z = track.z_start
    cur_t = float(t[near].mean())
    cur_col = int(col[near].min())
    steps = 0
    while steps < max_steps:
        window = (col < cur_col) & (col >= cur_col - max_column_gap)
        if not window.any():
            break
        cz, ct, cc = z[window], t[window], col[window]
        dz = cz - cur_z
        ok = np.abs(ct - (cur_t + slope * dz)) < base_tolerance_mm + angular_tolerance * np.abs(dz)
        if not ok.any():
            break
        nearest = cc[ok].max()
        pick = ok & (cc == nearest)
        new_z = float(cz[pick][0])
        new_t = float(ct[pick].mean())
        slope = (1 - _SLOPE_UPDATE) * slope + _SLOPE_UPDATE * (cur_t - new_t) / (cur_z - new_z)
        cur_z, cur_t, cur_col = new_z, new_t, int(nearest)
        steps += 1
    if steps == 0:
        return track
    return Track(track.view, track.z0, track.t0, track.dz, track.dt, cur_z, track.z_end, track.n_hits + steps,
                 track.energy)
