"""Detector descriptions in the form the transport needs: a stack of slabs along z.

Both detectors are, to the simulator, slabs perpendicular to the beam: scintillator planes
(read out: each plane has a view and an image column), passive targets (material depends on the
transverse position) and air in between (no energy loss). A particle therefore crosses one slab
per step, and all particles of a block step together.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nuclassify.detector import minerva, nova

__all__ = ["Slabs", "minerva_slabs", "nova_slabs", "target_pieces"]

NOVA_MATERIAL = 5
NOVA_N_PLANES = 330
NOVA_HALF_WIDTH_MM = nova.N_CELLS * nova.CELL_WIDTH_MM / 2


@dataclass(frozen=True)
class Slabs:
    """The slab stack of a detector.

    Attributes:
        lo, hi: z edges (mm) of each slab, in z order.
        material: material code per slab (index into ``_physics.MATERIALS``); -1 for a
            nuclear target whose material depends on (x, y).
        target: target number for target slabs (1-5, 0 water), -1 otherwise.
        view: readout view code of the slab (-1: not read out or not imaged).
        column: image column within its view (-1 if none).
        angle: (cos, sin) of each view's measuring direction, indexed by view code.
        pitch: strip or cell width (mm); n_cells: strips/cells per plane.
        target_thickness: (6, 5) thickness (mm) of each material in each target (row = number).
        hexagonal: transverse boundary is MINERvA's hexagon (else NOvA's square); half_width (mm).
        rectangular_cells: NOvA's rectangular cells (a track lights the cells its chord crosses,
            about one per plane); otherwise MINERvA's triangular strips, where a crossing is
            shared between two neighbouring strips (see ``_readout.strip_hits``).
    """

    lo: np.ndarray
    hi: np.ndarray
    material: np.ndarray
    target: np.ndarray
    view: np.ndarray
    column: np.ndarray
    angle: np.ndarray
    pitch: float
    n_cells: int
    target_thickness: np.ndarray
    hexagonal: bool
    half_width: float
    rectangular_cells: bool = False

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """True where (x, y) lies within the active transverse area."""
        if self.hexagonal:
            return minerva.inside_hexagon(x, y, self.half_width)
        return (np.abs(x) < self.half_width) & (np.abs(y) < self.half_width)


# Target 3's carbon block sits downstream of its iron and lead: C centred at 4945.9 mm
# (MinervaExpt/MAT-MINERvA utilities/TargetUtils.cxx).
_PIECE_CENTRE_MM = {(3, "C"): 4945.9}


def target_pieces() -> tuple[np.ndarray, np.ndarray]:
    """(thickness, z centre) in mm of each material (column) of each target (row = number)."""
    thickness = np.zeros((6, 5))
    centre = np.zeros((6, 5))
    codes = minerva.MATERIAL_CODES
    for t in minerva.TARGETS:
        for mat, th in zip(t.materials, t.thickness_mm, strict=True):
            thickness[t.number, codes[mat]] = th
            centre[t.number, codes[mat]] = _PIECE_CENTRE_MM.get((t.number, mat), t.z_center_mm)
    return thickness, centre


@lru_cache(maxsize=2)
def minerva_slabs(layout: str = "2018") -> Slabs:
    """MINERvA slabs: every plane (imaged ones carry view/column), the targets, the ECAL lead.

    ``layout`` "2016" images only the first 50 X and 25 U/V planes; the stack ends at the last
    imaged plane, since nothing further downstream can reach the images.
    """
    columns = minerva.image_columns(layout)
    z, view, module = minerva.planes()
    half = minerva.SCINT_THICKNESS_MM / 2
    rows: list[tuple[float, float, int, int, int, int]] = []
    seen = {0: 0, 1: 0, 2: 0}
    for zi, vi, mi in zip(z, view, module, strict=True):
        name = minerva.VIEWS[vi]
        col = seen[vi]
        seen[vi] += 1
        imaged = col < columns[name]
        if mi >= 88:  # ECAL: a 2 mm lead sheet in front of each plane
            rows.append((zi - half - 3.0, zi - half - 1.0, 3, -1, -1, -1))
        rows.append((zi - half, zi + half, 0, -1, int(vi) if imaged else -1, col if imaged else -1))
    thickness, centre = target_pieces()
    for t in minerva.TARGETS:
        used = thickness[t.number] > 0
        lo = np.min(centre[t.number, used] - thickness[t.number, used] / 2)
        hi = np.max(centre[t.number, used] + thickness[t.number, used] / 2)
        rows.append((lo, hi, -1, t.number, -1, -1))
    rows.sort()
    arr = np.array(rows)
    # Nothing downstream of the last imaged plane can show up in the images: stop tracking there.
    last = np.nonzero(arr[:, 4] >= 0)[0].max()
    arr = arr[: last + 1]
    angles = np.deg2rad([minerva.VIEW_ANGLE_DEG[v] for v in minerva.VIEWS])
    return Slabs(arr[:, 0], arr[:, 1], arr[:, 2].astype(np.int8), arr[:, 3].astype(np.int8),
                 arr[:, 4].astype(np.int8), arr[:, 5].astype(np.int16),
                 np.stack([np.cos(angles), np.sin(angles)], axis=1), minerva.STRIP_PITCH_MM, minerva.N_STRIPS,
                 thickness, True, minerva.DETECTOR_APOTHEM_MM)


@lru_cache(maxsize=1)
def nova_slabs() -> Slabs:
    """NOvA slabs: contiguous planes of the cell mixture, alternating views (column = plane)."""
    planes = np.arange(NOVA_N_PLANES)
    lo = planes * nova.PLANE_PITCH_MM
    return Slabs(lo.astype(float), lo + nova.PLANE_PITCH_MM, np.full(len(planes), NOVA_MATERIAL, dtype=np.int8),
                 np.full(len(planes), -1, dtype=np.int8), nova.view_of_plane(planes).astype(np.int8),
                 planes.astype(np.int16), np.array([[1.0, 0.0], [0.0, 1.0]]), nova.CELL_WIDTH_MM, nova.N_CELLS,
                 np.zeros((6, 5)), False, NOVA_HALF_WIDTH_MM, rectangular_cells=True)
