"""One block of NOvA events: flavour mix, transport in the cell mixture, CVN pixel maps.

The sample mixes flavours for training (not the beam's 98% muon neutrinos): 40% νμ CC,
25% νe CC, 5% ντ CC (energies above the τ threshold), 28% NC and 2% ν-e elastic scattering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuclassify.detector import nova
from nuclassify.events import NovaBlock
from nuclassify.simulate import _physics as ph
from nuclassify.simulate._events import propagate
from nuclassify.simulate._geometry import nova_slabs
from nuclassify.simulate._kinematics import (
    CC,
    NUE,
    NUTAU,
    OTHER,
    Particles,
    final_state,
    rotate_to,
    sample_energy,
    sample_interactions,
)
from nuclassify.simulate._readout import digitise, merge_pixels, strip_hits

__all__ = ["NovaConfig", "nova_block", "FLAVOUR_MIX"]

# Cumulative mix: νμ CC, νe CC, ντ CC, NC, ν-e elastic.
FLAVOUR_MIX = np.cumsum([0.40, 0.25, 0.05, 0.28, 0.02])
NUE_ELASTIC_CODE = 12
NC_CODE = 13
VERTEX_HALF_WIDTH_MM = 5000.0
VERTEX_PLANES = (4, 40)


@dataclass(frozen=True)
class NovaConfig:
    """Options of the NOvA generator (see :func:`nuclassify.simulate.simulate_nova`)."""

    gain: float = 1.0


def nova_block(rng: np.random.Generator, n: int, cfg: NovaConfig) -> NovaBlock:
    """Simulate ``n`` NOvA events and build their 8-bit CVN pixel maps."""
    u = rng.random(n)
    category = np.searchsorted(FLAVOUR_MIX, u * FLAVOUR_MIX[-1], side="right")
    flavour = np.where(category <= 2, category, 0)
    cc = category <= 2
    elastic = category == 4
    e_nu = sample_energy(rng, n, "nova")
    tau = flavour == NUTAU
    e_nu[tau] = 4000.0 + rng.exponential(3000.0, int(tau.sum()))
    kin = sample_interactions(rng, e_nu, flavour, cc)
    parts, _ = final_state(rng, e_nu, flavour, kin, np.full(n, 12.0), np.zeros(n, dtype=bool))
    # ν-e elastic: only a very forward electron; drop what final_state made for those events.
    if elastic.any():
        parts = parts.select(~elastic[parts.event])
        ev = np.nonzero(elastic)[0]
        e_e = e_nu[ev] * rng.uniform(0.05, 1.0, len(ev))
        cos = 1.0 - rng.uniform(0, 1, len(ev)) * 0.511 / e_e
        d = rotate_to(np.tile([0.0, 0.0, 1.0], (len(ev), 1)), cos, rng.uniform(0, 2 * np.pi, len(ev)))
        parts = Particles.concatenate([parts, Particles(ev, np.full(len(ev), ph.E, dtype=np.int8), e_e, d,
                                                        np.zeros((len(ev), 3)), np.zeros(len(ev)))])
    vx = rng.uniform(-VERTEX_HALF_WIDTH_MM, VERTEX_HALF_WIDTH_MM, (n, 2))
    vz = rng.uniform(*VERTEX_PLANES, n) * nova.PLANE_PITCH_MM
    vertex = np.column_stack([vx, vz])
    parts.origin[:] = vertex[parts.event]
    slabs = nova_slabs()
    dep = propagate(rng, parts, slabs)
    hits = strip_hits(rng, dep, slabs)
    src = hits["src"]
    plane = slabs.column[dep["slab"]].astype(np.int64)[src]
    key = (dep["event"][src] * len(slabs.lo) + plane) * nova.N_CELLS + hits["strip"]
    key, energy, time, flags = merge_pixels(key, hits["energy"], dep["time"][src],
                                            (dep["sigma"] == 0)[src].astype(np.uint8))
    energy, _, kept = digitise(rng, energy, time, flags > 0, cfg.gain)
    q = nova.quantise(energy)
    kept &= q > 0
    key, q = key[kept], q[kept]
    cvnmap = _pixel_maps(key, q, n, len(slabs.lo))

    int_type = kin["int_type"]
    code = np.where(cc, flavour * 4 + np.minimum(int_type, OTHER) - 1, NC_CODE)
    code = np.where(elastic, NUE_ELASTIC_CODE, code)
    truth = {
        "gen_data": {
            "current": np.where(elastic, CC, kin["current"]).astype(np.uint8),
            "int_type": np.where(elastic, 5, int_type).astype(np.uint8),
            "flavour": flavour.astype(np.uint8), "E_nu": (e_nu / 1000).astype(np.float32),
            "W": (kin["W"] / 1000).astype(np.float32), "Q2": (kin["Q2"] / 1e6).astype(np.float32),
            "nue": (flavour == NUE).astype(np.uint8),
        },
        "vtx_data": {"x": vertex[:, 0].astype(np.float32), "y": vertex[:, 1].astype(np.float32),
                     "z": vertex[:, 2].astype(np.float32)},
    }
    return NovaBlock(cvnmap, code.astype(np.int16), truth)


def _pixel_maps(key: np.ndarray, q: np.ndarray, n: int, n_planes: int) -> np.ndarray:
    """Place merged cell hits (sorted keys) into each event's 2 x 100 x 80 window."""
    cell = key % nova.N_CELLS
    rest = key // nova.N_CELLS
    plane = rest % n_planes
    event = rest // n_planes
    view = nova.view_of_plane(plane)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, event, plane)
    # Median cell per (event, view): sort by (event, view, cell), take the middle of each group.
    group = event * 2 + view
    order = np.lexsort((cell, group))
    gs = group[order]
    starts = np.searchsorted(gs, np.arange(2 * n))
    ends = np.searchsorted(gs, np.arange(2 * n), side="right")
    median = np.where(ends > starts, cell[order][np.minimum((starts + ends) // 2, len(gs) - 1)], nova.N_CELLS // 2)
    index, inside = nova.pixel_map_index(view, plane, cell, first[event], median[group])
    cvnmap = np.zeros((n, nova.MAP_SIZE), dtype=np.uint8)
    cvnmap[event[inside], index[inside]] = q[inside]
    return cvnmap
