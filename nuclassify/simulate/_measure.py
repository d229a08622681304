"""Measurements of the simulator against its references: what the physics report and tests compute.

Each function simulates what it needs (seeded, small) and returns plain numbers or arrays, so the
report (``_report``), the tests and a user at a prompt measure the same way. The references
(PSTAR, PDG, MINERvA) are given where each figure is reported (``_report.FIGURES``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nuclassify.detector import minerva, nova
from nuclassify.simulate import _effects as fx
from nuclassify.simulate import _physics as ph
from nuclassify.simulate._geometry import Slabs, nova_slabs
from nuclassify.simulate._kinematics import Particles, rotate_to
from nuclassify.simulate._minerva import MinervaConfig, simulate_block_hits
from nuclassify.simulate._readout import strip_hits
from nuclassify.simulate._transport import transport
from nuclassify.simulate._vertex import component_masses

__all__ = ["nova_muon_cells", "proton_transmission", "minerva_sample", "weighted_median_time", "time_spread",
           "crosstalk_stats", "segment_expectation", "PSTAR_PB_RANGE_G_CM2"]

# NIST PSTAR, lead (material 082, I = 823 eV): CSDA range (g/cm^2) of protons of T MeV.
PSTAR_PB_RANGE_G_CM2 = {50.0: 5.057, 100.0: 16.52, 250.0: 76.69, 500.0: 229.2, 1000.0: 621.7}


def nova_muon_cells(n: int = 400, seed: int = 1, energy_mev: float = 2000.0,
                    max_angle: float = 0.3) -> tuple[np.ndarray, float]:
    """Cells lit per plane by muons crossing NOvA (angles up to ``max_angle`` rad), and the geometric expectation.

    A straight track crossing a plane of depth D at slope s (in the view's measuring direction)
    spans D|s| across, so it lights 1 + D|s|/w cells of width w on average (uniform entry point):
    the expectation is that, averaged over the muons' true slopes. Returns (cells per crossed
    plane, one entry per plane and muon; expected mean).
    """
    rng = np.random.default_rng(seed)
    slabs = nova_slabs()
    theta = rng.uniform(0.0, max_angle, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    direction = rotate_to(np.tile([0.0, 0.0, 1.0], (n, 1)), np.cos(theta), phi)
    origin = np.column_stack([rng.uniform(-1000, 1000, (n, 2)), np.full(n, 5.0 * nova.PLANE_PITCH_MM)])
    parts = Particles(np.arange(n), np.full(n, ph.MU, dtype=np.int8), np.full(n, energy_mev), direction, origin,
                      np.zeros(n))
    dep, _ = transport(rng, parts, slabs)
    first = dep["kind"] == ph.MU
    dep = {k: v[first] for k, v in dep.items()}
    hits = strip_hits(rng, dep, slabs)
    plane_key = dep["event"][hits["src"]] * len(slabs.lo) + dep["slab"][hits["src"]]
    cell_key = np.unique(plane_key * nova.N_CELLS + hits["strip"])
    _, per_plane = np.unique(cell_key // nova.N_CELLS, return_counts=True)
    slope = np.abs(np.tan(theta)) * np.where(np.arange(2)[:, None] == 0, np.abs(np.cos(phi)), np.abs(np.sin(phi)))
    expected = 1.0 + nova.PLANE_PITCH_MM * float(np.mean(slope)) / nova.CELL_WIDTH_MM
    return per_plane, expected


def proton_transmission(kinetic_mev: float, lead_g_cm2: float, n: int = 400, seed: int = 2) -> float:
    """Fraction of protons of ``kinetic_mev`` that come out of ``lead_g_cm2`` of lead (a hit behind it).

    A lead slab followed by read-out scintillator; only proton deposits count (a pion made in a
    hadronic interaction could go further). Near the CSDA range the fraction drops from about
    the hadronic survival probability to 0 within the range straggling (about 1%).
    """
    thick_mm = lead_g_cm2 / ph.MATERIALS[3].density * 10.0
    lo = np.array([0.0, thick_mm, thick_mm + 17.0])
    hi = np.array([thick_mm, thick_mm + 17.0, thick_mm + 34.0])
    slabs = Slabs(lo, hi, np.array([3, 0, 0], dtype=np.int8), np.full(3, -1, dtype=np.int8),
                  np.array([-1, 0, 0], dtype=np.int8), np.array([-1, 0, 1], dtype=np.int16),
                  np.array([[1.0, 0.0], [0.5, 0.866], [0.5, -0.866]]), minerva.STRIP_PITCH_MM, 1000,
                  np.zeros((6, 5)), False, 1e7)
    direction = np.tile([0.0, 0.0, 1.0], (n, 1))
    parts = Particles(np.arange(n), np.full(n, ph.P, dtype=np.int8), np.full(n, float(kinetic_mev)), direction,
                      np.zeros((n, 3)), np.zeros(n))
    dep, _ = transport(np.random.default_rng(seed), parts, slabs)
    through = np.unique(dep["event"][(dep["kind"] == ph.P) & (dep["slab"] >= 1)])
    return len(through) / n


def minerva_sample(n_events: int, seed: int = 1, block_size: int = 2500, **options: Any) -> dict[str, np.ndarray]:
    """Simulate MINERvA events and keep what the files do not hold: hit flags, reference times, kinematics.

    Returns per-event arrays (``E_nu``, ``y``, ``Q2``, ``W`` in GeV units, ``current``,
    ``int_type``, ``E_mu`` kinetic GeV, ``cos_mu``, ``z``, ``segment``, ``pileup``, ``t_ref``,
    ``ref_source``) and per-hit arrays (``hit_event``, ``hit_energy``, ``hit_time``, ``hit_flags``).
    ``options`` are :class:`MinervaConfig` fields.
    """
    cfg = MinervaConfig(**options)
    per_event: dict[str, list[np.ndarray]] = {}
    offset = 0
    for block, start in enumerate(range(0, n_events, block_size)):
        n = min(block_size, n_events - start)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1, block]))
        vtx, kin, counts, hits, pile, _ = simulate_block_hits(rng, n, cfg)
        max_cols = int(hits["max_cols"])
        event = (hits["key"] // (max_cols * minerva.N_STRIPS)) % n
        e_lep = counts["E_lepton"]
        rows = {
            "E_nu": kin["E_nu"] / 1e3, "y": kin["nu"] / kin["E_nu"], "Q2": kin["Q2"] / 1e6, "W": kin["W"] / 1e3,
            "current": kin["current"], "int_type": kin["int_type"],
            "E_mu": np.where(kin["current"] == 1, e_lep - ph.MASS_MUON, 0.0) / 1e3, "cos_mu": counts["cos_lepton"],
            "z": vtx["z"], "segment": minerva.segment_of_z(vtx["z"]), "pileup": pile, "t_ref": hits["t_ref"],
            "ref_source": hits["ref_source"], "hit_event": event + offset, "hit_energy": hits["energy"],
            "hit_time": hits["time"], "hit_flags": hits["flags"],
        }
        for key, value in rows.items():
            per_event.setdefault(key, []).append(np.asarray(value))
        offset += n
    return {key: np.concatenate(values) for key, values in per_event.items()}


def weighted_median_time(event: np.ndarray, energy: np.ndarray, time: np.ndarray, n: int,
                         window_ns: float = 200.0) -> np.ndarray:
    """Energy-weighted median time of each event's prompt hits (|t| < window); NaN for events with none."""
    prompt = np.abs(time) < window_ns
    ev, e, t = event[prompt], energy[prompt], time[prompt]
    order = np.lexsort((t, ev))
    ev, e, t = ev[order], e[order], t[order]
    total = np.bincount(ev, weights=e, minlength=n)
    cum = np.cumsum(e)
    before = np.concatenate([[0.0], np.cumsum(total)])[ev]
    past_half = (cum - before) >= 0.5 * total[ev]
    out = np.full(n, np.nan)
    first = np.flatnonzero(past_half)
    if len(first):
        ev_first, idx = np.unique(ev[first], return_index=True)
        out[ev_first] = t[first[idx]]
    return out


