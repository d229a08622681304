"""MINERvA geometry as data: planes, views, strips, targets and vertex segments.

Sources: the detector paper (L. Aliaga et al., "Design, calibration, and performance of the
MINERvA detector", NIM A 743 (2014) 130, arXiv:1305.5199) for modules, planes, strips and
targets; MinervaExpt/MAT-MINERvA ``utilities/TargetUtils.h`` / ``TargetUtils.cxx`` for target
positions, thicknesses, materials and transverse splits; MNVML/root2hdf5proj
``include/RecoTracksUtils.h`` for the vertex segments and their z edges. data/README.md
("Physics constants and sources") lists every constant with its source.

Plane positions are built from spacings derived from the MINERvA plane table (arithmetic on
published plane positions, not numbers printed anywhere): two planes per module 20.65 mm
apart, module pitch 44.22 mm in the nuclear-target region and 45.23 mm in the tracker, and
wider gaps where a passive target sits (67.8 mm, 112 mm for target 3, 303 mm for the water
target). The resulting target centres land within a few mm of the published ones (TargetUtils;
checked in the tests).

Bad arguments to the public functions (an unknown view, layout or target number) raise
:class:`~nuclassify.errors.UsageError`, one line, like every user-facing error of the package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nuclassify.errors import UsageError

__all__ = [
    "N_STRIPS", "STRIP_PITCH_MM", "VIEWS", "VIEW_ANGLE_DEG", "Target", "TARGETS",
    "SEGMENT_Z_ORDER", "SEGMENT_UPPER_Z_MM", "SEGMENT_TARGET", "N_SEGMENTS",
    "segment_of_z", "planes", "view_plane_z", "transverse_coordinate", "strip_of",
    "NUCLEAR_REGION_Z_MM", "TRACKER_START_Z_MM", "FIDUCIAL_APOTHEM_MM",
    "DETECTOR_APOTHEM_MM", "SCINT_THICKNESS_MM", "IMAGE_COLUMNS", "IMAGE_COLUMNS_2016", "image_columns", "N_PLANECODES",
    "material_at", "material_code_at", "MATERIAL_CODES", "planecode_of_z", "planecode_z", "inside_hexagon",
    "target_by_number", "VERTEX_REGIONS", "vertex_region",
]

N_STRIPS = 127
STRIP_PITCH_MM = 16.5
VIEWS = ("x", "u", "v")
# U and V measure the X coordinate rotated by +60 and -60 degrees about the beam (z) axis.
VIEW_ANGLE_DEG = {"x": 0.0, "u": 60.0, "v": -60.0}
FIDUCIAL_APOTHEM_MM = 850.0
# The inner detector is a hexagon whose flats are perpendicular to x, u and v; the strips of
# each view span it flat to flat, so its apothem is half the width of 127 strips.
DETECTOR_APOTHEM_MM = N_STRIPS * STRIP_PITCH_MM / 2
SCINT_THICKNESS_MM = 17.0  # triangular strip height: the active depth of one plane
# Image columns per view in the 2018 layout: every X plane but the HCAL, and half as many U/V.
IMAGE_COLUMNS = {"x": 94, "u": 47, "v": 47}
# The 2016-17 files image only the first 50 X and 25 U/V planes (X 127x50, U/V 127x25).
IMAGE_COLUMNS_2016 = {"x": 50, "u": 25, "v": 25}


def image_columns(layout: str = "2018") -> dict[str, int]:
    """Image columns per view of a MINERvA file layout ("2018" or "2016").

    Raises:
        UsageError: for any other layout (it used to fall back to 2016 silently).
    """
    if layout == "2018":
        return dict(IMAGE_COLUMNS)
    if layout == "2016":
        return dict(IMAGE_COLUMNS_2016)
    raise UsageError(f"unknown MINERvA layout {layout!r} (expected 2018 or 2016)")


NUCLEAR_REGION_Z_MM = (4293.04, 5835.0)
TRACKER_START_Z_MM = 5991.29

PLANE_SPACING_MM = 20.65
MODULE_PITCH_NUCLEAR_MM = 44.22
MODULE_PITCH_TRACKER_MM = 45.23


@dataclass(frozen=True)
class Target:
    """A passive nuclear target: number (1-5, 0 for water), materials, thickness, z centre."""

    number: int
    materials: tuple[str, ...]
    thickness_mm: tuple[float, ...]
    z_center_mm: float
    segment: int

    @property
    def name(self) -> str:
        return "water" if self.number == 0 else f"T{self.number}"


TARGETS: tuple[Target, ...] = (
    Target(1, ("Fe", "Pb"), (25.75, 25.75), 4482.3, 1),
    Target(2, ("Fe", "Pb"), (25.75, 25.75), 4702.3, 2),
    Target(3, ("C", "Fe", "Pb"), (76.3, 25.75, 25.75), 4920.7, 3),
    # MAT-MINERvA TargetUtils puts the water at 5200-5420 mm, but the 303 mm gap built from the
    # derived spacings ends at the plane at 5412.7 mm: the water moves 20 mm upstream to fit it.
    Target(0, ("H2O",), (220.0,), 5290.0, 8),
    Target(4, ("Pb",), (8.0,), 5641.7, 4),
    Target(5, ("Fe", "Pb"), (13.0, 13.0), 5776.3, 5),
)

# Segments in downstream (z) order and the upper z edge of each (mm); the last is open-ended.
SEGMENT_Z_ORDER: tuple[int, ...] = (0, 1, 6, 2, 7, 3, 8, 4, 9, 5, 10)
SEGMENT_UPPER_Z_MM: tuple[float, ...] = (
    4437.83, 4543.26, 4658.90, 4764.33, 4879.98, 5029.62, 5601.52, 5706.95, 5734.17, 5857.60,
)
N_SEGMENTS = 11
# Target number of each segment; None for the gaps between targets.
SEGMENT_TARGET: dict[int, int | None] = {0: None, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5,
                                         6: None, 7: None, 8: None, 9: None, 10: None}

_Z_ORDER_ARRAY = np.asarray(SEGMENT_Z_ORDER, dtype=np.uint8)
_EDGES = np.asarray(SEGMENT_UPPER_Z_MM)


def segment_of_z(z_mm: np.ndarray | float) -> np.ndarray:
    """Segment label (0-10, not in z order) of each vertex z in mm."""
    idx = np.searchsorted(_EDGES, np.asarray(z_mm, dtype=np.float64), side="right")
    return _Z_ORDER_ARRAY[idx]


# Where a vertex sits, for resolution figures: in a passive target's material, in the water
# target, or in scintillator (tracking modules, upstream and downstream of the targets).
VERTEX_REGIONS: tuple[str, ...] = ("targets", "water", "tracker")
# T3's carbon block (76.3 mm) is centred 25.2 mm downstream of its iron and lead (MAT-MINERvA
# TargetUtils); every other target's materials share one centre.
_T3_CARBON_CENTER_MM = 4945.9


def _material_extents() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower z, upper z, is water) of each passive target's material."""
    lo, hi, water = [], [], []
    for t in TARGETS:
        half = max(t.thickness_mm) / 2 if t.number != 3 else t.thickness_mm[1] / 2
        lo.append(t.z_center_mm - half)
        hi.append(t.z_center_mm + half if t.number != 3 else _T3_CARBON_CENTER_MM + t.thickness_mm[0] / 2)
        water.append(t.number == 0)
    return np.asarray(lo), np.asarray(hi), np.asarray(water)


