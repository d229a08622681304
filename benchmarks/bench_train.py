"""Training throughput: `nuclassify train` streaming from HDF5 vs model.fit on the same data in memory.

Same spec, same seed, same batch size, same backend, measured side by side in one run (the
in-memory baseline is the ceiling: the input pipeline costs nothing there). Goal >= 0.95x.
Epochs alternate (one from HDF5, one in memory, ...) so both see the same load on a shared
machine; the first of each is dropped (compilation) and the ratio is the median over epoch pairs.

usage: python benchmarks/bench_train.py [--events N] [--epochs E] [--batch B]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from _figures import record  # noqa: E402

SPEC = {
    "name": "bench-small",
    "views": ["x", "u", "v"],
    "columns": {v: [{"kind": "conv", "filters": 8, "kernel": [8, 3]}, {"kind": "pool", "size": [2, 1]},
                    {"kind": "conv", "filters": 12, "kernel": [7, 3]}, {"kind": "pool", "size": [4, 1]},
                    {"kind": "dense", "units": 32}] for v in ("x", "u", "v")},
    "head": [{"kind": "dense", "units": 32}],
    "training": {"optimizer": "adam", "learning_rate": 0.001},
}


def make_file(path: Path, n: int, seed: int = 0) -> None:
    """A 2016-layout file (X 127x50, U/V 127x25, 2 channels) at ~2% occupancy, hit lists on disk."""
    from nuclassify.data import MinervaBlock, SparseImages, write_minerva

    rng = np.random.default_rng(seed)
    seg = rng.integers(0, 11, n).astype(np.uint8)

    def view(width: int) -> SparseImages:
        per = int(127 * width * 0.02)
        counts = np.full(n, per)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        pixel = np.concatenate([rng.choice(127 * width, per, replace=False) for _ in range(n)]).astype(np.int32)
        values = np.stack([rng.gamma(2.0, 2.0, len(pixel)), rng.normal(50, 5, len(pixel))], 1).astype(np.float32)
        return SparseImages((2, 127, width), offsets, pixel, values)

    block = MinervaBlock({"x": view(50), "u": view(25), "v": view(25)}, seg, np.zeros(n, np.uint16),
                         np.zeros(n, np.float32), np.arange(n, dtype=np.uint64))
    write_minerva(path, [block], layout="2016", overwrite=True)


def bench(path: Path, epochs: int, batch: int, out: Path) -> tuple[list[float], list[float]]:
    """Epoch times of `train` (HDF5) and of model.fit on numpy, interleaved epoch by epoch.

    The in-memory epoch runs inside a callback at the end of each HDF5 epoch (after that epoch's
    clock stopped), on a second model built from the same spec and seed, so that both sides see
    the same machine load; the first epoch of each (tracing, compilation) is dropped.
    """
    import keras

    from nuclassify.data import open_dataset
    from nuclassify.models import build
    from nuclassify.training import TrainConfig, fit

    with open_dataset(path) as ds:
        xs = list(ds.read_views(None))
        y = ds.labels()
        shapes = dict(ds.view_shapes)
    keras.utils.set_random_seed(0)
    twin = build(SPEC, shapes, 11)
    twin.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    mem_times: list[float] = []

    class Clock(keras.callbacks.Callback):
        """Times the in-memory epoch itself (not fit()'s set-up of the numpy dataset)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            mem_times.append(time.perf_counter() - self.t)

    class InMemoryEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            twin.fit(xs, y, batch_size=batch, epochs=1, verbose=0, callbacks=[Clock()])

    result = fit(SPEC, TrainConfig(path, out, epochs=epochs, batch_size=batch, quiet=True, overwrite=True),
                 callbacks=[InMemoryEpoch()])
    h5_times = [r["seconds"] for r in result.history]
    return h5_times[1:], mem_times[1:]


def _fmt(values: list[float], digits: int = 0) -> str:
    return " / ".join(f"{v:,.{digits}f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2500)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    import keras

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"
        make_file(path, args.events)
        size_kb = path.stat().st_size / args.events / 1024
        h5_times, mem_times = bench(path, args.epochs, args.batch, Path(tmp) / "run")
    ratios = [m / h for h, m in zip(h5_times, mem_times, strict=True)]
    h5, base = args.events / statistics.median(h5_times), args.events / statistics.median(mem_times)
    print(f"backend {keras.backend.backend()}, {args.events} events ({size_kb:.1f} KB/event on disk), "
          f"batch {args.batch}, small 3-column net")
    print(f"train from HDF5: {h5:,.0f} ev/s | baseline model.fit in-memory numpy: {base:,.0f} ev/s "
          f"| ratio {statistics.median(ratios):.2f}x (goal >= 0.95x; median of epoch pairs {_fmt(ratios, 2)})")
    record(f"train from HDF5 ({keras.backend.backend()})", h5, "ev/s", baseline=base,
           baseline_name="model.fit in-memory numpy", ratio=statistics.median(ratios), goal=">= 0.95x",
           met=statistics.median(ratios) >= 0.95)


if __name__ == "__main__":
    main()
