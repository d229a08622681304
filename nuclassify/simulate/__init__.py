"""Fast, seeded, vectorised simulation of MINERvA and NOvA events (no Python loop per particle).

``simulate_minerva`` and ``simulate_nova`` yield blocks of events (sparse MINERvA images with
exact truth, NOvA CVN pixel maps) that the data layer's writers store. Imports numpy/scipy only.
"""

from nuclassify.simulate._api import BEAMS, MINERVA_BLOCK_SIZE, NOVA_BLOCK_SIZE, simulate_minerva, simulate_nova

__all__ = ["simulate_minerva", "simulate_nova", "BEAMS", "MINERVA_BLOCK_SIZE", "NOVA_BLOCK_SIZE"]
