"""Vectorised transport: every particle of a block crosses one slab per step, all together.

Tracks (muons, charged pions, protons, Michel electrons) lose energy by each material's own
range table (``_physics.range_g_cm2``), scatter (Highland), and pions and protons may interact
hadronically and make secondaries; muons and positive pions that stop leave a delayed Michel
electron. Electrons and photons develop a gamma-function shower along their axis (GFlash
parameters), photons after an exponential conversion depth of mean 9/7 X0. Passive slabs absorb
energy but record nothing. The result is a table of deposits (event, slab, entry/exit point,
visible MeV, time, shower width, kind of the depositing particle) and the secondaries, which the
caller feeds back in as the next generation.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammainc

from nuclassify.detector import minerva
from nuclassify.simulate import _physics as ph
from nuclassify.simulate._geometry import Slabs
from nuclassify.simulate._kinematics import Particles, rotate_to

__all__ = ["transport", "Deposits"]

C_MM_PER_NS = 299.792
MUON_LIFETIME_NS = 2197.0
PION_LIFETIME_NS = 26.0
EC_MEV = 93.0  # critical energy of the scintillator

Deposits = dict[str, np.ndarray]


def _slab_material(slabs: Slabs, k: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Material code and fraction of the slab depth that is material, per particle."""
    mat = slabs.material[k].astype(np.int64)
    frac = np.ones(len(k))
    is_target = mat < 0
    if is_target.any():
        tn = slabs.target[k[is_target]]
        code = minerva.material_code_at(tn, x[is_target], y[is_target]).astype(np.int64)
        mat[is_target] = code
        span = slabs.hi[k[is_target]] - slabs.lo[k[is_target]]
        frac[is_target] = slabs.target_thickness[tn, code] / span
    return mat, frac


