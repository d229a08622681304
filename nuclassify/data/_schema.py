"""Names, dtypes and label schemes of the layouts the data layer reads and writes.

Sources: the MINERvA layout follows the experiment's converter, MNVML/root2hdf5proj
(``app/skimsplit_root2hdf5_nukecc_hadmultkine.cxx``), and reader, gnperdue/ANNMINERvA
(``mnvtf/data_constants.py``, ``mnvtf/hdf5_readers.py``); the segment numbering is
MNVML/root2hdf5proj ``include/RecoTracksUtils.h``; the NOvA map and codes are from
arXiv:1604.01444 and DUNE/dunereco ``CVN/func/InteractionType.h``. data/README.md documents
every layout field by field.

Kept in one place so that the writer, the reader, ``inspect`` and ``data/README.md`` tell the
same story. Nothing here touches a file.
"""

from __future__ import annotations

import numpy as np

from nuclassify.detector.minerva import N_SEGMENTS
from nuclassify.detector.nova import MAP_SHAPE

__all__ = [
    "LAYOUTS", "MINERVA_VIEWS", "NOVA_VIEWS", "SPARSE_FORMAT", "SEGMENT_NAMES", "N_SEGMENTS",
    "PLANECODE_CLASSES", "UNLABELLED_U8", "UNLABELLED_U16", "NOVA_CODE_NAMES", "FLAVOUR_NAMES",
    "INTERACTION13_NAMES", "nova_flavour", "nova_interaction13", "NOVA_SHAPE", "NOVA_NAMINGS",
    "minerva_paths",
]

LAYOUTS = ("minerva-2018", "minerva-2016", "nova-cvn", "images")
MINERVA_VIEWS = ("x", "u", "v")
NOVA_VIEWS = ("xz", "yz")
# Marker stored in the ``format`` attribute of a sparse view group (see data/README.md).
SPARSE_FORMAT = "nuclassify-sparse-hits-v1"

# --- MINERvA labels ------------------------------------------------------------------------
UNLABELLED_U8 = 0xFF
UNLABELLED_U16 = 0xFFFF
# Segment numbers are NOT in z order (root2hdf5proj RecoTracksUtils.h): names indexed by segment number.
SEGMENT_NAMES: tuple[str, ...] = (
    "upstream of T1", "T1", "T2", "T3", "T4", "T5",
    "T1-T2", "T2-T3", "T3-T4 (water)", "T4-T5", "downstream of T5",
)
# Plane-code schemes: 67 classes (2016-17 files), 174 (2018 files, water target included).
PLANECODE_CLASSES = (67, 174)


def minerva_paths(layout: str) -> dict[str, str]:
    """Dataset paths of the MINERvA layouts: 2018 grouped, 2016 flat at the root."""
    if layout == "minerva-2018":
        return {"x": "img_data/hitimes-x", "u": "img_data/hitimes-u", "v": "img_data/hitimes-v",
                "segments": "vtx_data/segments", "planecodes": "vtx_data/planecodes",
                "zs": "vtx_data/zs", "eventids": "event_data/eventids"}
    return {"x": "hitimes-x", "u": "hitimes-u", "v": "hitimes-v", "segments": "segments",
            "planecodes": "planecodes", "zs": "zs", "eventids": "eventids"}


# --- NOvA CVN ------------------------------------------------------------------------------
NOVA_SHAPE = MAP_SHAPE  # flat cvnmap of 16000 = (view, plane, cell)
NOVA_NAMINGS = {
    "cvnmap": ("cvnmap", "neutrino/interaction"),
    "rec.training": ("rec.training.cvnmaps/cvnmap", "rec.training.trainingdata/interaction"),
}
# Interaction codes 0-15 (DUNE/NOvA InteractionType): {numu, nue, nutau} CC x {QE, RES, DIS, other},
# 12 nu-e elastic, 13 NC, 14 cosmic, 15 other.
NOVA_CODE_NAMES: tuple[str, ...] = tuple(
    f"{flav} CC {kind}" for flav in ("numu", "nue", "nutau") for kind in ("QE", "RES", "DIS", "other")
) + ("nu-e elastic", "NC", "cosmic", "other")
FLAVOUR_NAMES = ("numu CC", "nue CC", "nutau CC", "NC")
INTERACTION13_NAMES = NOVA_CODE_NAMES[:12] + ("NC",)

# code -> class; -1 means "not in this scheme" (excluded / unlabelled).
_FLAVOUR_OF_CODE = np.array([0] * 4 + [1] * 4 + [2] * 4 + [-1, 3, -1, -1], dtype=np.int64)
_I13_OF_CODE = np.array(list(range(12)) + [-1, 12, -1, -1], dtype=np.int64)


def _map_codes(codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    out = np.full(codes.shape, -1, dtype=np.int64)
    ok = (codes >= 0) & (codes < 16)
    out[ok] = table[codes[ok]]
    return out


def nova_flavour(codes: np.ndarray) -> np.ndarray:
    """4-class flavour (0 numu CC, 1 nue CC, 2 nutau CC, 3 NC) of interaction codes; -1 otherwise."""
    return _map_codes(codes, _FLAVOUR_OF_CODE)


def nova_interaction13(codes: np.ndarray) -> np.ndarray:
    """13-class scheme: codes 0-11 kept, NC (13) -> 12; nu-e elastic, cosmic, other -> -1."""
    return _map_codes(codes, _I13_OF_CODE)
