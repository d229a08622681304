"""Physics of the simulator against its sources: ranges, showers, conversions, masses.

The expected numbers and their sources (PDG, NIST PSTAR, Geant4 GFlash, MINERvA) are listed in
data/README.md, section "Physics constants and sources".
"""

import numpy as np
import pytest

from nuclassify.detector import minerva
from nuclassify.simulate import _physics as ph
from nuclassify.simulate._geometry import Slabs, minerva_slabs
from nuclassify.simulate._kinematics import Particles
from nuclassify.simulate._transport import transport
from nuclassify.simulate._vertex import Z_MAX_MM, component_masses, sample_vertices

PLANE_MM = 17.0
CH_DENSITY = ph.MATERIALS[0].density  # g/cm^3 of a MINERvA plane (1.9872 g/cm^2 over 17 mm)


def scintillator_block(n_planes: int = 3000) -> Slabs:
    """A long stack of touching MINERvA scintillator planes, all read out (X view)."""
    lo = np.arange(n_planes) * PLANE_MM
    return Slabs(lo, lo + PLANE_MM, np.zeros(n_planes, dtype=np.int8), np.full(n_planes, -1, dtype=np.int8),
                 np.zeros(n_planes, dtype=np.int8), np.arange(n_planes, dtype=np.int16),
                 np.array([[1.0, 0.0], [0.5, 0.866], [0.5, -0.866]]), minerva.STRIP_PITCH_MM, 1000,
                 np.zeros((6, 5)), False, 1e7)


def beam_of(kind: int, kinetic: np.ndarray, z0: float = 1.0) -> Particles:
    n = len(kinetic)
    direction = np.tile([0.0, 0.0, 1.0], (n, 1))
    origin = np.tile([0.0, 0.0, z0], (n, 1))
    return Particles(np.arange(n), np.full(n, kind, dtype=np.int8), kinetic.astype(float), direction, origin,
                     np.zeros(n))


@pytest.mark.parametrize(("p_gev", "range_cm"), [(0.5, 176.0), (1.0, 411.0), (2.0, 860.0)])
def test_muon_visible_range_in_scintillator_matches_range_table(p_gev, range_cm):
    slabs = scintillator_block(int(range_cm * 1.4 * ph.CH_RANGE_DENSITY / (CH_DENSITY * PLANE_MM / 10)))
    m = ph.MASS_MEV[ph.MU]
    t = np.full(40, np.sqrt((p_gev * 1000) ** 2 + m**2) - m)
    dep, _ = transport(np.random.default_rng(1), beam_of(ph.MU, t), slabs)
    last_plane = np.zeros(40)
    np.maximum.at(last_plane, dep["event"], dep["slab"])
    # Depth of the last plane with a hit, converted to cm of CH at the table's density.
    visible = (last_plane + 1) * PLANE_MM / 10 * CH_DENSITY / ph.CH_RANGE_DENSITY
    assert np.median(visible) == pytest.approx(range_cm, rel=0.10)


def test_mip_deposit_per_minerva_plane_is_about_3_5_mev():
    slabs = scintillator_block(30)
    # A muon near minimum ionisation (beta*gamma ~ 5) over 20 planes.
    dep, _ = transport(np.random.default_rng(2), beam_of(ph.MU, np.full(20, 500.0)), slabs)
    per_plane = np.bincount(dep["slab"], weights=dep["energy"], minlength=30)[:20] / 20
    assert np.mean(per_plane) == pytest.approx(3.5, rel=0.1)


def test_proton_deposits_with_a_bragg_peak_and_stops_at_pstar_range():
    slabs = scintillator_block(200)
    dep, _ = transport(np.random.default_rng(3), beam_of(ph.P, np.full(1, 200.0)), slabs)
    # Protons may interact; use one that did not (the generator is seeded).
    energy = np.bincount(dep["slab"], weights=dep["energy"])
    assert energy[-1] > 2.5 * energy[0]  # the Bragg peak at the end
    depth_g = len(energy) * PLANE_MM / 10 * CH_DENSITY
    assert depth_g == pytest.approx(24.4, rel=0.15)  # PSTAR, polyethylene, T = 200 MeV


