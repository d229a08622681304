"""Adaptive vertex fit: the common point of the tracks that point back to it, outliers down-weighted.

Each track enters with the Kalman state at the end nearer the vertex (its upstream end if it
leaves the vertex forward, its downstream end if it was thrown backward), extrapolated along a
straight line to the vertex's z with the scattering of the material in between added to its
position covariance. Its residual r_i = (x_i(z), y_i(z)) - (x, y) is linear in the vertex
(x, y, z), so each iteration is a weighted linear least-squares step.

Outlier tracks (a pile-up muon, a secondary interaction's product, a photon shower's axis) are
handled with Frühwirth's adaptive weights and deterministic annealing: w_i = exp(-chi2_i / 2T) /
(exp(-chi2_i / 2T) + exp(-chi2_cut / 2T)), with T lowered from 64 to 1 (R. Frühwirth,
W. Waltenberger, P. Vanlaer, CMS NOTE 2007/008; W. Waltenberger, R. Frühwirth, P. Vanlaer,
J. Phys. G 34 (2007) N343). A weak prior on z (the seed's z, ``prior_sigma_mm`` wide) keeps the
fit defined when the tracks are nearly parallel or only one is left; its width shows in the
z uncertainty that comes out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuclassify.evaluation.trackfit._kalman import TrackStates
from nuclassify.evaluation.trackfit._material import highland_theta0, x0_between

__all__ = ["VertexFit", "fit_vertices"]

_TEMPERATURES = (64.0, 16.0, 4.0, 1.0, 1.0)
_CHI2_CUT = 9.0


@dataclass
class VertexFit:
    """B fitted vertices: (x, y, z) mm (B, 3), covariance (B, 3, 3), track weights and ends used (B, T), chi2, ndf."""

    position: np.ndarray
    cov: np.ndarray
    weights: np.ndarray
    upstream_end: np.ndarray
    chi2: np.ndarray
    ndf: np.ndarray


def fit_vertices(states: TrackStates, track_index: np.ndarray, mask: np.ndarray, seed: np.ndarray, *,
                 prior_sigma_mm: float = 80.0) -> VertexFit:
    """Adaptive fit of B vertices at once, each from up to T tracks, starting at ``seed``.

    Args:
        states: fitted states of all tracks of the batch (rows indexed by ``track_index``).
        track_index: (B, T) row of ``states`` of each candidate track (any valid row where masked).
        mask: (B, T) which candidates are real.
        seed: (B, 3) starting vertex; its z is also the centre of the weak z prior.
    """
    v = np.asarray(seed, dtype=np.float64).copy()
    z_prior = v[:, 2].copy()
    nb, nt = track_index.shape
    eye_prior = 1.0 / prior_sigma_mm ** 2
    w = np.zeros((nb, nt))
    chi2 = np.zeros((nb, nt))
    up = np.ones((nb, nt), dtype=bool)
    cov_v = np.zeros((nb, 3, 3))
    momentum = states.momentum[track_index]
    for temp in _TEMPERATURES:
        zv = v[:, 2][:, None]
        d_up = np.abs(states.z_up[track_index] - zv)
        d_down = np.abs(states.z_down[track_index] - zv)
        up = d_up <= d_down
        z_e = np.where(up, states.z_up[track_index], states.z_down[track_index])
        s = np.where(up[..., None], states.state_up[track_index], states.state_down[track_index])
        c = np.where(up[..., None, None], states.cov_up[track_index], states.cov_down[track_index])
        dz = zv - z_e
        tx, ty = s[..., 2], s[..., 3]
        # Position covariance at the vertex's z: transport, plus the scattering in between.
        norm2 = 1 + tx * tx + ty * ty
        theta = highland_theta0(momentum, x0_between(z_e, np.broadcast_to(zv, z_e.shape)) * np.sqrt(norm2))
        ms = (theta * dz) ** 2 * norm2 / 3.0  # scattering spread over the gap: a third of the end-point form
        pxx = c[..., 0, 0] + 2 * dz * c[..., 0, 2] + dz * dz * c[..., 2, 2] + ms
        pyy = c[..., 1, 1] + 2 * dz * c[..., 1, 3] + dz * dz * c[..., 3, 3] + ms
        pxy = c[..., 0, 1] + dz * (c[..., 0, 3] + c[..., 1, 2]) + dz * dz * c[..., 2, 3]
        det = pxx * pyy - pxy * pxy
        ixx, iyy, ixy = pyy / det, pxx / det, -pxy / det
        # Residual r = a + B v with B = [[-1, 0, tx], [0, -1, ty]] and a = x_e - t z_e.
        ax = s[..., 0] - tx * z_e
        ay = s[..., 1] - ty * z_e
        rx = ax - v[:, 0:1] + tx * zv
        ry = ay - v[:, 1:2] + ty * zv
        chi2 = rx * rx * ixx + 2 * rx * ry * ixy + ry * ry * iyy
        w = np.where(mask, _weights(chi2, temp), 0.0)
        # Normal equations: sum_i w_i B_i^T V_i^-1 B_i and -sum_i w_i B_i^T V_i^-1 a_i.
        # B^T V^-1 rows: for x: (-ixx, -ixy); y: (-ixy, -iyy); z: (tx ixx + ty ixy, tx ixy + ty iyy).
        gz_x = tx * ixx + ty * ixy
        gz_y = tx * ixy + ty * iyy
        n = np.zeros((nb, 3, 3))
        n[:, 0, 0] = np.sum(w * ixx, axis=1) + 1e-8
        n[:, 1, 1] = np.sum(w * iyy, axis=1) + 1e-8
        n[:, 0, 1] = n[:, 1, 0] = np.sum(w * ixy, axis=1)
        n[:, 0, 2] = n[:, 2, 0] = -np.sum(w * gz_x, axis=1)
        n[:, 1, 2] = n[:, 2, 1] = -np.sum(w * gz_y, axis=1)
        n[:, 2, 2] = np.sum(w * (gz_x * tx + gz_y * ty), axis=1) + eye_prior
        rhs = np.stack([np.sum(w * (ixx * ax + ixy * ay), axis=1),
                        np.sum(w * (ixy * ax + iyy * ay), axis=1),
                        -np.sum(w * (gz_x * ax + gz_y * ay), axis=1) + z_prior * eye_prior], axis=1)
        cov_v = np.linalg.inv(n)
        v = np.einsum("bij,bj->bi", cov_v, rhs)
    total = np.sum(w * chi2, axis=1) + ((v[:, 2] - z_prior) / prior_sigma_mm) ** 2
    ndf = np.maximum(2 * w.sum(axis=1) - 3 + 1, 1.0)
    return VertexFit(v, cov_v, w, up, total, ndf)


def _weights(chi2: np.ndarray, temperature: float) -> np.ndarray:
    """Frühwirth's annealed assignment weights (a logistic in chi2 around the cut)."""
    return 1.0 / (1.0 + np.exp(np.clip((chi2 - _CHI2_CUT) / (2 * temperature), -50, 50)))
