"""The trackfit predictor: dense view images in, segment pseudo-probabilities and vertex z out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit

from nuclassify.detector.minerva import (
    N_SEGMENTS,
    N_STRIPS,
    PLANE_Z_MM,
    STRIP_PITCH_MM,
    segment_of_z,
    target_by_number,
    view_plane_z,
)
from nuclassify.errors import UsageError
from nuclassify.evaluation.trackfit._candidates import PLANE_SEGMENT, vertex_candidates
from nuclassify.evaluation.trackfit._hits import TIME_WINDOW_NS, event_times
from nuclassify.evaluation.trackfit._refined import VertexCall, refined_vertex
from nuclassify.evaluation.trackfit._segment import SEGMENT_PRIOR, segment_probabilities
from nuclassify.evaluation.trackfit._selector import TreeEnsemble, load_selector
from nuclassify.evaluation.trackfit._vertex import event_vertex_z, main_tracks, vertex_to_prediction_z

__all__ = ["TrackFit", "HoughFit", "TrackFitResult", "segment_probabilities", "timing_groups", "TIMING_GROUPS"]


@dataclass
class TrackFitResult:
    """Per event: segment pseudo-probabilities (N, 11), predicted segment, vertex z (mm, nan if none),
    its uncertainty z_sigma (mm), the number of views whose main track voted (n_tracks), and how far
    downstream of the called vertex plane the main track's hit times put its start (timed_offset_mm,
    negative upstream, nan without times or a long main track)."""

    probabilities: np.ndarray
    segment: np.ndarray
    z: np.ndarray
    z_sigma: np.ndarray | None = None
    n_tracks: np.ndarray | None = None
    timed_offset_mm: np.ndarray | None = None

    def columns(self) -> dict[str, np.ndarray]:
        """The extra per-event columns for ``predict``'s CSV and ``evaluate --json``."""
        return {"z_sigma": self.z_sigma, "n_tracks": self.n_tracks}


