"""One block of MINERvA events: vertices, interactions, transport, readout, truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuclassify.detector import minerva
from nuclassify.events import MinervaBlock, SparseImages
from nuclassify.simulate._events import propagate
from nuclassify.simulate._geometry import minerva_slabs
from nuclassify.simulate._kinematics import Particles, final_state, sample_energy, sample_interactions
from nuclassify.simulate._readout import digitise, merge_pixels, strip_hits
from nuclassify.simulate._vertex import NUCLEUS_A, NUCLEUS_Z, sample_vertices

__all__ = ["MinervaConfig", "minerva_block"]

PILEUP_Z_MAX_MM = 7500.0
PILEUP_TIME_SIGMA_NS = 40.0
NOISE_ENERGY_PE = 1.0


@dataclass(frozen=True)
class MinervaConfig:
    """Options of the MINERvA generator (see :func:`nuclassify.simulate.simulate_minerva`)."""

    beam: str = "le"
    pileup: float = 0.04
    backward_fraction: float = 0.06
    gain: float = 1.0
    noise_rate: float = 2e-4
    layout: str = "2018"


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


def _images(rng: np.random.Generator, dep: dict[str, np.ndarray], n: int,
            cfg: MinervaConfig) -> dict[str, SparseImages]:
    slabs = minerva_slabs(cfg.layout)
    hits = strip_hits(rng, dep, slabs)
    src = hits["src"]
    columns = minerva.image_columns(cfg.layout)
    ncol = np.array([columns[v] for v in minerva.VIEWS])
    max_cols = int(ncol.max())
    dep_view = slabs.view[dep["slab"]].astype(np.int64)
    base = ((dep_view * n + dep["event"]) * minerva.N_STRIPS) * max_cols + slabs.column[dep["slab"]]
    key_hits = base[src] + hits["strip"] * max_cols
    # Noise: each imaged channel fires with probability noise_rate per event.
    n_channels = minerva.N_STRIPS * int(ncol.sum())
    n_noise = rng.poisson(cfg.noise_rate * n_channels, n)
    total = int(n_noise.sum())
    noise_event = np.repeat(np.arange(n), n_noise)
    pick = rng.integers(0, n_channels, total)
    noise_view = np.searchsorted(np.cumsum(ncol * minerva.N_STRIPS), pick, side="right")
    within = pick - np.concatenate([[0], np.cumsum(ncol * minerva.N_STRIPS)])[noise_view]
    noise_key = ((noise_view * n + noise_event) * minerva.N_STRIPS + within // ncol[noise_view]) * max_cols + (
        within % ncol[noise_view])
    key = np.concatenate([key_hits, noise_key])
    energy = np.concatenate([hits["energy"], rng.exponential(NOISE_ENERGY_PE, total) / 6.5 + 0.1])
    time = np.concatenate([dep["time"][src], rng.uniform(-100.0, 200.0, total)])
    track = np.concatenate([(dep["sigma"] == 0)[src], np.zeros(total, dtype=bool)])
    key, energy, time, track = merge_pixels(key, energy, time, track)
    energy, time, kept = digitise(rng, energy, time, track, cfg.gain)
    key, energy, time = key[kept], energy[kept], time[kept]
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
        values = np.stack([energy[lo:hi], time[lo:hi]], axis=1).astype(np.float32)
        images[name] = SparseImages((2, minerva.N_STRIPS, cols), offsets, pixel, values)
    return images


def minerva_block(rng: np.random.Generator, n: int, cfg: MinervaConfig, run: int, subrun: int) -> MinervaBlock:
    """Simulate ``n`` events with ``rng``; event ids are run/subrun/gate(1..n)/slice 1."""
    vtx = sample_vertices(rng, n)
    parts, kin, counts = _interactions(rng, vtx, cfg.beam, cfg.backward_fraction)
    # Pile-up: a second interaction anywhere upstream or downstream, slightly out of time.
    pile = rng.random(n) < cfg.pileup
    pile_events = np.nonzero(pile)[0]
    pileup_z = np.full(n, -1.0, dtype=np.float32)  # -1: no pile-up interaction
    pieces = [parts]
    if len(pile_events):
        pv = sample_vertices(rng, len(pile_events), z_max=PILEUP_Z_MAX_MM)
        pparts, _, _ = _interactions(rng, pv, cfg.beam, cfg.backward_fraction)
        pparts.event = pile_events[pparts.event]
        pparts.time = pparts.time + rng.normal(0.0, PILEUP_TIME_SIGMA_NS, len(pile_events))[
            np.searchsorted(pile_events, pparts.event)]
        pileup_z[pile_events] = pv["z"]
        pieces.append(pparts)
    dep = propagate(rng, Particles.concatenate(pieces), minerva_slabs(cfg.layout))
    images = _images(rng, dep, n, cfg)

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
