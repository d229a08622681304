"""Predicting from an exported ``.onnx`` (onnxruntime) against Keras, on the same events, same run.

Goal (issue 12): onnxruntime >= 1.0x the events/s of Keras on the CPU, with a much shorter
start-up. The network is the seed talk's best, ``conv4`` (1.24 M parameters), at the 2016
MINERvA image widths (untrained: speed does not depend on the weights).

Figures, each the best of three runs (a shared machine's load only ever slows a run):

- the library's predict path (file -> probabilities, as ``nuclassify predict`` runs it) for the
  run directory (Keras ``predict_on_batch``) and for the exported file (onnxruntime);
- the raw models on the same events in memory (Keras ``predict_on_batch`` against
  ``InferenceSession.run``), batch by batch;
- start-up: the wall time of the whole ``nuclassify predict`` command on a file of 8 events, each
  a fresh process (imports, model load, first batch), for the run directory and for the .onnx.

``BENCH_EXPORT_EVENTS`` sets the number of events (default 2048). ``BENCH_EXPORT_THREADS=1`` gives
both runtimes one thread and compares the models in memory by CPU time as well: a per-core figure that
other jobs on a shared machine disturb much less than wall time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_EVENTS = int(os.environ.get("BENCH_EXPORT_EVENTS", "2048"))
THREADS = int(os.environ.get("BENCH_EXPORT_THREADS", "0"))  # 0: each runtime's default
N_STARTUP = 8
BATCH = 256
ARCH = "conv4"


def make_file(path: Path, n: int, seed: int) -> None:
    from nuclassify.data import write_minerva
    from nuclassify.simulate import simulate_minerva

    write_minerva(path, simulate_minerva(n, seed=seed, layout="2016"), layout="2016")


def make_run(run_dir: Path, data: Path) -> None:
    """A run directory holding an untrained ``conv4`` for ``data``'s views, as ``train`` would leave it."""
    import keras

    from nuclassify.data import open_dataset
    from nuclassify.models import build, load_spec

    spec = load_spec(ARCH)
    with open_dataset(data) as ds:
        shapes = {v: tuple(ds.view_shapes[v]) for v in spec["views"]}
        meta = {"arch": ARCH, "target": ds.default_target, "views": spec["views"],
                "input_shapes": {v: list(s) for v, s in shapes.items()}, "n_classes": ds.n_classes(),
                "class_names": list(ds.class_names()), "layout": ds.layout, "status": "complete",
                "valid": str(data)}
    keras.utils.set_random_seed(0)
    model = build(spec, shapes, meta["n_classes"])
    run_dir.mkdir()
    model.save(run_dir / "model.keras")
    (run_dir / "spec.json").write_text(json.dumps(spec))
    (run_dir / "run.json").write_text(json.dumps(meta))


def _best(fn, repeats: int = 3, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def predict_path_rates(run_dir: Path, onnx_path: Path, data: Path) -> tuple[float, float]:
    """Events/s of the library predict path (file -> probabilities) for Keras and for onnxruntime."""
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import iter_predictions, load_predictor

    with open_dataset(data) as ds:
        n = ds.n_events
        rates = []
        for spec in (str(run_dir), str(onnx_path)):
            pred = load_predictor(spec, ds)
            pred.fn(ds.read_views(np.arange(min(n, BATCH))))  # warm up (graph tracing, session arenas)
            rates.append(n / _best(lambda p=pred: [None for _ in iter_predictions(ds, p.fn, batch_size=BATCH)]))
    return rates[0], rates[1]


def in_memory_rates(run_dir: Path, onnx_path: Path, data: Path, clock=time.perf_counter) -> tuple[float, float]:
    """Events/s of the bare models on arrays already in memory, batch by batch (``clock``: wall or CPU time)."""
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import open_onnx
    from nuclassify.training import load_run

    with open_dataset(data) as ds:
        arrays = ds.read_views(np.arange(ds.n_events))
        views = list(ds.view_names)
    n = len(arrays[0])
    model = load_run(run_dir).model
    session = open_onnx(onnx_path, threads=THREADS).session

    def keras_all() -> None:
        for i in range(0, n, BATCH):
            model.predict_on_batch([a[i:i + BATCH] for a in arrays])

    def ort_all() -> None:
        for i in range(0, n, BATCH):
            session.run(None, {v: a[i:i + BATCH] for v, a in zip(views, arrays, strict=True)})

    keras_all()
    ort_all()
    return n / _best(keras_all, clock=clock), n / _best(ort_all, clock=clock)


def startup_seconds(model: Path, data: Path) -> float:
    """Best wall time of ``nuclassify predict`` on a few events, a fresh process each time."""
    cmd = [sys.executable, "-m", "nuclassify", "-q", "predict", "--model", str(model), "--data", str(data)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")

    def once() -> None:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)

    return _best(once)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from nuclassify._backend import start_backend_quietly

    start_backend_quietly()
    if THREADS:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    from nuclassify.export import export_run

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        data, few = d / "events.h5", d / "few.h5"
        make_file(data, N_EVENTS, seed=7)
        make_file(few, N_STARTUP, seed=8)
        make_run(d / "run", data)
        t0 = time.perf_counter()
        result = export_run(d / "run", d / "model.onnx", verify=256)
        export_s = time.perf_counter() - t0
        print(f"export {ARCH} -> ONNX opset {result.opset}: {export_s:.1f} s with verification on 256 events "
              f"(max |dp| {result.verification.max_abs_diff:.1e}, argmax {result.verification.argmax_agree}/256)")
        if THREADS:  # the predict path opens onnxruntime with its default threads: compare in memory only
            keras_cpu, ort_cpu = in_memory_rates(d / "run", d / "model.onnx", data, clock=time.process_time)
            print(f"in memory, {THREADS} thread(s) each, CPU time: onnxruntime {ort_cpu:,.0f} ev/s | "
                  f"baseline Keras {keras_cpu:,.0f} ev/s | ratio {ort_cpu / keras_cpu:.2f}x (goal >= 1.0x)")
        else:
            keras_path, ort_path = predict_path_rates(d / "run", d / "model.onnx", data)
            print(f"predict path (file -> probabilities, {N_EVENTS} events): onnxruntime {ort_path:,.0f} ev/s | "
                  f"baseline Keras {keras_path:,.0f} ev/s | ratio {ort_path / keras_path:.2f}x (goal >= 1.0x)")
        keras_mem, ort_mem = in_memory_rates(d / "run", d / "model.onnx", data)
        print(f"in memory (predict_on_batch vs InferenceSession.run, wall): onnxruntime {ort_mem:,.0f} ev/s | "
              f"baseline Keras {keras_mem:,.0f} ev/s | ratio {ort_mem / keras_mem:.2f}x")
        s_keras = startup_seconds(d / "run", few)
        s_onnx = startup_seconds(d / "model.onnx", few)
        print(f"start-up (whole 'nuclassify predict' on {N_STARTUP} events, fresh process): .onnx {s_onnx:.2f} s | "
              f"baseline run directory (Keras) {s_keras:.2f} s | ratio {s_keras / s_onnx:.1f}x shorter")


if __name__ == "__main__":
    main()
