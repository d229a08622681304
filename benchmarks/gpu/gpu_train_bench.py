"""GPU benchmark: `nuclassify` training from an HDF5 file vs the hand-written PyTorch anchor, same run.

Trains the epsilon network (or --arch) at the 2018 inputs X (127,94,2), U/V (127,47,2), 11 classes,
batch 1024, from a simulated-looking sparse HDF5 file, on whichever Keras backend is installed
(JAX preferred: engine "jax-loop", bf16 mixed precision, hits densified on the device; other
backends: engine "fit"). Then it runs ``anchor_bench.py --only torch`` (a copy of
../shared/bench/anchor_bench.py placed in the git-ignored .devbench/ by run_gpu_bench.sh) and
prints both figures and their ratio. ``--small`` shrinks everything so it runs on a CPU.

usage: python benchmarks/gpu/gpu_train_bench.py [--small] [--arch NAME] [--engine fit|jax-loop]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".devbench"


def pick_backend() -> str:
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    for name in ("jax", "tensorflow", "torch"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise SystemExit("no Keras backend installed (jax, tensorflow or torch)")


def make_file(path: Path, n: int, occupancy: float = 0.02, seed: int = 0) -> None:
    """2018-layout sparse file: X 127x94, U/V 127x47, 2 channels, ~2% of pixels hit."""
    import numpy as np

    from nuclassify.data import MinervaBlock, SparseImages, write_minerva

    rng = np.random.default_rng(seed)

    def view(width: int, m: int) -> SparseImages:
        per = max(1, int(127 * width * occupancy))
        offsets = np.arange(m + 1, dtype=np.int64) * per
        # distinct pixels per event: a random start and a random stride coprime-ish to the image size
        start = rng.integers(0, 127 * width, m)[:, None]
        pixel = ((start + np.arange(per)[None, :] * 37) % (127 * width)).astype(np.int32).ravel()
        values = np.stack([rng.gamma(2.0, 2.0, m * per), rng.normal(50, 5, m * per)], 1).astype(np.float32)
        return SparseImages((2, 127, width), offsets, pixel, values)

    def blocks():
        for b0 in range(0, n, 8192):
            m = min(8192, n - b0)
            seg = rng.integers(0, 11, m).astype(np.uint8)
            yield MinervaBlock({"x": view(94, m), "u": view(47, m), "v": view(47, m)}, seg,
                               np.zeros(m, np.uint16), np.zeros(m, np.float32),
                               np.arange(b0, b0 + m, dtype=np.uint64))

    write_minerva(path, blocks(), layout="2018", overwrite=True)


def run_ours(args: argparse.Namespace, backend: str, data: Path) -> dict:
    from nuclassify.training import TrainConfig, fit

    engine = args.engine or ("jax-loop" if backend == "jax" else "fit")
    t = time.perf_counter()
    precision = "fp32" if args.small else "mixed"
    result = fit(args.arch, TrainConfig(data, WORK / "run", epochs=args.epochs, batch_size=args.batch,
                                     precision=precision, overwrite=True, quiet=True, engine=engine,
                                     backup_every=None, seed=0))
    rates = [r["events_per_s"] for r in result.history]
    return {"impl": f"nuclassify-{backend}-{engine}", "dtype": precision, "arch": args.arch,
            "events_per_s": max(rates[1:] or rates), "epoch_rates": rates, "wall_s": round(time.perf_counter() - t, 1)}


def run_anchor(args: argparse.Namespace) -> list[dict]:
    anchor = WORK / "anchor_bench.py"
    if not anchor.is_file():
        return [{"impl": "torch", "error": f"{anchor} missing (run_gpu_bench.sh copies it there)"}]
    cmd = [sys.executable, str(anchor), "--only", "torch"] + (["--small"] if args.small else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return rows or [{"impl": "torch", "error": proc.stderr[-400:]}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="CPU-sized: 64 events, batch 32, 2 epochs, fp32")
    parser.add_argument("--arch", default="epsilon")
    parser.add_argument("--engine", choices=["fit", "jax-loop"], default=None)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    args.batch = 32 if args.small else 1024
    n = args.events or (64 if args.small else 1024 * 60)
    if args.small:
        args.epochs = 2
    backend = pick_backend()
    os.environ["KERAS_BACKEND"] = backend
    WORK.mkdir(exist_ok=True)
    data = WORK / f"bench_2018_{n}.h5"
    if not data.is_file():
        t = time.perf_counter()
        make_file(data, n)
        print(json.dumps({"made": str(data), "events": n, "seconds": round(time.perf_counter() - t, 1),
                          "mb": round(data.stat().st_size / 2**20, 1)}), flush=True)
    ours = run_ours(args, backend, data)
    print(json.dumps(ours), flush=True)
    anchors = run_anchor(args)
    for row in anchors:
        print(json.dumps(row), flush=True)
    best = max((r for r in anchors if "events_per_s" in r), key=lambda r: r["events_per_s"], default=None)
    if best is None:
        print(f"nuclassify {ours['impl']}: {ours['events_per_s']:,.0f} ev/s | anchor: not measured", flush=True)
        return
    label = f"torch {best['dtype']}{' + compile' if best.get('compile') else ''}"
    print(f"nuclassify {ours['impl']} ({args.arch}, batch {args.batch}, from HDF5): {ours['events_per_s']:,.0f} ev/s"
          f" | anchor hand-written {label} (data on device): {best['events_per_s']:,.0f} ev/s"
          f" | ratio {ours['events_per_s'] / best['events_per_s']:.2f}x (goal >= 1.0x)", flush=True)


if __name__ == "__main__":
    main()
