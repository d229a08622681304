"""NOvA geometry and CVN pixel-map rules as data.

Sources: A. Aurisano et al., "A convolutional neural network neutrino event classifier",
JINST 11 (2016) P09001, arXiv:1604.01444 (the pixel map and interaction codes); D. Rocco's
PhD thesis (github rocconnick/Thesis_UMN) for the map window; DUNE/dunereco
``CVN/func/InteractionType.h`` for the code numbering. data/README.md ("Physics constants and
sources") lists the constants.

Planes alternate between vertical cells (even planes: they measure x, the XZ view) and
horizontal cells (odd planes: they measure y, the YZ view). The CVN pixel map keeps, per view,
100 planes of that view by 80 cells: the window starts at the first plane with a hit and is
centred on the median hit cell of each view; energies are quantised to 8 bits. Stored flat as
``cvnmap`` of 16000 bytes = (2 views, 100 planes, 80 cells).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CELL_WIDTH_MM", "PLANE_PITCH_MM", "N_CELLS", "N_MAP_PLANES", "N_MAP_CELLS", "MAP_SHAPE",
    "MAP_SIZE", "X0_MM", "INTERACTION_NAMES", "N_INTERACTIONS", "view_of_plane", "plane_of_z",
    "plane_z", "cell_of", "quantise", "ENERGY_PER_COUNT_MEV", "pixel_map_index",
]

CELL_WIDTH_MM = 39.0
PLANE_PITCH_MM = 66.6
N_CELLS = 384  # cells per plane in the far detector
N_MAP_PLANES = 100
N_MAP_CELLS = 80
MAP_SHAPE = (2, N_MAP_PLANES, N_MAP_CELLS)
MAP_SIZE = 2 * N_MAP_PLANES * N_MAP_CELLS
X0_MM = 410.0  # one cell depth is about 0.15 X0
# 8-bit quantisation: one count per 0.4 MeV of visible energy, so a minimum-ionising crossing
# of one cell (about 8 MeV visible) reads about 20 and a shower core saturates at 255.
ENERGY_PER_COUNT_MEV = 0.4

INTERACTION_NAMES: tuple[str, ...] = (
    "numu_cc_qe", "numu_cc_res", "numu_cc_dis", "numu_cc_other",
    "nue_cc_qe", "nue_cc_res", "nue_cc_dis", "nue_cc_other",
    "nutau_cc_qe", "nutau_cc_res", "nutau_cc_dis", "nutau_cc_other",
    "nu_e_elastic", "nc", "cosmic", "other",
)
N_INTERACTIONS = len(INTERACTION_NAMES)


def view_of_plane(plane: np.ndarray | int) -> np.ndarray:
    """View of each plane: 0 (XZ, vertical cells measuring x) for even planes, 1 (YZ) for odd."""
    return np.asarray(plane) % 2


def plane_of_z(z_mm: np.ndarray | float) -> np.ndarray:
    """Plane index containing z (plane 0 starts at z = 0)."""
    return np.floor(np.asarray(z_mm) / PLANE_PITCH_MM).astype(np.int64)


def plane_z(plane: np.ndarray | int) -> np.ndarray:
    """z (mm) of the centre of each plane."""
    return (np.asarray(plane) + 0.5) * PLANE_PITCH_MM


def cell_of(coordinate_mm: np.ndarray | float) -> np.ndarray:
    """Cell index (0-383 inside the detector) of a transverse coordinate centred on the axis."""
    return np.floor(np.asarray(coordinate_mm) / CELL_WIDTH_MM + N_CELLS / 2).astype(np.int64)


def quantise(energy_mev: np.ndarray) -> np.ndarray:
    """8-bit pixel value of a visible energy (MeV), saturating at 255."""
    return np.clip(np.rint(np.asarray(energy_mev) / ENERGY_PER_COUNT_MEV), 0, 255).astype(np.uint8)


def pixel_map_index(view: np.ndarray, plane: np.ndarray, cell: np.ndarray, first_plane: np.ndarray,
                    median_cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat cvnmap index of hits and whether they fall inside the 100 x 80 window.

    Args:
        view, plane, cell: per hit (plane is the detector plane, view its parity).
        first_plane: per hit, the event's first plane with a hit (either view).
        median_cell: per hit, the median hit cell of the event in the hit's view.
    """
    column = np.asarray(plane) // 2 - np.asarray(first_plane) // 2
    row = np.asarray(cell) - (np.asarray(median_cell) - N_MAP_CELLS // 2)
    inside = (column >= 0) & (column < N_MAP_PLANES) & (row >= 0) & (row < N_MAP_CELLS)
    index = (np.asarray(view) * N_MAP_PLANES + column) * N_MAP_CELLS + row
    return index, inside
