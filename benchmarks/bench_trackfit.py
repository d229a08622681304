"""Events/s per core of trackfit beside the old Hough baseline (hough) and the experimental Kalman chain (TrackReco).

Both run in the same process on the same in-memory events (reading the file is not timed), numpy
single-threaded, best of three runs (the shared machine's load only ever slows a run). Goal
(issue 14): >= 500 events/s per core for trackfit.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _figures import record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

N_EVENTS = int(os.environ.get("BENCH_TRACKFIT_EVENTS", "2000"))
BATCH = 256
GOAL = 500.0


def _events(path: Path) -> tuple:
    from nuclassify.data import open_dataset, write_minerva

    try:
        from nuclassify.simulate import simulate_minerva

        write_minerva(path, simulate_minerva(N_EVENTS, seed=7))
        kind = "simulated"
    except ImportError:
        from test_trackfit import write_track_file

        write_track_file(path, n=N_EVENTS, seed=7)
        kind = "straight-track"
    with open_dataset(path) as ds:
        return kind, ds.view_names, ds.view_shapes, ds.read_views(np.arange(ds.n_events)), ds.labels()


def _rate(fit, views, n: int, repeats: int = 3) -> tuple[float, np.ndarray]:
    best = float("inf")
    seg = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        seg = np.concatenate([fit.predict([v[s:s + BATCH] for v in views]).segment for s in range(0, n, BATCH)])
        best = min(best, time.perf_counter() - t0)
    return n / best, seg


def main() -> int:
    from nuclassify.evaluation.trackfit import HoughFit, TrackFit, TrackReco

    with tempfile.TemporaryDirectory() as tmp:
        kind, names, shapes, views, labels = _events(Path(tmp) / "bench.h5")
    n = len(labels)
    fit_rate, fit_seg = _rate(TrackFit(names, shapes), views, n)
    hough_rate, hough_seg = _rate(HoughFit(names, shapes), views, n)
    reco_rate, reco_seg = _rate(TrackReco(names, shapes), views, n)
    print(f"trackfit bench: {n} {kind} events, batch {BATCH}, 1 thread")
    for name, rate, seg in (("trackfit", fit_rate, fit_seg), ("hough (old baseline)", hough_rate, hough_seg),
                            ("trackreco (Kalman + adaptive vertex)", reco_rate, reco_seg)):
        print(f"  {name:36s}: {rate:8.0f} ev/s per core   accuracy {np.mean(seg == labels):.3f}")
    print(f"  ratio trackfit/hough {fit_rate / hough_rate:.2f}; goal >= {GOAL:.0f} ev/s: "
          f"{'met' if fit_rate >= GOAL else 'NOT met'}")
    record("trackfit (1 core)", fit_rate, "ev/s", baseline=hough_rate, baseline_name="hough (old baseline)",
           goal=f">= {GOAL:.0f} ev/s per core", met=fit_rate >= GOAL, accuracy=float(np.mean(fit_seg == labels)),
           baseline_accuracy=float(np.mean(hough_seg == labels)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
