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
from dataclasses import dataclass

import numpy as np

from nuclassify.detector import minerva
from nuclassify.errors import UsageError

__all__ = ["UpstreamRule", "UpstreamRuleResult", "upstream_rule_segments", "upstream_rule_z"]

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


@dataclass
class UpstreamRuleResult:
    """Per event: segment probabilities (N, 11), the rule's segment and its vertex z (mm, nan if none).

    The rule states no uncertainty of its own: its z core width is 9 mm in scintillator but 90 mm
    for water-target vertices, which it puts behind the water, and nothing in the event tells
    which is which.
    """

    probabilities: np.ndarray
    segment: np.ndarray
    z: np.ndarray

    def columns(self) -> dict[str, np.ndarray]:
        """No extra per-event columns."""
        return {}


class UpstreamRule:
    """The upstream-hit rule as a model (``--model upstream``), so that ``evaluate --compare`` and
    ``--per-segment`` set it beside the other methods on the same events, with McNemar p-values.

    The segment is :func:`upstream_rule_segments`'s. Its probabilities spread the z by 10 mm and
    add a floor of 0.02 of the peak to every segment: chosen on a simulated tuning file (3,000
    events, seed 11) over 10-30 mm and 0.005-0.05, log-loss 0.932 (the least, 0.929, was 15 mm
    with an ECE of 7.9% against 5.3%). The rule's z core width there is 9 mm in scintillator and
    16 mm in the passive targets, where it sits 26 mm downstream: it sees a target vertex only
    in the plane behind it.
    """

    name = "upstream"
    n_classes = minerva.N_SEGMENTS
    extra_columns: tuple[str, ...] = ()  # the rule states no uncertainty (UpstreamRuleResult)

    def __init__(self, view_names: Sequence[str], view_shapes: Sequence[Sequence[int]] | Mapping) -> None:
        names = [str(v).lower() for v in view_names]
        if not names or not set(names) <= set(_VIEW_ORDER):
            raise UsageError(f"{self.name} needs MINERvA views x/u/v; the data has views {', '.join(names)}")
        shapes = [tuple(view_shapes[v]) for v in view_names] if isinstance(view_shapes, Mapping) else \
            [tuple(s) for s in view_shapes]
        self.view_z = [minerva.view_plane_z(v, int(shape[1])) for v, shape in zip(names, shapes, strict=True)]

    def __call__(self, views: Sequence[np.ndarray]) -> np.ndarray:
        return self.predict(views).probabilities

    def predict(self, views: Sequence[np.ndarray]) -> UpstreamRuleResult:
        """The rule on a batch of dense channels-last views, in the order of ``view_names``."""
        from nuclassify.evaluation.trackfit._segment import segment_probabilities

        z = upstream_rule_z(list(views), self.view_z)
        placed = np.nan_to_num(z, nan=1e5)  # nothing active: downstream of target 5, as the rule says
        segment = minerva.segment_of_z(placed).astype(np.int64)
        probs = segment_probabilities(placed, _RULE_SIGMA_MM, floor=_RULE_FLOOR)
        return UpstreamRuleResult(probs, segment, z.astype(np.float32))


_RULE_SIGMA_MM = 10.0
_RULE_FLOOR = 0.02