_TARGET_LO, _TARGET_HI, _TARGET_IS_WATER = _material_extents()


def vertex_region(z_mm: np.ndarray | float) -> np.ndarray:
    """Index into :data:`VERTEX_REGIONS` of each vertex z (mm): 0 targets, 1 water, 2 tracker."""
    z = np.atleast_1d(np.asarray(z_mm, dtype=np.float64))
    inside = (z[:, None] >= _TARGET_LO[None, :]) & (z[:, None] <= _TARGET_HI[None, :])
    out = np.full(len(z), 2, dtype=np.int64)
    out[(inside & ~_TARGET_IS_WATER[None, :]).any(axis=1)] = 0
    out[(inside & _TARGET_IS_WATER[None, :]).any(axis=1)] = 1
    return out


# Layout of the nuclear-target region, upstream to downstream: "M" is a tracking module,
# anything else names the passive target occupying the gap. Then tracker and ECAL modules.
_NUCLEAR_LAYOUT = (["M"] * 4 + ["T1"] + ["M"] * 4 + ["T2"] + ["M"] * 4 + ["T3"] + ["M"] * 3 + ["W"]
                   + ["M"] * 5 + ["T4"] + ["M"] * 2 + ["T5"] + ["M"] * 4)
_TARGET_GAP_MM = {"T1": 67.8, "T2": 67.8, "T3": 112.0, "W": 303.0, "T4": 67.8, "T5": 67.8}
_N_DOWNSTREAM_MODULES = 84  # tracker + ECAL modules beyond the nuclear region (HCAL not imaged)


