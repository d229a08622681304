"""Event-display overlay: the reconstruction's tracks, vertex and vertex plane drawn over X/U/V panels.

Meant for ``show --reco``: the caller draws the event (``nuclassify.data`` display) and passes the
axes of the X, U and V panels (z in mm across, the view's transverse coordinate in mm up); this
draws, per view, each 3D track's fitted line over its z extent (solid when the vertex fit
attached it, dotted when it rejected it, dashed orange for a backward track), the vertex as a
star at its projected position, and the chosen vertex plane as a thin vertical line.
matplotlib is only touched through the axes handed in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nuclassify.detector.minerva import PLANE_Z_MM
from nuclassify.evaluation.trackfit._hits import VIEW_COS, VIEW_SIN

__all__ = ["draw_reco_overlay"]

_VIEW_CODE = {"x": 0, "u": 1, "v": 2}


def draw_reco_overlay(axes: Sequence[object], view_names: Sequence[str], reco: object) -> None:
    """Draw one event's reconstruction (an ``EventReco``) onto the panels ``axes`` of ``view_names``."""
    for ax, name in zip(axes, view_names, strict=True):
        k = _VIEW_CODE[str(name).lower()]
        c, s = VIEW_COS[k], VIEW_SIN[k]
        for j, tr in enumerate(reco.tracks):
            x0, y0, tx, ty = tr.params
            z = np.array([tr.z_start, tr.z_end])
            t = c * (x0 + tx * (z - tr.z_ref)) + s * (y0 + ty * (z - tr.z_ref))
            attached = j < len(reco.weights) and reco.weights[j] > 0.5
            backward = j < len(reco.backward) and reco.backward[j]
            style = dict(color="tab:orange", ls="--") if attached and backward else \
                dict(color="red", ls="-") if attached else dict(color="grey", ls=":")
            ax.plot(z, t, lw=1.2, **style)
        if reco.vertex is not None:
            xv, yv, zv = reco.vertex
            ax.plot([zv], [c * xv + s * yv], marker="*", ms=11, color="magenta", mec="black", mew=0.5)
        if reco.first_plane >= 0:
            ax.axvline(PLANE_Z_MM[reco.first_plane], color="magenta", lw=0.7, alpha=0.7)
