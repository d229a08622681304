"""onnxruntime against Keras for every named network, not only conv4 (issue 12's speed goal).

``bench_export.py`` measures the seed's conv4 through the whole predict path. Whether the
exported file is faster or slower than Keras depends on the network's shapes (onnxruntime's
blocked NCHWc convolutions want channel counts that are multiples of 16 on AVX-512; inception
towers and 1x1 convolutions suit it), so this probe exports each named spec untrained (speed
does not depend on the weights) at the data's real sizes (MINERvA 2016 widths; NOvA 2x100x80)
and times the bare models on the same batch, one intra-op thread each, by the process's CPU
time, interleaved with the order alternating, and reports the best of the repetitions:

    events per CPU-second, onnxruntime (the library's session options) against Keras
    ``predict_on_batch`` on TensorFlow, and their ratio (> 1: onnxruntime faster).

Usage: python benchmarks/probe_export_specs.py [--specs conv4 cvn ...] [--repeats 5] [--batch 256]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from bench_export import make_file, make_run  # noqa: E402


def make_nova_file(path: Path, n: int, seed: int) -> None:
    from nuclassify.data import write_nova
    from nuclassify.simulate import simulate_nova

    write_nova(path, simulate_nova(n, seed=seed))


def main() -> None:
    from nuclassify.models import list_specs, load_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="*", default=None, help="named specs (default: all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from nuclassify._backend import start_backend_quietly
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import open_onnx
    from nuclassify.export import export_run
    from nuclassify.training import load_run

    start_backend_quietly()
    names = args.specs or list_specs()
    rows = []
    with tempfile.TemporaryDirectory(prefix="nuclassify-probe-") as tmp:
        folder = Path(tmp)
        files = {"minerva": folder / "minerva.h5", "nova": folder / "nova.h5"}
        make_file(files["minerva"], args.batch, 3)
        make_nova_file(files["nova"], args.batch, 3)
        for name in names:
            spec = load_spec(name)
            detector = "nova" if set(spec["views"]) <= {"xz", "yz"} else "minerva"
            run_dir, onnx_path = folder / f"run-{name}", folder / f"{name}.onnx"
            make_run(run_dir, files[detector], arch=name)
            export_run(run_dir, onnx_path, verify=0)
            with open_dataset(files[detector]) as ds:
                arrays = ds.read_views(np.arange(args.batch))
                views = list(ds.view_names)
            model = load_run(run_dir).model
            session = open_onnx(onnx_path, threads=1).session
            by_view = dict(zip(views, arrays, strict=True))
            ordered = [by_view[v] for v in spec["views"]]
            feed = {v: by_view[v] for v in spec["views"]}
            fns = {"keras": lambda m=model, o=ordered: m.predict_on_batch(o),
                   "onnx": lambda s=session, f=feed: s.run(None, f)}
            for fn in fns.values():
                fn()
            seconds: dict[str, list[float]] = {k: [] for k in fns}
            for i in range(args.repeats):
                for key in (list(fns) if i % 2 == 0 else list(fns)[::-1]):
                    c0 = time.process_time()
                    fns[key]()
                    seconds[key].append(time.process_time() - c0)
            k_rate, o_rate = (args.batch / min(seconds[k]) for k in ("keras", "onnx"))
            rows.append((name, o_rate, k_rate))
            print(f"{name:12s} onnxruntime {o_rate:7.0f} ev/CPU-s | baseline Keras {k_rate:7.0f} ev/CPU-s | "
                  f"ratio {o_rate / k_rate:.2f}x", flush=True)
    wins = sum(o >= k for _, o, k in rows)
    print(f"onnxruntime >= Keras on {wins} of {len(rows)} named specs (batch {args.batch}, one thread each)")


if __name__ == "__main__":
    main()
