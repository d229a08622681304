"""Neutrino energies, interaction types and final-state particles, vectorised over events.

A simple generator in the spirit of GENIE 2.8's defaults (C. Andreopoulos et al., NIM A 614
(2010) 87, arXiv:0905.2517), with every event drawn inside its kinematic limits:

- the current: a fixed charged-current share from Llewellyn Smith's NC/CC relation;
- the channel (QE, resonance, DIS, 2p2h "other") with probability proportional to its cross
  section at that E_nu, so the shares follow the shapes of J. A. Formaggio, G. P. Zeller,
  Rev. Mod. Phys. 84 (2012) 1307, arXiv:1305.7513, Figs. 1-2: QE dominant below ~1 GeV,
  resonances largest around 1.5-3 GeV, DIS dominant above ~5 GeV;
- QE Q^2 from the Llewellyn Smith cross section (Phys. Rep. 3 (1972) 261) with dipole form
  factors (M_A = 1.0 GeV) and Fermi-gas Pauli blocking, tabulated once per lepton mass;
- resonance W from Breit-Wigner shapes, then Q^2 from a dipole distribution truncated at the
  limits for that W; DIS from the quark-parton (x, y) distribution. W is lowered (a new W drawn)
  only through the phase-space weight: a W whose Q^2 window is narrow is accepted less often,
  so no event is pushed to y = 1 with no muon left.

Every event's particles come out as rows of one table (no Python loop over events or
particles). data/README.md ("Physics constants and sources") lists the numbers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from nuclassify.simulate._physics import GAMMA, MASS_MEV, MU, PI, PI0, E, N, P

__all__ = ["Particles", "sample_energy", "sample_interactions", "final_state", "decay_pi0", "rotate_to",
           "channel_cross_sections", "qe_dsigma_dq2", "event_kinematics", "NC_OVER_CC", "CC_FRACTION"]

M_N = 939.0  # nucleon mass (MeV)
BINDING_MEV = 25.0
QE, RES, DIS, OTHER, NUE_ELASTIC = 1, 2, 3, 4, 5
CC, NC = 1, 2
NUMU, NUE, NUTAU = 0, 1, 2
_NEUTRAL = 3  # lepton index of neutral-current events (outgoing neutrino, massless)
_LEPTON_MASS = np.array([105.658, 0.511, 1776.86])
_LEPTON_MASS_GEV = np.array([0.105658, 0.000511, 1.77686, 0.0])
# Hadron angle about the momentum transfer: Gaussian width (rad) a + b / (T + c), T in MeV.
HADRON_SPREAD = (0.2, 60.0, 150.0)
# Mean number of evaporation protons: a + b * A * min(nu / GeV, 2); neutrons 1.3 times more.
EVAPORATION = (0.1, 0.006)

# --- Current: Llewellyn Smith's relation for an isoscalar target (Phys. Rep. 3 (1972) 261;
# Nucl. Phys. B228 (1983) 205), R_nu = NC/CC = 1/2 - s_W^2 + (5/9) s_W^4 (1 + r), with the
# on-shell s_W^2 = 1 - M_W^2/M_Z^2 (PDG: M_W = 80.377, M_Z = 91.1876 GeV) and r = sigma(nubar CC)
# / sigma(nu CC) = 0.334 / 0.677 (PDG, "Neutrino cross-section measurements": sigma/E per
# nucleon in 1e-38 cm^2/GeV). R_nu = 0.318; CDHS (PRL 57 (1986) 298) measured 0.307, CHARM
# (Z. Phys. C 36 (1987) 611) 0.309. Applied to every channel and energy (a simplification).
SIGMA_OVER_E_NU = 0.677
SIGMA_OVER_E_NUBAR = 0.334
SIN2_THETA_W = 1.0 - (80.377 / 91.1876) ** 2
_R_BAR = SIGMA_OVER_E_NUBAR / SIGMA_OVER_E_NU
NC_OVER_CC = 0.5 - SIN2_THETA_W + 5.0 / 9.0 * SIN2_THETA_W**2 * (1.0 + _R_BAR)
CC_FRACTION = 1.0 / (1.0 + NC_OVER_CC)

# --- Quasi-elastic: Llewellyn Smith, Phys. Rep. 3 (1972) 261, in the form Formaggio & Zeller
# 2012 give in their quasi-elastic section (A, B, C terms). GeV units.
_M = M_N / 1000.0
_M_PI = 0.13957  # PDG
G_F = 1.1663788e-5  # GeV^-2, PDG
V_UD = 0.97373  # PDG 2022
G_A = 1.2754  # PDG 2022, lambda = g_A / g_V
M_A_QE = 1.0  # GeV: dipole axial mass, world average 1.026 +- 0.021 (V. Bernard, L. Elouadrhiri,
# U.-G. Meissner, J. Phys. G 28 (2002) R1); GENIE 2.8 uses 0.99.
M_V2 = 0.71  # GeV^2: dipole vector mass squared of the nucleon's electromagnetic form factors
XI = 3.706  # mu_p - mu_n - 1: anomalous isovector magnetic moment (PDG moments 2.7928, -1.9130)
K_FERMI = 0.221  # GeV: carbon Fermi momentum, E. J. Moniz et al., PRL 26 (1971) 445
_GEV2_TO_1E38_CM2 = 0.3893794e-27 / 1e-38  # (hbar c)^2, PDG
# --- Resonances: a saturating cross section per isoscalar nucleon above the pion threshold,
# sigma_RES = RES_SIGMA (1 - exp(-(E - E_th) / RES_RISE_GEV)); these two numbers and the W ramp
# below are set so the shares match Formaggio & Zeller's Figs. 1-2 (CC QE/RES/DIS ~0.45/0.35/0.15
# at 1-2 GeV, 0.30/0.35/0.30 at 2-3 GeV, 0.07/0.10/0.80 at 8-20 GeV) within 0.04.
# W: Delta(1232) (width 117 MeV, PDG) and the second resonance region (N(1520)/N(1535),
# ~1.52 GeV, width ~120 MeV) in the ratio 0.8 : 0.2 (model choice).
RES_SIGMA = 0.95  # 1e-38 cm^2 per nucleon
RES_RISE_GEV = 2.0
RES_PEAKS = ((1.232, 0.117, 0.8), (1.52, 0.12, 0.2))  # (mass GeV, width GeV, share)
M_A_RES = 1.12  # GeV: GENIE 2.8's resonance axial mass (Rein-Sehgal model default)
# --- DIS: sigma = (0.677e-38 cm^2/GeV) E times the part of the quark-parton (x, y) distribution
# that lies above the resonance region. The RES -> DIS hand-over is linear in W from the
# two-pion threshold M + 2 m_pi = 1.218 GeV (where non-resonant multi-pion production starts) to
# 2.2 GeV, centred on GENIE's W_cut = 1.7 GeV.
W_DIS_RAMP = (_M + 2 * _M_PI, 2.2)
# dsigma/dy ~ q + qbar (1 - y)^2 (quark-parton model), qbar/q = (r - 1/3) / (1 - r/3) from r above.
QBAR_OVER_Q = (_R_BAR - 1.0 / 3.0) / (1.0 - _R_BAR / 3.0)
# x: Kumaraswamy density a b x^(a-1) (1 - x^a)^(b-1), close to a valence shape x^0.5 (1 - x)^3
# (<x> = 0.25; model choice), chosen because its CDF inverts in closed form.
X_SHAPE = (1.2, 4.0)
# --- 2p2h ("other"): 15% of QE, model choice within the 10-30% of Valencia-model calculations
# (J. Nieves, I. Ruiz Simo, M. J. Vicente Vacas, Phys. Lett. B 707 (2012) 72).
OTHER_OVER_QE = 0.15

_E_NODES = np.geomspace(0.1, 200.0, 200)  # GeV, tables' energies
_LOG_E0, _DLOG_E = np.log(_E_NODES[0]), np.log(_E_NODES[1] / _E_NODES[0])
_Q2_T = np.linspace(0.0, 1.0, 384) ** 2  # QE Q^2 nodes between the limits, dense at low Q^2
_Q2_CAP = 12.0  # GeV^2: above this QE is negligible (the axial dipole is down by 1e-4)
_XY_GRID = 96  # (y, x) grid of the DIS-share integral
_ROUNDS = 24  # accept-reject passes; later leftovers keep their last proposal


@dataclass
class Particles:
    """One row per particle: event, kind, kinetic energy (MeV), unit direction, origin, start time."""

    event: np.ndarray
    kind: np.ndarray
    kinetic: np.ndarray
    direction: np.ndarray  # (n, 3)
    origin: np.ndarray  # (n, 3) mm
    time: np.ndarray  # ns

    @staticmethod
    def concatenate(parts: list[Particles]) -> Particles:
        return Particles(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                           ("event", "kind", "kinetic", "direction", "origin", "time")))

    def select(self, mask: np.ndarray) -> Particles:
        return Particles(self.event[mask], self.kind[mask], self.kinetic[mask], self.direction[mask],
                         self.origin[mask], self.time[mask])

    def __len__(self) -> int:
        return len(self.event)


def sample_energy(rng: np.random.Generator, n: int, beam: str) -> np.ndarray:
    """Neutrino energies (MeV): a gamma-shaped peak (mode 3 GeV LE, 6 GeV ME, 2 GeV NOvA) plus a tail."""
    shape, mode, tail = {"le": (3.0, 3.0, 0.15), "me": (4.0, 6.0, 0.12), "nova": (12.0, 2.0, 0.08)}[beam]
    e = rng.gamma(shape, mode / (shape - 1), n)
    is_tail = rng.random(n) < tail
    e[is_tail] = rng.uniform(1.0, 20.0, int(is_tail.sum()))
    return np.clip(e, 0.4, 60.0) * 1000.0


def qe_dsigma_dq2(e_gev: np.ndarray, q2: np.ndarray, m_lep_gev: float, pauli: bool = True) -> np.ndarray:
    """Llewellyn Smith dsigma/dQ^2 of nu n -> l- p (1e-38 cm^2 / GeV^2 per neutron), dipole form factors.

    Outside the kinematic limits the formula is meaningless; callers pass Q^2 inside them.
    ``pauli`` multiplies by the Fermi-gas suppression 3/4 (q/k_F) - (q/k_F)^3/16 for q < 2 k_F
    (|q| the three-momentum transfer; Fermi gas as in R. A. Smith, E. J. Moniz, Nucl. Phys. B43
    (1972) 605), which removes the lowest-Q^2 events in a nucleus.
    """
    e = np.asarray(e_gev, dtype=float)
    q2 = np.asarray(q2, dtype=float)
    m2 = m_lep_gev**2
    tau = q2 / (4 * _M**2)
    g_d = 1.0 / (1.0 + q2 / M_V2) ** 2
    f1 = g_d * (1.0 + tau * (1.0 + XI)) / (1.0 + tau)  # Dirac isovector form factor
    f2 = XI * g_d / (1.0 + tau)  # Pauli isovector form factor (xi included)
    fa = G_A / (1.0 + q2 / M_A_QE**2) ** 2
    fp = 2 * _M**2 * fa / (_M_PI**2 + q2)  # pion pole
    a = (m2 + q2) / _M**2 * ((1 + tau) * fa**2 - (1 - tau) * f1**2 + tau * (1 - tau) * f2**2 + 4 * tau * f1 * f2
                             - m2 / (4 * _M**2) * ((f1 + f2) ** 2 + (fa + 2 * fp) ** 2 - (q2 / _M**2 + 4) * fp**2))
    b = q2 / _M**2 * fa * (f1 + f2)
    c = 0.25 * (fa**2 + f1**2 + tau * f2**2)
    s_u = 4 * _M * e - q2 - m2
    # With F_A(0) = +g_A the interference term B enters with + for neutrinos.
    d = (_M**2 * G_F**2 * V_UD**2 / (8 * np.pi * e**2) * (a + b * s_u / _M**2 + c * s_u**2 / _M**4)
         * _GEV2_TO_1E38_CM2)
    if pauli:
        r = np.sqrt(q2 + q2**2 / (4 * _M**2)) / K_FERMI
        d = d * np.where(r < 2.0, 0.75 * r - r**3 / 16.0, 1.0)
    return np.maximum(d, 0.0)


def _q2_limits(e: np.ndarray, w: np.ndarray, m: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Q^2 limits (GeV^2) of nu N -> l X(W) on a nucleon at rest (two-body kinematics in the CM frame).

    Where W exceeds sqrt(s) - m_l both limits collapse to the value at the edge.
    """
    s = _M**2 + 2 * _M * e
    rs = np.sqrt(s)
    p_nu = (s - _M**2) / (2 * rs)
    e_l = np.maximum((s + m * m - w * w) / (2 * rs), m)
    p_l = np.sqrt(np.maximum(e_l * e_l - m * m, 0.0))
    lo = np.maximum(2 * p_nu * m * m / (e_l + p_l + 1e-300) - m * m, 0.0)  # e_l - p_l written stably
    hi = np.maximum(2 * p_nu * (e_l + p_l) - m * m, lo)
    return lo, hi