def _shower_shape(energy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GFlash alpha, beta of a shower of ``energy`` MeV: T = ln(E/Ec) - 0.812, beta = 0.5."""
    t_max = np.maximum(np.log(np.maximum(energy, 1.0) / EC_MEV) - 0.812, 0.1)
    beta = np.full(len(energy), 0.5)
    return 1.0 + beta * t_max, beta


class _State:
    """Per-particle arrays that shrink as particles stop (compacted, so no index gathers)."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.__dict__.update(arrays)
        self._names = list(arrays)

    def keep(self, mask: np.ndarray) -> None:
        if mask.all():
            return
        for name in self._names:
            setattr(self, name, getattr(self, name)[mask])

    def __len__(self) -> int:
        return len(getattr(self, self._names[0]))


def _start(parts: Particles, slabs: Slabs, sel: np.ndarray) -> _State:
    """Initial state of the selected particles: direction forced along z, first slab found."""
    d = parts.direction[sel].copy()
    d[:, 2] = np.where(np.abs(d[:, 2]) < 0.02, np.where(d[:, 2] < 0, -0.02, 0.02), d[:, 2])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    z = parts.origin[sel, 2].copy()
    forward = d[:, 2] > 0
    k = np.where(forward, np.searchsorted(slabs.hi, z, side="right"), np.searchsorted(slabs.lo, z, side="left") - 1)
    return _State(ev=parts.event[sel].copy(), kind=parts.kind[sel].astype(np.int64), x=parts.origin[sel, 0].copy(),
                  y=parts.origin[sel, 1].copy(), z=z, dx=d[:, 0].copy(), dy=d[:, 1].copy(), dz=d[:, 2].copy(),
                  t=parts.kinetic[sel].astype(np.float64), time=parts.time[sel].copy(),
                  step=np.where(forward, 1, -1), k=k)


def _geometry_step(s: _State, slabs: Slabs) -> tuple[np.ndarray, ...]:
    """Entry point, path length and material of each particle's current slab."""
    kk = s.k
    fwd = s.step > 0
    z_in = np.where(fwd, np.maximum(s.z, slabs.lo[kk]), np.minimum(s.z, slabs.hi[kk]))
    z_out = np.where(fwd, slabs.hi[kk], slabs.lo[kk])
    inv = 1.0 / s.dz
    gap = (z_in - s.z) * inv
    x_in = s.x + s.dx * gap
    y_in = s.y + s.dy * gap
    length = (z_out - z_in) * inv
    inside = slabs.inside(x_in, y_in)
    mat, frac = _slab_material(slabs, kk, x_in, y_in)
    grams = length * frac * (0.1 * ph.MAT_DENSITY[mat])
    return gap, x_in, y_in, z_in, length, inside, mat, grams


class _Recorder:
    """Collects deposits (only in read-out slabs) and secondaries over the steps."""

    def __init__(self, slabs: Slabs) -> None:
        self.slabs = slabs
        self.cols: dict[str, list[np.ndarray]] = {f: [] for f in ("event", "slab", "x0", "y0", "x1", "y1", "energy",
                                                                  "time", "sigma", "kind")}
        self.spawn: list[Particles] = []

    def add(self, keep: np.ndarray, **values: np.ndarray) -> None:
        if keep.any():
            for name, value in values.items():
                self.cols[name].append(value[keep])

    def result(self) -> tuple[Deposits, Particles]:
        dep = {f: (np.concatenate(v) if v else np.zeros(0)) for f, v in self.cols.items()}
        dep["event"] = dep["event"].astype(np.int64)
        dep["slab"] = dep["slab"].astype(np.int64)
        dep["kind"] = dep["kind"].astype(np.int8)
        return dep, (Particles.concatenate(self.spawn) if self.spawn else _empty())


def _tracks(rng: np.random.Generator, s: _State, slabs: Slabs, rec: _Recorder) -> None:
    """Range stepping, Highland scattering, hadronic interactions and decays at rest."""
    n_slabs = len(slabs.lo)
    s.keep((s.k >= 0) & (s.k < n_slabs) & (s.t > 0.5))
    s.__dict__["mass"] = ph.MASS_MEV[s.kind]
    s._names += ["mass"]
    for _ in range(n_slabs + 1):  # each slab is crossed at most once
        if len(s) == 0:
            break
        gap, x_in, y_in, _, length, inside, mat, grams = _geometry_step(s, slabs)
        # Range stepping in this slab's own material (T -> R_mat(T) - grams -> T): exact for any
        # step size, with each material's own Bethe range table.
        r = ph.range_g_cm2(s.t, s.mass, mat)
        r_new = r - grams
        stop = r_new <= 0
        t_new = np.where(stop, 0.0, ph.kinetic_from_range(r_new, s.mass, mat))
        travelled = np.where(stop, length * r / np.maximum(grams, 1e-12), length)
        x_out = x_in + s.dx * travelled
        y_out = y_in + s.dy * travelled
        visible = (s.t - t_new) * ph.MAT_VISIBLE[mat]
        t_exit = s.time + (gap + travelled) / C_MM_PER_NS
        keep = inside & (visible > 0.01) & (slabs.view[s.k] >= 0)
        rec.add(keep, event=s.ev, slab=s.k, x0=x_in, y0=y_in, x1=x_out, y1=y_out, energy=visible,
                time=s.time + (gap + 0.5 * travelled) / C_MM_PER_NS, sigma=np.zeros(len(s)), kind=s.kind)
        # Hadronic interactions of pions and protons.
        hadron = ((s.kind == ph.PI) | (s.kind == ph.P)) & ~stop & inside
        interacts = hadron & (rng.random(len(s)) < 1.0 - np.exp(-grams / ph.MAT_LAMBDA[mat]))
        if interacts.any():
            where = np.stack([x_out, y_out, s.z + s.dz * (gap + travelled)], axis=1)
            dirs = np.stack([s.dx, s.dy, s.dz], axis=1)
            rec.spawn.append(_hadronic_secondaries(rng, s.kind[interacts], t_new[interacts], dirs[interacts],
                                                   where[interacts], t_exit[interacts], s.ev[interacts]))
        # Decays at rest: stopping muons and pions leave a Michel electron.
        decays = stop & inside & ((s.kind == ph.MU) | (s.kind == ph.PI))
        if decays.any():
            where = np.stack([x_out[decays], y_out[decays], (s.z + s.dz * (gap + travelled))[decays]], axis=1)
            rec.spawn.append(_michel(rng, s.kind[decays], mat[decays], where, t_exit[decays], s.ev[decays]))
        # Multiple scattering (small-angle kicks of the transverse direction), then move on.
        theta0 = ph.highland_theta0(t_new, s.mass, grams / ph.MAT_X0[mat])
        kick = rng.standard_normal((2, len(s))) * theta0
        dx = s.dx + kick[0]
        dy = s.dy + kick[1]
        dz = s.step * np.sqrt(np.maximum(1.0 - np.minimum(dx * dx + dy * dy, 1.0), 0.0004))
        norm = 1.0 / np.sqrt(dx * dx + dy * dy + dz * dz)
        s.z = s.z + s.dz * (gap + travelled)
        s.x, s.y = x_out, y_out
        s.dx, s.dy, s.dz = dx * norm, dy * norm, dz * norm
        s.t = t_new
        s.time = t_exit
        s.k = s.k + s.step
        s.keep(~stop & ~interacts & inside & (s.k >= 0) & (s.k < n_slabs) & (t_new > 0.5))


def _showers(rng: np.random.Generator, s: _State, slabs: Slabs, rec: _Recorder) -> None:
    """Gamma-function longitudinal profiles along straight axes; photons convert first."""
    n_slabs = len(slabs.lo)
    n = len(s)
    s.__dict__.update(depth=np.where(s.kind == ph.GAMMA, -rng.exponential(9.0 / 7.0, n), 0.0), done=np.zeros(n))
    s.__dict__["alpha"], s.__dict__["beta"] = _shower_shape(s.t)
    s.__dict__["e0"] = s.t.copy()
    s._names += ["depth", "done", "alpha", "beta", "e0"]
    s.keep((s.k >= 0) & (s.k < n_slabs) & (s.t > 0.5))
    for _ in range(n_slabs + 1):
        if len(s) == 0:
            break
        gap, x_in, y_in, _, length, inside, mat, grams = _geometry_step(s, slabs)
        t1 = s.depth + grams / ph.MAT_X0[mat]
        g1 = gammainc(s.alpha, s.beta * np.maximum(t1, 0.0))
        visible = s.e0 * (g1 - s.done) * ph.MAT_VISIBLE[mat]
        x_out = x_in + s.dx * length
        y_out = y_in + s.dy * length
        # Transverse spread grows with depth: a core of ~0.25 R_M early, wider later.
        sigma = ph.MAT_MOLIERE[mat] * np.clip(0.25 + 0.1 * np.maximum(s.depth, 0.0), 0.25, 0.8)
        keep = inside & (visible > 0.05) & (slabs.view[s.k] >= 0)
        rec.add(keep, event=s.ev, slab=s.k, x0=x_in, y0=y_in, x1=x_out, y1=y_out, energy=visible,
                time=s.time + (gap + 0.5 * length) / C_MM_PER_NS, sigma=sigma, kind=s.kind)
        s.z = s.z + s.dz * (gap + length)
        s.x, s.y = x_out, y_out
        s.time = s.time + (gap + length) / C_MM_PER_NS
        s.depth, s.done = t1, g1
        s.k = s.k + s.step
        s.keep((g1 <= 0.985) & inside & (s.k >= 0) & (s.k < n_slabs))


def transport(rng: np.random.Generator, parts: Particles, slabs: Slabs) -> tuple[Deposits, Particles]:
    """Step ``parts`` through ``slabs`` until all stop or leave; return deposits and secondaries."""
    rec = _Recorder(slabs)
    is_em = (parts.kind == ph.E) | (parts.kind == ph.GAMMA)
    _tracks(rng, _start(parts, slabs, ~is_em), slabs, rec)
    _showers(rng, _start(parts, slabs, is_em), slabs, rec)
    return rec.result()


def _empty() -> Particles:
    return Particles(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8), np.zeros(0), np.zeros((0, 3)),
                     np.zeros((0, 3)), np.zeros(0))