def test_electron_shower_profile_peaks_at_gflash_depth():
    slabs = scintillator_block(600)
    e = 2000.0
    dep, _ = transport(np.random.default_rng(4), beam_of(ph.E, np.full(50, e)), slabs)
    x0_planes = ph.MATERIALS[0].x0_g / (CH_DENSITY * PLANE_MM / 10)
    profile = np.bincount(dep["slab"], weights=dep["energy"])
    peak_t = (np.argmax(profile) + 0.5) / x0_planes
    expected = np.log(e / 93.0) - 0.812
    assert peak_t == pytest.approx(expected, abs=0.5)
    # Nearly all the energy is contained and seen (visible fraction of the scintillator).
    assert profile.sum() / 50 == pytest.approx(e * ph.MATERIALS[0].visible, rel=0.05)


def test_photon_conversion_gap_has_mean_nine_sevenths_x0():
    slabs = scintillator_block(800)
    n = 400
    dep, _ = transport(np.random.default_rng(5), beam_of(ph.GAMMA, np.full(n, 1000.0)), slabs)
    first = np.full(n, 10**9)
    np.minimum.at(first, dep["event"], dep["slab"])
    x0_planes = ph.MATERIALS[0].x0_g / (CH_DENSITY * PLANE_MM / 10)
    gap_x0 = first / x0_planes
    assert np.mean(gap_x0) == pytest.approx(9 / 7, rel=0.15)
    assert np.mean(gap_x0 > 1.0) > 0.35  # a visible gap of over one X0 in many events


def test_passive_target_absorbs_without_hits():
    slabs = minerva_slabs()
    t1 = minerva.target_by_number(1)
    # Protons starting in the middle of target 1's lead stop inside it: no hit anywhere.
    n = 50
    parts = beam_of(ph.P, np.full(n, 60.0), z0=t1.z_center_mm)
    parts.origin[:, 0] = -600.0  # lead side of target 1
    dep, _ = transport(np.random.default_rng(6), parts, slabs)
    assert len(dep["energy"]) == 0
    # A muon crossing it loses energy there (range in lead) but records nothing in the target slab.
    mu = beam_of(ph.MU, np.array([1000.0]), z0=t1.z_center_mm - 40)
    dep, _ = transport(np.random.default_rng(7), mu, slabs)
    assert np.all(slabs.view[dep["slab"]] >= 0)
    assert np.all(slabs.target[dep["slab"]] < 0)


def test_vertex_segments_follow_target_masses():
    comp = component_masses()
    v = sample_vertices(np.random.default_rng(8), 60_000)
    seg = minerva.segment_of_z(v["z"])
    expected = np.zeros(11)
    for lo, hi, mass in zip(comp["z_lo"], comp["z_hi"], comp["mass"], strict=True):
        expected[minerva.segment_of_z(0.5 * (lo + hi))] += mass
    expected = expected / expected.sum() * len(seg)
    observed = np.bincount(seg, minlength=11)
    chi2 = np.sum((observed - expected) ** 2 / expected)
    assert chi2 < 35.0  # 10 degrees of freedom; p ~ 1e-4
    # Within target 1, lead and iron share events by mass (Fe:Pb about 12.9:10.6).
    t1 = v["target"] == 1
    ratio = np.mean(v["material"][t1] == minerva.MATERIAL_CODES["Fe"])
    assert ratio == pytest.approx(12.94 / (12.94 + 10.57), abs=0.03)
    # Every vertex lies in the fiducial hexagon and in the nuclear-target region.
    assert np.all(minerva.inside_hexagon(v["x"], v["y"], minerva.FIDUCIAL_APOTHEM_MM))
    # Up to the experiment's skimmer bound (6172.29 mm, module 31), not the tracker front as in version 1.
    assert v["z"].min() >= 4280.0 and v["z"].max() <= Z_MAX_MM == 6172.29


def test_target_vertices_lie_on_their_material():
    v = sample_vertices(np.random.default_rng(9), 5000)
    t = v["target"] >= 0
    codes = minerva.material_code_at(v["target"][t], v["x"][t], v["y"][t])
    assert np.array_equal(codes, v["material"][t])
