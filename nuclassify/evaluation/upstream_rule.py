"""The difficulty yardstick: "segment of the most upstream hit cluster".

A rule with no learning: merge the planes of all views in z order, call a plane active when one
of its strips holds at least ``threshold_mev``, and take the first active plane that starts a
cluster (at least ``min_active`` active planes among it and the next ``window - 1``), which
rejects isolated noise hits. The vertex is put just upstream of that plane and mapped to its
segment. It fails where real events are hard: backward tracks and pile-up put activity
upstream of the vertex, neutral particles start showers downstream of it, and a vertex inside a
passive target is only seen through the planes around it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nuclassify.detector import minerva
from nuclassify.errors import UsageError

__all__ = ["upstream_rule_segments", "upstream_rule_z"]

_VIEW_ORDER = ("x", "u", "v")


def _as_list(obj: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(obj, Mapping):
        return [np.asarray(obj[v]) for v in _VIEW_ORDER if v in obj]
    return [np.asarray(o) for o in obj]


def upstream_rule_z(views: Mapping[str, np.ndarray] | Sequence[np.ndarray],
                    view_z: Mapping[str, np.ndarray] | Sequence[np.ndarray], *, threshold_mev: float = 1.0,
                    window: int = 4, min_active: int = 3, offset_mm: float = 5.0) -> np.ndarray:
    """Estimated vertex z (mm) of each event from the most upstream hit cluster.

    Args:
        views: dense images per view, channels last (N, strips, planes, C) or (N, strips, planes);
            channel 0 is energy (MeV). A mapping is read in x, u, v order.
        view_z: z (mm) of each image column of each view, in the same order as ``views``.
        threshold_mev: minimum strip energy for a plane to count as active.
        window, min_active: a cluster starts at an active plane with at least ``min_active``
            active planes among it and the following ``window - 1`` planes (all views merged).
        offset_mm: the vertex is placed this far upstream of the cluster's first plane.

    Returns:
        float64 (N,) z estimates; events without any active plane get NaN.

    Raises:
        UsageError: not one z array per view, or a view's column count differs from its z values.
    """
    images = _as_list(views)
    zs = _as_list(view_z)
    if len(images) != len(zs) or not images:
        raise UsageError(f"need one z array per view (received {len(images)} views and {len(zs)} z arrays)")
    columns = []
    for img, z in zip(images, zs, strict=True):
        energy = img[..., 0] if img.ndim == 4 else img
        if energy.shape[2] != len(z):
            raise UsageError(f"view with {energy.shape[2]} columns but {len(z)} z values")
        columns.append(np.max(energy, axis=1) >= threshold_mev)  # (N, planes)
    active = np.concatenate(columns, axis=1)
    z_all = np.concatenate([np.asarray(z, dtype=np.float64) for z in zs])
    order = np.argsort(z_all, kind="stable")
    active = active[:, order]
    z_sorted = z_all[order]
    n, p = active.shape
    counts = np.cumsum(np.concatenate([np.zeros((n, 1), dtype=np.int64), active.astype(np.int64)], axis=1), axis=1)
    end = np.minimum(np.arange(p) + window, p)
    in_window = counts[:, end] - counts[:, :p]
    starts = active & (in_window >= min_active)
    has_cluster = starts.any(axis=1)
    first = np.where(has_cluster, np.argmax(starts, axis=1), np.argmax(active, axis=1))
    z = z_sorted[first] - offset_mm
    return np.where(active.any(axis=1), z, np.nan)


def upstream_rule_segments(views: Mapping[str, np.ndarray] | Sequence[np.ndarray],
                           view_z: Mapping[str, np.ndarray] | Sequence[np.ndarray], **options: float) -> np.ndarray:
    """Predicted segment (0-10) of each event: the segment of :func:`upstream_rule_z`.

    Events with no active plane are put downstream of target 5 (segment 10). ``options`` are
    passed to :func:`upstream_rule_z`.

    Example:
        >>> import numpy as np
        >>> from nuclassify.detector import minerva
        >>> x = np.zeros((1, 127, 94, 2)); x[0, 60, 20:30, 0] = 3.0
        >>> z = {"x": minerva.view_plane_z("x", 94)}
        >>> int(upstream_rule_segments({"x": x}, z)[0]) == int(minerva.segment_of_z(z["x"][20] - 5))
        True
    """
    z = upstream_rule_z(views, view_z, **options)
    return np.where(np.isnan(z), 10, minerva.segment_of_z(np.nan_to_num(z, nan=1e5))).astype(np.int64)
