"""How far can a classical vertex finder go on this simulation? A one-off probe behind issue 14's note.

On a simulated MINERvA file this prints each classical method's accuracy (trackfit, hough,
trackreco, the upstream-hit rule), overall and for events with a backward hadron, with pile-up,
and with neither (truth from ``vtx_data/backward`` and ``vtx_data/pileup``), and the accuracy of
an oracle that, event by event, picks whichever of them is right: an upper bound for any rule
that chooses among these methods' answers. "Neither" is split into charged- and neutral-current
events. ``--predictions NAME=CSV ...`` adds networks' ``nuclassify predict`` output for the same
file (for example the reproduce run's ``predictions/*.csv`` on its test file). The issue's goal,
a third fewer errors than hough, needs 90.3% on the README's file.

Per segment it sets trackfit beside the upstream-hit rule (the issue asks that no segment fall
below it), as efficiency (the share of the segment's events called there, the issue's measure)
and as purity (the share of the events called there that are in it): the rule calls the first
activity, so its calls lean upstream, which fills segment 0 at the cost of the segments behind.
It counts the events whose vertex cannot be seen, with no cleaned hit (in time, above the energy
floor) in the four planes from the true vertex on, and how many of them each method gets right.
It puts each of trackfit's errors down to one cause (the first that applies: the vertex cannot be
seen, a backward hadron, pile-up, a boundary call within three planes of the true vertex, a call
far upstream, far downstream) and, with ``--predictions``, how many of each the networks get right.
It then counts the configuration that keeps trackfit under the upstream-hit rule in segment 0
(upstream of target 1): the X track starts before target 1 and trackfit calls the vertex just
behind it. The true segment of those events says which call is right more often.

Usage: nuclassify simulate minerva -n 5000 --seed 7 -o test.h5
       python benchmarks/probe_trackfit_ceiling.py test.h5
       python benchmarks/probe_trackfit_ceiling.py test.h5 --sample muon-track
       python benchmarks/probe_trackfit_ceiling.py OUT/data/minerva_test.h5 \
           --predictions 3view-1col=OUT/predictions/3view-1col.csv conv4=OUT/predictions/conv4.csv
"""

from __future__ import annotations

import argparse

import numpy as np

from nuclassify.data import SAMPLES, open_dataset, sample_indices
from nuclassify.detector import minerva
from nuclassify.evaluation import mcnemar, upstream_rule_segments
from nuclassify.evaluation.trackfit import HoughFit, TrackFit, TrackReco
from nuclassify.evaluation.trackfit import _vertex as vertex_module
from nuclassify.evaluation.trackfit._refined import VertexCall


def _predicted(path: str, event_ids: np.ndarray) -> np.ndarray:
    """The ``predicted`` column of a predict CSV, in the data file's event order."""
    import csv

    with open(path, newline="") as handle:
        calls = {int(row["event_id"]): int(row["predicted"]) for row in csv.DictReader(handle)}
    return np.array([calls[int(i)] for i in event_ids])


def _vertex_unseen(recorded: list[dict], true_z: np.ndarray, n_planes: int = 4) -> np.ndarray:
    """Events with no cleaned hit in the ``n_planes`` detector planes from the true vertex downstream."""
    plane_z = minerva.PLANE_Z_MM
    first = np.searchsorted(plane_z, true_z)
    unseen = np.zeros(len(true_z), dtype=bool)
    for i, hits in enumerate(recorded):
        z_all = np.concatenate([h[0] for h in hits.values()]) if hits else np.empty(0)
        p = np.searchsorted(plane_z, z_all - 1e-3)
        unseen[i] = not np.any((p >= first[i]) & (p < first[i] + n_planes))
    return unseen


def error_causes(called_z: np.ndarray, true_z: np.ndarray, backward: np.ndarray, pileup: np.ndarray,
                 unseen: np.ndarray) -> np.ndarray:
    """One cause per event (an index into ``CAUSES``), first match in this order: the vertex cannot
    be seen, a backward hadron, pile-up, a boundary call (the called plane within three planes of
    the true vertex's, so the segment edge lies between them), the call far upstream, far downstream.

    A call in a passive target counts from the plane behind the target, where its first hit is;
    the true vertex from the plane it lies in (half a plane's thickness) or the next one.
    """
    plane_z = minerva.PLANE_Z_MM
    called = np.searchsorted(plane_z, np.nan_to_num(called_z, nan=-1e9) - 1e-3)
    truth = np.searchsorted(plane_z, true_z - minerva.SCINT_THICKNESS_MM / 2)
    offset = called - truth
    cause = np.select([unseen, backward, pileup, np.abs(offset) <= 3, offset < 0], [0, 1, 2, 3, 4], default=5)
    return np.where(np.isfinite(called_z), cause, 0)


CAUSES = ("vertex unseen", "backward hadron", "pile-up", "boundary (within 3 planes)", "far upstream (> 3 planes)",
          "far downstream (> 3 planes)")


