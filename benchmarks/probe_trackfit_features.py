"""What do the reconstruction's own features know about trackfit's commonest errors? A probe for issue 14.

trackfit's commonest error is a passive-target vertex called in the tracker gap upstream of its
target (segments 1-5 called 0, 6, 7, 8 or 9): something lit the planes in front of the target.
A classical rule that undoes it must tell that upstream activity apart from a real vertex there
using what the reconstruction measures. This probe bounds what any such rule can gain: it takes
the events whose called vertex plane lies 1-7 planes upstream of a target's gap, describes each
by the features a hand rule could use (how far, how many planes, hits, views and how much energy
lie between the call and the gap; the brightest hit there; the energy of the call's plane; the
share of those hits on the views' main tracks; whether the main tracks reach upstream of the
gap; the energy and hits of the first two planes behind the gap; the event's energy) and adds
those of trackreco's Kalman-and-vertex fit (its z relative to the target, z uncertainty, tracks,
fit quality, whether it calls the target). A gradient-boosted tree (scikit-learn) learns
"the vertex is in the target" on one file and is tried on another: its net gain (events it
fixes less those it breaks) bounds what a hand-written cut on the same features can get. One
such cut is printed beside it: trust trackreco's fitted vertex when it sits in the target and
has two or more tracks.

It then tries two more cues against the backward hadrons, trackfit's other large loss, on every
event: a kink along a view's main track (a two-segment line whose slopes differ; the vertex at
the kink) and a step in energy per plane along the track (a proton's higher dE/dx upstream of the
muon it continues). Each prints, per threshold, the events it would move and how many of them
it fixes and breaks.

Usage: nuclassify simulate minerva -n 10000 --seed 31 -o fit.h5
       nuclassify simulate minerva -n 5000 --seed 7 -o test.h5
       python benchmarks/probe_trackfit_features.py fit.h5 test.h5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_trackfit_backward import run  # noqa: E402

from nuclassify.data import open_dataset  # noqa: E402
from nuclassify.detector.minerva import PLANE_Z_MM, segment_of_z  # noqa: E402
from nuclassify.evaluation import load_predictor  # noqa: E402
from nuclassify.evaluation._predict import iter_predictions  # noqa: E402
from nuclassify.evaluation.trackfit._vertex import first_activity_z, track_anchor, vertex_to_prediction_z  # noqa: E402

GAP_PLANES = np.flatnonzero(np.diff(PLANE_Z_MM) > 45.0) + 1  # the first plane behind each target's gap
ON_TRACK_MM = 40.0
FEATURES = ("planes to gap", "hits between", "energy between", "planes lit between", "views lit between",
            "brightest hit between", "energy of call plane", "share on main tracks", "main tracks reaching over",
            "energy behind gap", "hits behind gap", "event energy", "trackreco z - target", "trackreco sigma",
            "trackreco tracks", "trackreco fit quality", "trackreco calls target")


def _trackreco(path: str) -> dict[str, np.ndarray]:
    """trackreco's predicted segment, z, z_sigma, n_tracks and fit_quality for every event of ``path``."""
    parts: dict[str, list] = {"segment": [], "z": [], "z_sigma": [], "n_tracks": [], "fit_quality": []}
    with open_dataset(path) as ds:
        pred = load_predictor("trackreco", ds)
        for _, probs, z, cols in iter_predictions(ds, pred.fn, extras=True):
            parts["segment"].append(np.argmax(probs, axis=1))
            parts["z"].append(z)
            for key in ("z_sigma", "n_tracks", "fit_quality"):
                parts[key].append(np.asarray(cols[key], dtype=np.float64))
    return {k: np.concatenate(v) for k, v in parts.items()}