def _kumaraswamy_cdf(x: np.ndarray) -> np.ndarray:
    a, b = X_SHAPE
    return 1.0 - (1.0 - np.clip(x, 0.0, 1.0) ** a) ** b


def _kumaraswamy_inverse(u: np.ndarray) -> np.ndarray:
    a, b = X_SHAPE
    return (1.0 - (1.0 - u) ** (1.0 / b)) ** (1.0 / a)


def _dis_ramp(w: np.ndarray) -> np.ndarray:
    """Weight of DIS (1 - weight of resonances) at hadronic mass W (GeV)."""
    lo, hi = W_DIS_RAMP
    return np.clip((w - lo) / (hi - lo), 0.0, 1.0)


@dataclass(frozen=True)
class _Tables:
    """Per lepton mass, on the energy nodes: QE cross section, DIS share, QE Q^2 grid and CDF rows."""

    sigma_qe: np.ndarray  # 1e-38 cm^2 per isoscalar nucleon
    dis_share: np.ndarray  # part of the scaling cross section SIGMA_OVER_E_NU * E that is DIS
    q2: np.ndarray  # (nodes, len(_Q2_T)) GeV^2
    cdf: np.ndarray  # (nodes, len(_Q2_T)), row i runs from i to i + 1 (so the flattened array is sorted)


