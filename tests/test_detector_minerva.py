"""MINERvA geometry against the published one: planes, views, targets, splits, segments, plane codes.

Published numbers: target centres from MinervaExpt/MAT-MINERvA utilities/TargetUtils.cxx, the
detector from arXiv:1305.5199, segments from MNVML/root2hdf5proj include/RecoTracksUtils.h.
"""

import numpy as np
import pytest

from nuclassify.detector import minerva
from nuclassify.errors import UsageError
from nuclassify.simulate._geometry import minerva_slabs, target_pieces

# Target centres (mm) in TargetUtils.cxx; target 3's is that of its carbon block, the thickest piece.
PUBLISHED_CENTRES = {1: 4482.3, 2: 4702.3, 3: 4945.9, 4: 5641.7, 5: 5776.3}


def test_views_cycle_u_x_v_x_and_image_columns():
    z, view, _ = minerva.planes()
    assert np.all(np.diff(z) > 0)
    names = "".join(minerva.VIEWS[v] for v in view[:8])
    assert names == "uxvxuxvx"
    assert len(minerva.view_plane_z("x", 94)) == 94
    assert len(minerva.view_plane_z("u", 47)) == len(minerva.view_plane_z("v", 47)) == 47


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_target_gaps_are_centred_on_published_targets(number):
    z, _, _ = minerva.planes()
    centre = PUBLISHED_CENTRES[number]
    before = z[z < centre].max()
    after = z[z > centre].min()
    assert abs(0.5 * (before + after) - centre) < 5.0
    assert after - before > 60.0  # a target gap, not a normal module gap


def test_no_target_overlaps_a_plane_and_water_fits_its_gap():
    slabs = minerva_slabs()
    assert np.all(slabs.lo[1:] >= slabs.hi[:-1])
    water = minerva.target_by_number(0)
    assert minerva.segment_of_z(water.z_center_mm) == 8
    thickness, centre = target_pieces()
    assert thickness[0, minerva.MATERIAL_CODES["H2O"]] == pytest.approx(220.0)


def test_strips_and_rotated_views():
    assert minerva.N_STRIPS == 127 and minerva.STRIP_PITCH_MM == pytest.approx(16.5)
    assert minerva.strip_of(0.0) == 63
    assert minerva.strip_of(-minerva.DETECTOR_APOTHEM_MM + 1) == 0
    assert minerva.strip_of(minerva.DETECTOR_APOTHEM_MM - 1) == 126
    # U measures x rotated by +60 degrees: a point on the +60 degree axis at r reads r in U.
    r = 300.0
    x, y = r * np.cos(np.pi / 3), r * np.sin(np.pi / 3)
    assert minerva.transverse_coordinate("u", x, y) == pytest.approx(r)
    assert minerva.transverse_coordinate("v", x, y) == pytest.approx(r * np.cos(2 * np.pi / 3))


def test_material_splits_follow_facts():
    # Target 1: Fe/Pb boundary 205 mm along u = -x cos30 + y sin30.
    assert minerva.material_at(1, 0.0, 0.0) == "Fe"
    assert minerva.material_at(1, -300.0, 0.0) == "Pb"  # u = 260
    assert minerva.material_at(1, -200.0, 0.0) == "Fe"  # u = 173
    assert minerva.material_at(2, 300.0, 0.0) == "Pb"
    # Target 3: carbon on one half, Fe (x<0) or Pb (x>=0) on the other.
    assert minerva.material_at(3, 100.0, 100.0) == "C"
    assert minerva.material_at(3, -100.0, -300.0) == "Fe"
    assert minerva.material_at(3, 100.0, -300.0) == "Pb"
    assert minerva.material_at(4, 0.0, 0.0) == "Pb"
    assert minerva.material_at(0, 0.0, 0.0) == "H2O"
    codes = minerva.material_code_at(np.array([1, 1, 3, 3, 3, 0]), np.array([0, -300, 100, -100, 100, 0.0]),
                                     np.array([0, 0, 100, -300, -300, 0.0]))
    names = [list(minerva.MATERIAL_CODES)[c] for c in codes]
    assert names == ["Fe", "Pb", "C", "Fe", "Pb", "H2O"]
    with pytest.raises(UsageError, match="no MINERvA target numbered 9"):
        minerva.target_by_number(9)


def test_segments_are_not_in_z_order():
    edges = np.asarray(minerva.SEGMENT_UPPER_Z_MM)
    mids = np.concatenate([[edges[0] - 50], 0.5 * (edges[1:] + edges[:-1]), [edges[-1] + 50]])
    assert list(minerva.segment_of_z(mids)) == list(minerva.SEGMENT_Z_ORDER)
    for t in minerva.TARGETS:
        assert minerva.segment_of_z(t.z_center_mm) == t.segment


def test_planecodes_index_planes_and_targets_below_174():
    z, _, _ = minerva.planes()
    codes = minerva.planecode_of_z(z)
    assert codes.max() <= 173 and codes.dtype == np.uint16
    assert np.all(np.diff(codes.astype(int)) >= 0)
    # Each plane in the nuclear region has its own code, and each target one between its planes.
    nuclear = z < minerva.TRACKER_START_Z_MM
    assert len(np.unique(codes[nuclear])) == nuclear.sum()
    for t in minerva.TARGETS:
        code = int(minerva.planecode_of_z(t.z_center_mm))
        assert minerva.planecode_z(code) == pytest.approx(t.z_center_mm)
        assert code not in set(codes[nuclear].tolist())
    assert minerva.planecode_of_z(1e5) == 173


def test_hexagon():
    a = minerva.DETECTOR_APOTHEM_MM
    assert minerva.inside_hexagon(0.0, 0.0)
    assert minerva.inside_hexagon(a - 1, 0.0) and not minerva.inside_hexagon(a + 1, 0.0)
    assert minerva.inside_hexagon(0.0, a / np.cos(np.pi / 6) - 5) and not minerva.inside_hexagon(0.0, a * 1.2)


def test_bad_arguments_are_one_line_usage_errors():
    assert minerva.image_columns("2016") == {"x": 50, "u": 25, "v": 25}
    with pytest.raises(UsageError, match="unknown MINERvA layout '2017'"):
        minerva.image_columns("2017")  # used to fall back to 2016 silently
    with pytest.raises(UsageError, match="unknown MINERvA view 'w'"):
        minerva.view_plane_z("w")
    with pytest.raises(UsageError, match="unknown MINERvA view 'y'"):
        minerva.transverse_coordinate("y", 0.0, 0.0)
    assert len(minerva.view_plane_z("X", 94)) == 94  # upper case still accepted
