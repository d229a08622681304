"""Where trackfit's z_sigma and probability floor come from: a one-off probe behind issue 14's note.

On a simulated MINERvA file (the values in ``trackfit._predictor`` were measured on the tuning
file, 3,000 events, seed 11) this prints:

- the core width (1.4826 x the median absolute deviation) of z - z_true for each placement of
  the vertex: in scintillator, in a passive target (put at its centre), in the water target;
  these are trackfit's ``z_sigma`` values;
- the ECE, log-loss and Brier score of the segment probabilities built from that z_sigma with
  each floor of a grid (the weight every other segment keeps, for vertices put a module or more
  away), beside the old 5 mm and 0.001 that ``hough`` keeps;
- trackfit's accuracy in each group of what the main track's hit times say of the call (agree
  within 100 mm, start further upstream, no timed start, start further downstream), the floor of
  the grid with the least log-loss in each group (trackfit's floors by timing come from the
  tuning file), and for trackfit's own probabilities and one floor of 0.0125 for all: ECE,
  log-loss, Brier, the AUROC of the confidence for telling right calls from wrong, and the share
  of events reaching a confidence of 0.9 with their accuracy.

trackfit's own probabilities now come from its vertex selector's scores (each candidate segment
gets the logistic of its log-odds, every other segment 0.003); the z_sigma-and-floor grid and the
floors by timing are those of the rule-based chain alone (``TrackFit(..., select_vertex=False)``),
computed here around the selector's calls.

Usage: nuclassify simulate minerva -n 3000 --seed 11 -o tune.h5
       python benchmarks/probe_trackfit_calibration.py tune.h5
"""

from __future__ import annotations

import argparse

import numpy as np

from nuclassify.data import open_dataset
from nuclassify.detector import minerva
from nuclassify.evaluation import CalibrationTally
from nuclassify.evaluation._vertex_resolution import core_width
from nuclassify.evaluation.trackfit import TrackFit, segment_probabilities
from nuclassify.evaluation.trackfit._predictor import TIMING_GROUPS, timing_groups

FLOORS = (0.001, 0.002, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05, 0.08)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a simulated MINERvA file (with vtx_data/zs)")
    args = parser.parse_args()
    with open_dataset(args.data) as ds:
        fit = TrackFit(ds.view_names, ds.view_shapes)
        result = fit.predict(ds.read_views(np.arange(ds.n_events)))
        labels = ds.labels()
        z_true = ds.read_truth("zs")
    z = np.nan_to_num(result.z.astype(np.float64), nan=-1.0)
    water = np.abs(z - minerva.target_by_number(0).z_center_mm) < 1.0
    target = np.zeros(len(z), bool)
    for t in minerva.TARGETS:
        if t.number:
            target |= np.abs(z - t.z_center_mm) < 1.0
    seen = np.isfinite(result.z)
    dz = result.z - z_true
    print(f"core width of z - z_true by placement ({args.data}, {len(z)} events, {(~seen).sum()} without a vertex)")
    for name, placed in (("scintillator", seen & ~target & ~water), ("passive target", target), ("water", water)):
        print(f"  {name:<15} {placed.sum():>6} events  {core_width(dz[placed]):6.1f} mm")
    print("segment probabilities: floor per other segment -> ECE, log-loss, Brier (same accuracy)")
    rows = [("5 mm, 0.001 (hough)", segment_probabilities(result.z))]
    rows += [(f"z_sigma, {floor}", segment_probabilities(result.z, np.nan_to_num(result.z_sigma, nan=10.0), floor))
             for floor in FLOORS]
    for name, probs in rows:
        tally = CalibrationTally()
        tally.update(labels, fit._empty_probabilities(probs, seen))
        print(f"  {name:<22} ECE {100 * tally.ece:5.2f}%  NLL {tally.nll:.4f}  Brier {tally.brier:.4f}")
    _by_timing(fit, result, labels, seen)


def _by_timing(fit: TrackFit, result: object, labels: np.ndarray, seen: np.ndarray) -> None:
    from sklearn.metrics import roc_auc_score

    group = timing_groups(result.timed_offset_mm)
    right = result.segment == labels
    sigma = np.nan_to_num(result.z_sigma, nan=10.0)
    print("by what the hit times say of the call: events, accuracy, floor with the least log-loss")
    for k, name in enumerate(TIMING_GROUPS):
        m = group == k
        losses = []
        for floor in FLOORS:
            tally = CalibrationTally()
            tally.update(labels[m], fit._empty_probabilities(segment_probabilities(result.z[m], sigma[m], floor),
                                                             seen[m]))
            losses.append((tally.nll, floor))
        print(f"  {name:<11} {m.sum():>6} events  accuracy {right[m].mean():6.1%}  best floor {min(losses)[1]}")
    single = fit._empty_probabilities(segment_probabilities(result.z, sigma, 0.0125), seen)
    for name, probs in (("trackfit (its own probabilities)", result.probabilities), ("one floor of 0.0125", single)):
        tally = CalibrationTally()
        tally.update(labels, probs)
        confidence = probs.max(axis=1)
        sure = confidence >= 0.9
        sure_accuracy = f"{right[sure].mean():.1%}" if sure.any() else "-"
        print(f"  {name:<28} ECE {100 * tally.ece:5.2f}%  NLL {tally.nll:.4f}  Brier {tally.brier:.4f}  "
              f"AUROC {roc_auc_score(right, confidence):.3f}  confidence >= 0.9: {sure.mean():.1%} of events, "
              f"{sure_accuracy} right")


if __name__ == "__main__":
    main()