@functools.cache
def _tables(lepton: int) -> _Tables:
    """Build the tables for one outgoing lepton (0 mu, 1 e, 2 tau, 3 neutrino); about 50 ms, once per process."""
    m = float(_LEPTON_MASS_GEV[lepton])
    lo, hi = _q2_limits(_E_NODES, np.full(len(_E_NODES), _M), m)
    hi = np.minimum(hi, _Q2_CAP)
    valid = hi > lo
    q2 = lo[:, None] + (np.maximum(hi - lo, 0.0))[:, None] * _Q2_T[None, :]
    dens = qe_dsigma_dq2(_E_NODES[:, None], q2, m) * valid[:, None]
    area = np.concatenate([np.zeros((len(_E_NODES), 1)),
                           np.cumsum(0.5 * (dens[:, 1:] + dens[:, :-1]) * np.diff(q2, axis=1), axis=1)], axis=1)
    total = area[:, -1]
    cdf = np.where(total[:, None] > 0, area / np.where(total > 0, total, 1.0)[:, None], _Q2_T[None, :])
    cdf = cdf + np.arange(len(_E_NODES))[:, None]
    sigma_qe = 0.5 * total  # nu scatters on neutrons only: half the nucleons of an isoscalar target
    # DIS share: the (x, y) distribution g(y) f(x) weighted by the W ramp, inside the exact Q^2
    # limits (they matter for the tau); midpoint sums on a grid, a few energy nodes at a time.
    y = (np.arange(_XY_GRID) + 0.5) / _XY_GRID
    x_edges = np.linspace(0.0, 1.0, _XY_GRID + 1)
    fx = np.diff(_kumaraswamy_cdf(x_edges))
    xc = 0.5 * (x_edges[1:] + x_edges[:-1])
    weight = ((1.0 + QBAR_OVER_Q * (1.0 - y) ** 2)[:, None] * fx[None, :]).ravel()
    weight /= weight.sum()
    yx = (y[:, None] * (1.0 - xc[None, :])).ravel()
    xy = (y[:, None] * xc[None, :]).ravel()
    dis_share = np.zeros(len(_E_NODES))
    e_th = ((W_DIS_RAMP[0] + m) ** 2 - _M**2) / (2 * _M)
    for i in np.nonzero(_E_NODES > e_th)[0]:
        e = _E_NODES[i]
        w = np.sqrt(_M**2 + 2 * _M * e * yx)
        ramp = _dis_ramp(w)
        keep = ramp > 0
        q_lo, q_hi = _q2_limits(np.full(int(keep.sum()), e), w[keep], m)
        q2_xy = 2 * _M * e * xy[keep]
        dis_share[i] = np.sum(weight[keep] * ramp[keep] * ((q2_xy >= q_lo) & (q2_xy <= q_hi)))
    return _Tables(sigma_qe, dis_share, q2, cdf)