def _michel(rng: np.random.Generator, kind: np.ndarray, mat: np.ndarray, where: np.ndarray, t: np.ndarray,
            event: np.ndarray) -> Particles:
    """Michel electrons from stopped muons (mu- mostly captured in heavy nuclei) and pi+ (half the pions)."""
    n = len(kind)
    p_decay = np.where(kind == ph.MU, np.where(mat >= 2, 0.1, 0.92), 0.5)
    keep = rng.random(n) < p_decay
    delay = rng.exponential(MUON_LIFETIME_NS, n) + np.where(kind == ph.PI, rng.exponential(PION_LIFETIME_NS, n), 0.0)
    energy = 52.8 * rng.beta(2.6, 1.2, n)
    c = rng.uniform(-1, 1, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    s = np.sqrt(1 - c**2)
    direction = np.stack([s * np.cos(phi), s * np.sin(phi), c], axis=1)
    return Particles(event[keep], np.full(int(keep.sum()), ph.MICHEL, dtype=np.int8), energy[keep],
                     direction[keep], where[keep], (t + delay)[keep])


def _hadronic_secondaries(rng: np.random.Generator, kind: np.ndarray, t_kin: np.ndarray,
                          direction: np.ndarray, where: np.ndarray, t: np.ndarray, event: np.ndarray) -> Particles:
    """Secondaries of a pion or proton interaction: up to three hadrons sharing the energy.

    About a third of the interactions absorb the pion (a few slow protons, no pion comes out);
    the rest keep a leading particle of the same kind, deflected, plus a shower of slower ones,
    sometimes a neutral pion.
    """
    n = len(kind)
    absorbed = rng.random(n) < 0.35
    avail = np.maximum(t_kin - 30.0, 0.0)
    lead_frac = np.where(absorbed, 0.0, rng.uniform(0.3, 0.8, n))
    rest = avail * (1 - lead_frac) * 0.7
    share = rng.dirichlet([1.0, 1.0], n)
    kinds = np.stack([kind, np.where(absorbed | (rng.random(n) < 0.5), ph.P, ph.PI),
                      np.where(rng.random(n) < 0.25, ph.PI0, np.where(absorbed, ph.P, ph.N))], axis=1)
    energy = np.stack([avail * lead_frac, rest * share[:, 0], rest * share[:, 1]], axis=1)
    cos = np.stack([rng.uniform(0.7, 1.0, n), rng.uniform(-0.5, 1.0, n), rng.uniform(-0.5, 1.0, n)], axis=1)
    ok = energy > 10.0
    rows = np.nonzero(ok)
    m = len(rows[0])
    dirs = rotate_to(direction[rows[0]], cos[rows], rng.uniform(0, 2 * np.pi, m))
    return Particles(event[rows[0]], kinds[rows].astype(np.int8), energy[rows], dirs, where[rows[0]], t[rows[0]])
