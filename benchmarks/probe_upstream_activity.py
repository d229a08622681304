"""What lights the planes upstream of a vertex? A one-off probe behind issue 14's reading.

A first-activity vertex finder (trackfit's last step, the upstream-hit rule) calls the vertex at
the most upstream hit plane that has more activity behind it. Every particle that leaves the
vertex backwards moves that plane upstream, and at a segment edge between two scintillator planes
one plane is the difference between right and wrong. This probe simulates MINERvA interactions
with the simulator's own generator and transport (no flagged backward hadron, no pile-up), and
prints per particle kind how often primaries start backwards, and how many events get visible
energy in read-out planes wholly upstream of their vertex, by the kind of particle that deposited
it (a neutron's recoil protons count as protons, a pi0's photons as photons).

Usage: python benchmarks/probe_upstream_activity.py [-n 4000] [--seed 5]
"""

from __future__ import annotations

import argparse

import numpy as np

from nuclassify.simulate import _physics as ph
from nuclassify.simulate._events import propagate
from nuclassify.simulate._geometry import minerva_slabs
from nuclassify.simulate._minerva import _interactions
from nuclassify.simulate._vertex import sample_vertices

_KINDS = {ph.MU: "muon", ph.PI: "charged pion", ph.P: "proton", ph.E: "electron", ph.GAMMA: "photon",
          ph.N: "neutron", ph.PI0: "pi0", ph.MICHEL: "Michel electron"}
_VISIBLE_MEV = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4000, help="interactions to simulate")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    vertices = sample_vertices(rng, args.n)
    particles, _, _ = _interactions(rng, vertices, "le", backward_fraction=0.0)
    print(f"{args.n} simulated interactions (LE beam, no flagged backward hadron, no pile-up)")
    print(f"{'primaries':<18}{'count':>7}{'backwards':>11}{'backwards, T > 50 MeV':>23}{'median T (MeV)':>16}")
    dz = particles.direction[:, 2]
    for kind, name in _KINDS.items():
        m = particles.kind == kind
        if m.any():
            print(f"{name:<18}{m.sum():>7}{100 * np.mean(dz[m] < 0):>10.0f}%"
                  f"{100 * np.mean((dz[m] < 0) & (particles.kinetic[m] > 50)):>22.0f}%"
                  f"{np.median(particles.kinetic[m]):>16.0f}")
    slabs = minerva_slabs("2018")
    deposits = propagate(rng, particles, slabs)
    slab = deposits["slab"]
    upstream = (slabs.hi[slab] < vertices["z"][deposits["event"]]) & (slabs.view[slab] >= 0) \
        & (deposits["energy"] > _VISIBLE_MEV)
    events = lambda m: len(np.unique(deposits["event"][m])) / args.n  # noqa: E731
    print(f"events with visible energy (> {_VISIBLE_MEV} MeV) in a plane wholly upstream of the vertex: "
          f"{100 * events(upstream):.1f}%; by the depositing particle:")
    for kind, name in _KINDS.items():
        m = upstream & (deposits["kind"] == kind)
        if m.any():
            per_event = deposits["energy"][m].sum() / args.n
            print(f"  {name:<18}{100 * events(m):5.1f}% of events, {per_event:5.2f} MeV per event")


if __name__ == "__main__":
    main()
