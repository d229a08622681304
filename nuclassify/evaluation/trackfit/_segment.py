"""Segment assignment: where in the material the vertex sits, given its fitted z and uncertainty.

Neutrinos interact in proportion to the mass they cross, so before any measurement a vertex is
in a slab with probability proportional to the slab's grammage: a 2.6 cm lead target weighs
about fifteen scintillator planes. The vertex fit and the vertex activity say the vertex lies at
or just upstream of the first plane with activity, ``z_fit`` +- ``sigma``. The candidate slabs
are that plane, the gap just upstream of it (with the passive target if there is one) and the
plane before the gap (missed by inefficiency); each gets

    P(slab) ~ grammage(slab) * N(z_slab; z_fit, sigma^2 + thickness^2 / 12)

(Bayes with the mass prior). The segment is that of the most probable slab, and the z estimate
the fit's Gaussian restricted to that slab (its truncated mean), so a vertex in a passive target
lands inside the target where the fit puts it, not always at the centre. The reported
uncertainty combines the spread within the slab and between the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from nuclassify.detector.minerva import (
    N_SEGMENTS,
    PLANE_Z_MM,
    SCINT_THICKNESS_MM,
    SEGMENT_UPPER_Z_MM,
    SEGMENT_Z_ORDER,
    TARGETS,
    segment_of_z,
)
from nuclassify.evaluation.trackfit._material import SCINT_GRAMMAGE, target_grammage, target_mass_slab

__all__ = ["SEGMENT_PRIOR", "SegmentCall", "assign_segment", "segment_probabilities", "target_before_planes"]

# An event with nothing clean to see (a neutral-current event whose products are neutrons) is
# called by where interactions happen, which follows the mass: the share of each segment (by
# label 0-10) among the 3,000 events of a simulated tuning file (seed 11). Its argmax is segment
# 8, the water target with the scintillator around it (21%).
SEGMENT_PRIOR = np.array([180, 364, 373, 335, 200, 253, 139, 127, 621, 27, 381], dtype=np.float32) / 3000.0

_TARGET_GRAMMAGE = target_grammage()
# Each target's slab: (lo, hi) z, grammage, the plane index it precedes.
_TARGET_SLABS = []
for _t in TARGETS:
    _TARGET_SLABS.append((*target_mass_slab(_t), _TARGET_GRAMMAGE[_t.number],
                          int(np.searchsorted(PLANE_Z_MM, _t.z_center_mm))))
_TARGET_BEFORE_PLANE = {slab[3]: slab for slab in _TARGET_SLABS}
_MISSED_PLANE_FACTOR = 0.03  # the plane before the gap holds the vertex yet shows no activity

_LO = np.empty(N_SEGMENTS)
_HI = np.empty(N_SEGMENTS)
for _i, _seg in enumerate(SEGMENT_Z_ORDER):
    _LO[_seg] = -np.inf if _i == 0 else SEGMENT_UPPER_Z_MM[_i - 1]
    _HI[_seg] = np.inf if _i == N_SEGMENTS - 1 else SEGMENT_UPPER_Z_MM[_i]


def target_before_planes() -> tuple[int, ...]:
    """The plane indices that have a passive target just upstream of them."""
    return tuple(sorted(_TARGET_BEFORE_PLANE))


@dataclass
class SegmentCall:
    """The chosen slab's segment, the z estimate (mm) and its uncertainty, and per-segment probabilities (11,)."""

    segment: int
    z: float
    sigma: float
    probabilities: np.ndarray


def _truncated(mu: float, sigma: float, lo: float, hi: float) -> tuple[float, float]:
    """Mean and standard deviation of N(mu, sigma) restricted to [lo, hi]."""
    a, b = (lo - mu) / sigma, (hi - mu) / sigma
    mass = max(float(ndtr(b) - ndtr(a)), 1e-12)
    pa, pb = np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi), np.exp(-0.5 * b * b) / np.sqrt(2 * np.pi)
    if mass < 1e-9:  # far outside: the nearer edge
        return (lo if mu < lo else hi), (hi - lo) / np.sqrt(12)
    mean = mu + sigma * (pa - pb) / mass
    var = sigma * sigma * (1 + (a * pa - b * pb) / mass - ((pa - pb) / mass) ** 2)
    return float(np.clip(mean, lo, hi)), float(np.sqrt(max(var, 1.0)))


def assign_segment(first_plane: int, z_fit: float, sigma_fit: float) -> SegmentCall:
    """Pick the vertex's slab among the first active plane, the gap (target) before it, and the plane before.

    Args:
        first_plane: global index of the most upstream plane with vertex activity.
        z_fit: the vertex fit's z (mm); sigma_fit its uncertainty (mm).
    """
    sigma_fit = max(float(sigma_fit), 3.0)
    half = SCINT_THICKNESS_MM / 2
    cands = [(PLANE_Z_MM[first_plane] - half, PLANE_Z_MM[first_plane] + half, SCINT_GRAMMAGE)]
    slab = _TARGET_BEFORE_PLANE.get(first_plane)
    if slab is not None:
        cands.append(slab[:3])
    if first_plane > 0:
        zp = PLANE_Z_MM[first_plane - 1]
        cands.append((zp - half, zp + half, SCINT_GRAMMAGE * _MISSED_PLANE_FACTOR))
    lo = np.array([c[0] for c in cands])
    hi = np.array([c[1] for c in cands])
    grammage = np.array([c[2] for c in cands])
    centre = 0.5 * (lo + hi)
    width2 = (hi - lo) ** 2 / 12
    var = sigma_fit ** 2 + width2
    log_post = np.log(grammage) - 0.5 * (centre - z_fit) ** 2 / var - 0.5 * np.log(var)
    post = np.exp(log_post - log_post.max())
    post /= post.sum()
    best = int(np.argmax(post))
    z, within = _truncated(z_fit, sigma_fit, lo[best], hi[best])
    spread = float(np.sqrt(np.sum(post * (centre - centre[best]) ** 2)))
    seg_of = segment_of_z(centre)
    probs = np.full(N_SEGMENTS, 1e-3)
    np.add.at(probs, seg_of, post)
    probs /= probs.sum()
    return SegmentCall(int(seg_of[best]), z, float(np.hypot(within, spread)), probs)


def segment_probabilities(z: np.ndarray, sigma_mm: float | np.ndarray = 5.0,
                          floor: float | np.ndarray = 1e-3) -> np.ndarray:
    """Pseudo-probabilities over the 11 segments from z estimates and their uncertainties.

    Each segment gets exp(-d^2 / 2 sigma^2), d being the distance from z to the segment's
    interval (0 inside), plus a small floor (one for all, or per event as an (N, 1) array); rows
    are normalised to sum to 1. An event without
    a vertex (nan) gets the uniform distribution. The argmax is always ``segment_of_z(z)``.
    """
    z = np.asarray(z, dtype=np.float64)[:, None]
    sigma = np.broadcast_to(np.asarray(sigma_mm, dtype=np.float64), z.shape[:1])[:, None]
    d = np.maximum(_LO[None, :] - z, 0.0) + np.maximum(z - _HI[None, :], 0.0)
    w = np.exp(-0.5 * (d / sigma) ** 2) + floor
    w[~np.isfinite(z[:, 0])] = 1.0
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)