def _build_planes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plane z (mm), view code (0=x, 1=u, 2=v) and module index of every imaged plane."""
    z_list: list[float] = []
    view_list: list[int] = []
    module_list: list[int] = []
    z = NUCLEAR_REGION_Z_MM[0]
    normal_gap = MODULE_PITCH_NUCLEAR_MM - PLANE_SPACING_MM
    module = 0
    pending_gap = 0.0
    layout = _NUCLEAR_LAYOUT + ["M"] * _N_DOWNSTREAM_MODULES
    for item in layout:
        if item != "M":
            pending_gap = _TARGET_GAP_MM[item]
            continue
        if module > 0:
            if pending_gap:
                gap = pending_gap
            elif z >= TRACKER_START_Z_MM - 30.0:
                gap = MODULE_PITCH_TRACKER_MM - PLANE_SPACING_MM
            else:
                gap = normal_gap
            z += gap
        pending_gap = 0.0
        first_view = 1 if module % 2 == 0 else 2  # U X V X U X ...
        for view, dz in ((first_view, 0.0), (0, PLANE_SPACING_MM)):
            z_list.append(z + dz)
            view_list.append(view)
            module_list.append(module)
        z += PLANE_SPACING_MM
        module += 1
    return np.asarray(z_list), np.asarray(view_list, dtype=np.int8), np.asarray(module_list)


PLANE_Z_MM, PLANE_VIEW, PLANE_MODULE = _build_planes()


def planes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z mm, view code 0/1/2 for x/u/v, module) of every imaged plane, in z order."""
    return PLANE_Z_MM, PLANE_VIEW, PLANE_MODULE


def _view(view: str) -> str:
    """``view`` lower-cased, or a one-line :class:`UsageError` naming the views there are."""
    name = str(view).lower()
    if name not in VIEWS:
        raise UsageError(f"unknown MINERvA view {view!r} (expected one of {', '.join(VIEWS)})")
    return name


def view_plane_z(view: str, n_columns: int | None = None) -> np.ndarray:
    """z (mm) of each image column of ``view``: its planes in z order, the first ``n_columns``."""
    code = VIEWS.index(_view(view))
    z = PLANE_Z_MM[PLANE_VIEW == code]
    return z if n_columns is None else z[:n_columns]


