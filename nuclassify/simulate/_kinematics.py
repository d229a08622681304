"""Neutrino energies, interaction types and final-state particles, vectorised over events.

A deliberately simple generator in the spirit of GENIE 2.8's defaults (C. Andreopoulos et al.,
NIM A 614 (2010) 87, arXiv:0905.2517): QE below the pion threshold, resonances up to
W = 1.7 GeV, DIS above with charged multiplicity <n_ch> = a + b ln W^2, a nuclear-evaporation
component of slow protons and neutrons that grows with the nucleus, and the lepton angle fixed
by Q^2. Channel shares against E_nu are shaped after Formaggio & Zeller, Rev. Mod. Phys. 84
(2012) 1307, arXiv:1305.7513, Figs. 1-2; data/README.md ("Physics constants and sources")
lists the numbers. Every event's particles come out as rows of one table (no Python loop over
events or particles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuclassify.simulate._physics import GAMMA, MASS_MEV, MU, PI, PI0, E, N, P

__all__ = ["Particles", "sample_energy", "sample_interactions", "final_state", "decay_pi0", "rotate_to"]

M_N = 939.0  # nucleon mass (MeV)
BINDING_MEV = 25.0
QE, RES, DIS, OTHER, NUE_ELASTIC = 1, 2, 3, 4, 5
CC, NC = 1, 2
NUMU, NUE, NUTAU = 0, 1, 2
_LEPTON_MASS = np.array([105.658, 0.511, 1776.86])
# Hadron angle about the momentum transfer: Gaussian width (rad) a + b / (T + c), T in MeV.
HADRON_SPREAD = (0.2, 60.0, 150.0)
# Mean number of evaporation protons: a + b * A * min(nu / GeV, 2); neutrons 1.3 times more.
EVAPORATION = (0.1, 0.006)


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


def sample_interactions(rng: np.random.Generator, e_nu: np.ndarray, flavour: np.ndarray,
                        cc: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Current, interaction type, W, Q^2 and energy transfer nu for each event (MeV units).

    ``cc`` forces the current per event; by default 72% of events are charged-current.
    """
    n = len(e_nu)
    e_gev = e_nu / 1000.0
    if cc is None:
        cc = rng.random(n) < 0.72
    current = np.where(cc, CC, NC)
    w_qe = 0.45 / (1 + e_gev / 2.0)
    w_res = 0.35 / (1 + e_gev / 4.0)
    w_other = np.full(n, 0.06)
    w_dis = np.clip(1.0 - w_qe - w_res - w_other, 0.0, None) * np.clip((e_gev - 0.8) / 1.5, 0.0, 1.0)
    weights = np.stack([w_qe, w_res, w_dis, w_other], axis=1)
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    int_type = 1 + (rng.random(n)[:, None] > cum).sum(axis=1)
    m_lep = np.where(current == CC, _LEPTON_MASS[flavour], 0.0)
    w_max = np.sqrt(M_N**2 + 2 * M_N * e_nu) - m_lep - 10.0
    int_type = np.where((int_type == DIS) & (w_max < 1800.0), RES, int_type)
    int_type = np.where((int_type == RES) & (w_max < 1150.0), QE, int_type)
    w = np.full(n, M_N)
    res = int_type == RES
    w[res] = np.clip(rng.normal(1232.0, 110.0, int(res.sum())), 1080.0, 1700.0)
    dis = int_type == DIS
    w[dis] = 1700.0 + rng.exponential(900.0, int(dis.sum()))
    w = np.minimum(w, np.maximum(w_max, M_N))
    q2 = rng.exponential(1.0, n) * (1.5e5 + 1.2e5 * np.minimum(e_gev, 10.0)) * np.where(int_type == QE, 0.35, 1.0)
    q2 *= np.where(int_type == DIS, 1.5, 1.0)
    nu = (w**2 - M_N**2 + q2) / (2 * M_N)
    nu_max = e_nu - m_lep - 5.0
    over = nu > nu_max
    # Too much transfer for this energy: shrink Q^2 (and, if needed, W) to fit.
    q2 = np.where(over, np.maximum(2 * M_N * nu_max - (w**2 - M_N**2), 0.0), q2)
    w = np.where(over & (q2 <= 0), np.sqrt(np.maximum(M_N**2 + 2 * M_N * nu_max, M_N**2)), w)
    nu = np.minimum((w**2 - M_N**2 + q2) / (2 * M_N), np.maximum(nu_max, 1.0))
    return {"current": current, "int_type": int_type, "W": w, "Q2": q2, "nu": nu, "m_lep": m_lep}


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
    e_l = np.maximum(e_nu - nu, m_l + 1.0)
    p_l = np.sqrt(np.maximum(e_l**2 - m_l**2, 1e-6))
    cos_l = np.clip((2 * e_nu * e_l - m_l**2 - q2) / (2 * e_nu * p_l), -1.0, 1.0)
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
    n_pi_ch += (is_res & (res_pi < 0.67)).astype(int)
    n_pi0 += (is_res & (res_pi >= 0.67)).astype(int)
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
