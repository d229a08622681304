"""NOvA geometry and pixel-map rules (CVN, arXiv:1604.01444)."""

import numpy as np

from nuclassify.detector import nova


def test_planes_alternate_views_and_pitch():
    assert list(nova.view_of_plane(np.arange(4))) == [0, 1, 0, 1]
    assert nova.plane_of_z(nova.plane_z(7)) == 7
    assert nova.PLANE_PITCH_MM == 66.6 and nova.CELL_WIDTH_MM == 39.0
    assert nova.MAP_SHAPE == (2, 100, 80) and nova.MAP_SIZE == 16000
    assert nova.N_INTERACTIONS == 16 and nova.INTERACTION_NAMES[13] == "nc"


def test_cells_and_quantisation():
    assert nova.cell_of(0.0) == nova.N_CELLS // 2
    assert nova.cell_of(-39.0 * 0.5) == nova.N_CELLS // 2 - 1
    q = nova.quantise(np.array([0.0, 0.19, 0.41, 10.0, 1e4]))
    assert q.dtype == np.uint8 and list(q) == [0, 0, 1, 25, 255]


def test_pixel_map_window_starts_at_first_plane_and_centres_median_cell():
    view = np.array([0, 1, 0, 1])
    plane = np.array([10, 11, 210, 13])
    cell = np.array([100, 50, 100, 89])
    index, inside = nova.pixel_map_index(view, plane, cell, np.full(4, 10), np.array([100, 50, 100, 50]))
    assert list(inside) == [True, True, False, True]
    assert index[0] == (0 * 100 + 0) * 80 + 40  # first plane, median cell in the middle row
    assert index[1] == (1 * 100 + 0) * 80 + 40
    assert index[3] == (1 * 100 + 1) * 80 + 79