def _gap_features(hits: dict, plane_z: float) -> tuple[int, list[float]] | None:
    """(gap plane, hand features) when the call lies 1-7 planes upstream of a target's gap, else None."""
    if not hits or not np.isfinite(plane_z):
        return None
    p = int(np.searchsorted(PLANE_Z_MM, plane_z - 1e-3))
    ahead = GAP_PLANES[(GAP_PLANES > p) & (GAP_PLANES <= p + 7)]
    if len(ahead) == 0:
        return None
    g = int(ahead[0])
    z_all = np.concatenate([h[0] for h in hits.values()])
    _, mains = track_anchor(hits, z_all, True, dense_body=True)
    main_of = {m.view: m for m in mains}
    n_between = e_between = brightest = e_call = on_track = behind_e = behind_n = 0.0
    planes, views = set(), 0
    for view, (z, t, _, e) in hits.items():
        plane = np.searchsorted(PLANE_Z_MM, z - 1e-3)
        between = (plane >= p) & (plane < g)
        behind = (plane >= g) & (plane < g + 2)
        behind_e += e[behind].sum()
        behind_n += behind.sum()
        e_call += e[plane == p].sum()
        if not between.any():
            continue
        views += 1
        n_between += between.sum()
        e_between += e[between].sum()
        brightest = max(brightest, float(e[between].max()))
        planes |= set(plane[between].tolist())
        if view in main_of:
            line = np.array([main_of[view].t_at(q) for q in z[between]])
            on_track += (np.abs(t[between] - line) < ON_TRACK_MM).sum()
    reaching = sum(m.z_start < PLANE_Z_MM[g] - 1.0 for m in mains)
    e_event = sum(h[3].sum() for h in hits.values())
    return g, [g - p, n_between, e_between, len(planes), views, brightest, e_call, on_track / max(n_between, 1),
               reaching, behind_e, behind_n, e_event]


def gap_table(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, truly-in-the-target, trackfit-right) of the events called in front of a target."""
    pred, labels, recorded = run(path)
    reco = _trackreco(path)
    rows, in_target, right = [], [], []
    for i, rec in enumerate(recorded):
        found = _gap_features(rec["hits"], rec["plane_z"])
        if found is None:
            continue
        g, feats = found
        target_z = 0.5 * (PLANE_Z_MM[g - 1] + PLANE_Z_MM[g])
        target_segment = int(segment_of_z(np.array([target_z]))[0])
        feats += [reco["z"][i] - target_z, reco["z_sigma"][i], reco["n_tracks"][i], reco["fit_quality"][i],
                  float(reco["segment"][i] == target_segment)]
        rows.append(feats)
        in_target.append(labels[i] == target_segment)
        right.append(pred[i] == labels[i])
    return np.asarray(rows, dtype=np.float64), np.asarray(in_target), np.asarray(right)


def _net(move: np.ndarray, fixed: np.ndarray, broken: np.ndarray) -> str:
    return f"moves {int(move.sum()):4d}, fixes {int((move & fixed).sum()):3d}, breaks {int((move & broken).sum()):3d}"


def feature_ceiling(fit_path: str, test_path: str) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x_fit, y_fit, right_fit = gap_table(fit_path)
    x_test, y_test, right = gap_table(test_path)
    print(f"called 1-7 planes in front of a target: {len(y_fit)} events in {fit_path} "
          f"({y_fit.mean():.0%} truly in the target), {len(y_test)} in {test_path} ({y_test.mean():.0%})")
    print(f"  trackfit's errors among them that the target would fix: {int((y_test & ~right).sum())}")
    n_hand = len(FEATURES) - 5
    for label, cols in (("hand features", slice(0, n_hand)), ("hand + trackreco", slice(None))):
        model = HistGradientBoostingClassifier(max_depth=3, max_iter=200, learning_rate=0.05, min_samples_leaf=40,
                                               random_state=0).fit(x_fit[:, cols], y_fit)
        p = model.predict_proba(x_test[:, cols])[:, 1]
        for threshold in (0.5, 0.6, 0.7):
            move = p > threshold
            print(f"  boosted tree on {label:16s} P(target) > {threshold}: "
                  f"{_net(move, y_test & ~right, ~y_test & right)}")
    # The physicist's cut: trust trackreco's fitted vertex when it sits in the target with 2+ tracks.
    for name, x, y, ok in ((fit_path, x_fit, y_fit, right_fit), (test_path, x_test, y_test, right)):
        for max_dz in (25.0, 40.0, 60.0):
            move = (x[:, -1] == 1) & (x[:, -3] >= 2) & (np.abs(x[:, -5]) < max_dz)
            print(f"  cut on {name}: trackreco calls the target with 2+ tracks, |z - target| < {max_dz:.0f} mm: "
                  f"{_net(move, y & ~ok, ~y & ok)}")


def _on_track_profile(hits: dict, track) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per plane crossed by ``track`` in its view: (z, mean transverse position, energy) of its hits."""
    z, t, _, e = hits[track.view]
    on = ((np.abs(t - np.array([track.t_at(q) for q in z])) < ON_TRACK_MM)
          & (z >= track.z_start - 1.0) & (z <= track.z_end + 1.0))
    planes = np.unique(z[on])
    return (planes, np.array([t[on & (z == q)].mean() for q in planes]),
            np.array([e[on & (z == q)].sum() for q in planes]))


