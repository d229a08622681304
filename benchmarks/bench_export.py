"""Predicting from an exported ``.onnx`` (onnxruntime) against Keras, on the same events, same run.

Goal (issue 12): onnxruntime >= 1.0x the events/s of Keras on the CPU, with a much shorter
start-up. The network is the seed talk's best, ``conv4`` (1.24 M parameters), at the 2016
MINERvA image widths (untrained: speed does not depend on the weights).

The machine is shared, so every figure comes from runs that are interleaved with their baseline
(the order alternating from one repetition to the next) and repeated; a ratio is the median of
the per-repetition ratios, and events/s the best repetition. Each is given twice:

- wall: events/s as a user sees them, with each runtime's own threads;
- CPU: the process's CPU time (all its threads) per event. Other jobs on a shared machine
  disturb it far less than wall time, and it is what a farm of single-threaded reconstruction
  jobs pays for.

Figures:

- the library's predict path (file -> probabilities, as ``nuclassify predict`` runs it, with the
  data read ahead in a thread) for the run directory (Keras ``predict_on_batch``) and for the
  exported file (onnxruntime, with :func:`nuclassify.evaluation._onnx.session_options`), and, as a
  second baseline, for the exported file through onnxruntime's default spin-waiting workers;
- the bare models on the same events in memory (Keras ``predict_on_batch`` against
  ``InferenceSession.run``), batch by batch;
- start-up: the wall time of the whole ``nuclassify predict`` command on a file of 8 events, each
  a fresh process (imports, model load, first batch), for the run directory and for the .onnx.

``BENCH_EXPORT_EVENTS`` sets the number of events (default 1024), ``BENCH_EXPORT_REPEATS`` the
repetitions (default 5). ``BENCH_EXPORT_THREADS=N`` gives both runtimes N intra-op threads in the
in-memory comparison (0, the default: each runtime's own choice).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _figures import record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_EVENTS = int(os.environ.get("BENCH_EXPORT_EVENTS", "1024"))
REPEATS = int(os.environ.get("BENCH_EXPORT_REPEATS", "5"))
THREADS = int(os.environ.get("BENCH_EXPORT_THREADS", "0"))  # 0: each runtime's default
N_STARTUP = 8
BATCH = 256
ARCH = "conv4"
GOAL = ">= 1.0x Keras"


def make_file(path: Path, n: int, seed: int) -> None:
    from nuclassify.data import write_minerva
    from nuclassify.simulate import simulate_minerva

    write_minerva(path, simulate_minerva(n, seed=seed, layout="2016"), layout="2016")


def make_run(run_dir: Path, data: Path, arch: str = ARCH) -> None:
    """A run directory holding an untrained ``arch`` for ``data``'s views, as ``train`` would leave it."""
    import keras

    from nuclassify.data import open_dataset
    from nuclassify.models import build, load_spec

    spec = load_spec(arch)
    with open_dataset(data) as ds:
        shapes = {v: tuple(ds.view_shapes[v]) for v in spec["views"]}
        meta = {"arch": arch, "target": ds.default_target, "views": spec["views"],
                "input_shapes": {v: list(s) for v, s in shapes.items()}, "n_classes": ds.n_classes(),
                "class_names": list(ds.class_names()), "layout": ds.layout, "status": "complete",
                "valid": str(data)}
    keras.utils.set_random_seed(0)
    model = build(spec, shapes, meta["n_classes"])
    run_dir.mkdir()
    model.save(run_dir / "model.keras")
    (run_dir / "spec.json").write_text(json.dumps(spec))
    (run_dir / "run.json").write_text(json.dumps(meta))


def interleaved(fns: dict[str, Callable[[], object]], repeats: int = REPEATS) -> dict[str, list[tuple[float, float]]]:
    """(wall s, CPU s) of each function per repetition, run in turn, the order reversed every other time.

    Interleaving puts each candidate and its baseline under the same load; alternating the
    order stops one of them always running first, in the cache state the other left.
    """
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for rep in range(repeats):
        for name in (list(fns) if rep % 2 == 0 else list(fns)[::-1]):
            w0, c0 = time.perf_counter(), time.process_time()
            fns[name]()
            times[name].append((time.perf_counter() - w0, time.process_time() - c0))
    return times


def ratios(times: dict[str, list[tuple[float, float]]], name: str, base: str) -> tuple[float, float]:
    """Median over repetitions of base time / candidate time: (wall ratio, CPU ratio); > 1: candidate faster."""
    pairs = list(zip(times[name], times[base], strict=True))
    return (statistics.median(b[0] / c[0] for c, b in pairs), statistics.median(b[1] / c[1] for c, b in pairs))


