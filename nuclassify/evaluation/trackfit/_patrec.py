"""Pattern recognition: straight 2D tracks per view, matched into 3D tracks by the stereo relation.

Per view, lines are found among the hits (z, transverse) with an iterated Hough transform (one
vote per hit, so a long track beats a compact bright shower), refined by a least-squares fit to
their inliers and cut to their longest run of nearly consecutive planes of that view (which lets
a track cross a passive target's gap but not jump a hole).

The views are then matched in 3D. MINERvA's U and V strips measure x rotated by +60 and -60
degrees about the beam axis, u = x cos60 + y sin60 and v = x cos60 - y sin60, so u + v = x at
every z along a real particle: an X track and a U and a V track that overlap in z and satisfy
this are one particle (L. Aliaga et al., NIM A 743 (2014) 130, the tracking section). An X track
with only one stereo partner (the other view's track merged with another particle, or too
short) is still a 3D track: x from X, y from the one stereo view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuclassify.evaluation.trackfit._hits import VIEW_COS, VIEW_SIN, EventHits
from nuclassify.evaluation.trackfit._hough import (  # one Hough accumulator and run-finder for both methods
    _COS,
    _MAX_VOTERS,
    _N_THETA,
    _RHO_BIN_MM,
    _SIN,
    _THETA_INDEX,
    _longest_run,
)

__all__ = ["Track2D", "Track3D", "find_tracks_2d", "match_3d", "view_column"]

_STEREO_MM = 45.0  # largest mean |u + v - x| of a stereo triplet
_OVERLAP_MM = 60.0  # triplet members' z extents must overlap (or nearly)
_PAIR_EXTENT_MM = 90.0  # an X track and a lone stereo partner must start and end this close in z


def view_column(plane: np.ndarray, view: int) -> np.ndarray:
    """Rank of each plane among its view's planes: X planes are every other plane, U and V every fourth."""
    return plane // 2 if view == 0 else plane // 4


@dataclass
class Track2D:
    """A straight track in one view: t = t0 + slope (z - z_ref), its hits (indices into the event's hits)."""

    view: int
    hits: np.ndarray
    z_ref: float
    t0: float
    slope: float
    z_start: float
    z_end: float

    def t_at(self, z: np.ndarray | float) -> np.ndarray | float:
        return self.t0 + self.slope * (z - self.z_ref)


@dataclass
class Track3D:
    """Hits of one particle across views and its straight-line parameters x, y (mm), tx, ty at ``z_ref``."""

    hits: np.ndarray
    z_ref: float
    params: np.ndarray
    views: tuple[int, ...]
    z_start: float
    z_end: float


