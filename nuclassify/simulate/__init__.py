"""Fast, seeded, vectorised simulation of MINERvA and NOvA events (no Python loop per particle).

``simulate_minerva`` and ``simulate_nova`` yield blocks of events (sparse MINERvA images with
exact truth, NOvA CVN pixel maps, the containers of :mod:`nuclassify.events`) that the data
layer's writers store; the iterators carry a ``provenance`` record of the seed and options,
which the writers put in the file. Imports numpy/scipy only (and never the data layer).
"""

from nuclassify.simulate._api import (
    BEAMS,
    MINERVA_BLOCK_SIZE,
    NOVA_BLOCK_SIZE,
    PILEUP_DEFAULT,
    SIMULATOR_VERSION,
    TIME_REFERENCES,
    SimulatedBlocks,
    simulate_minerva,
    simulate_nova,
)
from nuclassify.simulate._report import physics_report

__all__ = ["simulate_minerva", "simulate_nova", "SimulatedBlocks", "BEAMS", "MINERVA_BLOCK_SIZE", "NOVA_BLOCK_SIZE",
           "SIMULATOR_VERSION", "PILEUP_DEFAULT", "TIME_REFERENCES", "physics_report"]