def time_spread(sample: dict[str, np.ndarray]) -> float:
    """Interquartile range (ns) across events of the energy-weighted median prompt hit time."""
    med = weighted_median_time(sample["hit_event"], sample["hit_energy"], sample["hit_time"], len(sample["E_nu"]))
    q1, q3 = np.nanpercentile(med, [25, 75])
    return float(q3 - q1)


def crosstalk_stats(sample: dict[str, np.ndarray], threshold_mev: float = 1.5) -> dict[str, float]:
    """Share of recorded energy and of hits on pixels with cross-talk and no particle behind them.

    ``below_threshold``: the fraction of those cross-talk hits under ``threshold_mev`` (MINERvA's
    1.5 MeV hit threshold "just above cross-talk").
    """
    flags, energy = sample["hit_flags"], sample["hit_energy"]
    xt = ((flags & fx.XTALK) > 0) & ((flags & (fx.PARTICLE | fx.NOISE)) == 0)
    return {"energy_fraction": float(energy[xt].sum() / energy.sum()), "hit_fraction": float(xt.mean()),
            "below_threshold": float(np.mean(energy[xt] < threshold_mev)) if xt.any() else 1.0}


def segment_expectation(z_max: float) -> np.ndarray:
    """Expected share of vertices per segment (0-10) from the component masses up to ``z_max``."""
    comp = component_masses(z_max=z_max)
    expected = np.zeros(minerva.N_SEGMENTS)
    for lo, hi, mass in zip(comp["z_lo"], comp["z_hi"], comp["mass"], strict=True):
        expected[minerva.segment_of_z(0.5 * (lo + hi))] += mass
    return expected / expected.sum()
