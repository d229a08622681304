"""Material along the beam axis: radiation lengths between planes, grammage, Highland scattering.

The evaluation package may not import the simulator (imports point down: evaluation depends on
data and detector only), so the few constants the Kalman filter needs are restated here from
their primary sources rather than imported:

- Highland's formula for the width of the multiple-scattering angle, as given by the Particle
  Data Group (R.L. Workman et al., PTEP 2022 083C01, "Passage of particles through matter",
  Eq. 34.16; V.L. Highland, NIM 129 (1975) 497, with G.R. Lynch and O.I. Dahl, NIM B58 (1991) 6).
- Radiation lengths X0 in g/cm^2 (PDG "Atomic and nuclear properties of materials"):
  polystyrene scintillator 43.79, carbon 42.70, iron 13.84, lead 6.37, water 36.08.
- Densities: MINERvA's scintillator plane is 1.9872 g/cm^2 (the detector paper, L. Aliaga et
  al., NIM A 743 (2014) 130); C 1.739 (graphite as built, same paper), Fe 7.874, Pb 11.35,
  water 1.0 g/cm^3 (PDG). The ECAL planes each have a 2 mm lead sheet in front (same paper).

Target thicknesses and positions come from :mod:`nuclassify.detector.minerva`.
"""

from __future__ import annotations

import numpy as np

from nuclassify.detector.minerva import PLANE_MODULE, PLANE_Z_MM, TARGETS

__all__ = ["highland_theta0", "x0_between", "grammage_between", "PLANE_X0", "SCINT_GRAMMAGE",
           "MUON_MASS_MEV", "target_grammage", "target_mass_slab", "ECAL_FIRST_MODULE"]

MUON_MASS_MEV = 105.658
SCINT_GRAMMAGE = 1.9872  # g/cm^2 per plane
_X0 = {"CH": 43.79, "C": 42.70, "Fe": 13.84, "Pb": 6.37, "H2O": 36.08}
_DENSITY = {"C": 1.739, "Fe": 7.874, "Pb": 11.35, "H2O": 1.0}
ECAL_FIRST_MODULE = 88
_ECAL_LEAD_MM = 2.0
_MIP_DEDX = 2.0  # MeV cm^2/g, a mean energy loss of a relativistic particle in these materials


def _target_x0(target: object) -> tuple[float, float]:
    """(x/X0, grammage g/cm^2) straight through a target, averaged over its transverse materials.

    The fit does not know which material a track crossed before the vertex is found, so a target
    made of several side-by-side materials counts with their mean (over-estimating the
    scattering in iron halves and under-estimating it in lead halves). Target 3's carbon sits
    beside, not behind, its iron and lead, so a track crosses one of its three materials too.
    """
    x0 = [thick * _DENSITY[m] / 10.0 / _X0[m] for m, thick in zip(target.materials, target.thickness_mm, strict=True)]
    g = [thick * _DENSITY[m] / 10.0 for m, thick in zip(target.materials, target.thickness_mm, strict=True)]
    return float(np.mean(x0)), float(np.mean(g))


_TARGET_Z = np.asarray([t.z_center_mm for t in TARGETS])
_TARGET_X0 = np.asarray([_target_x0(t)[0] for t in TARGETS])
_TARGET_G = np.asarray([_target_x0(t)[1] for t in TARGETS])

# Radiation lengths of each plane (and what sits in front of it) at normal incidence.
PLANE_X0 = np.full(len(PLANE_Z_MM), SCINT_GRAMMAGE / _X0["CH"])
PLANE_X0[PLANE_MODULE >= ECAL_FIRST_MODULE] += _ECAL_LEAD_MM * _DENSITY["Pb"] / 10.0 / _X0["Pb"]
_PLANE_G = np.full(len(PLANE_Z_MM), SCINT_GRAMMAGE)
_PLANE_G[PLANE_MODULE >= ECAL_FIRST_MODULE] += _ECAL_LEAD_MM * _DENSITY["Pb"] / 10.0
# Material crossed stepping from plane p-1 to plane p (plane p's own scintillator plus any
# target in the gap), indexed by p; index 0 holds the first plane alone.
_STEP_X0 = PLANE_X0.copy()
_STEP_G = _PLANE_G.copy()
for _z, _x, _g in zip(_TARGET_Z, _TARGET_X0, _TARGET_G, strict=True):
    _p = int(np.searchsorted(PLANE_Z_MM, _z))
    _STEP_X0[_p] += _x
    _STEP_G[_p] += _g
