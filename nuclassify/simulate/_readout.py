"""Readout: deposits -> strip (cell) hits -> deduplicated, fluctuated, noisy pixels.

A crossing deposits into every strip its chord spans, shared by overlap. For MINERvA's
triangular strips a track deposit is widened by half a pitch either side, which shares a
straight crossing between two neighbouring strips as the interleaved triangles do; NOvA's
rectangular cells get no widening (version 1 widened them too: 2.05 cells per plane for a muon
instead of about 1). Shower deposits are split into a few sub-deposits spread by
a Gaussian of the shower's width. Pixels are then merged (energies summed, earliest time kept)
and given Landau (Moyal) fluctuations, photo-statistics and time resolution.
"""

from __future__ import annotations

import numpy as np

from nuclassify.simulate._geometry import Slabs
from nuclassify.simulate._physics import moyal

__all__ = ["strip_hits", "merge_pixels", "digitise", "photoelectrons", "smear_time", "PE_PER_MEV",
           "TIME_RESOLUTION_NS", "GATE_NS"]

PE_PER_MEV = 6.5
TIME_RESOLUTION_NS = 3.4
MAX_STRIPS_PER_CROSSING = 10
GATE_NS = 16000.0  # the readout gate: later decays are cut at its end


def strip_hits(rng: np.random.Generator, dep: dict[str, np.ndarray], slabs: Slabs) -> dict[str, np.ndarray]:
    """Per-strip energies of the deposits.

    Returns ``src`` (index of the deposit each strip hit comes from, so the caller gathers
    event, slab and time once), ``strip`` and ``energy`` (MeV).
    """
    energy, sigma = dep["energy"], dep["sigma"]
    view = slabs.view[dep["slab"]].astype(np.int64)
    cos, sin = slabs.angle[view, 0], slabs.angle[view, 1]
    c0 = cos * dep["x0"] + sin * dep["y0"]
    c1 = cos * dep["x1"] + sin * dep["y1"]
    src = np.arange(len(energy))
    shower = sigma > 0
    # Triangular strips share a straight crossing between neighbours (widen by half a pitch);
    # rectangular cells do not (NOvA: a track lights the cells its chord actually crosses).
    half = np.full(len(energy), 0.0 if slabs.rectangular_cells else 0.5 * slabs.pitch)
    if shower.any():
        # Split each shower deposit into a few sub-deposits scattered about the axis; only the
        # offset along this view's measuring direction matters. Being spread already, a
        # sub-deposit goes into the one strip it falls in (no sharing half-pitch).
        si = np.nonzero(shower)[0]
        n_sub = np.clip(np.ceil(energy[si] / 3.0), 1, 6).astype(np.int64)
        rep = np.repeat(si, n_sub)
        c_sub = 0.5 * (c0[rep] + c1[rep]) + rng.normal(0.0, 1.0, len(rep)) * sigma[rep]
        e_sub = energy[rep] / np.repeat(n_sub, n_sub)
        ti = np.nonzero(~shower)[0]
        src = np.concatenate([ti, rep])
        lo = np.concatenate([np.minimum(c0[ti], c1[ti]), c_sub])
        hi = np.concatenate([np.maximum(c0[ti], c1[ti]), c_sub])
        energy = np.concatenate([energy[ti], e_sub])
        half = np.concatenate([half[ti], np.zeros(len(rep))])
    else:
        lo, hi = np.minimum(c0, c1), np.maximum(c0, c1)
    p = slabs.pitch
    half_n = slabs.n_cells / 2
    lo = lo - half
    hi = hi + half
    first = np.floor(lo / p + half_n).astype(np.int64)
    count = np.clip(np.floor(hi / p + half_n).astype(np.int64) - first + 1, 1, MAX_STRIPS_PER_CROSSING)
    width = hi - lo
    point = width <= 0
    density = np.where(point, 0.0, energy / np.where(point, 1.0, width))
    rep = np.repeat(np.arange(len(lo)), count)
    strip = np.arange(len(rep)) - np.repeat(np.cumsum(count) - count - first, count)
    edge = (strip - half_n) * p
    overlap = np.minimum(hi[rep], edge + p) - np.maximum(lo[rep], edge)
    e_strip = np.where(point[rep], energy[rep], density[rep] * overlap)
    ok = (strip >= 0) & (strip < slabs.n_cells) & (e_strip > 0)
    return {"src": src[rep[ok]], "strip": strip[ok], "energy": e_strip[ok]}


def merge_pixels(key: np.ndarray, energy: np.ndarray, time: np.ndarray,
                 flags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge hits sharing a key: (unique keys, summed energy, earliest time, OR of the flag bits).

    ``flags`` are small bit masks (``_effects.TRACK``, ``MUON``, ...), so a merged pixel says
    whether any of its pieces came from a track, the muon, cross-talk or noise.
    """
    # Keys fit 32 bits for any block (checked by the caller), and sort faster that way.
    order = np.argsort(key.astype(np.int32) if key.size and key.max() < 2**31 else key)
    ks = key[order]
    if len(ks) == 0:
        return ks, energy[:0], time[:0], flags[:0]
    starts = np.flatnonzero(np.concatenate([[True], ks[1:] != ks[:-1]]))
    return (ks[starts], np.add.reduceat(energy[order], starts), np.minimum.reduceat(time[order], starts),
            np.bitwise_or.reduceat(flags[order], starts))


def photoelectrons(rng: np.random.Generator, energy: np.ndarray, track: np.ndarray,
                   light: float = PE_PER_MEV) -> np.ndarray:
    """Photo-electrons of merged pixels: Landau (Moyal) fluctuation of track pixels, then Poisson."""
    e = energy.copy()
    e[track] *= moyal(rng, int(track.sum()))
    return rng.poisson(e * light)


def smear_time(rng: np.random.Generator, time: np.ndarray) -> np.ndarray:
    """Measured hit times: the true time plus the per-hit resolution, cut to the readout gate."""
    return np.clip(time + rng.normal(0.0, TIME_RESOLUTION_NS, len(time)), -GATE_NS, GATE_NS)


def digitise(rng: np.random.Generator, energy: np.ndarray, time: np.ndarray, track: np.ndarray,
             gain: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Landau fluctuation (tracks), photo-statistics, gain and time smearing of merged pixels.

    Returns (recorded energy MeV, time ns, kept mask): pixels with no photo-electron are dropped.
    """
    pe = photoelectrons(rng, energy, track)
    return pe / PE_PER_MEV * gain, smear_time(rng, time), pe > 0
