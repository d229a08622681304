"""Event display: every view of one event side by side, energy on a log colour scale.

MINERvA views are drawn against true detector coordinates (z of each plane in mm, transverse
position in mm from the strip index), so the three views line up along z and the passive
targets can be marked where they are. matplotlib is imported only when drawing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify._fileio import atomic_output
from nuclassify.data._reader import Dataset, open_dataset
from nuclassify.data._schema import NOVA_CODE_NAMES
from nuclassify.detector import minerva
from nuclassify.errors import DataFileError

#: draws on a finished event display: ``overlay(axes, views)``, one axes per view, the views a batch of one
Overlay = Callable[[Sequence[Any], list[np.ndarray]], None]

__all__ = ["draw_event"]


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges halfway between centres (extrapolated at the ends) for pcolormesh."""
    c = np.asarray(centres, dtype=np.float64)
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def _plane_cells(z: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column edges and image for pcolormesh where each plane is drawn only as wide as a normal plane.

    Halfway edges would stretch the planes beside a passive target (or the water target) across
    the whole gap, painting hits where no detector is. Each plane instead covers at most half the
    median plane spacing either side, and a masked column fills any gap left between planes.
    """
    z = np.asarray(z, dtype=np.float64)
    if len(z) < 2:
        return _edges(z), image
    spacing = np.diff(z)
    half = float(np.median(spacing)) / 2
    left = z - np.minimum(np.concatenate([[spacing[0]], spacing]) / 2, half)
    right = z + np.minimum(np.concatenate([spacing, [spacing[-1]]]) / 2, half)
    edges = np.empty(2 * len(z))
    edges[0::2], edges[1::2] = left, right
    # Zeros under the mask: masked_all leaves whatever memory held, and matplotlib's colour
    # normalisation computes on the hidden values too (NaN or huge ones warned of overflow).
    spread = np.ma.masked_array(np.zeros((image.shape[0], 2 * len(z) - 1)), mask=True)
    spread[:, 0::2] = image
    return edges, spread


def _title(ds: Dataset, event: int) -> str:
    eid = int(ds.event_ids([event])[0])
    parts = [f"{ds.path.name}  event {event}" + (f" (id {eid})" if eid != event else "")]
    if ds.layout.startswith("minerva"):
        seg = int(ds.labels("segment", [event])[0])
        parts.append(f"true segment {seg} ({ds.class_names('segment')[seg]})" if seg >= 0 else "unlabelled")
        if "planecode" in ds.targets and (pc := int(ds.labels("planecode", [event])[0])) >= 0:
            parts.append(f"plane code {pc}")
        if (vz := _vertex_z(ds, event)) is not None:
            parts.append(f"vertex z {vz:.0f} mm (dashed)")
    elif ds.layout == "nova-cvn":
        code = int(ds._layout.raw_codes[event])
        parts.append(f"true: {NOVA_CODE_NAMES[code]}" if 0 <= code < 16 else "unlabelled")
    else:
        lab = int(ds.labels("label", [event])[0])
        names = ds.class_names("label")
        parts.append(f"label {lab}" + (f" ({names[lab]})" if 0 <= lab < len(names) and names[lab] != str(lab) else ""))
    return "  |  ".join(parts)


def _vertex_z(ds: Dataset, event: int) -> float | None:
    for name in ("vtx_data/zs", "zs"):
        if name in ds.truth_fields:
            z = float(ds.read_truth(name, [event])[0])
            return z if z > 0 else None
    return None


def draw_event(data: str | os.PathLike | Dataset, event: int, output: str | os.PathLike, *,
               overwrite: bool = False, dpi: int = 110, overlay: Overlay | None = None,
               panel: Callable[[Any], None] | None = None) -> Path:
    """Draw every view of ``event`` side by side to a PNG and return its path.

    MINERvA: X/U/V against z (mm, from the plane positions) and transverse position (mm), with
    the targets marked along z and the true vertex z (if stored) as a dashed line. NOvA: XZ/YZ
    in plane and cell numbers. Generic images: the image itself. Energy (channel 0) is coloured
    on a log scale; empty pixels stay white.

    ``overlay(axes, views)`` draws on top of the panels (one per view, in the file's view order),
    given the event's views as a batch of one; e.g. a reconstruction's tracks and vertex. It is a
    callable so that this layer need not know what draws it (evaluation comes after data).
    ``panel(ax)`` fills one extra axes to the right of the views (e.g. class probabilities).

    Raises:
        DataFileError: if the file is bad or ``event`` is out of range.
    """
    own = not isinstance(data, Dataset)
    ds = open_dataset(data) if own else data
    try:
        if not 0 <= int(event) < ds.n_events:
            raise DataFileError(ds.path, f"event {event} out of range (file has {ds.n_events} events: "
                                         f"0-{ds.n_events - 1})")
        views = ds.read_views([int(event)])
        with atomic_output(output, overwrite) as tmp:
            _render(ds, int(event), [v[0] for v in views], tmp, dpi,
                    None if overlay is None else (lambda axes: overlay(axes, views)), panel)
        return Path(output)
    finally:
        if own:
            ds.close()


def _render(ds: Dataset, event: int, images: list[np.ndarray], out: Path, dpi: int,
            overlay: Callable[[Sequence[Any]], None] | None = None,
            panel: Callable[[Any], None] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    energy = [img[..., 0] for img in images]
    positive = np.concatenate([e[e > 0] for e in energy]) if any((e > 0).any() for e in energy) else np.ones(1)
    norm = LogNorm(vmin=max(float(positive.min()), 1e-3), vmax=max(float(positive.max()), 1e-3 * 1.01))
    minerva_like = ds.layout.startswith("minerva")
    # MINERvA views cover the same z range (X has twice the planes), so equal panel widths with a
    # shared z axis line the views up plane for plane.
    width = 4.2 * len(images) + 1.5
    extra = 3.0 if panel is not None else 0.0  # inches: 1.2 for the panel's labels, 1.6 for it, 0.2 margin
    fig, axes = plt.subplots(1, len(images), figsize=(width + extra, 4.6), dpi=dpi,
                             sharex=minerva_like, sharey=minerva_like, squeeze=False)
    # MINERvA panels label their own transverse axis, which needs more room than the default gap
    # between panels (the labels otherwise run into the panel on their left).
    wspace = 0.32 if minerva_like else None
    if panel is not None:  # the views keep their size and margins; the panel takes the added width
        fig.subplots_adjust(left=0.125 * width / (width + extra), right=0.9 * width / (width + extra), wspace=wspace)
    elif wspace is not None:
        fig.subplots_adjust(wspace=wspace)
    axes = axes[0]
    mesh = None
    vz = _vertex_z(ds, event) if minerva_like else None
    for ax, name, e in zip(axes, ds.view_names, energy, strict=True):
        masked = np.ma.masked_less_equal(e, 0)
        if minerva_like:
            z = minerva.view_plane_z(name, e.shape[1])
            if len(z) < e.shape[1]:  # wider than the detector: fall back to plane numbers
                z = np.arange(e.shape[1], dtype=np.float64)
            t = (np.arange(e.shape[0]) + 0.5 - minerva.N_STRIPS / 2) * minerva.STRIP_PITCH_MM
            z_edges, cells = _plane_cells(z, masked)
            mesh = ax.pcolormesh(z_edges, _edges(t), cells, norm=norm, cmap="viridis", shading="flat")
            ax.set_xlabel("z (mm)")
            ax.set_ylabel(f"{name.upper()} transverse (mm)" if ax is axes[0] else f"{name.upper()} (mm)")
            ax.tick_params(labelleft=True)
            _mark_targets(ax, z[0], z[-1], vz, labels=ax is axes[0])
        elif ds.layout == "nova-cvn":
            mesh = ax.pcolormesh(masked, norm=norm, cmap="viridis", shading="flat")
            ax.set_xlabel("plane (along z)")
            ax.set_ylabel("cell")
        elif images[0].shape[-1] == 3:  # colour pictures (CIFAR-like): show them as they are
            img = images[0].astype(np.float64)
            ax.imshow((img - img.min()) / max(float(np.ptp(img)), 1e-12), origin="upper")
            mesh = None
            ax.set_xlabel("column")
            ax.set_ylabel("row")
        else:
            mesh = ax.imshow(masked, norm=norm, cmap="viridis", origin="upper")
            ax.set_xlabel("column")
            ax.set_ylabel("row")
        ax.set_title(f"{name.upper()} view" if ds.layout != "images" else name)
    if overlay is not None:
        overlay(list(axes))
    fig.suptitle(_title(ds, event), fontsize=10)
    if mesh is not None:
        label = "energy (MeV, log)" if minerva_like else "intensity (log)"
        from matplotlib.ticker import FormatStrFormatter

        bar = fig.colorbar(mesh, ax=list(axes), fraction=0.025, pad=0.01, label=label)
        bar.ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        if norm.vmax / norm.vmin < 10:  # within one decade only minor ticks carry numbers
            bar.ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
    if panel is not None:
        panel(fig.add_axes(((width + 1.2) / (width + extra), 0.14, 1.6 / (width + extra), 0.7)))
    fig.savefig(out, format="png")
    plt.close(fig)


def _mark_targets(ax: object, z_min: float, z_max: float, vertex_z: float | None, labels: bool) -> None:
    """Targets as shaded bands (their full thickness) with a line at the centre; names on one panel."""
    for k, target in enumerate(minerva.TARGETS):
        half = max(target.thickness_mm) / 2 if target.number else target.thickness_mm[0] / 2
        lo, hi = target.z_center_mm - half, target.z_center_mm + half
        if hi < z_min or lo > z_max:
            continue
        colour = "tab:red" if target.number else "tab:blue"
        ax.axvspan(lo, hi, color=colour, alpha=0.15, lw=0)
        ax.axvline(target.z_center_mm, color=colour, alpha=0.5, lw=0.6)
        if labels:  # alternate heights: T4 and T5 are only 135 mm apart
            ax.text(target.z_center_mm, 0.985 - 0.05 * (k % 2), target.name, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=7, color=colour)
    if vertex_z is not None and z_min <= vertex_z <= z_max:
        ax.axvline(vertex_z, color="black", ls="--", lw=0.8)  # explained in the title