def rate(times: dict[str, list[tuple[float, float]]], name: str, n: int) -> tuple[float, float]:
    """(events/s over the best wall time, events per CPU second over the least CPU time)."""
    return n / min(t[0] for t in times[name]), n / min(t[1] for t in times[name])


def report(label: str, times: dict, n: int, name: str, base: str, base_label: str, goal: str = "") -> None:
    """Print and record one comparison: candidate and baseline rates, wall and CPU ratios."""
    (wall, cpu), (bwall, bcpu) = rate(times, name, n), rate(times, base, n)
    rw, rc = ratios(times, name, base)
    print(f"{label}: {wall:,.0f} ev/s ({cpu:,.0f} ev/CPU-s) | baseline {base_label} {bwall:,.0f} ev/s "
          f"({bcpu:,.0f} ev/CPU-s) | ratio wall {rw:.2f}x, CPU {rc:.2f}x{f' (goal {goal})' if goal else ''}")
    record(f"{label}, wall", wall, "ev/s", baseline=bwall, baseline_name=base_label, ratio=rw, goal=goal,
           met=(rw >= 1.0) if goal else None)
    record(f"{label}, CPU time", cpu, "ev/CPU-s", baseline=bcpu, baseline_name=base_label, ratio=rc)


def predict_path(run_dir: Path, onnx_path: Path, data: Path) -> None:
    """The library predict path (file -> probabilities): Keras, onnxruntime, onnxruntime spin-waiting."""
    from nuclassify.data import open_dataset
    from nuclassify.evaluation import iter_predictions, load_predictor, onnx_predict_fn, open_onnx

    with open_dataset(data) as ds:
        n = ds.n_events
        keras_fn = load_predictor(str(run_dir), ds).fn
        ort = load_predictor(str(onnx_path), ds)
        spinning = open_onnx(onnx_path, spinning=True)
        spin_fn = onnx_predict_fn(spinning, list(spinning.metadata["views"]), list(ds.view_names))
        fns = {"keras": keras_fn, "onnx": ort.fn, "onnx_spin": spin_fn}
        warm = ds.read_views(np.arange(min(n, BATCH)))
        for fn in fns.values():
            fn(warm)  # graph tracing, session arenas
        times = interleaved({k: (lambda f=f: [None for _ in iter_predictions(ds, f, batch_size=BATCH)])
                             for k, f in fns.items()})
    report(f"predict path .onnx (file -> probabilities, {n} events)", times, n, "onnx", "keras", "Keras", GOAL)
    report("predict path .onnx, no spin-waiting", times, n, "onnx", "onnx_spin", "onnxruntime spin-waiting")


def in_memory(run_dir: Path, onnx_path: Path, data: Path) -> None:
    """Events/s of the bare models on arrays already in memory, batch by batch."""
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
    times = interleaved({"keras": keras_all, "onnx": ort_all})
    threads = f"{THREADS} thread(s) each" if THREADS else "default threads"
    report(f"in memory, InferenceSession.run vs predict_on_batch ({threads})", times, n, "onnx", "keras", "Keras")


def startup(run_dir: Path, onnx_path: Path, data: Path) -> None:
    """Wall time of ``nuclassify predict`` on a few events, a fresh process each time, interleaved."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")

    def command(model: Path) -> Callable[[], object]:
        cmd = [sys.executable, "-m", "nuclassify", "-q", "predict", "--model", str(model), "--data", str(data)]
        return lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)

    times = interleaved({"keras": command(run_dir), "onnx": command(onnx_path)}, repeats=3)
    s_keras, s_onnx = (min(t[0] for t in times[k]) for k in ("keras", "onnx"))
    ratio = statistics.median(k[0] / o[0] for k, o in zip(times["keras"], times["onnx"], strict=True))
    print(f"start-up (whole 'nuclassify predict' on {N_STARTUP} events, fresh process): .onnx {s_onnx:.2f} s | "
          f"baseline run directory (Keras) {s_keras:.2f} s | ratio {ratio:.1f}x shorter")
    record("start-up of predict, .onnx", s_onnx, "s", baseline=s_keras, baseline_name="run directory (Keras)",
           ratio=ratio, goal="much shorter (> 1x)", met=ratio > 1.0)


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
              f"(max |dp| {result.verification.max_abs_diff:.1e}, argmax {result.verification.argmax_agree}/256); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        predict_path(d / "run", d / "model.onnx", data)
        in_memory(d / "run", d / "model.onnx", data)
        startup(d / "run", d / "model.onnx", few)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
