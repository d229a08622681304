"""Where does trackfit lose events, and why backward hadrons? A one-off diagnosis behind issue 14's note.

On a simulated MINERvA file this prints:

- trackfit's accuracy, overall and for events with a backward hadron, with pile-up, and neither
  (truth from ``vtx_data/backward`` and ``vtx_data/pileup``), and how many errors put the vertex
  upstream or downstream of the true segment (detector z order);
- the same with the upstream-body rule of ``trackfit._vertex`` switched off;
- among the wrong backward events, how many have their longest straight X track (the Hough track,
  before any following upstream) already starting more than 30 mm upstream of the true vertex,
  and how many have that in all three views: the backward particle continues the muon's line;
- two candidate cues along the X track from the called vertex, for the wrong backward events
  against the correct events with neither cause: the distance to the first hit more than 50 mm
  off the track (a "fork", where other particles leave the vertex) and the energy of the
  track's first two planes over its median plane energy (a stopping proton's Bragg peak).

Usage: nuclassify simulate minerva -n 5000 --seed 7 -o test.h5
       python benchmarks/probe_trackfit_backward.py test.h5
"""

from __future__ import annotations

import argparse

import h5py
import numpy as np

from nuclassify.data import open_dataset
from nuclassify.detector.minerva import SEGMENT_Z_ORDER
from nuclassify.evaluation import load_predictor
from nuclassify.evaluation.trackfit import _predictor, _vertex
from nuclassify.evaluation.trackfit._hough import extend_upstream, find_tracks
from nuclassify.evaluation.trackfit._refined import VertexCall, refined_vertex


def run(path: str, keep_body: bool = True) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """(predicted segments, labels, each event's cleaned hits and vertex plane) of trackfit on ``path``."""
    recorded: list[dict] = []
    original_body = _vertex._upstream_body
    original_vertex = _predictor.TrackFit._event_vertex

    def spy(self, hits: dict, times: dict | None = None) -> VertexCall:
        call = refined_vertex(hits, self.stereo_match, times=times)
        recorded.append({"hits": hits, "plane_z": call.plane_z})
        return call

    try:
        if not keep_body:
            _vertex._upstream_body = lambda z_all, e_all, anchor, **_: anchor
        _predictor.TrackFit._event_vertex = spy
        with open_dataset(path) as ds:
            pred = load_predictor("trackfit", ds)
            labels = ds.labels(pred.target)
            probs = pred.fn(ds.read_views(np.arange(ds.n_events)))[0]
    finally:
        _vertex._upstream_body = original_body
        _predictor.TrackFit._event_vertex = original_vertex
    return np.argmax(probs, axis=1), labels, recorded


def cues(hits: dict, plane_z: float, off_mm: float = 50.0) -> tuple[float, float] | None:
    """(fork distance in mm, Bragg ratio) along the X main track from ``plane_z``; None without one."""
    if "x" not in hits or not np.isfinite(plane_z):
        return None
    z, t, col, e = hits["x"]
    tracks = find_tracks("x", z, t, col, e, max_tracks=1)
    if not tracks:
        return None
    track = extend_upstream(tracks[0], z, t, col)
    down = z >= plane_z - 1.0
    on = down & (np.abs(t - np.array([track.t_at(q) for q in z])) <= off_mm)
    on_z = np.unique(z[on])
    if len(on_z) < 3:
        return None
    off_z = np.unique(z[down & ~on])
    plane_energy = np.array([e[on & (z == q)].sum() for q in on_z])
    fork = (off_z[0] if len(off_z) else np.inf) - plane_z
    return float(fork), float(plane_energy[:2].max() / max(np.median(plane_energy), 1e-6))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a simulated MINERvA file (it needs vtx_data truth)")
    args = parser.parse_args()
    with h5py.File(args.data, "r") as f:
        backward = f["vtx_data/backward"][:].astype(bool)
        pileup = f["vtx_data/pileup"][:].astype(bool)
        true_z = f["vtx_data/zs"][:]
    rank = np.empty(len(SEGMENT_Z_ORDER), dtype=int)
    rank[list(SEGMENT_Z_ORDER)] = np.arange(len(SEGMENT_Z_ORDER))
    for label, keep in (("trackfit", True), ("trackfit without the upstream-body rule", False)):
        pred, y, hits = run(args.data, keep)
        ok = pred == y
        up, down = ~ok & (rank[pred] < rank[y]), ~ok & (rank[pred] > rank[y])
        print(f"{label}: accuracy {ok.mean():.4f}; {int((~ok).sum())} errors, {int(up.sum())} upstream, "
              f"{int(down.sum())} downstream")
        for name, m in (("backward", backward), ("pile-up", pileup), ("neither", ~backward & ~pileup)):
            print(f"  {name:9s} {int(m.sum()):5d} events, {ok[m].mean():.3f} right, "
                  f"{int((up & m).sum())} errors upstream, {int((down & m).sum())} downstream")
        if keep:
            wrong = np.flatnonzero(backward & ~ok)
            x_up = all_up = 0
            for i in wrong:
                starts = {}
                for view, h in hits[i]["hits"].items():
                    tracks = find_tracks(view, *h, max_tracks=1) if len(h[0]) >= 3 else []
                    if tracks:
                        starts[view] = tracks[0].z_start < true_z[i] - 30.0
                x_up += bool(starts.get("x"))
                all_up += len(starts) == 3 and all(starts.values())
            print(f"  wrong backward events whose longest X track starts >30 mm upstream of the vertex: "
                  f"{x_up} of {len(wrong)}; in all three views: {all_up}")
            for name, m in (("wrong backward", backward & ~ok), ("right, neither cause", ok & ~backward & ~pileup)):
                found = [c for c in (cues(hits[i]["hits"], hits[i]["plane_z"]) for i in np.flatnonzero(m)) if c]
                fork = np.array([c[0] for c in found])
                bragg = np.array([c[1] for c in found])
                q = np.percentile(bragg, [25, 50, 75])
                print(f"  {name}: median fork distance {np.median(fork[np.isfinite(fork)]):.0f} mm; "
                      f"Bragg ratio quartiles {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}")


if __name__ == "__main__":
    main()