def find_tracks_2d(hits: EventHits, view: int, *, max_tracks: int = 4, min_hits: int = 3,
                   tolerance_mm: float = 22.0, max_column_gap: int = 2) -> list[Track2D]:
    """Up to ``max_tracks`` straight tracks among the hits of one view of one event."""
    sel = np.flatnonzero(hits.view == view)
    tracks: list[Track2D] = []
    if len(sel) < min_hits:
        return tracks
    z, t = hits.z[sel], hits.t[sel]
    col = view_column(hits.plane[sel], view)
    live = np.ones(len(sel), dtype=bool)
    n_live = len(sel)
    for _ in range(max_tracks):
        if n_live < min_hits:
            break
        remaining = np.flatnonzero(live)
        zr, tr = z[remaining], t[remaining]
        zc, tc = zr.mean(), tr.mean()
        dzr, dtr = zr - zc, tr - tc
        step = -(-n_live // _MAX_VOTERS)
        rho = dzr[::step, None] * _COS + dtr[::step, None] * _SIN
        rmax = float(np.abs(rho).max()) + _RHO_BIN_MM
        n_rho = int(2 * rmax / _RHO_BIN_MM) + 2
        flat = ((rho + rmax) * (1.0 / _RHO_BIN_MM)).astype(np.int64) * _N_THETA + _THETA_INDEX
        acc = np.bincount(flat.ravel(), minlength=n_rho * _N_THETA).reshape(n_rho, _N_THETA)
        acc[:-1] += acc[1:]
        pr, pt = divmod(int(acc.argmax()), _N_THETA)
        if acc[pr, pt] * step < min_hits:
            break
        rho0 = (pr + 1) * _RHO_BIN_MM - rmax
        inl = np.abs(dzr * _COS[pt] + dtr * _SIN[pt] - rho0) < tolerance_mm + _RHO_BIN_MM / 2
        if inl.sum() < min_hits:
            break
        # Refine by total least squares on the inliers, then re-select the inliers.
        zi, ti = zr[inl], tr[inl]
        mz, mt = zi.mean(), ti.mean()
        dzi, dti = zi - mz, ti - mt
        angle = 0.5 * np.arctan2(2.0 * (dzi @ dti), dzi @ dzi - dti @ dti)
        dz, dt = float(np.cos(angle)), float(np.sin(angle))
        inl = np.abs((tr - mt) * dz - (zr - mz) * dt) < tolerance_mm
        idx = np.flatnonzero(inl)
        if len(idx) >= min_hits:
            idx = _longest_run(idx, col[remaining[idx]], max_column_gap)
        if len(idx) < min_hits or len(np.unique(col[remaining[idx]])) < 2:
            live[remaining[inl]] = False
            n_live -= int(inl.sum())
            continue
        local = remaining[idx]
        zh, th = z[local], t[local]
        zm = zh.mean()
        dzh = zh - zm
        var = dzh @ dzh
        slope = float(dzh @ (th - th.mean()) / var) if var > 0 else 0.0
        tracks.append(Track2D(view, sel[local], float(zm), float(th.mean()), slope, float(zh.min()), float(zh.max())))
        live[local] = False
        n_live -= len(local)
    return tracks


def _stereo_residual(x: Track2D, u: Track2D, v: Track2D) -> float:
    """Mean |u + v - x| (mm) at the ends and middle of the triplet's common z range; inf if they do not overlap."""
    lo = max(x.z_start, u.z_start, v.z_start)
    hi = min(x.z_end, u.z_end, v.z_end)
    if hi < lo - _OVERLAP_MM:
        return float("inf")
    total = 0.0
    for z in (lo, 0.5 * (lo + hi), hi):
        total += abs(u.t0 + u.slope * (z - u.z_ref) + v.t0 + v.slope * (z - v.z_ref) - x.t0 - x.slope * (z - x.z_ref))
    return total / 3.0


def match_3d(hits: EventHits, tracks: dict[int, list[Track2D]]) -> tuple[list[Track3D], list[Track2D]]:
    """Stereo-match 2D tracks into 3D tracks; returns (3D tracks, 2D tracks left unmatched).

    Triplets (X, U, V) are taken greedily by their stereo residual; X tracks left over take one
    stereo partner whose z extent matches theirs.
    """
    xs, us, vs = tracks.get(0, []), tracks.get(1, []), tracks.get(2, [])
    candidates = []
    for i, x in enumerate(xs):
        for j, u in enumerate(us):
            for k, v in enumerate(vs):
                r = _stereo_residual(x, u, v)
                if r < _STEREO_MM:
                    candidates.append((r, i, j, k))
    candidates.sort()
    used_x, used_u, used_v = set(), set(), set()
    out: list[Track3D] = []
    for _, i, j, k in candidates:
        if i in used_x or j in used_u or k in used_v:
            continue
        used_x.add(i)
        used_u.add(j)
        used_v.add(k)
        out.append(_line_3d(hits, (xs[i], us[j], vs[k])))
    pairs = []
    for i, x in enumerate(xs):
        if i in used_x:
            continue
        for views, used, pool in ((1, used_u, us), (2, used_v, vs)):
            for j, s in enumerate(pool):
                if j in used:
                    continue
                d = abs(s.z_start - x.z_start) + abs(s.z_end - x.z_end)
                if d < 2 * _PAIR_EXTENT_MM and min(x.z_end, s.z_end) - max(x.z_start, s.z_start) > 40.0:
                    pairs.append((d, i, views, j))
    pairs.sort()
    for _, i, view, j in pairs:
        used = used_u if view == 1 else used_v
        if i in used_x or j in used:
            continue
        used_x.add(i)
        used.add(j)
        out.append(_line_3d(hits, (xs[i], (us if view == 1 else vs)[j])))
    left = [x for i, x in enumerate(xs) if i not in used_x] + [u for j, u in enumerate(us) if j not in used_u] + \
        [v for k, v in enumerate(vs) if k not in used_v]
    return out, left


def _line_3d(hits: EventHits, parts: tuple[Track2D, ...]) -> Track3D:
    """Least-squares straight line x(z), y(z) through the hits of the matched 2D tracks.

    Hits more than ``_TRIM_MM`` off the 3D line in their own view (a neighbour's hit that only
    one projection shared) are dropped and the line refitted, then the track is cut to its
    longest run of planes with at most ``_MAX_PLANE_GAP`` planes missing (a passive target's
    gap counts as no missing plane: the plane index runs on across it).
    """
    idx = np.concatenate([p.hits for p in parts])
    params, z_ref = _lstsq(hits, idx)
    for _ in range(2):
        res = np.abs(_predict(hits, idx, params, z_ref) - hits.t[idx])
        keep = res < _TRIM_MM
        if keep.all() or keep.sum() < 4:
            break
        idx = idx[keep]
        params, z_ref = _lstsq(hits, idx)
    planes = hits.plane[idx]
    order = np.argsort(planes, kind="stable")
    idx, planes = idx[order], planes[order]
    breaks = np.flatnonzero(np.diff(planes) > _MAX_PLANE_GAP) + 1
    if len(breaks):
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [len(idx)]))
        best = int(np.argmax(ends - starts))
        idx = idx[starts[best]:ends[best]]
        if len(np.unique(hits.view[idx])) >= 2 and len(idx) >= 4:
            params, z_ref = _lstsq(hits, idx)
    z = hits.z[idx]
    return Track3D(idx, z_ref, params, tuple(p.view for p in parts), float(z.min()), float(z.max()))


_TRIM_MM = 25.0
_MAX_PLANE_GAP = 4


def _lstsq(hits: EventHits, idx: np.ndarray) -> tuple[np.ndarray, float]:
    z, t = hits.z[idx], hits.t[idx]
    c, s = VIEW_COS[hits.view[idx]], VIEW_SIN[hits.view[idx]]
    z_ref = float(z.sum() / len(z))
    dz = z - z_ref
    a = np.stack([c, s, c * dz, s * dz], axis=1)
    params, *_ = np.linalg.lstsq(a, t, rcond=None)
    return params, z_ref


def _predict(hits: EventHits, idx: np.ndarray, params: np.ndarray, z_ref: float) -> np.ndarray:
    dz = hits.z[idx] - z_ref
    v = hits.view[idx]
    return VIEW_COS[v] * (params[0] + params[2] * dz) + VIEW_SIN[v] * (params[1] + params[3] * dz)
