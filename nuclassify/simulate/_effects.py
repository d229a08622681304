"""MINERvA readout effects real data has: light attenuation, cross-talk, dead channels, the time reference.

Each is switched and scaled by a :class:`~nuclassify.simulate._minerva.MinervaConfig` option
(``simulate_minerva`` keyword and ``nuclassify simulate minerva`` option), and each default and
its source is listed in data/README.md ("Detector effects"). Sources: L. Aliaga et al.
(MINERvA), "Design, calibration, and performance of the MINERvA detector", NIM A 743 (2014)
130, arXiv:1305.5199 (strips, WLS fibres with a mirrored far end, 64-anode PMTs and their
cross-talk, timing); MAT-MINERvA ``utilities/ParticleResponseDefaults.h`` and the MINERvA
analysis configurations (cross-talk bookkeeping, the 1.5 MeV hit threshold "just above
cross-talk"); MasterAnaDev (``latticeRelativeTimes`` relative to ``muon_trackVertexTime``).

Pixel keys are those of ``_minerva``: ``((view * n + event) * N_STRIPS + strip) * max_cols + column``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from nuclassify.detector import minerva

__all__ = [
    "TRACK", "MUON", "PARTICLE", "XTALK", "NOISE", "attenuation_factor", "crosstalk", "dead_mask",
    "reference_time", "WLS_ATTENUATION_MM", "MIRROR_REFLECTIVITY", "CROSSTALK_FRACTION",
    "DEAD_CHANNEL_FRACTION", "MIN_TRACK_PLANES", "CLUSTER_ENERGY_MEV", "REF_TRACK", "REF_CLUSTER", "REF_NONE",
]

# Flag bits of a merged pixel (OR-ed over its pieces by ``_readout.merge_pixels``).
TRACK, MUON, PARTICLE, XTALK, NOISE = 1, 2, 4, 8, 16

# Light attenuation in the wavelength-shifting fibre: Kuraray Y-11, read out at one end, the far
# end mirrored (NIM). Attenuation length: Kuraray's catalogue figure for Y-11 (> 3.5 m); mirror
# reflectivity: model choice for an aluminised end. Calibration is taken at each strip's centre.
WLS_ATTENUATION_MM = 3500.0
MIRROR_REFLECTIVITY = 0.8
# PMT cross-talk: fraction of a pixel's photo-electrons that land on a neighbouring pixel of the
# 64-anode PMT ("a few %", NIM). The fibre-to-pixel map scatters neighbouring strips over the
# PMT face (model choice after NIM), so cross-talk shows away from the true hit.
CROSSTALK_FRACTION = 0.04
_PIXEL_STEP = 19  # strip s -> pixel (19 s) mod 64 of its PMT: neighbours in z are never neighbours on the face
# Dead channels: model choice of a few per mille of the channels (NIM reports a small fraction
# of channels lost); a fixed map, the same in every file and block, growing with the fraction.
DEAD_CHANNEL_FRACTION = 0.002
_DEAD_MAP_SEED = 20140130
# Time reference: a reconstructed muon track needs hits in this many planes (model choice); the
# fallback reference is the earliest cluster (one plane of one view) of at least this energy.
MIN_TRACK_PLANES = 8
CLUSTER_ENERGY_MEV = 5.0
REF_TRACK, REF_CLUSTER, REF_NONE = 0, 1, 2
_COS30 = np.cos(np.deg2rad(30.0))


def _light(along: np.ndarray, half_length: np.ndarray, attenuation_mm: float) -> np.ndarray:
    """Light reaching the readout end (at +half_length) from a point ``along`` the strip, direct plus mirrored."""
    direct = half_length - along
    mirrored = 3.0 * half_length + along  # to the far (mirrored) end and back the whole length
    return np.exp(-direct / attenuation_mm) + MIRROR_REFLECTIVITY * np.exp(-mirrored / attenuation_mm)


def attenuation_factor(view: np.ndarray, x: np.ndarray, y: np.ndarray, scale: float) -> np.ndarray:
    """Recorded / deposited energy of light made at (x, y) in a strip of ``view``, relative to the strip's centre.

    The strip at measuring coordinate c spans the hexagon along its length (half-length
    (apothem - |c|/2) / cos 30); the light at the PMT falls with the distance to the readout
    end, partly recovered by the mirror. ``scale`` multiplies 1/lambda (0: off). Evaluated per
    deposit (its midpoint), before the deposit is shared among strips.
    """
    if scale <= 0:
        return np.ones(len(x))
    angle = np.deg2rad(np.array([minerva.VIEW_ANGLE_DEG[v] for v in minerva.VIEWS]))
    cos, sin = np.cos(angle)[view], np.sin(angle)[view]
    along = -sin * x + cos * y
    c = cos * x + sin * y
    half = np.maximum((minerva.DETECTOR_APOTHEM_MM - 0.5 * np.abs(c)) / _COS30, 1.0)
    lam = WLS_ATTENUATION_MM / scale
    return _light(np.clip(along, -half, half), half, lam) / _light(np.zeros(len(half)), half, lam)


@lru_cache(maxsize=1)
def _neighbour_strips() -> np.ndarray:
    """(127, 4) strips whose PMT pixels touch each strip's pixel (left, right, up, down); -1 for none.

    Strips 0-63 sit on one PMT and 64-126 on another, pixel (19 s) mod 64 on an 8 x 8 face.
    """
    table = np.full((minerva.N_STRIPS, 4), -1, dtype=np.int64)
    for first, count in ((0, 64), (64, minerva.N_STRIPS - 64)):
        pixel_of = (_PIXEL_STEP * np.arange(count)) % 64
        strip_at = np.full(64, -1)
        strip_at[pixel_of] = np.arange(count) + first
        for s in range(count):
            row, col = divmod(int(pixel_of[s]), 8)
            for j, (dr, dc) in enumerate(((0, -1), (0, 1), (-1, 0), (1, 0))):
                r, c = row + dr, col + dc
                if 0 <= r < 8 and 0 <= c < 8:
                    table[first + s, j] = strip_at[r * 8 + c]
    return table


def crosstalk(rng: np.random.Generator, key: np.ndarray, pe: np.ndarray, time: np.ndarray, flags: np.ndarray,
              fraction: float, max_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Move a binomial ``fraction`` of each pixel's photo-electrons to one neighbouring PMT pixel.

    ``key`` is sorted and unique (``merge_pixels``' output); so is the result. Charge is
    conserved; a cross-talk pixel has no particle behind it and is flagged XTALK (a real hit
    that also receives cross-talk keeps its own flags plus XTALK). Returns key, pe, time, flags.
    """
    moved = rng.binomial(pe, fraction)
    src = np.flatnonzero(moved)
    strip = (key[src] // max_cols) % minerva.N_STRIPS
    target = _neighbour_strips()[strip, rng.integers(0, 4, len(src))]
    ok = target >= 0
    src, strip, target = src[ok], strip[ok], target[ok]
    pe = pe.copy()
    pe[src] -= moved[src]
    # The few cross-talk entries are merged among themselves, then into the sorted pixels.
    xt_key = key[src] + (target - strip) * max_cols
    order = np.argsort(xt_key, kind="stable")  # nearly sorted already (moved within a plane): timsort is quick
    xk, xpe, xt = xt_key[order], moved[src][order], time[src][order]
    if len(xk):
        starts = np.flatnonzero(np.concatenate([[True], xk[1:] != xk[:-1]]))
        xk, xpe, xt = xk[starts], np.add.reduceat(xpe, starts), np.minimum.reduceat(xt, starts)
    pos = np.searchsorted(key, xk)
    hit = pos < len(key)
    hit[hit] = key[pos[hit]] == xk[hit]
    pe[pos[hit]] += xpe[hit]
    time = time.copy()
    time[pos[hit]] = np.minimum(time[pos[hit]], xt[hit])
    flags = flags.copy()
    flags[pos[hit]] |= XTALK
    new = ~hit
    place = pos[new] + np.arange(int(new.sum()))  # where the new pixels land in the merged arrays
    old = np.ones(len(key) + len(place), dtype=bool)
    old[place] = False
    out = []
    for mine, theirs in ((key, xk[new]), (pe, xpe[new]), (time, xt[new]),
                         (flags, np.full(len(place), XTALK, dtype=flags.dtype))):
        merged = np.empty(len(old), dtype=mine.dtype)
        merged[old] = mine
        merged[place] = theirs
        out.append(merged)
    return out[0], out[1], out[2], out[3]


@lru_cache(maxsize=8)
def _dead_rank(n_channels: int) -> np.ndarray:
    """A fixed random rank per channel: the dead ones at fraction f are those ranked below f * n."""
    return np.random.default_rng(_DEAD_MAP_SEED).permutation(n_channels)


def dead_mask(key: np.ndarray, n: int, max_cols: int, fraction: float) -> np.ndarray:
    """True for pixels on dead channels (view, strip, column); the map is the same for every event."""
    if fraction <= 0:
        return np.zeros(len(key), dtype=bool)
    column = key % max_cols
    rest = key // max_cols
    strip = rest % minerva.N_STRIPS
    view = rest // minerva.N_STRIPS // n
    n_channels = 3 * minerva.N_STRIPS * max_cols
    channel = (view * minerva.N_STRIPS + strip) * max_cols + column
    return _dead_rank(n_channels)[channel] < fraction * n_channels


def reference_time(key: np.ndarray, energy: np.ndarray, measured: np.ndarray, true: np.ndarray,
                   flags: np.ndarray, n: int, max_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Reconstructed reference time of each event (ns, from the true interaction time) and its source.

    - Events whose muon leaves hits in at least MIN_TRACK_PLANES planes: the muon-track vertex
      time, the mean of (measured - true) over the muon's hits, i.e. a perfect time-of-flight
      correction with the hits' own errors (resolution 3.4 ns / sqrt(hits)), as MINERvA's
      ``muon_trackVertexTime``.
    - Otherwise: the energy-weighted time of the earliest cluster (the hits of one plane) of at
      least CLUSTER_ENERGY_MEV, what a reconstruction without a muon would start from.
    - Otherwise (nearly empty events): 0, flagged REF_NONE.
    """
    event = (key // (max_cols * minerva.N_STRIPS)) % n
    muon = (flags & MUON) > 0
    groups = (key // (max_cols * minerva.N_STRIPS)) * max_cols + key % max_cols  # (view, event, column)
    size = 3 * n * max_cols
    lit = np.zeros(size, dtype=bool)  # planes (view, event, column) the muon lights
    lit[groups[muon]] = True
    n_planes = lit.reshape(3, n, max_cols).sum(axis=(0, 2))
    n_mu = np.bincount(event[muon], minlength=n)
    residual = np.bincount(event[muon], weights=(measured - true)[muon], minlength=n)
    t_track = residual / np.maximum(n_mu, 1)
    e_cluster = np.bincount(groups, weights=energy, minlength=size)
    t_cluster = np.bincount(groups, weights=energy * measured, minlength=size) / np.maximum(e_cluster, 1e-12)
    energetic = np.flatnonzero(e_cluster >= CLUSTER_ENERGY_MEV)
    t_first = np.full(n, np.inf)
    np.minimum.at(t_first, energetic // max_cols % n, t_cluster[energetic])
    has_track = n_planes >= MIN_TRACK_PLANES
    source = np.where(has_track, REF_TRACK, np.where(np.isfinite(t_first), REF_CLUSTER, REF_NONE))
    t_ref = np.where(has_track, t_track, np.where(np.isfinite(t_first), t_first, 0.0))
    return t_ref, source.astype(np.uint8)
