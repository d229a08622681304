"""The explanation drawn on the event display: heat maps over the views, segments, probabilities.

Built on :func:`nuclassify.data.draw_event` through its two hooks, so the views, the targets and
the true vertex line are drawn exactly as ``nuclassify show`` draws them:

- ``overlay``: over each view, the attribution map as a translucent heat map (red: evidence for
  the explained class, blue: against; one colour scale for all views, so they compare), and on
  MINERvA files the true (green) and predicted (orange) vertex segments as bands along z at the
  foot of each view;
- ``panel``: the class probabilities as a bar chart (segments in detector z order), the true
  class green and the predicted one orange, with any tags (the truth that explains an error)
  written beneath.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.detector import minerva
from nuclassify.trust._explain import Explanation

__all__ = ["draw_explanation", "segment_z_range"]

#: Pixels below this share of the largest |attribution| are left clear, so the event shows through.
CLEAR_BELOW = 0.04
#: The colour scale's end, as a quantile of the non-zero |attribution| (beyond it colours saturate).
SCALE_QUANTILE = 0.99
ALPHA = 0.75
#: What each method's map measures, for the colour bar.
UNITS = {"occlusion": "drop in log-odds", "saliency": "|d probability / d pixel|",
         "integrated-gradients": "share of the probability"}
TRUE_COLOUR, PREDICTED_COLOUR = "tab:green", "tab:orange"


def segment_z_range(segment: int, z_min: float, z_max: float) -> tuple[float, float]:
    """The z extent (mm) of a vertex segment, the open ends closed at the drawn range."""
    i = minerva.SEGMENT_Z_ORDER.index(int(segment))
    edges = minerva.SEGMENT_UPPER_Z_MM
    return (edges[i - 1] if i > 0 else z_min), (edges[i] if i < len(edges) else z_max)


def _heat(ax: Any, name: str, m: np.ndarray, norm: Any, cmap: str, minerva_like: bool) -> None:
    from nuclassify.data._display import _edges, _plane_cells

    scale = max(abs(norm.vmin), abs(norm.vmax))
    shown = np.ma.masked_where(np.abs(m) < CLEAR_BELOW * scale, m)
    if minerva_like:
        z = minerva.view_plane_z(name, m.shape[1])
        if len(z) < m.shape[1]:
            z = np.arange(m.shape[1], dtype=np.float64)
        t = (np.arange(m.shape[0]) + 0.5 - minerva.N_STRIPS / 2) * minerva.STRIP_PITCH_MM
        z_edges, cells = _plane_cells(z, shown)
        ax.pcolormesh(z_edges, _edges(t), cells, norm=norm, cmap=cmap, alpha=ALPHA, shading="flat", zorder=3)
    elif ax.images:  # generic images are drawn top row first (imshow); the map must be too
        ax.imshow(shown, norm=norm, cmap=cmap, alpha=ALPHA, origin="upper", zorder=3)
    else:  # NOvA: plane and cell numbers
        ax.pcolormesh(shown, norm=norm, cmap=cmap, alpha=ALPHA, shading="flat", zorder=3)


def _segments(axes: Sequence[Any], true: int | None, predicted: int) -> None:
    """True and predicted segment as bands along z at the foot of every view."""
    for k, ax in enumerate(axes):
        z_min, z_max = ax.get_xlim()
        rows = [(predicted, PREDICTED_COLOUR, 0.045, "predicted")]
        if true is not None:
            rows.insert(0, (true, TRUE_COLOUR, 0.0, "true"))
        for seg, colour, y0, label in rows:
            lo, hi = segment_z_range(seg, z_min, z_max)
            ax.axvspan(lo, hi, ymin=y0, ymax=y0 + 0.04, color=colour, alpha=0.9, lw=0, zorder=4,
                       label=f"{label} segment" if k == 0 else None)
        ax.set_xlim(z_min, z_max)
    axes[0].legend(loc="lower left", bbox_to_anchor=(0.0, 0.09), fontsize=7, framealpha=0.8)


def _probability_panel(ax: Any, ex: Explanation, tags: Sequence[str]) -> None:
    n = len(ex.probabilities)
    order = list(minerva.SEGMENT_Z_ORDER) if n == minerva.N_SEGMENTS and ex.class_names[1] == "T1" else list(range(n))
    colours = []
    for c in order:
        colours.append(TRUE_COLOUR if c == ex.true_label else PREDICTED_COLOUR if c == ex.predicted else "0.6")
    y = np.arange(n)[::-1]
    ax.barh(y, [ex.probabilities[c] for c in order], color=colours, height=0.75)
    ax.set_yticks(y, [ex.class_names[c] for c in order], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    verdict = "" if ex.true_label is None else ("correct" if ex.predicted == ex.true_label else "WRONG")
    ax.set_title(f"{ex.model}\n{ex.method}; P={ex.probabilities[ex.predicted]:.2f} {verdict}", fontsize=8)
    if tags:  # under the class names and the bars (raised to make room): about 45 characters a line
        box = ax.get_position()
        ax.set_position((box.x0, 0.44, box.width, 0.40))
        lines = [w for tag in tags for w in textwrap.wrap(tag, 45)]
        ax.text(-0.75, -0.3, "\n".join(lines), transform=ax.transAxes, ha="left", va="top", fontsize=7)


def draw_explanation(ex: Explanation, data: Any, output: str | os.PathLike, *, overwrite: bool = False,
                     tags: Sequence[str] = (), dpi: int = 110) -> Path:
    """Draw ``ex`` on the event display of its event and return the PNG's path.

    Args:
        ex: from :func:`nuclassify.trust.explain_event`.
        data: the open dataset (or its path) the event came from.
        output: the PNG to write (written atomically; refused if it exists unless ``overwrite``).
        tags: lines written under the probability panel (e.g. the truth behind an error).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import Normalize, TwoSlopeNorm

    from nuclassify.data import draw_event

    magnitudes = np.concatenate([np.abs(m).ravel() for m in ex.maps])
    magnitudes = magnitudes[magnitudes > 0]
    # The colour scale ends at the 99th percentile of the non-zero |attribution|: a handful of
    # pixels would otherwise set it and leave the rest too faint to see (the bar says so).
    scale = max(float(np.quantile(magnitudes, SCALE_QUANTILE)) if len(magnitudes) else 0.0, 1e-12)
    signed = any(float(m.min()) < 0 for m in ex.maps)
    norm = TwoSlopeNorm(0.0, -scale, scale) if signed else Normalize(0.0, scale)
    cmap = "RdBu_r" if signed else "Reds"
    minerva_like = all(v in minerva.VIEWS for v in ex.view_names)
    segment_target = minerva_like and len(ex.class_names) == minerva.N_SEGMENTS

    def overlay(axes: Sequence[Any], views: list[np.ndarray]) -> None:
        mesh = None
        for ax, name, m in zip(axes, ex.view_names, ex.maps, strict=True):
            _heat(ax, name, m, norm, cmap, minerva_like)
            mesh = ax.images[-1] if ax.images and not minerva_like else ax.collections[-1]
        if segment_target:
            _segments(axes, ex.true_label, ex.predicted)
        if mesh is not None:
            label = f"{ex.method}: {UNITS.get(ex.method, 'attribution')} of {ex.class_names[ex.explained_class]}"
            bar = axes[0].figure.colorbar(mesh, ax=list(axes), location="bottom", fraction=0.035, pad=0.17,
                                          aspect=60, shrink=0.5, extend="both" if signed else "max")
            bar.set_label(label, fontsize=8)
            bar.ax.tick_params(labelsize=7)
            bar.solids.set_alpha(ALPHA)

    return draw_event(data, ex.event, output, overwrite=overwrite, dpi=dpi, overlay=overlay,
                      panel=lambda ax: _probability_panel(ax, ex, tags))
