"""What do the hit times say about the vertex? The probe behind trackfit's timed-start step (issue 14).

MINERvA's lattices store hit times relative to the muon track's vertex time, and nothing outruns
light, so the main track's hits date where it started (``muon_start_from_times`` in
``nuclassify/evaluation/trackfit/_refined.py``). On a simulated MINERvA file this prints:

- how well the timed start finds the true vertex on charged-current events with a long main
  track (median offset and core width, 1.4826 x the median absolute deviation), for the estimate
  from the X view alone and from the three views together (the reference time is the mean over
  the muon's hits in every view, so only the three together cancel the hits' own resolution);
- trackfit with and without its timed-start step: events fixed and broken;
- the same step when the times can only agree with the main track's own start: what a clock
  referred to the reconstruction's muon-track start would say (the simulated clock is the muon's
  time with a perfect time-of-flight correction, so it knows where the muon truly started; see
  data/README.md, "Hit times"). The difference is what the step owes to that knowledge;
- two uses of the timed start that trackfit does not make, with what they would fix and break:
  moving the call upstream when the times put the start there ("late"), and moving the call to
  the timed start itself when no track starts near it ("timed start alone").

Measured (2026-12-01): with the simulated times trackfit is at 86.80% on the tuning file (seed
11) and 87.60% on the test file (seed 7), 86.30% and 87.00% without the step; with times that
only agree with the main track's start the step breaks 212 tuning events for 33 (80.33%) and 363
test events for 68 (81.10%).

Usage: nuclassify simulate minerva -n 3000 --seed 11 -o tune.h5
       python benchmarks/probe_trackfit_timing.py tune.h5
"""

from __future__ import annotations

import argparse

import numpy as np

from nuclassify.data import open_dataset
from nuclassify.detector.minerva import segment_of_z
from nuclassify.evaluation.trackfit import _refined
from nuclassify.evaluation.trackfit._predictor import TrackFit
from nuclassify.evaluation.trackfit._refined import VertexCall
from nuclassify.evaluation.trackfit._vertex import first_activity_z, main_tracks, vertex_to_prediction_z


class _Recording(TrackFit):
    """trackfit, keeping each event's hits, times and call."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.recorded: list[tuple[dict, dict | None, float]] = []

    def _event_vertex(self, hits: dict, times: dict | None = None) -> VertexCall:
        call = super()._event_vertex(hits, times)
        self.recorded.append((hits, times, call.plane_z))
        return call


def _segment(plane_z: float) -> int:
    return int(segment_of_z(vertex_to_prediction_z(np.array([plane_z])))[0])


def _x_only(hits: dict, times: dict) -> float | None:
    """The timed start from the X view's main track alone (the first version's estimate)."""
    x = {"x": hits["x"]} if "x" in hits else {}
    found = _refined.muon_start_from_times(x, {"x": times["x"]} if "x" in times else {})
    return None if found is None else found[0]


_TIMED_STEP = _refined._timed_track_start


def _times_agree_with_track(found: tuple[float, object] | None, plane_z: float) -> float | None:
    """trackfit's timed-start step fed times that put the start exactly where the main track starts."""
    return None if found is None else _TIMED_STEP((found[1].z_start, found[1]), plane_z)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="simulated MINERvA file (truth in vtx_data/zs, gen_data/current)")
    args = parser.parse_args()
    with open_dataset(args.data) as ds:
        views = ds.read_views(np.arange(ds.n_events))
        labels = ds.labels()
        true_z = ds.read_truth("zs")
        charged = ds.read_truth("gen_data/current") == 1
        names, shapes = ds.view_names, ds.view_shapes
    fit = _Recording(names, shapes)
    with_times = fit.predict(views).segment
    without = TrackFit(names, shapes, timed_start=False).predict(views).segment
    right, right_before = with_times == labels, without == labels
    print(f"trackfit on {args.data}: {right.mean():.2%} with the timed start, {right_before.mean():.2%} without; "
          f"fixed {int((right & ~right_before).sum())}, broken {int((~right & right_before).sum())}")
    _refined._timed_track_start = _times_agree_with_track
    try:
        unchecked = TrackFit(names, shapes).predict(views).segment == labels
    finally:
        _refined._timed_track_start = _TIMED_STEP
    print(f"the step with the times always agreeing with the main track's start (a clock that knows only "
          f"where the reconstruction's muon track starts): {unchecked.mean():.2%}; "
          f"fixed {int((unchecked & ~right_before).sum())}, broken {int((~unchecked & right_before).sum())}")

    three, x_view, late, alone = [], [], [0, 0, 0], [0, 0, 0]
    for i, (hits, times, plane_z) in enumerate(fit.recorded):
        if times is None or not np.isfinite(plane_z):
            continue
        tracks = main_tracks(hits, stereo_match=True)
        found = _refined.muon_start_from_times(hits, times, tracks)
        if found is None:
            continue
        timed_z, primary = found
        if charged[i]:
            three.append(timed_z - true_z[i])
            x_start = _x_only(hits, times)
            if x_start is not None:
                x_view.append(x_start - true_z[i])
        z_all = np.concatenate([h[0] for h in hits.values()])
        # Late: the times put the start 60 mm or more upstream of the call; the call follows them.
        if timed_z < plane_z - 60.0:
            late[0] += 1
            moved = _segment(timed_z)
            late[1] += moved == labels[i] and not right[i]
            late[2] += moved != labels[i] and right[i]
        # Timed start alone: 70-200 mm downstream, no track start near it; the first activity there.
        flight = timed_z - plane_z
        if 70.0 < flight < 200.0 and abs(primary.z_start - timed_z) >= _refined._TIMED_TOLERANCE_MM:
            after = z_all[z_all >= timed_z - 30.0]
            if len(after):
                alone[0] += 1
                moved = _segment(first_activity_z(after))
                alone[1] += moved == labels[i] and not right[i]
                alone[2] += moved != labels[i] and right[i]
    for name, offsets in (("three views", three), ("X view only", x_view)):
        o = np.asarray(offsets)
        core = 1.4826 * np.median(np.abs(o - np.median(o)))
        print(f"timed start - true vertex, charged-current events with a long main track, {name}: "
              f"{len(o)} events, median {np.median(o):+.1f} mm, core width {core:.0f} mm, "
              f"{np.mean(np.abs(o) > 200):.1%} more than 200 mm off")
    print(f"late (times put the start > 60 mm upstream of the call): {late[0]} events, "
          f"fixed {late[1]}, broken {late[2]}")
    print(f"timed start alone (70-200 mm downstream, no track starting near it): {alone[0]} events, "
          f"fixed {alone[1]}, broken {alone[2]}")


if __name__ == "__main__":
    main()
