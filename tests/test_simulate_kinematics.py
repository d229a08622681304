"""Interaction kinematics of the simulator against published references (issue 13, items 1-2).

References: J. A. Formaggio, G. P. Zeller, Rev. Mod. Phys. 84 (2012) 1307, Figs. 1-2 (FZ: CC
channel shares against E_nu, read off the figure to about +-0.05); C. H. Llewellyn Smith,
Phys. Rep. 3 (1972) 261 (NC/CC relation, QE cross section with dipole form factors, M_A = 1 GeV);
CDHS, PRL 57 (1986) 298 and CHARM, Z. Phys. C 36 (1987) 611 (measured NC/CC 0.307, 0.309).
Each test draws about 20,000 events from a fixed seed (well under a second).
"""

import numpy as np
import pytest

from nuclassify.simulate import _kinematics as kin

N = 20_000
M_MU_GEV = 0.105658
M_N_GEV = 0.939


def _cc_events(e_lo_gev: float, e_hi_gev: float, seed: int, n: int = N) -> dict[str, np.ndarray]:
    """Muon-neutrino CC events with energies uniform in [e_lo, e_hi] GeV (cross-section shares, not flux)."""
    rng = np.random.default_rng(seed)
    e = rng.uniform(e_lo_gev, e_hi_gev, n) * 1000.0
    out = kin.sample_interactions(rng, e, np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    out["E_nu"] = e
    return out


@pytest.fixture(scope="module")
def le_events() -> dict[str, np.ndarray]:
    return kin.event_kinematics(np.random.default_rng(2012), N, "le")


def test_few_charged_current_muons_below_50_mev(le_events):
    # Issue 13: the old clamp nu = E - m_mu - 5 MeV gave 12.9% of CC events a ~5 MeV muon. With the
    # quark-parton y distribution (flat for nu on quarks), a muon under 50 MeV needs
    # y > 1 - 0.156 GeV / E: about 1% of DIS at 3 GeV, less of QE. Reference: < 2% of CC.
    cc = le_events["current"] == kin.CC
    assert np.mean(le_events["T_lepton"][cc] < 0.050) < 0.02
    # No pile-up at y = 1 in any channel.
    for channel in (kin.QE, kin.RES, kin.DIS):
        sel = cc & (le_events["channel"] == channel)
        assert np.mean(le_events["y"][sel] > 0.98) < 0.02, channel


def test_every_event_lies_inside_its_two_body_limits(le_events):
    # Lab frame, independent of the generator's CM-frame limits: E_l >= m_l and
    # Q^2 = 2 E (E_l - p_l cos) - m^2 with |cos| <= 1 (tolerance 1e-6 for rounding).
    cc = le_events["current"] == kin.CC
    m = np.where(cc, M_MU_GEV, 0.0)
    e = le_events["E_nu"]
    e_l = e - le_events["nu"]
    assert np.all(e_l >= m - 1e-9)
    p_l = np.sqrt(np.maximum(e_l**2 - m**2, 0.0))
    cos = (2 * e * e_l - m**2 - le_events["Q2"]) / np.maximum(2 * e * p_l, 1e-12)
    assert np.all(np.abs(cos[p_l > 1e-3]) <= 1.0 + 1e-6)
    w = le_events["W"]
    channel = le_events["channel"]
    assert np.all(np.abs(w[(channel == kin.QE) | (channel == kin.OTHER)] - M_N_GEV) < 1e-9)
    res, dis = w[channel == kin.RES], w[channel == kin.DIS]
    assert res.min() > M_N_GEV + 0.1395 and res.max() < 2.2  # above the pion threshold, below the DIS ramp's end
    assert dis.min() >= M_N_GEV + 2 * 0.1395 - 1e-9  # DIS (multi-pion) begins at the two-pion threshold


def test_dis_inelasticity_is_flat_with_no_spike_at_one():
    # Quark-parton model: dsigma/dy ~ q + qbar (1 - y)^2, qbar/q ~ 0.19 (from sigma(nubar)/sigma(nu)
    # = 0.49, PDG). At 20 GeV, above y = 0.2 (below it the W cut removes DIS), the counts in
    # y 0.2-0.6 and 0.6-1.0 stand in the ratio 1.06 (+-0.05), and y > 0.95 holds
    # (0.9947 - 0.95) / 0.832 = 0.054 (+-0.015) of them (y <= 1 - m_mu/E).
    ev = _cc_events(20.0, 20.0, seed=3)
    dis = ev["int_type"] == kin.DIS
    y = ev["nu"][dis] / ev["E_nu"][dis]
    y = y[y > 0.2]
    assert np.sum(y < 0.6) / np.sum(y >= 0.6) == pytest.approx(1.06, abs=0.05)
    assert np.mean(y > 0.95) == pytest.approx(0.054, abs=0.015)


def test_nc_over_cc_follows_llewellyn_smith(le_events):
    # Llewellyn Smith: R = 1/2 - sin^2 + (5/9) sin^4 (1 + r) = 0.318; measured 0.307 (CDHS), 0.309 (CHARM).
    assert kin.NC_OVER_CC == pytest.approx(0.31, abs=0.015)
    cc = np.sum(le_events["current"] == kin.CC)
    nc = np.sum(le_events["current"] == kin.NC)
    assert nc / cc == pytest.approx(0.30, abs=0.04)  # the reference and tolerance


# FZ Fig. 1 read-offs (QE, RES, DIS) and tolerances: +-0.05 where the figure reads cleanly
# (2-3 GeV), +-0.06 at 1-2 and 8-20 GeV (steeper curves, small shares on a log scale).
@pytest.mark.parametrize(("e_lo", "e_hi", "expected", "tol"), [
    (1.0, 2.0, (0.45, 0.35, 0.15), 0.06),
    (2.0, 3.0, (0.30, 0.35, 0.30), 0.05),
    (8.0, 20.0, (0.07, 0.10, 0.80), 0.06),
])
def test_cc_channel_shares_follow_formaggio_zeller(e_lo, e_hi, expected, tol):
    ev = _cc_events(e_lo, e_hi, seed=int(e_lo * 10))
    shares = [np.mean(ev["int_type"] == c) for c in (kin.QE, kin.RES, kin.DIS)]
    assert shares == pytest.approx(list(expected), abs=tol)


def test_channel_shares_have_the_cited_energy_dependence():
    # FZ: QE dominates below ~1 GeV, resonances are largest around 1.5-3 GeV, DIS dominates above ~5 GeV.
    low = _cc_events(0.5, 1.0, seed=5)
    shares_low = [np.mean(low["int_type"] == c) for c in (kin.QE, kin.RES, kin.DIS)]
    assert shares_low[0] > 0.5 and shares_low[0] > shares_low[1] > shares_low[2] and shares_low[2] < 0.05
    high = _cc_events(5.0, 10.0, seed=6)
    shares_high = [np.mean(high["int_type"] == c) for c in (kin.QE, kin.RES, kin.DIS)]
    assert shares_high[2] > 0.65 and shares_high[0] < shares_high[1] < shares_high[2]
    e = np.geomspace(0.5, 20.0, 60) * 1000.0
    sigma = kin.channel_cross_sections(e)
    res_share = sigma[:, 1] / sigma.sum(axis=1)
    assert 1.0 <= e[np.argmax(res_share)] / 1000.0 <= 3.0


def test_qe_cross_section_saturates_near_1e38_per_neutron():
    # Llewellyn Smith with dipole form factors (M_A = 1 GeV) on a free neutron: ~1.0e-38 cm^2 above
    # ~1 GeV, the known plateau of the free-nucleon formula (the old generator had no QE cross
    # section at all); +-10%. Per isoscalar nucleon (neutrons are half) with Pauli blocking, ~0.47.
    e = np.array([3.0])
    lo, hi = kin._q2_limits(e, np.array([kin._M]), M_MU_GEV)
    q2 = np.linspace(lo[0], hi[0], 20001)
    sigma_free = np.trapezoid(kin.qe_dsigma_dq2(e[0], q2, M_MU_GEV, pauli=False), q2)
    assert sigma_free == pytest.approx(1.0, rel=0.10)
    assert kin.channel_cross_sections(e * 1000.0)[0, 0] == pytest.approx(0.5 * sigma_free, rel=0.10)
    assert kin.channel_cross_sections(e * 1000.0)[0, 0] < 0.5 * sigma_free  # Pauli blocking only removes
    # Below the tau threshold (3.46 GeV) there is no tau QE.
    assert kin.channel_cross_sections(np.array([3400.0]), kin.NUTAU)[0, 0] == 0.0
    assert kin.channel_cross_sections(np.array([3600.0]), kin.NUTAU)[0, 0] > 0.0


@pytest.mark.parametrize(("e_gev", "expected"), [
    # Llewellyn Smith, dipole M_A = 1.0 GeV, M_V^2 = 0.71 GeV^2, free nucleon: <Q^2> = 0.40 GeV^2 at
    # 1 GeV and 0.59 GeV^2 at 3 GeV (numerical integration); Pauli blocking in carbon adds ~0.03-0.04.
    # The reference is 0.4 +- 0.08: it holds at 1 GeV; at 3 GeV the same formula gives ~0.6.
    (1.0, 0.40),
    (3.0, 0.59),
])
def test_cc_qe_mean_q2_follows_the_dipole_form_factor(e_gev, expected):
    ev = _cc_events(e_gev, e_gev, seed=7)
    q2 = ev["Q2"][ev["int_type"] == kin.QE] / 1e6
    assert len(q2) > 3000
    assert np.mean(q2) == pytest.approx(expected, abs=0.08)


def test_qe_sampler_reproduces_its_cross_section():
    # The tabulated inverse-CDF sampling against direct integration of dsigma/dQ^2: mean within 2%.
    rng = np.random.default_rng(8)
    for e in (0.7, 2.5, 8.0):
        q2 = kin._sample_qe_q2(rng, np.full(100_000, e), 0)
        lo, hi = kin._q2_limits(np.array([e]), np.array([kin._M]), M_MU_GEV)
        grid = np.linspace(lo[0], min(hi[0], 12.0), 50_001)
        d = kin.qe_dsigma_dq2(e, grid, M_MU_GEV)
        assert np.mean(q2) == pytest.approx(np.trapezoid(d * grid, grid) / np.trapezoid(d, grid), rel=0.02)