def _threshold(w: float, m: float) -> float:
    """E_nu (GeV) at which nu N -> l X(W) opens on a nucleon at rest."""
    return ((w + m) ** 2 - _M**2) / (2 * _M)


def channel_cross_sections(e_mev: np.ndarray, lepton: int = NUMU) -> np.ndarray:
    """(n, 4) cross sections per isoscalar nucleon (1e-38 cm^2) of QE, RES, DIS, other at E_nu (MeV).

    ``lepton``: 0 mu, 1 e, 2 tau (charged current) or 3 (neutral current, massless lepton).
    Their ratios are the channel shares the generator draws. Neutral-current events use the
    same shapes with a massless lepton (NC elastic drawn like QE: a model choice); only the
    shares matter, as the current is drawn first with CC_FRACTION.
    """
    e = np.asarray(e_mev, dtype=float) / 1000.0
    t = _tables(lepton)
    m = _LEPTON_MASS_GEV[lepton]
    log_e = np.log(np.clip(e, _E_NODES[0], _E_NODES[-1]))
    log_nodes = np.log(_E_NODES)
    qe = np.interp(log_e, log_nodes, t.sigma_qe) * (e > _threshold(_M, m))
    res = RES_SIGMA * np.clip(1.0 - np.exp(-(e - _threshold(_M + _M_PI, m)) / RES_RISE_GEV), 0.0, None)
    dis = SIGMA_OVER_E_NU * e * np.interp(log_e, log_nodes, t.dis_share) * (e > _threshold(W_DIS_RAMP[0], m))
    return np.stack([qe, res, dis, OTHER_OVER_QE * qe], axis=1)


def _sample_qe_q2(rng: np.random.Generator, e: np.ndarray, lepton: int) -> np.ndarray:
    """QE Q^2 (GeV^2) from the tabulated Llewellyn Smith distribution, inside each event's limits.

    An event between two energy nodes uses one of them, chosen with the linear-interpolation
    weights, so the mixture follows the energy dependence without a bias toward either node.
    """
    t = _tables(lepton)
    n_nodes, n_q = t.q2.shape
    f = (np.log(np.clip(e, _E_NODES[0], _E_NODES[-1])) - _LOG_E0) / _DLOG_E
    node = np.floor(f).astype(np.int64)
    node = np.clip(node + (rng.random(len(e)) < f - node), 0, n_nodes - 1)
    target = node + rng.random(len(e))
    flat_cdf, flat_q2 = t.cdf.ravel(), t.q2.ravel()
    k = np.clip(np.searchsorted(flat_cdf, target, side="right") - 1, node * n_q, node * n_q + n_q - 2)
    step = flat_cdf[k + 1] - flat_cdf[k]
    frac = np.where(step > 0, (target - flat_cdf[k]) / np.where(step > 0, step, 1.0), 0.0)
    q2 = flat_q2[k] + np.clip(frac, 0.0, 1.0) * (flat_q2[k + 1] - flat_q2[k])
    lo, hi = _q2_limits(e, np.full(len(e), _M), _LEPTON_MASS_GEV[lepton])
    return np.clip(q2, lo, hi)


