"""From interactions to transported deposits: shared by the MINERvA and NOvA generators."""

from __future__ import annotations

import numpy as np

from nuclassify.simulate import _physics as ph
from nuclassify.simulate._geometry import Slabs
from nuclassify.simulate._kinematics import Particles, decay_pi0
from nuclassify.simulate._transport import Deposits, transport

__all__ = ["propagate", "MAX_GENERATIONS"]

MAX_GENERATIONS = 4
NEUTRON_SEEN_PROBABILITY = 0.4
NEUTRON_MEAN_FREE_PATH_MM = 800.0


def _prepare(rng: np.random.Generator, parts: Particles) -> Particles:
    """Decay neutral pions into photons and turn neutrons into what they will show.

    A neutron is mostly invisible; sometimes (40%) it knocks out a proton somewhere along its
    flight, which shows as an isolated, delayed blob away from the vertex.
    """
    pi0 = parts.kind == ph.PI0
    neutron = parts.kind == ph.N
    keep = parts.select(~pi0 & ~neutron)
    pieces = [keep]
    if pi0.any():
        pieces.append(decay_pi0(rng, parts.select(pi0)))
    if neutron.any():
        nn = parts.select(neutron)
        seen = rng.random(len(nn)) < NEUTRON_SEEN_PROBABILITY
        nn = nn.select(seen)
        m = len(nn)
        dist = rng.exponential(NEUTRON_MEAN_FREE_PATH_MM, m)
        t = nn.kinetic
        beta = np.sqrt(t * (t + 2 * ph.MASS_MEV[ph.N])) / (t + ph.MASS_MEV[ph.N])
        pieces.append(Particles(nn.event, np.full(m, ph.P, dtype=np.int8), t * rng.uniform(0.2, 0.6, m),
                                nn.direction, nn.origin + nn.direction * dist[:, None],
                                nn.time + dist / (np.maximum(beta, 0.05) * 299.792)))
    return Particles.concatenate(pieces)


def propagate(rng: np.random.Generator, parts: Particles, slabs: Slabs) -> Deposits:
    """Transport particles and, generation by generation, their secondaries; all deposits joined."""
    deposits: list[Deposits] = []
    current = parts
    for _ in range(MAX_GENERATIONS):
        current = _prepare(rng, current)
        if len(current) == 0:
            break
        dep, current = transport(rng, current, slabs)
        deposits.append(dep)
    return {key: np.concatenate([d[key] for d in deposits]) for key in deposits[0]}