_CUM_X0 = np.concatenate([[0.0], np.cumsum(_STEP_X0)])
_CUM_G = np.concatenate([[0.0], np.cumsum(_STEP_G)])


def target_mass_slab(target: object) -> tuple[float, float]:
    """(lower z, upper z) in mm where a passive target's mass lies: the extent of its material
    with the most grammage, about the target's centre.

    A vertex follows the mass. Target 3's carbon block (76.3 mm, 13 g/cm^2) reaches 50 mm further
    downstream than its iron and lead (25.75 mm, 20 and 29 g/cm^2), but holds only a fifth of the
    target's mass, so its vertices cluster in the iron and lead: placing them over the whole
    76 mm spreads trackreco's target z core width from 12.2 to 15.3 mm on simulated test events.
    """
    grammage = [thick * _DENSITY[m] for m, thick in zip(target.materials, target.thickness_mm, strict=True)]
    half = target.thickness_mm[int(np.argmax(grammage))] / 2
    return target.z_center_mm - half, target.z_center_mm + half


def target_grammage() -> dict[int, float]:
    """Mean grammage (g/cm^2) of each target by number, for the vertex prior (rate follows mass)."""
    return {t.number: float(g) for t, g in zip(TARGETS, _TARGET_G, strict=True)}


def _cum(z: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Cumulative material from the first plane to z: every plane (and target) with centre below z."""
    return table[np.searchsorted(PLANE_Z_MM, np.asarray(z, dtype=np.float64), side="right")]


def x0_between(z_a: np.ndarray, z_b: np.ndarray) -> np.ndarray:
    """Radiation lengths crossed at normal incidence between z_a and z_b (either order), planes counted by centre."""
    lo, hi = np.minimum(z_a, z_b), np.maximum(z_a, z_b)
    # Material sits at plane centres: (lo, hi] picks the planes a track steps onto.
    return _cum(hi, _CUM_X0) - _cum(lo, _CUM_X0)


def grammage_between(z_a: np.ndarray, z_b: np.ndarray) -> np.ndarray:
    """Grammage (g/cm^2) at normal incidence between z_a and z_b (either order)."""
    lo, hi = np.minimum(z_a, z_b), np.maximum(z_a, z_b)
    return _cum(hi, _CUM_G) - _cum(lo, _CUM_G)


def momentum_from_grammage(grammage: np.ndarray, minimum_mev: float = 300.0) -> np.ndarray:
    """A momentum scale (MeV/c) for the scattering noise: the energy a muon loses along the track.

    A stopping track had at least this kinetic energy; one leaving the images had more, so this is
    a lower bound that errs towards more scattering noise (a looser, not a tighter, fit).
    """
    kinetic = np.maximum(_MIP_DEDX * np.asarray(grammage, dtype=np.float64), minimum_mev)
    return np.sqrt(kinetic * (kinetic + 2 * MUON_MASS_MEV))


def highland_theta0(p_mev: np.ndarray, x_over_x0: np.ndarray, mass_mev: float = MUON_MASS_MEV) -> np.ndarray:
    """Plane-projected r.m.s. scattering angle (rad) after ``x_over_x0`` radiation lengths (PDG Eq. 34.16).

    theta0 = 13.6 MeV / (beta c p) * sqrt(x/X0) * (1 + 0.038 ln(x/X0)); the log term is taken for
    the whole thickness, not per step, as the PDG recommends; it is floored at 0.1 so that the
    very thin steps the filter takes never give a negative width.
    """
    p = np.asarray(p_mev, dtype=np.float64)
    beta = p / np.sqrt(p * p + mass_mev * mass_mev)
    x = np.maximum(np.asarray(x_over_x0, dtype=np.float64), 1e-9)
    return 13.6 / (beta * p) * np.sqrt(x) * np.maximum(1.0 + 0.038 * np.log(x), 0.1)