def _print_error_causes(called_z: np.ndarray, true_z: np.ndarray, y: np.ndarray, trackfit_right: np.ndarray,
                        backward: np.ndarray, pileup: np.ndarray, unseen: np.ndarray,
                        networks: dict[str, np.ndarray]) -> None:
    """trackfit's errors by cause, and how many of each the networks get right."""
    cause = error_causes(called_z, true_z, backward, pileup, unseen)
    wrong = ~trackfit_right
    print(f"trackfit's {wrong.sum()} errors by cause" + "".join(f"; {k} right on them" for k in networks))
    for k, name in enumerate(CAUSES):
        m = wrong & (cause == k)
        print(f"  {name:<30}{m.sum():>5}" + "".join(f"{100 * ok[m].mean() if m.any() else 0:>{len(n) + 12}.0f}%"
                                               for n, ok in networks.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a simulated MINERvA file (with vtx_data truth)")
    parser.add_argument("--predictions", nargs="*", default=[], metavar="NAME=CSV",
                        help="networks' `nuclassify predict` CSVs for this file, set beside the classical methods")
    parser.add_argument("--sample", choices=SAMPLES, default="all",
                        help="muon-track: only the events with a muon track, as MINERvA's lattices (evaluate --sample)")
    args = parser.parse_args()
    with open_dataset(args.data) as ds:
        chosen = sample_indices(ds, args.sample)
        chosen = np.arange(ds.n_events) if chosen is None else chosen
        views = ds.read_views(chosen)
        y = ds.labels()[chosen]
        backward = ds.read_truth("vtx_data/backward")[chosen] > 0
        pileup = ds.read_truth("vtx_data/pileup")[chosen] > 0
        charged = ds.read_truth("gen_data/current")[chosen] == 1
        true_z = ds.read_truth("zs")[chosen]
        names, shapes = ds.view_names, ds.view_shapes
        event_ids = ds.event_ids()[chosen]
    if args.sample != "all":
        print(f"sample {args.sample}: {len(chosen)} events")
    view_z = [minerva.view_plane_z(v, views[k].shape[2]) for k, v in enumerate(names)]
    recorded: list[dict] = []
    fit = TrackFit(names, shapes)
    original = TrackFit._event_vertex

    def spy(self: TrackFit, hits: dict, times: dict | None = None) -> VertexCall:
        recorded.append(hits)
        return original(self, hits, times)

    TrackFit._event_vertex = spy
    try:
        trackfit = fit.predict(views)
    finally:
        TrackFit._event_vertex = original
    calls = {"trackfit": trackfit.segment, "hough": HoughFit(names, shapes).predict(views).segment,
             "trackreco": TrackReco(names, shapes).predict(views).segment,
             "upstream-hit rule": upstream_rule_segments(views, view_z)}
    neither = ~backward & ~pileup
    groups = ((slice(None), 7), (backward, 9), (pileup, 8), (neither, 8), (neither & charged, 7),
              (neither & ~charged, 7))
    print(f"{'method':<28}{'all':>8}{'backward':>10}{'pile-up':>9}{'neither':>9}{'  CC':>8}{'  NC':>8}"
          "  McNemar p vs trackfit")
    print(f"{'events':<28}" + "".join(f"{(np.ones(len(y), bool)[m]).sum():>{w + 1}}" for m, w in groups))
    right = {k: v == y for k, v in calls.items()}
    any_right = np.logical_or.reduce(list(right.values()))
    networks = {name: _predicted(path, event_ids) == y for name, path in (a.split("=", 1) for a in args.predictions)}
    for name, ok in [*right.items(), ("oracle: any of the four", any_right), *networks.items()]:
        p = "" if name in ("trackfit", "oracle: any of the four") else f"  {mcnemar(right['trackfit'], ok).p_value:.1e}"
        print(f"{name:<28}" + "".join(f"{100 * ok[m].mean():>{w}.1f}%" if ok[m].size else f"{'-':>{w + 1}}"
                                      for m, w in groups) + p)
    unseen = _vertex_unseen(recorded, true_z)
    print(f"vertex unseen (no cleaned hit in the 4 planes from the true vertex on): {unseen.sum()} events "
          f"({100 * unseen.mean():.1f}%); right on them: "
          + ", ".join(f"{k} {100 * v[unseen].mean():.0f}%" for k, v in {**right, **networks}.items()))
    print("per segment (z order): trackfit against the upstream-hit rule, efficiency and purity; "
          "'<' where trackfit's efficiency is below the rule's")
    for seg in minerva.SEGMENT_Z_ORDER:
        k = y == seg
        a, b = right["trackfit"][k].mean(), right["upstream-hit rule"][k].mean()
        pa, pb = (float(np.mean(y[calls[m] == seg] == seg)) for m in ("trackfit", "upstream-hit rule"))
        below = "  <" if a < b else ""
        print(f"  segment {seg:>2}: {k.sum():>5} events  efficiency trackfit {100 * a:5.1f}% rule {100 * b:5.1f}%"
              f"  purity trackfit {100 * pa:5.1f}% rule {100 * pb:5.1f}%{below}")
    _print_error_causes(trackfit.z, true_z, y, right["trackfit"], backward, pileup, unseen, networks)
    # Segment 0 against target 1: the X track starts before target 1, trackfit calls the plane behind it.
    t1_back = float(minerva.planes()[0][np.searchsorted(minerva.planes()[0], minerva.TARGETS[0].z_center_mm)])
    truth = []
    in_target_1 = np.abs(np.nan_to_num(trackfit.z, nan=0.0) - minerva.TARGETS[0].z_center_mm) < 1.0
    for i, hits in enumerate(recorded):
        if not in_target_1[i]:
            continue
        z_all = np.concatenate([h[0] for h in hits.values()])
        _, mains = vertex_module.track_anchor(hits, z_all, True)
        x_start = [m.z_start for m in mains if m.view == "x"]
        if x_start and x_start[0] < minerva.TARGETS[0].z_center_mm:
            truth.append(int(y[i]))
    counts = np.bincount(truth, minlength=minerva.N_SEGMENTS)
    print(f"X track starts before target 1, trackfit calls target 1 (first plane behind it at {t1_back:.0f} mm): "
          f"{len(truth)} events; truly in target 1: {counts[1]}, upstream of it (segment 0): {counts[0]}, "
          f"elsewhere: {len(truth) - counts[0] - counts[1]}")


if __name__ == "__main__":
    main()
