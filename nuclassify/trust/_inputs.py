"""Input-level summaries of each event, per view: hit multiplicity, energy and time distribution.

These need no model: they say *where* a shift lies (a detector gain moves the hit energies, a
noisier readout the multiplicity, a beam change the total energy and the timing), where the
penultimate-layer tests only say *that* one does. Each is compared between the samples with a
two-sample Kolmogorov–Smirnov test (scipy.stats.ks_2samp).

A hit is a pixel with energy above zero (channel 0). Channel 1, where present, holds the hit
time (MINERvA's time lattice); a one-channel layout (NOvA) gets no time summaries. Medians and
inter-quartile ranges are used for the hit energies and times because a single noise hit at a
random time would dominate a mean or a standard deviation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["input_feature_names", "input_features"]

_ENERGY_STATS = ("hits", "energy", "hit_energy_median")
_TIME_STATS = ("time_median", "time_iqr")


def input_feature_names(view_names: Sequence[str], channels: int) -> list[str]:
    """``x_hits, x_energy, x_hit_energy_median[, x_time_median, x_time_iqr], u_hits, ...``."""
    stats = _ENERGY_STATS + (_TIME_STATS if channels > 1 else ())
    return [f"{v}_{s}" for v in view_names for s in stats]


def _masked_quantiles(values: np.ndarray, mask: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Per-event quantiles (len(qs), N) of ``values`` where ``mask``; 0 for an event without hits."""
    flat = np.where(mask, values, np.nan).reshape(len(values), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: events with no hit in this view
        out = np.nanquantile(flat, qs, axis=1)
    return np.nan_to_num(out, nan=0.0)


def input_features(views: Sequence[np.ndarray]) -> np.ndarray:
    """(N, F) float64 summaries of a batch of channels-last views, in :func:`input_feature_names` order."""
    cols: list[np.ndarray] = []
    for view in views:
        energy = view[..., 0]
        hit = energy > 0
        cols.append(hit.sum(axis=(1, 2)).astype(np.float64))
        cols.append(energy.sum(axis=(1, 2), dtype=np.float64))
        cols.append(_masked_quantiles(energy, hit, [0.5])[0])
        if view.shape[-1] > 1:
            q25, q50, q75 = _masked_quantiles(view[..., 1], hit, [0.25, 0.5, 0.75])
            cols += [q50, q75 - q25]
    return np.stack(cols, axis=1)
