"""One block of MINERvA events: vertices, interactions, transport, readout, truth.

The readout follows what the experiment's files hold: strip hits attenuated along the WLS
fibre, photo-statistics, PMT cross-talk, dead channels, noise, and hit times counted from a
reconstructed reference time (see ``_effects``); every effect is a :class:`MinervaConfig` option.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuclassify.detector import minerva
from nuclassify.events import MinervaBlock, SparseImages
from nuclassify.simulate import _effects as fx
from nuclassify.simulate import _physics as ph
from nuclassify.simulate._events import propagate
from nuclassify.simulate._geometry import minerva_slabs
from nuclassify.simulate._kinematics import Particles, final_state, sample_energy, sample_interactions
from nuclassify.simulate._readout import GATE_NS, PE_PER_MEV, merge_pixels, photoelectrons, smear_time, strip_hits
from nuclassify.simulate._vertex import NUCLEUS_A, NUCLEUS_Z, Z_MAX_MM, sample_vertices

__all__ = ["MinervaConfig", "minerva_block", "minerva_hits", "simulate_block_hits", "PILEUP_DEFAULT", "TIME_REFERENCES"]

PILEUP_Z_MAX_MM = 7500.0
PILEUP_TIME_SIGMA_NS = 40.0
NOISE_ENERGY_PE = 1.0
# Fraction of events with a second interaction in the same time slice, per beam. LE: 4%
# (model choice of version 1). ME: NuMI's medium-energy spills carried more protons (about
# 1.5-2x, up to ~700 kW against ~300-350 kW) and the higher-energy flux gives about twice the
# interactions per proton, so about 3x the interactions per spill: 1 - exp(-3 x 0.041) = 0.12.
PILEUP_DEFAULT = {"le": 0.04, "me": 0.12}
TIME_REFERENCES = ("reco", "truth")


@dataclass(frozen=True)
class MinervaConfig:
    """Options of the MINERvA generator (see :func:`nuclassify.simulate.simulate_minerva`)."""

    beam: str = "le"
    pileup: float = 0.04
    backward_fraction: float = 0.06
    gain: float = 1.0
    noise_rate: float = 2e-4
    layout: str = "2018"
    crosstalk: float = fx.CROSSTALK_FRACTION
    dead_channels: float = fx.DEAD_CHANNEL_FRACTION
    attenuation: float = 1.0
    time_reference: str = "reco"
    z_max: float = Z_MAX_MM


def _interactions(rng: np.random.Generator, vtx: dict[str, np.ndarray], beam: str,
                  backward_fraction: float) -> tuple[Particles, dict[str, np.ndarray], dict[str, np.ndarray]]:
    n = len(vtx["z"])
    e_nu = sample_energy(rng, n, beam)
    flavour = np.zeros(n, dtype=np.int64)
    kin = sample_interactions(rng, e_nu, flavour)
    backward = rng.random(n) < backward_fraction
    material = np.where(vtx["target"] < 0, 0, vtx["material"])
    parts, counts = final_state(rng, e_nu, flavour, kin, NUCLEUS_A[material], backward)
    parts.origin[:] = np.stack([vtx["x"], vtx["y"], vtx["z"]], axis=1)[parts.event]
    kin["E_nu"] = e_nu
    kin["backward"] = backward
    kin["targetZ"] = NUCLEUS_Z[material]
    return parts, kin, counts


def _noise(rng: np.random.Generator, n: int, ncol: np.ndarray, max_cols: int,
           rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise hits: each imaged channel fires with probability ``rate`` per event (key, MeV, time)."""
    n_channels = minerva.N_STRIPS * int(ncol.sum())
    n_noise = rng.poisson(rate * n_channels, n)
    total = int(n_noise.sum())
    noise_event = np.repeat(np.arange(n), n_noise)
    pick = rng.integers(0, n_channels, total)
    bounds = np.cumsum(ncol * minerva.N_STRIPS)
    view = np.searchsorted(bounds, pick, side="right")
    within = pick - np.concatenate([[0], bounds])[view]
    key = ((view * n + noise_event) * minerva.N_STRIPS + within // ncol[view]) * max_cols + within % ncol[view]
    energy = rng.exponential(NOISE_ENERGY_PE, total) / PE_PER_MEV + 0.1
    return key, energy, rng.uniform(-100.0, 200.0, total)


def minerva_hits(rng: np.random.Generator, dep: dict[str, np.ndarray], signal: np.ndarray, n: int,
                 cfg: MinervaConfig) -> dict[str, np.ndarray]:
    """Deposits -> recorded pixels, as flat arrays sorted by key, with their flags and reference times.

    ``signal`` marks the deposits of the main interaction (not pile-up): only its muon makes the
    reference time. Returns ``key``, ``energy`` (MeV), ``time`` (ns, minus the reference),
    ``flags`` (``_effects`` bits), ``t_ref`` and ``ref_source`` per event; the report and the
    tests read the flags, which the files do not hold.
    """
    slabs = minerva_slabs(cfg.layout)
    hits = strip_hits(rng, dep, slabs)
    src = hits["src"]
    columns = minerva.image_columns(cfg.layout)
    ncol = np.array([columns[v] for v in minerva.VIEWS])
    max_cols = int(ncol.max())
    dep_view = slabs.view[dep["slab"]].astype(np.int64)
    base = ((dep_view * n + dep["event"]) * minerva.N_STRIPS) * max_cols + slabs.column[dep["slab"]]
    energy = hits["energy"]
    if cfg.attenuation > 0:
        xm, ym = 0.5 * (dep["x0"] + dep["x1"]), 0.5 * (dep["y0"] + dep["y1"])
        energy = energy * fx.attenuation_factor(dep_view, xm, ym, cfg.attenuation)[src]
    dep_flags = (np.where(dep["sigma"] == 0, fx.TRACK, 0) | fx.PARTICLE
                 | np.where((dep["kind"] == ph.MU) & signal, fx.MUON, 0)).astype(np.uint8)
    noise_key, noise_energy, noise_time = _noise(rng, n, ncol, max_cols, cfg.noise_rate)
    key = np.concatenate([base[src] + hits["strip"] * max_cols, noise_key])
    energy = np.concatenate([energy, noise_energy])
    time = np.concatenate([dep["time"][src], noise_time])
    flags = np.concatenate([dep_flags[src], np.full(len(noise_key), fx.NOISE, dtype=np.uint8)])
    key, energy, time, flags = merge_pixels(key, energy, time, flags)
    pe = photoelectrons(rng, energy, (flags & fx.TRACK) > 0)
    if cfg.crosstalk > 0:
        key, pe, time, flags = fx.crosstalk(rng, key, pe, time, flags, cfg.crosstalk, max_cols)
    kept = (pe > 0) & ~fx.dead_mask(key, n, max_cols, cfg.dead_channels)
    true_time = time[kept]
    key, pe, flags = key[kept], pe[kept], flags[kept]
    measured = smear_time(rng, true_time)
    recorded = pe / PE_PER_MEV * cfg.gain
    t_ref, source = fx.reference_time(key, recorded, measured, true_time, flags, n, max_cols)
    if cfg.time_reference == "truth":
        # Exact times; the source still says which reference a reconstruction would have used,
        # so that the events with a muon track (the experiment's sample) can be selected.
        t_ref = np.zeros(n)
    event = (key // (max_cols * minerva.N_STRIPS)) % n
    return {"key": key, "energy": recorded, "time": np.clip(measured - t_ref[event], -GATE_NS, GATE_NS),
            "flags": flags, "t_ref": t_ref, "ref_source": source, "max_cols": np.array(max_cols),
            "ncol": ncol}


def _images(hits: dict[str, np.ndarray], n: int) -> dict[str, SparseImages]:
    """Pack the recorded pixels (sorted by view, event, strip, column) into sparse images per view."""
    key, max_cols, ncol = hits["key"], int(hits["max_cols"]), hits["ncol"]
    column = key % max_cols
    rest = key // max_cols
    strip = rest % minerva.N_STRIPS
    rest //= minerva.N_STRIPS
    event = rest % n
    view = rest // n
    images = {}
    for code, name in enumerate(minerva.VIEWS):
        lo, hi = np.searchsorted(view, [code, code + 1])
        cols = int(ncol[code])
        offsets = np.searchsorted(event[lo:hi], np.arange(n + 1)).astype(np.int64)
        pixel = (strip[lo:hi] * cols + column[lo:hi]).astype(np.int32)
        values = np.stack([hits["energy"][lo:hi], hits["time"][lo:hi]], axis=1).astype(np.float32)
        images[name] = SparseImages((2, minerva.N_STRIPS, cols), offsets, pixel, values)
    return images


def simulate_block_hits(rng: np.random.Generator, n: int,
                        cfg: MinervaConfig) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                                                     dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray,
                                                     np.ndarray]:
    """Vertices, kinematics, transport and readout of ``n`` events: (vtx, kin, counts, hits, pile, pileup_z)."""
    vtx = sample_vertices(rng, n, z_max=cfg.z_max)
    parts, kin, counts = _interactions(rng, vtx, cfg.beam, cfg.backward_fraction)
    # Pile-up: a second interaction anywhere upstream or downstream, slightly out of time. Its
    # particles are numbered n.. during transport, so its muon never sets the reference time.
    pile = rng.random(n) < cfg.pileup
    pile_events = np.nonzero(pile)[0]
    pileup_z = np.full(n, -1.0, dtype=np.float32)  # -1: no pile-up interaction
    pieces = [parts]
    if len(pile_events):
        pv = sample_vertices(rng, len(pile_events), z_max=PILEUP_Z_MAX_MM)
        pparts, _, _ = _interactions(rng, pv, cfg.beam, cfg.backward_fraction)
        pparts.time = pparts.time + rng.normal(0.0, PILEUP_TIME_SIGMA_NS, len(pile_events))[pparts.event]
        pparts.event = pparts.event + n
        pileup_z[pile_events] = pv["z"]
        pieces.append(pparts)
    dep = propagate(rng, Particles.concatenate(pieces), minerva_slabs(cfg.layout))
    signal = dep["event"] < n
    if len(pile_events):
        dep["event"] = np.where(signal, dep["event"], pile_events[np.maximum(dep["event"] - n, 0)])
    hits = minerva_hits(rng, dep, signal, n, cfg)
    return vtx, kin, counts, hits, pile, pileup_z


def minerva_block(rng: np.random.Generator, n: int, cfg: MinervaConfig, run: int, subrun: int) -> MinervaBlock:
    """Simulate ``n`` events with ``rng``; event ids are run/subrun/gate(1..n)/slice 1."""
    vtx, kin, counts, hits, pile, pileup_z = simulate_block_hits(rng, n, cfg)
    images = _images(hits, n)

    z = vtx["z"]
    gev = 1e-3
    nu = kin["nu"]
    truth = {
        "gen_data": {
            "current": kin["current"].astype(np.uint8), "int_type": kin["int_type"].astype(np.uint8),
            "targetZ": kin["targetZ"].astype(np.uint8), "W": (kin["W"] * gev).astype(np.float32),
            "x": (kin["Q2"] / np.maximum(2 * 939.0 * nu, 1e-6)).astype(np.float32),
            "y": (nu / kin["E_nu"]).astype(np.float32), "Q2": (kin["Q2"] * gev**2).astype(np.float32),
            "E_nu": (kin["E_nu"] * gev).astype(np.float32),
        },
        "vtx_data": {
            "x": vtx["x"].astype(np.float32), "y": vtx["y"].astype(np.float32),
            "target": vtx["target"].astype(np.int8), "material": vtx["material"].astype(np.int8),
            "pileup": pile.astype(np.uint8), "pileup_z": pileup_z, "backward": kin["backward"].astype(np.uint8),
            "time_ref": hits["t_ref"].astype(np.float32), "time_ref_source": hits["ref_source"].astype(np.uint8),
        },
        "hadro_data": {k: (v.astype(np.uint8) if k.startswith("n_") else (v * gev).astype(np.float32))
                       for k, v in counts.items() if k.startswith(("n_", "E_")) and k != "E_lepton"},
        "lepto_data": {
            "E_lepton": (counts["E_lepton"] * gev).astype(np.float32),
            "cos_lepton": counts["cos_lepton"].astype(np.float32),
            "pdg": np.where(kin["current"] == 1, 13, 14).astype(np.int16),
        },
    }
    gate = np.arange(1, n + 1, dtype=np.uint64)
    eventids = (np.uint64(run) * np.uint64(10**10) + np.uint64(subrun) * np.uint64(10**6)
                + gate * np.uint64(100) + np.uint64(1))
    return MinervaBlock(images, minerva.segment_of_z(z).astype(np.uint8), minerva.planecode_of_z(z),
                        z.astype(np.float32), eventids, truth)