def _best_kink(z: np.ndarray, t: np.ndarray, min_planes: int = 3) -> tuple[float, float, float]:
    """(chi^2 gain in mm^2, slope change, z of the second segment's first plane) of the best two-line fit."""
    def sse(a: np.ndarray, b: np.ndarray) -> float:
        coef = np.polyfit(a, b, 1)
        return float(((np.polyval(coef, a) - b) ** 2).sum())

    whole = sse(z, t)
    best = (0.0, 0.0, float("nan"))
    for s in range(min_planes, len(z) - min_planes + 1):
        gain = whole - sse(z[:s], t[:s]) - sse(z[s:], t[s:])
        if gain > best[0]:
            change = abs(np.polyfit(z[:s], t[:s], 1)[0] - np.polyfit(z[s:], t[s:], 1)[0])
            best = (gain, float(change), float(z[s]))
    return best


def _best_step(z: np.ndarray, energy: np.ndarray, min_planes: int = 3) -> tuple[float, float]:
    """(t statistic, z of the first downstream plane) of the largest drop in log energy per plane."""
    log_e = np.log(np.maximum(energy, 0.3))
    best = (0.0, float("nan"))
    for s in range(min_planes, len(z) - min_planes + 1):
        a, b = log_e[:s], log_e[s:]
        stat = (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b) + 1e-6)
        if stat > best[0]:
            best = (float(stat), float(z[s]))
    return best


def track_cues(test_path: str) -> None:
    pred, labels, recorded = run(test_path)
    kinks, steps = [], []
    for i, rec in enumerate(recorded):
        hits, plane_z = rec["hits"], rec["plane_z"]
        if not hits or not np.isfinite(plane_z):
            continue
        z_all = np.concatenate([h[0] for h in hits.values()])
        _, mains = track_anchor(hits, z_all, True, dense_body=True)
        for track in mains:
            z, t, e = _on_track_profile(hits, track)
            if len(z) < 6:
                continue
            gain, change, z_kink = _best_kink(z, t)
            stat, z_step = _best_step(z, e)
            for out, z_new, strength in ((kinks, z_kink, (gain, change)), (steps, z_step, (stat,))):
                if np.isfinite(z_new) and z_new > plane_z + 60.0:
                    vertex = first_activity_z(z_all[z_all >= z_new - 30.0])
                    segment = int(segment_of_z(vertex_to_prediction_z(np.array([vertex])))[0])
                    out.append((i, *strength, segment == labels[i], pred[i] == labels[i], segment != pred[i]))
    print(f"cues along the main tracks on {test_path} (the vertex moved downstream to the cue):")
    kinks_a = np.asarray(kinks, dtype=np.float64)
    for min_change in (0.2, 0.3, 0.5):
        for min_gain in (2000.0, 5000.0):
            sel = (kinks_a[:, 2] > min_change) & (kinks_a[:, 1] > min_gain) & (kinks_a[:, 5] == 1)
            print(f"  kink, slope change > {min_change}, chi2 gain > {min_gain:.0f} mm2: "
                  f"{_per_event(kinks_a[sel], fixed_col=3, right_col=4)}")
    steps_a = np.asarray(steps, dtype=np.float64)
    for min_stat in (3.0, 4.0, 6.0):
        sel = (steps_a[:, 1] > min_stat) & (steps_a[:, 4] == 1)
        print(f"  energy step, t > {min_stat}: {_per_event(steps_a[sel], fixed_col=2, right_col=3)}")


def _per_event(rows: np.ndarray, fixed_col: int, right_col: int) -> str:
    """Count each event once (its first flagged track): moved, fixed, broken."""
    _, first = np.unique(rows[:, 0], return_index=True)
    rows = rows[first]
    fixed = (rows[:, fixed_col] == 1) & (rows[:, right_col] == 0)
    broken = (rows[:, fixed_col] == 0) & (rows[:, right_col] == 1)
    return _net(np.ones(len(rows), dtype=bool), fixed, broken)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fit", help="simulated MINERvA file the boosted tree learns on")
    parser.add_argument("test", help="simulated MINERvA file it is tried on")
    args = parser.parse_args()
    feature_ceiling(args.fit, args.test)
    track_cues(args.test)


if __name__ == "__main__":
    main()
