"""The reconstruction as a model: dense views in, segment probabilities, z, its uncertainty and fit figures out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nuclassify.detector.minerva import N_SEGMENTS
from nuclassify.errors import UsageError
from nuclassify.evaluation.trackfit._reco import RecoOptions, reconstruct_batch

__all__ = ["TrackReco", "TrackRecoResult"]


@dataclass
class TrackRecoResult:
    """Per event: probabilities (N, 11), segment, z (mm, nan if none), z_sigma (mm), n_tracks, quality (chi2/ndf)."""

    probabilities: np.ndarray
    segment: np.ndarray
    z: np.ndarray
    z_sigma: np.ndarray
    n_tracks: np.ndarray
    quality: np.ndarray

    def columns(self) -> dict[str, np.ndarray]:
        """The extra per-event columns for ``predict``'s CSV and ``evaluate --json``."""
        return {"z_sigma": self.z_sigma, "n_tracks": self.n_tracks, "fit_quality": self.quality}


class TrackReco:
    """Track-and-vertex reconstruction on MINERvA X/U/V images (channels last, channel 0 energy, 1 time).

    Same call shape as :class:`~nuclassify.evaluation.trackfit.TrackFit`: construct it with the
    data's view names and shapes, call :meth:`predict` on a batch of views.
    """

    name = "trackreco"
    n_classes = N_SEGMENTS

    def __init__(self, view_names: Sequence[str], view_shapes: Sequence[Sequence[int]] | dict,
                 options: RecoOptions | None = None) -> None:
        names = [str(v).lower() for v in view_names]
        if "x" not in names or not set(names) <= {"x", "u", "v"}:
            raise UsageError(f"{self.name} needs MINERvA views x/u/v; the data has views {', '.join(names)}")
        self.view_names = names
        self.options = options or RecoOptions()

    def __call__(self, views: Sequence[np.ndarray]) -> np.ndarray:
        return self.predict(views).probabilities

    def predict(self, views: Sequence[np.ndarray]) -> TrackRecoResult:
        """Reconstruct every event of a batch."""
        batch = reconstruct_batch(views, self.view_names, self.options)
        n = len(batch.events)
        probs = np.full((n, N_SEGMENTS), 1.0 / N_SEGMENTS, dtype=np.float32)
        seg = np.full(n, 10, dtype=np.int64)  # nothing seen: the most common place, downstream
        z = np.full(n, np.nan, dtype=np.float32)
        sig = np.full(n, np.nan, dtype=np.float32)
        nt = np.zeros(n, dtype=np.int64)
        q = np.full(n, np.nan, dtype=np.float32)
        for i, e in enumerate(batch.events):
            if e.segment >= 0:
                probs[i] = e.probabilities
                seg[i] = e.segment
                z[i], sig[i] = e.z, e.z_sigma
            nt[i] = e.n_tracks
            q[i] = e.quality
        return TrackRecoResult(probs, seg, z, sig, nt, q)
