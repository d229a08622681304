"""Kalman filter for straight 3D tracks through MINERvA's planes, with multiple-scattering noise.

State at a plane's z: (x, y, tx = dx/dz, ty = dy/dz). Each plane measures one coordinate,
m = cos(a) x + sin(a) y with a = 0, +60 or -60 degrees for X, U, V (the energy-weighted centre
of the track's strips in that plane). Between planes the state moves on a straight line and its
covariance grows by the multiple scattering in the material stepped through (the plane's
scintillator, the ECAL lead, a passive target in the gap), with the Highland width of
:mod:`._material` and the slope covariance of a thin scatterer (R. Frühwirth, NIM A 262 (1987)
444; the projected-angle form for slopes, e.g. PDG Eq. 34.16 with the (1 + tx^2 + ty^2) path and
projection factors).

The filter runs over every track of a batch at once, plane by plane, in both directions: run
downstream-to-upstream it ends with the best estimate at the track's upstream end, run
upstream-to-downstream at its downstream end. A track's vertex end is one of the two, so no
separate smoother is needed. The filter's chi-square (sum of squared predicted residuals over
their variances) and its degrees of freedom measure the fit's quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuclassify.detector.minerva import PLANE_VIEW, PLANE_Z_MM
from nuclassify.evaluation.trackfit._hits import VIEW_COS, VIEW_SIN
from nuclassify.evaluation.trackfit._material import highland_theta0, x0_between

__all__ = ["TrackStates", "kalman_fit", "MEASUREMENT_SIGMA_MM"]

# Resolution of one plane's coordinate: a triangular strip pair shares a crossing by the light
# each side collects; the detector paper quotes about 3 mm, a single strip pitch/sqrt(12) = 4.8 mm.
MEASUREMENT_SIGMA_MM = 4.0
_INITIAL_SIGMA = np.array([200.0, 200.0, 1.0, 1.0])
_STEP_X0 = np.concatenate([[0.0], x0_between(PLANE_Z_MM[:-1], PLANE_Z_MM[1:])])  # material stepping onto plane p


@dataclass
class TrackStates:
    """Fitted states of K tracks at both ends: z (K,), state (K, 4), covariance (K, 4, 4), chi2, ndf."""

    z_up: np.ndarray
    state_up: np.ndarray
    cov_up: np.ndarray
    z_down: np.ndarray
    state_down: np.ndarray
    cov_down: np.ndarray
    chi2: np.ndarray
    ndf: np.ndarray
    momentum: np.ndarray


def kalman_fit(measurements: np.ndarray, p_first: np.ndarray, p_last: np.ndarray, init: np.ndarray,
               init_z: np.ndarray, momentum: np.ndarray, sigma_mm: float = MEASUREMENT_SIGMA_MM) -> TrackStates:
    """Fit K tracks over planes ``p0 .. p0 + P - 1`` in both directions.

    Args:
        measurements: (K, P) measured coordinate of each track on each plane of the window, nan where none.
            Column j is global plane ``p_first.min() + j``.
        p_first, p_last: (K,) first and last plane (global index) of each track.
        init: (K, 4) straight-line parameters (x, y, tx, ty) at ``init_z`` to start both passes from.
        init_z: (K,) z of ``init``.
        momentum: (K,) momentum scale (MeV/c) for the scattering noise.
    """
    p0 = int(p_first.min())
    z_down, s_down, c_down, chi2, ndf = _pass(measurements, p_first, p_last, init, init_z, momentum, sigma_mm, p0,
                                              upstream=False)
    z_up, s_up, c_up, _, _ = _pass(measurements, p_first, p_last, init, init_z, momentum, sigma_mm, p0,
                                   upstream=True)
    return TrackStates(z_up, s_up, c_up, z_down, s_down, c_down, chi2, ndf, momentum)


def _pass(meas: np.ndarray, p_first: np.ndarray, p_last: np.ndarray, init: np.ndarray, init_z: np.ndarray,
          momentum: np.ndarray, sigma: float, p0: int, upstream: bool) -> tuple:
    """One filter pass; returns the state at the end it runs towards, and its chi2 and ndf."""
    k, n_planes = meas.shape
    order = range(n_planes - 1, -1, -1) if upstream else range(n_planes)
    start = p_last if upstream else p_first
    end = p_first if upstream else p_last
    state = init.copy()
    z_now = PLANE_Z_MM[start].astype(np.float64)
    state[:, 0] += init[:, 2] * (z_now - init_z)
    state[:, 1] += init[:, 3] * (z_now - init_z)
    cov = np.zeros((k, 4, 4))
    cov[:, np.arange(4), np.arange(4)] = _INITIAL_SIGMA ** 2
    out_state = state.copy()
    out_cov = cov.copy()
    chi2 = np.zeros(k)
    ndf = np.full(k, -4)
    var = sigma * sigma
    rows = np.arange(k)
    for j in order:
        p = p0 + j
        inside = (p >= p_first) & (p <= p_last)
        if not inside.any():
            continue
        z = PLANE_Z_MM[p]
        dz = np.where(inside, z - z_now, 0.0)
        # Scattering in the material between the previous plane and this one, applied as a thin
        # scatterer at the previous plane (the filter carries it over the step's length).
        material_plane = p + 1 if upstream else p
        x0 = _STEP_X0[min(material_plane, len(_STEP_X0) - 1)]
        scatter = inside & (z_now != z)
        tx, ty = state[:, 2], state[:, 3]
        norm2 = 1.0 + tx * tx + ty * ty
        theta2 = np.where(scatter, highland_theta0(momentum, x0 * np.sqrt(norm2)) ** 2, 0.0)
        q_xx = theta2 * (1.0 + tx * tx) * norm2
        q_yy = theta2 * (1.0 + ty * ty) * norm2
        q_xy = theta2 * tx * ty * norm2
        cov[:, 2, 2] += q_xx
        cov[:, 3, 3] += q_yy
        cov[:, 2, 3] += q_xy
        cov[:, 3, 2] += q_xy
        # Straight-line transport over dz: F C F^T with F = [[I, dz I], [0, I]].
        state[:, 0] += dz * tx
        state[:, 1] += dz * ty
        d = dz[:, None]
        cov[:, 0:2, :] += d[:, :, None] * cov[:, 2:4, :]
        cov[:, :, 0:2] += d[:, None, :] * cov[:, :, 2:4]
        z_now = np.where(inside, z, z_now)
        m = meas[:, j]
        has = inside & np.isfinite(m)
        if has.any():
            c, s = VIEW_COS[PLANE_VIEW[p]], VIEW_SIN[PLANE_VIEW[p]]
            ch = cov[:, :, 0] * c + cov[:, :, 1] * s  # C H^T
            s_var = ch[:, 0] * c + ch[:, 1] * s + var
            r = np.where(has, m - (state[:, 0] * c + state[:, 1] * s), 0.0)
            gain = np.where(has[:, None], ch / s_var[:, None], 0.0)
            state += gain * r[:, None]
            cov -= gain[:, :, None] * ch[:, None, :]
            chi2 += np.where(has, r * r / s_var, 0.0)
            ndf += has
        at_end = rows[p == end]
        if len(at_end):
            out_state[at_end] = state[at_end]
            out_cov[at_end] = cov[at_end]
    return PLANE_Z_MM[end], out_state, out_cov, chi2, np.maximum(ndf, 1)