def transverse_coordinate(view: str, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """Coordinate (mm) measured by ``view``'s strips: x rotated by the view angle."""
    angle = np.deg2rad(VIEW_ANGLE_DEG[_view(view)])
    return np.cos(angle) * np.asarray(x_mm) + np.sin(angle) * np.asarray(y_mm)


def strip_of(coordinate_mm: np.ndarray) -> np.ndarray:
    """Strip index (0-126, may fall outside for points off the detector) of a coordinate."""
    return np.floor(np.asarray(coordinate_mm) / STRIP_PITCH_MM + N_STRIPS / 2).astype(np.int64)


_COS30 = np.cos(np.deg2rad(30.0))
_SIN30 = 0.5
MATERIAL_CODES = {"CH": 0, "C": 1, "Fe": 2, "Pb": 3, "H2O": 4}


def target_by_number(number: int) -> Target:
    """The :class:`Target` numbered ``number`` (1-5, 0 for water).

    Raises:
        UsageError: for any other number (a caller's mistake, so the package's one-line kind).
    """
    for target in TARGETS:
        if target.number == number:
            return target
    raise UsageError(f"no MINERvA target numbered {number!r} (expected 0-5)")


def material_at(target: int | Target, x_mm: np.ndarray | float, y_mm: np.ndarray | float) -> np.ndarray:
    """Material name of ``target`` at transverse position (x, y), following the published splits.

    Targets 1 and 5 split Fe/Pb on a line 205 mm from the centre along u = -x cos30 + y sin30
    (Fe on the larger side, u < 205 mm), target 2 along d = x cos30 + y sin30, target 3 is
    carbon where x sin30 + y cos30 >= 0 and otherwise Fe (x < 0) or Pb (x >= 0); target 4 is
    lead and the water target water. Returns an array of strings ("Fe", "Pb", "C", "H2O").
    """
    t = target_by_number(target) if isinstance(target, (int, np.integer)) else target
    x = np.asarray(x_mm, dtype=np.float64)
    y = np.asarray(y_mm, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y)
    if t.number in (1, 5):
        return np.where(-x * _COS30 + y * _SIN30 < 205.0, "Fe", "Pb")
    if t.number == 2:
        return np.where(x * _COS30 + y * _SIN30 < 205.0, "Fe", "Pb")
    if t.number == 3:
        return np.where(x * _SIN30 + y * _COS30 >= 0.0, "C", np.where(x < 0.0, "Fe", "Pb"))
    return np.full(x.shape, t.materials[0])


def material_code_at(target_number: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """Vectorised :func:`material_at` over mixed targets, as codes of ``MATERIAL_CODES``.

    The simulator calls this for many particles in different targets at once, so it avoids
    strings; ``target_number`` is an int array (1-5, 0 for water).
    """
    n = np.asarray(target_number)
    x = np.asarray(x_mm, dtype=np.float64)
    y = np.asarray(y_mm, dtype=np.float64)
    fe, pb, c, water = MATERIAL_CODES["Fe"], MATERIAL_CODES["Pb"], MATERIAL_CODES["C"], MATERIAL_CODES["H2O"]
    u = -x * _COS30 + y * _SIN30
    d = x * _COS30 + y * _SIN30
    out = np.full(n.shape, pb, dtype=np.int8)
    out[((n == 1) | (n == 5)) & (u < 205.0)] = fe
    out[(n == 2) & (d < 205.0)] = fe
    t3 = n == 3
    out[t3 & (x * _SIN30 + y * _COS30 >= 0.0)] = c
    out[t3 & (x * _SIN30 + y * _COS30 < 0.0) & (x < 0.0)] = fe
    out[n == 0] = water
    return out


def inside_hexagon(x_mm: np.ndarray, y_mm: np.ndarray, apothem_mm: float = DETECTOR_APOTHEM_MM) -> np.ndarray:
    """True where (x, y) lies inside the hexagon of the given apothem (flats facing x, u, v)."""
    x = np.asarray(x_mm)
    y = np.asarray(y_mm)
    u = 0.5 * x + _COS30 * y
    v = 0.5 * x - _COS30 * y
    return (np.abs(x) <= apothem_mm) & (np.abs(u) <= apothem_mm) & (np.abs(v) <= apothem_mm)


# Plane codes. Scheme: every imaged plane and every passive target (water included) is a slot,
# in z order; the plane code of a z is the index of the nearest slot. Slots 0-173 cover the
# planes up to the middle of the tracker, so codes stay below the 174 classes of the 2018
# files (anything further downstream gets 173).
N_PLANECODES = 174
_SLOT_Z = np.sort(np.concatenate([PLANE_Z_MM, [t.z_center_mm for t in TARGETS]]))[:N_PLANECODES]
_SLOT_MID = 0.5 * (_SLOT_Z[1:] + _SLOT_Z[:-1])


def planecode_of_z(z_mm: np.ndarray | float) -> np.ndarray:
    """Plane code (0-173) of each z: index of the nearest plane-or-target slot in z order."""
    return np.searchsorted(_SLOT_MID, np.asarray(z_mm, dtype=np.float64)).astype(np.uint16)


def planecode_z(code: np.ndarray | int) -> np.ndarray:
    """z (mm) of the slot a plane code stands for (inverse of :func:`planecode_of_z` on slots)."""
    return _SLOT_Z[np.asarray(code, dtype=np.int64)]