def _dipole_cdf(q2: np.ndarray) -> np.ndarray:
    """CDF of dsigma/dQ^2 ~ (1 + Q^2 / M_A^2)^-4 (dipole form factor squared), from Q^2 = 0."""
    return 1.0 - (1.0 + q2 / M_A_RES**2) ** -3


def _sample_res(rng: np.random.Generator, e: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W and Q^2 (GeV, GeV^2) of resonance events: W accepted with its share of the Q^2 window."""
    n = len(e)
    w_lo = _M + _M_PI + 1e-3
    w_hi = np.maximum(np.minimum(W_DIS_RAMP[1], np.sqrt(_M**2 + 2 * _M * e) - m), w_lo + 1e-6)
    lo, hi = _q2_limits(e, np.full(n, w_lo), m)
    window_max = np.maximum(_dipole_cdf(hi) - _dipole_cdf(lo), 1e-12)
    w = np.full(n, w_lo)
    pending = np.arange(n)
    for _ in range(_ROUNDS):
        if len(pending) == 0:
            break
        k = len(pending)
        peak = rng.random(k) < RES_PEAKS[0][2]
        mass = np.where(peak, RES_PEAKS[0][0], RES_PEAKS[1][0])
        width = np.where(peak, RES_PEAKS[0][1], RES_PEAKS[1][1])
        # Breit-Wigner (Cauchy) truncated to [w_lo, w_hi] by inverting its arctan CDF.
        c_lo = np.arctan(2 * (w_lo - mass) / width)
        c_hi = np.arctan(2 * (w_hi[pending] - mass) / width)
        cand = mass + 0.5 * width * np.tan(c_lo + rng.random(k) * (c_hi - c_lo))
        q_lo, q_hi = _q2_limits(e[pending], cand, m[pending])
        accept = (1.0 - _dis_ramp(cand)) * (_dipole_cdf(q_hi) - _dipole_cdf(q_lo)) / window_max[pending]
        w[pending] = cand
        pending = pending[rng.random(k) >= accept]
    lo, hi = _q2_limits(e, w, m)
    u = rng.uniform(_dipole_cdf(lo), _dipole_cdf(hi))
    q2 = M_A_RES**2 * ((1.0 - u) ** (-1.0 / 3.0) - 1.0)
    return w, np.clip(q2, lo, hi)


def _sample_dis(rng: np.random.Generator, e: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W and Q^2 (GeV, GeV^2) of DIS events from dsigma/dx dy ~ f(x) (1 + (qbar/q) (1 - y)^2).

    y is drawn within [y_lo, 1 - m/E], x below the value that keeps W above the ramp's start, and
    the pair is accepted with the weight that undoes those truncations times the W ramp; pairs
    outside the exact Q^2 limits (massive lepton) are drawn again.
    """
    n = len(e)
    a = (W_DIS_RAMP[0] ** 2 - _M**2) / (2 * _M * e)  # y (1 - x) >= a keeps W >= ramp start
    y_hi = np.maximum(1.0 - m / e, a + 1e-6)
    y_lo = a
    f_ref = np.maximum(_kumaraswamy_cdf(1.0 - a / y_hi), 1e-12)
    flat_mass = y_hi - y_lo
    quad_mass = QBAR_OVER_Q * ((1 - y_lo) ** 3 - (1 - y_hi) ** 3) / 3.0
    p_flat = flat_mass / (flat_mass + quad_mass)
    x = np.zeros(n)
    y = np.array(y_hi)
    pending = np.arange(n)
    for _ in range(_ROUNDS):
        if len(pending) == 0:
            break
        k = len(pending)
        lo_y, hi_y = y_lo[pending], y_hi[pending]
        u = rng.random(k)
        y_flat = lo_y + u * (hi_y - lo_y)
        y_quad = 1.0 - ((1 - lo_y) ** 3 - u * ((1 - lo_y) ** 3 - (1 - hi_y) ** 3)) ** (1.0 / 3.0)
        yc = np.where(rng.random(k) < p_flat[pending], y_flat, y_quad)
        f_max = _kumaraswamy_cdf(1.0 - a[pending] / yc)
        xc = _kumaraswamy_inverse(rng.random(k) * f_max)
        ep = e[pending]
        wc = np.sqrt(_M**2 + 2 * _M * ep * yc * (1.0 - xc))
        q2c = 2 * _M * ep * xc * yc
        q_lo, q_hi = _q2_limits(ep, wc, m[pending])
        ok = (rng.random(k) < f_max / f_ref[pending] * _dis_ramp(wc)) & (q2c >= q_lo) & (q2c <= q_hi)
        x[pending], y[pending] = xc, yc
        pending = pending[~ok]
    w = np.sqrt(_M**2 + 2 * _M * e * y * (1.0 - x))
    w = np.clip(w, _M + _M_PI, np.maximum(np.sqrt(_M**2 + 2 * _M * e) - m, _M + _M_PI))
    lo, hi = _q2_limits(e, w, m)
    return w, np.clip(2 * _M * e * x * y, lo, hi)


def sample_interactions(rng: np.random.Generator, e_nu: np.ndarray, flavour: np.ndarray,
                        cc: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Current, interaction type, W, Q^2 and energy transfer nu for each event (MeV units).

    ``cc`` forces the current per event; by default a share CC_FRACTION = 1 / (1 + NC_OVER_CC)
    (0.759) is charged-current. Every (W, Q^2) lies inside the two-body limits for E_nu and the
    outgoing lepton, so the lepton keeps E - nu >= m_l. Events below every threshold (a forced
    tau CC under 3.5 GeV) are made QE at the edge of phase space.
    """
    n = len(e_nu)
    e = np.asarray(e_nu, dtype=float) / 1000.0
    if cc is None:
        cc = rng.random(n) < CC_FRACTION
    current = np.where(cc, CC, NC)
    lepton = np.where(cc, flavour, _NEUTRAL)
    m = _LEPTON_MASS_GEV[lepton]
    sigma = np.zeros((n, 4))
    kinds = np.unique(lepton)
    for kind in kinds:
        sel = lepton == kind
        sigma[sel] = channel_cross_sections(e_nu[sel], int(kind))
    cum = np.cumsum(sigma, axis=1)
    total = cum[:, -1]
    u = rng.random(n) * total
    int_type = 1 + (u[:, None] >= cum[:, :3]).sum(axis=1)
    int_type = np.where(total > 0, int_type, QE)
    w = np.full(n, _M)
    q2 = np.zeros(n)
    qe_like = (int_type == QE) | (int_type == OTHER)  # 2p2h keeps the QE lepton kinematics
    for kind in kinds:
        sel = qe_like & (lepton == kind)
        if sel.any():
            q2[sel] = _sample_qe_q2(rng, e[sel], int(kind))
    for code, sampler in ((RES, _sample_res), (DIS, _sample_dis)):
        sel = int_type == code
        if sel.any():
            w[sel], q2[sel] = sampler(rng, e[sel], m[sel])
    nu = (w * w - _M**2 + q2) / (2 * _M)
    return {"current": current, "int_type": int_type, "W": w * 1000.0, "Q2": q2 * 1e6, "nu": nu * 1000.0,
            "m_lep": m * 1000.0}


def _lepton(e_nu: np.ndarray, nu: np.ndarray, q2: np.ndarray, m_l: np.ndarray) -> tuple[np.ndarray, ...]:
    """Outgoing lepton energy, momentum and cos(angle to the beam) from E_nu, nu, Q^2 (MeV units)."""
    e_l = np.maximum(e_nu - nu, m_l + 1.0)
    p_l = np.sqrt(np.maximum(e_l**2 - m_l**2, 1e-6))
    cos_l = np.clip((2 * e_nu * e_l - m_l**2 - q2) / (2 * e_nu * p_l), -1.0, 1.0)
    return e_l, p_l, cos_l


def event_kinematics(rng: np.random.Generator, n: int, beam: str = "le") -> dict[str, np.ndarray]:
    """Interaction kinematics of ``n`` muon-neutrino events of ``beam``, in GeV: for audits and plots.

    The same functions as the first steps of every simulated MINERvA event (energy, then
    :func:`sample_interactions`), without the transport: E_nu, current (1 CC, 2 NC), channel
    (1 QE, 2 RES, 3 DIS, 4 other), W, Q2, nu, x, y, and for CC events the muon's kinetic energy
    T_lepton and cos_lepton (0 for NC).
    """
    e_nu = sample_energy(rng, n, beam)
    kin = sample_interactions(rng, e_nu, np.zeros(n, dtype=np.int64))
    cc = kin["current"] == CC
    e_l, _, cos_l = _lepton(e_nu, kin["nu"], kin["Q2"], kin["m_lep"])
    nu = kin["nu"]
    return {
        "E_nu": e_nu / 1000.0, "current": kin["current"], "channel": kin["int_type"], "W": kin["W"] / 1000.0,
        "Q2": kin["Q2"] / 1e6, "nu": nu / 1000.0, "x": kin["Q2"] / np.maximum(2 * M_N * nu, 1e-9),
        "y": nu / e_nu, "T_lepton": np.where(cc, (e_l - kin["m_lep"]) / 1000.0, 0.0),
        "cos_lepton": np.where(cc, cos_l, 0.0),
    }


def rotate_to(axis: np.ndarray, cos_theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit vectors at polar angle theta, azimuth phi about each unit ``axis`` (n, 3).

    Written out component by component (no np.cross): it runs for every scattering step.
    """
    sin_theta = np.sqrt(np.clip(1 - cos_theta * cos_theta, 0, 1))
    ax, ay, az = axis[:, 0], axis[:, 1], axis[:, 2]
    # e1 = normalised (axis x helper), helper = x-hat unless the axis is close to x.
    use_x = np.abs(ax) < 0.9
    e1x = np.where(use_x, 0.0, -az)
    e1y = np.where(use_x, az, 0.0)
    e1z = np.where(use_x, -ay, ax)
    norm = np.sqrt(e1x * e1x + e1y * e1y + e1z * e1z)
    e1x, e1y, e1z = e1x / norm, e1y / norm, e1z / norm
    e2x = ay * e1z - az * e1y
    e2y = az * e1x - ax * e1z
    e2z = ax * e1y - ay * e1x
    a = sin_theta * np.cos(phi)
    b = sin_theta * np.sin(phi)
    out = np.empty((len(cos_theta), 3))
    out[:, 0] = cos_theta * ax + a * e1x + b * e2x
    out[:, 1] = cos_theta * ay + a * e1y + b * e2y
    out[:, 2] = cos_theta * az + a * e1z + b * e2z
    return out


def _isotropic(rng: np.random.Generator, n: int) -> np.ndarray:
    c = rng.uniform(-1, 1, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    s = np.sqrt(1 - c**2)
    return np.stack([s * np.cos(phi), s * np.sin(phi), c], axis=1)


def final_state(rng: np.random.Generator, e_nu: np.ndarray, flavour: np.ndarray, kin: dict[str, np.ndarray],
                nucleus_a: np.ndarray, backward: np.ndarray) -> tuple[Particles, dict[str, np.ndarray]]:
    """Primary particles of every event at the origin (event-relative), and per-event counts.

    ``backward`` marks events that get one hadron thrown backwards (a slow proton from the
    nucleus or a pion turned round by re-scattering) - one of the things that fool a
    most-upstream-hit vertex finder.
    """
    n = len(e_nu)
    beam = np.tile([0.0, 0.0, 1.0], (n, 1))
    cc = kin["current"] == CC
    int_type, w, q2, nu = kin["int_type"], kin["W"], kin["Q2"], kin["nu"]
    # Lepton (CC only; ν-e elastic handled by the caller through int_type NUE_ELASTIC).
    m_l = kin["m_lep"]
    e_l, p_l, cos_l = _lepton(e_nu, nu, q2, m_l)
    lep_dir = rotate_to(beam, cos_l, rng.uniform(0, 2 * np.pi, n))
    q_vec = e_nu[:, None] * beam - p_l[:, None] * lep_dir * cc[:, None]
    q_dir = q_vec / np.maximum(np.linalg.norm(q_vec, axis=1, keepdims=True), 1e-6)

    # Hadron multiplicities.
    is_qe, is_res, is_dis, is_other = int_type == QE, int_type == RES, int_type == DIS, int_type == OTHER
    nucleon_is_p = np.where(is_qe & cc, True, rng.random(n) < 0.5)
    w_gev2 = (w / 1000.0) ** 2
    n_ch_mean = np.maximum(0.1 + 1.42 * np.log(np.maximum(w_gev2, 1.0)), 0.0)
    n_pi_ch = np.where(is_dis, rng.poisson(np.maximum(n_ch_mean - 0.5, 0.3)), 0)
    n_pi0 = np.where(is_dis, rng.poisson(0.45 * np.maximum(n_ch_mean - 0.3, 0.2)), 0)
    res_pi = rng.random(n)
    # A resonance decays to N pi; an inelastic (DIS) event, which now starts at the two-pion
    # threshold, makes at least one pion as well.
    one_pi = is_res | (is_dis & (n_pi_ch + n_pi0 == 0))
    n_pi_ch += (one_pi & (res_pi < 0.67)).astype(int)
    n_pi0 += (one_pi & (res_pi >= 0.67)).astype(int)
    n_nucleon = 1 + is_other.astype(int)  # 2p2h knocks out two nucleons
    # Nuclear evaporation: slow protons and neutrons, more of them in heavy nuclei.
    evap_mean = EVAPORATION[0] + EVAPORATION[1] * nucleus_a * np.minimum(nu / 1000.0, 2.0)
    n_evap_p = rng.poisson(evap_mean)
    n_evap_n = rng.poisson(evap_mean * 1.3)

    rows_event: list[np.ndarray] = []
    rows_kind: list[np.ndarray] = []
    rows_t: list[np.ndarray] = []
    rows_dir: list[np.ndarray] = []
    events = np.arange(n)

    # Lepton rows.
    lep_kind = np.where(flavour == 0, MU, E)
    lep_rows = cc & (flavour != 2)
    rows_event.append(events[lep_rows])
    rows_kind.append(lep_kind[lep_rows])
    rows_t.append((e_l - m_l)[lep_rows])
    rows_dir.append(lep_dir[lep_rows])
    # Tau: decays at once into a muon (17%), an electron (18%) or hadrons (65%).
    tau = cc & (flavour == 2)
    if tau.any():
        u = rng.random(n)
        frac = rng.uniform(0.2, 0.7, n)
        tdir = rotate_to(lep_dir, rng.uniform(0.97, 1.0, n), rng.uniform(0, 2 * np.pi, n))
        kinds = np.where(u < 0.17, MU, np.where(u < 0.35, E, PI))
        rows_event.append(events[tau])
        rows_kind.append(kinds[tau])
        rows_t.append(np.maximum(frac * e_l - MASS_MEV[kinds], 5.0)[tau])
        rows_dir.append(tdir[tau])
        extra = tau & (u >= 0.35) & (rng.random(n) < 0.5)
        rows_event.append(events[extra])
        rows_kind.append(np.full(int(extra.sum()), PI0))
        rows_t.append(np.maximum((1 - frac) * 0.5 * e_l - MASS_MEV[PI0], 5.0)[extra])
        rows_dir.append(tdir[extra])

    # Hadronic system: nucleons and pions share nu - binding - pion masses.
    n_had = n_nucleon + n_pi_ch + n_pi0
    had_event = np.repeat(events, n_had)
    start = np.repeat(np.cumsum(n_had) - n_had, n_had)
    slot = np.arange(len(had_event)) - start
    ev = had_event
    kind = np.full(len(ev), PI)
    is_nuc = slot < n_nucleon[ev]
    first_is_p = nucleon_is_p[ev]
    kind[is_nuc] = np.where(first_is_p[is_nuc] | (slot[is_nuc] == 1), P, N)
    kind[(slot >= n_nucleon[ev] + n_pi_ch[ev])] = PI0
    available = np.maximum(nu - BINDING_MEV * n_nucleon - MASS_MEV[PI] * (n_pi_ch + n_pi0), 2.0 * n_had)
    share = rng.gamma(1.5, 1.0, len(ev))
    share /= np.bincount(ev, weights=share, minlength=n)[ev]
    t_had = np.maximum(share * available[ev], 1.0)
    spread = HADRON_SPREAD[0] + HADRON_SPREAD[1] / (t_had + HADRON_SPREAD[2])  # slow hadrons scatter most
    cos_h = np.clip(1.0 - np.abs(rng.normal(0, spread)) ** 2 * 0.9, -1.0, 1.0)
    h_dir = rotate_to(q_dir[ev], cos_h, rng.uniform(0, 2 * np.pi, len(ev)))
    rows_event.append(ev)
    rows_kind.append(kind)
    rows_t.append(t_had)
    rows_dir.append(h_dir)

    # Evaporation nucleons: isotropic, slow.
    for count, knd, mean_t in ((n_evap_p, P, 45.0), (n_evap_n, N, 35.0)):
        e_ev = np.repeat(events, count)
        rows_event.append(e_ev)
        rows_kind.append(np.full(len(e_ev), knd))
        rows_t.append(rng.exponential(mean_t, len(e_ev)) + 5.0)
        rows_dir.append(_isotropic(rng, len(e_ev)))

    # Backward-going track: a proton or pion thrown upstream.
    b_ev = events[backward]
    if len(b_ev):
        rows_event.append(b_ev)
        rows_kind.append(np.where(rng.random(len(b_ev)) < 0.6, P, PI))
        rows_t.append(rng.uniform(120.0, 500.0, len(b_ev)))
        rows_dir.append(rotate_to(np.tile([0.0, 0.0, -1.0], (len(b_ev), 1)), rng.uniform(0.5, 1.0, len(b_ev)),
                                  rng.uniform(0, 2 * np.pi, len(b_ev))))

    event = np.concatenate(rows_event)
    parts = Particles(event, np.concatenate(rows_kind).astype(np.int8), np.concatenate(rows_t),
                      np.concatenate(rows_dir), np.zeros((len(event), 3)), np.zeros(len(event)))
    counts = {
        "n_protons": np.bincount(event[parts.kind == P], minlength=n),
        "n_neutrons": np.bincount(event[parts.kind == N], minlength=n),
        "n_pich": np.bincount(event[parts.kind == PI], minlength=n),
        "n_pi0": np.bincount(event[parts.kind == PI0], minlength=n),
    }
    for name, knd in (("E_protons", P), ("E_neutrons", N), ("E_pich", PI), ("E_pi0", PI0)):
        sel = parts.kind == knd
        counts[name] = np.bincount(event[sel], weights=parts.kinetic[sel] + MASS_MEV[knd] * (knd != P) * (knd != N),
                                   minlength=n)
    counts["E_lepton"] = np.where(cc, e_l, 0.0)
    counts["cos_lepton"] = np.where(cc, cos_l, 0.0)
    return parts, counts


def decay_pi0(rng: np.random.Generator, pi0: Particles) -> Particles:
    """Replace neutral pions by their two photons (isotropic in the pion frame, then boosted)."""
    n = len(pi0)
    e = pi0.kinetic + MASS_MEV[PI0]
    gamma = e / MASS_MEV[PI0]
    beta = np.sqrt(np.maximum(1 - 1 / gamma**2, 0.0))
    c_star = rng.uniform(-1, 1, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    half = MASS_MEV[PI0] / 2
    e1 = gamma * half * (1 + beta * c_star)
    e2 = gamma * half * (1 - beta * c_star)
    c1 = (c_star + beta) / (1 + beta * c_star)
    c2 = (-c_star + beta) / (1 - beta * c_star)
    d1 = rotate_to(pi0.direction, np.clip(c1, -1, 1), phi)
    d2 = rotate_to(pi0.direction, np.clip(c2, -1, 1), phi + np.pi)
    return Particles(np.concatenate([pi0.event, pi0.event]), np.full(2 * n, GAMMA, dtype=np.int8),
                     np.concatenate([e1, e2]), np.concatenate([d1, d2]),
                     np.concatenate([pi0.origin, pi0.origin]), np.concatenate([pi0.time, pi0.time]))