class TrackFit:
    """Classical vertex-segment finder on MINERvA X/U/V images (channels last, channel 0 energy).

    Per view the main track is found by a Hough transform and followed upstream; the views vote
    on where it starts, a hadronic body upstream of it is taken in, and the vertex is the first
    connected activity from there; a charged track detached upstream, or the main track's own
    hit times (relative to the muon's vertex time, as the data stores them), can move it
    (:mod:`._refined`). Last, the vertex selector weighs that call against the first lit plane of
    each other segment nearby, on what the hits say of each (:mod:`._candidates`,
    :mod:`._selector`). An event with no clean hit is called in the segment with the most mass.
    The original baseline is :class:`HoughFit`.

    Args:
        view_names: the data's views in the order they are passed (must include "x").
        view_shapes: each view's (rows, columns, channels).
        energy_threshold: hits at or below this energy (MeV) are ignored: the low-energy
            scatter of neutrons and photons around a shower otherwise fakes upstream activity.
        time_window_ns: (early, late) ns around the interaction's time (:func:`._hits.event_times`);
            hits outside are ignored (noise and overlapping interactions); None turns the cut
            off. Needs a time channel.
        stereo_match: in U and V use the tracks matched to the primary X track by u + v = x
            (found among up to three per view) rather than each view's longest track. Measured
            equal in accuracy on simulated data and ~1.5x slower; False is the fast variant.
        timed_start: read the main track's hit times (the timed-start step of :mod:`._refined`,
            the selector's time features and the chain's timing groups). The simulated clock
            times the muon perfectly; real data's clock carries the experiment's own muon-track
            vertex, so False gives trackfit on its own: 90.24% on the README's test file against
            91.56% with the times (87.00% and 87.60% for the chain without the selector).
        select_vertex: end with the vertex selector (:mod:`._selector`); False keeps the
            rule-based chain's call. With ``timed_start`` it reads the hit times too; without,
            it is the selector fitted without them (``vertex_selector_untimed.npz``).
        selector: the trees to select with (:class:`._selector.TreeEnsemble`); None takes the
            packaged ones. ``benchmarks/fit_vertex_selector.py`` fits new ones, for example on
            an experiment's own simulation.
    """

    name = "trackfit"
    n_classes = N_SEGMENTS
    extra_columns = ("z_sigma", "n_tracks")  # the keys of TrackFitResult.columns(), for predict's CSV header
    times_are_relative = True  # the interaction is at t = 0 (:func:`._hits.event_times`)

    def __init__(self, view_names: Sequence[str], view_shapes: Sequence[Sequence[int]] | dict,
                 energy_threshold: float = 0.5,
                 time_window_ns: tuple[float, float] | None = TIME_WINDOW_NS,
                 stereo_match: bool = True, timed_start: bool = True, select_vertex: bool = True,
                 selector: TreeEnsemble | None = None) -> None:
        names = [str(v).lower() for v in view_names]
        if "x" not in names or not set(names) <= {"x", "u", "v"}:
            raise UsageError(f"{self.name} needs MINERvA views x/u/v; the data has views {', '.join(names)}")
        shapes = [tuple(view_shapes[v]) for v in view_names] if isinstance(view_shapes, dict) else \
            [tuple(s) for s in view_shapes]
        self.view_names = names
        self.energy_threshold = float(energy_threshold)
        self.time_window_ns = None if time_window_ns is None else (float(time_window_ns[0]), float(time_window_ns[1]))
        self.stereo_match = bool(stereo_match)
        self.timed_start = bool(timed_start)
        self.select_vertex = bool(select_vertex)
        self.selector = selector
        self._col_z = {}
        for name, shape in zip(names, shapes, strict=True):
            n_cols = int(shape[1])
            z = view_plane_z(name, n_cols)
            if len(z) < n_cols:
                raise UsageError(f"{self.name}: view {name} has {n_cols} columns but the detector "
                                 f"has {len(z)} {name} planes")
            self._col_z[name] = z
        self._row_t = (np.arange(N_STRIPS, dtype=np.float64) - (N_STRIPS - 1) / 2) * STRIP_PITCH_MM

    def __call__(self, views: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities only, so a TrackFit can stand wherever a model's predict function does."""
        return self.predict(views).probabilities

    def predict(self, views: Sequence[np.ndarray]) -> TrackFitResult:
        """Find the vertex of every event in a batch of dense channels-last views."""
        calls = self.vertex_calls(views)
        plane_z = np.array([call.plane_z for call in calls], dtype=np.float64)
        n_tracks = np.array([call.n_tracks for call in calls], dtype=np.int64)
        timed_offset = np.array([call.timed_offset_mm for call in calls], dtype=np.float64)
        selected = None
        if self.select_vertex:
            plane_z, timed_offset, selected = _selected_planes(calls, plane_z, timed_offset,
                                                               self.selector or load_selector(self.timed_start))
        z = vertex_to_prediction_z(plane_z)
        sigma = _z_sigma(plane_z, z)
        probs = self._empty_probabilities(self._segment_probabilities(z, sigma, timed_offset), np.isfinite(z))
        if selected is not None:
            probs[selected[0]] = selected[1]
        segment = np.where(np.isfinite(z), segment_of_z(np.nan_to_num(z)), np.argmax(probs, axis=1))
        return TrackFitResult(probs, segment.astype(np.int64), z.astype(np.float32), sigma, n_tracks,
                              timed_offset.astype(np.float32))

    def vertex_calls(self, views: Sequence[np.ndarray]) -> list[VertexCall]:
        """Each event's call from the rule-based chain, with the selector's candidates when it runs."""
        n = len(views[0])
        raw = []
        for name, img in zip(self.view_names, views, strict=True):
            energy = img[..., 0]
            b, r, c = np.nonzero(energy > self.energy_threshold)
            time = img[b, r, c, 1] if img.shape[-1] > 1 and self.time_window_ns else None
            raw.append((name, img, b, r, c, energy[b, r, c], time))
        event_time = None
        if all(item[6] is not None for item in raw):
            event_time = event_times(np.concatenate([item[2] for item in raw]),
                                     np.concatenate([item[5] for item in raw]),
                                     np.concatenate([item[6] for item in raw]), n, self.time_window_ns,
                                     relative=self.times_are_relative)
        per_view = []
        for name, img, b, r, c, e, time in raw:
            dt = None
            if event_time is not None:
                dt = time - event_time[b]
                keep = (dt >= self.time_window_ns[0]) & (dt <= self.time_window_ns[1])
                b, r, c, e, dt = b[keep], r[keep], c[keep], e[keep], dt[keep]
            bounds = np.searchsorted(b, np.arange(n + 1))
            rows = r if img.shape[1] == N_STRIPS else r + (N_STRIPS - img.shape[1]) // 2
            per_view.append((name, bounds, self._col_z[name][c], self._row_t[rows], c, e, dt))
        calls = []
        for i in range(n):
            hits, times = {}, {}
            for name, bounds, z, t, c, e, dt in per_view:
                lo, hi = bounds[i], bounds[i + 1]
                if hi > lo:
                    hits[name] = (z[lo:hi], t[lo:hi], c[lo:hi], e[lo:hi])
                    if dt is not None:
                        times[name] = dt[lo:hi]
            # Times relative to the interaction only where the file's clock is (event_times gives 0).
            relative = event_time is not None and event_time[i] == 0.0
            calls.append(self._event_vertex(hits, times if relative else None))
        return calls

    def _event_vertex(self, hits: dict, times: dict | None = None) -> VertexCall:
        """One event's vertex call: plane z (nan without hits), views voting, the timed start's offset.

        ``times``: view -> the hits' times relative to the interaction (None without a time channel).
        """
        times = times if self.timed_start else None
        tracks = main_tracks(hits, self.stereo_match)
        call = refined_vertex(hits, self.stereo_match, times=times, tracks=tracks)
        if not self.select_vertex or not np.isfinite(call.plane_z):
            return call
        timed_z = call.plane_z + call.timed_offset_mm
        return replace(call, candidates=vertex_candidates(hits, times, call.plane_z, timed_z, tracks))

    def _segment_probabilities(self, z: np.ndarray, sigma: np.ndarray, timed_offset: np.ndarray) -> np.ndarray:
        """Each segment's probability from the vertex z and its uncertainty, with a floor for the
        vertices put a module or more away, set by what the hit times say of the call. With the
        selector these are replaced by its own (:func:`_selected_planes`) for every event it saw;
        the figures below are the chain's alone (``select_vertex=False``).

        The main track's timed start (``timed_offset``, mm downstream of the call; nan without
        one) sorts the events: where it agrees with the call (within 100 mm) trackfit was right on
        94-95% of simulated events, where it puts the start further upstream on 85-87%, without a
        timed start on 70-74%, and further downstream on 61-63%. Each group gets its own floor
        (``_FLOOR_BY_TIMING``), the one with the least log-loss on the simulated tuning file
        (3,000 events, seed 11). On the 5,000 test events (seed 7) that takes the log-loss from
        0.612 (one floor of 0.0125 for all) to 0.579, the Brier score from 0.229 to 0.222, ECE
        from 4.6% to 4.4%, and the confidence's power to tell right calls from wrong (AUROC) from
        0.58 to 0.75: 47% of the events reach a confidence of 0.9, and 96.6% of those are right
        (none could before). ``benchmarks/probe_trackfit_calibration.py`` prints these. The single
        floor had replaced the old 5 mm and 0.001 (kept by ``hough``): ECE 9.7% and NLL 0.81.
        """
        # Without the times, one floor for all: the least log-loss over the tuning file's events.
        floor = _FLOOR_BY_TIMING[timing_groups(timed_offset)][:, None] if self.timed_start else _FLOOR_WITHOUT_TIMES
        return segment_probabilities(z, np.nan_to_num(sigma, nan=_PLANE_SIGMA_MM), floor=floor)

    def _empty_probabilities(self, probs: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """An event with no clean hit gets the segments' shares of interactions (``SEGMENT_PRIOR``)."""
        out = probs.copy()
        out[~seen] = SEGMENT_PRIOR
        return out


class HoughFit(TrackFit):
    """The original Hough baseline under the name ``hough``, kept so that the gain is measured on the same events.

    It differs from :class:`TrackFit` in four things: each view's start votes as a point (the
    median of the starts less one plane of slack opens the activity search); an event without a
    clean hit gets the uniform distribution (its argmax, segment 0); its time cleaning is the
    original one, +-20 ns around the median time of the clearly lit hits; and so are its segment
    probabilities (5 mm around the vertex z, floor 0.001).
    """

    name = "hough"
    times_are_relative = False

    def __init__(self, view_names: Sequence[str], view_shapes: Sequence[Sequence[int]] | dict,
                 energy_threshold: float = 0.5, time_window_ns: tuple[float, float] | None = (-20.0, 20.0),
                 stereo_match: bool = True) -> None:
        super().__init__(view_names, view_shapes, energy_threshold, time_window_ns, stereo_match, select_vertex=False)

    def _event_vertex(self, hits: dict, times: dict | None = None) -> VertexCall:
        return VertexCall(event_vertex_z(hits, self.stereo_match), sum(len(h[0]) >= 3 for h in hits.values()))

    def _segment_probabilities(self, z: np.ndarray, sigma: np.ndarray, timed_offset: np.ndarray) -> np.ndarray:
        return segment_probabilities(z)  # the original 5 mm and floor 0.001

    def _empty_probabilities(self, probs: np.ndarray, seen: np.ndarray) -> np.ndarray:
        return probs


def _selected_planes(calls: list[VertexCall], plane_z: np.ndarray, timed_offset: np.ndarray, selector: TreeEnsemble
                     ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """The vertex selector's plane for every event with candidates, the timed offsets moved with it,
    and those events' indices with their segment probabilities (None when no event has candidates).

    All events' candidates go through the trees at once (numpy over the batch is what keeps it
    fast). A candidate's score is the log-odds that its segment holds the vertex, so each
    candidate's segment gets the logistic of its score, every other segment ``_SELECTOR_FLOOR``,
    and the row is normalised. On the simulated tuning file (3,000 events, seed 11) that gives
    ECE 1.9% and log-loss 0.362, where the chain's z-and-floor probabilities around the selected
    call gave 6.2% and 0.467 (they were fitted to the chain's own, less accurate, calls). The
    chosen segment keeps the largest share, so the argmax is the call.
    """
    have = np.array([i for i, call in enumerate(calls) if call.candidates is not None], dtype=np.int64)
    if len(have) == 0:
        return plane_z, timed_offset, None
    features = np.concatenate([calls[i].candidates.features for i in have])
    planes = np.concatenate([calls[i].candidates.planes for i in have])
    owner = np.repeat(np.arange(len(have)), [len(calls[i].candidates.planes) for i in have])
    scores = selector.candidate_scores(features)
    order = np.lexsort((-scores, owner))
    best = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
    plane_z, timed_offset = plane_z.copy(), timed_offset.copy()
    new_z = PLANE_Z_MM[planes[best]]
    timed_offset[have] = timed_offset[have] + plane_z[have] - new_z
    plane_z[have] = new_z
    probs = np.full((len(have), N_SEGMENTS), _SELECTOR_FLOOR)
    probs[owner, PLANE_SEGMENT[planes]] = np.maximum(expit(scores), _SELECTOR_FLOOR)
    chosen = PLANE_SEGMENT[planes[best]]
    probs[np.arange(len(have)), chosen] = np.maximum(probs[np.arange(len(have)), chosen], 2 * _SELECTOR_FLOOR)
    probs /= probs.sum(axis=1, keepdims=True)
    return plane_z, timed_offset, (have, probs.astype(np.float32))


def timing_groups(timed_offset: np.ndarray) -> np.ndarray:
    """Each event's index in ``TIMING_GROUPS``: what the main track's hit times say of the call.

    ``timed_offset``: mm downstream of the call at which the times put the track's start (nan
    without one); within ``_TIMING_AGREES_MM`` of the call they agree.
    """
    offset = np.asarray(timed_offset, dtype=np.float64)
    return np.select([np.abs(offset) <= _TIMING_AGREES_MM, offset < -_TIMING_AGREES_MM, offset > _TIMING_AGREES_MM],
                     [0, 1, 3], default=2)


def _z_sigma(plane_z: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The z estimate's uncertainty (mm), by where the vertex was put: in scintillator, in a passive
    target, or in the water target.

    Each is the core width (1.4826 x the median absolute deviation) of z - z_true measured for that
    placement on a simulated tuning file (3,000 events, seed 11; ``evaluate --json``'s ``vertex``).
    The geometry alone (a plane pitch / sqrt(12) = 6.6 mm, a target's thickness / sqrt(12) = 7.4 mm)
    understated the spread: the pulls' core width was 1.4-1.6 on independent events. The water
    target is 220 mm deep and its vertices are put at its centre, hence the wide value there.
    """
    in_target = np.isfinite(z) & (np.abs(z - plane_z) > 1.0)
    in_water = in_target & (np.abs(z - _WATER_Z_MM) < 1.0)
    out = np.where(in_water, _WATER_SIGMA_MM, np.where(in_target, _TARGET_SIGMA_MM, _PLANE_SIGMA_MM))
    return np.where(np.isfinite(z), out, np.nan).astype(np.float32)


_PLANE_SIGMA_MM = 9.7
_TARGET_SIGMA_MM = 12.1
_WATER_SIGMA_MM = 106.0
# Floor per other segment (a share of the peak) by what the main track's hit times say of the
# call (TrackFit._segment_probabilities): least log-loss on the simulated tuning file.
_TIMING_AGREES_MM = 100.0
TIMING_GROUPS = ("agrees", "upstream", "none", "downstream")
_FLOOR_BY_TIMING = np.array([0.002, 0.015, 0.03, 0.05])  # in the order of TIMING_GROUPS
_FLOOR_WITHOUT_TIMES = 0.0125  # trackfit with timed_start=False
# Every segment without a candidate, with the selector: the least log-loss on the tuning file.
_SELECTOR_FLOOR = 0.003
_WATER_Z_MM = target_by_number(0).z_center_mm
