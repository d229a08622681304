"""MINERvA vertex placement in proportion to mass: scintillator planes, passive targets, water.

The vertex region (first plane to ``z_max``, by default the experiment's skimmer bound of
6172.29 mm, a few modules into the tracker) is cut into components:
each scintillator plane (1.9872 g/cm^2) and each material piece of each target (density x
thickness x the fraction of the fiducial hexagon it covers). A component is drawn by its mass,
then a point inside it: uniform over its part of the fiducial hexagon and through its depth.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from nuclassify.detector import minerva
from nuclassify.simulate import _physics as ph
from nuclassify.simulate._geometry import minerva_slabs, target_pieces

__all__ = ["sample_vertices", "component_masses", "NUCLEUS_A", "NUCLEUS_Z", "Z_MIN_MM", "Z_MAX_MM", "Z_MAX_LIMIT_MM"]

PLANE_AREAL_G_CM2 = 1.9872
# Scintillator counts as carbon for the nucleus (88% C by mass); then C, Fe, Pb, H2O (oxygen).
NUCLEUS_A = np.array([12.0, 12.0, 56.0, 207.0, 16.0])
NUCLEUS_Z = np.array([6, 6, 26, 82, 8])
Z_MIN_MM = 4280.0
# Default upper z of the vertices: the MINERvA HDF5 skimmer's default bound (module 31),
# github MNVML/root2hdf5proj app/skimsplit_root2hdf5_nukecc_hadmultkine.cxx. Version 1 stopped at
# the tracker front (5991.29 mm), which left the "downstream of T5" segment under-filled.
Z_MAX_MM = 6172.29
# The widest range offered: the end of the tracker (TargetUtils; the 2017-18 skims set no bound).
Z_MAX_LIMIT_MM = 8408.91


def _hexagon_points(rng: np.random.Generator, n: int, apothem: float) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform in the hexagon (flats facing x, u, v), by vectorised rejection."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    got = 0
    while got < n:
        m = int((n - got) * 1.4) + 16
        x = rng.uniform(-apothem, apothem, m)
        y = rng.uniform(-apothem / np.cos(np.pi / 6), apothem / np.cos(np.pi / 6), m)
        ok = minerva.inside_hexagon(x, y, apothem)
        xs.append(x[ok])
        ys.append(y[ok])
        got += int(ok.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


@lru_cache(maxsize=4)
def component_masses(z_min: float = Z_MIN_MM, z_max: float = Z_MAX_MM) -> dict[str, np.ndarray]:
    """Components of the vertex region: kind (0 plane, 1 target piece), z range, target, material, mass."""
    slabs = minerva_slabs()
    thickness, centre = target_pieces()
    grid = np.random.default_rng(12345)
    gx, gy = _hexagon_points(grid, 200_000, minerva.FIDUCIAL_APOTHEM_MM)
    rows = []
    for k in np.nonzero(slabs.material == 0)[0]:
        lo, hi = slabs.lo[k], slabs.hi[k]
        if z_min <= lo < z_max:  # a plane cut by z_max keeps the part upstream of it, and its mass share
            top = min(hi, z_max)
            rows.append((0, lo, top, -1, 0, PLANE_AREAL_G_CM2 * (top - lo) / (hi - lo)))
    for t in minerva.TARGETS:
        codes = minerva.material_code_at(np.full(len(gx), t.number), gx, gy)
        for mat in np.nonzero(thickness[t.number])[0]:
            th = thickness[t.number, mat]
            area_fraction = float(np.mean(codes == mat))
            areal = ph.MAT_DENSITY[mat] * th / 10.0
            c = centre[t.number, mat]
            rows.append((1, c - th / 2, c + th / 2, t.number, int(mat), areal * area_fraction))
    arr = np.array(rows, dtype=np.float64)
    order = np.argsort(arr[:, 1])
    arr = arr[order]
    return {"kind": arr[:, 0].astype(int), "z_lo": arr[:, 1], "z_hi": arr[:, 2], "target": arr[:, 3].astype(int),
            "material": arr[:, 4].astype(int), "mass": arr[:, 5]}


def sample_vertices(rng: np.random.Generator, n: int, z_min: float = Z_MIN_MM,
                    z_max: float = Z_MAX_MM) -> dict[str, np.ndarray]:
    """x, y, z (mm), target number (-1 scintillator) and material code of n vertices."""
    comp = component_masses(z_min, z_max)
    prob = comp["mass"] / comp["mass"].sum()
    which = rng.choice(len(prob), size=n, p=prob)
    z = rng.uniform(comp["z_lo"][which], comp["z_hi"][which])
    x, y = _hexagon_points(rng, n, minerva.FIDUCIAL_APOTHEM_MM)
    target = comp["target"][which]
    material = comp["material"][which].copy()
    # Target pieces cover part of the hexagon: redraw (x, y) until they land on their material.
    need = target >= 0
    for _ in range(200):
        if not need.any():
            break
        idx = np.nonzero(need)[0]
        here = minerva.material_code_at(target[idx], x[idx], y[idx])
        wrong = idx[here != material[idx]]
        if len(wrong) == 0:
            break
        x[wrong], y[wrong] = _hexagon_points(rng, len(wrong), minerva.FIDUCIAL_APOTHEM_MM)
        need[:] = False
        need[wrong] = True
    return {"x": x, "y": y, "z": z, "target": target, "material": material}
