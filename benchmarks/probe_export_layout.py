"""Would onnxruntime run conv4 faster with its filters padded to multiples of 16, or with the view
columns in parallel? A one-off probe behind the export speed figures in the README (issue 12).

onnxruntime on AVX-512 runs convolutions in its NCHWc layout with blocks of 16 channels; conv4's
12/20/28/36 filters are not multiples of 16, so it converts layouts around every pooling layer.
This exports conv4 and a copy with 16/32/32/48 filters (untrained: speed does not depend on the
weights) and times one batch of 256 events, interleaved, by CPU time with one intra-op thread;
then conv4 with ``ORT_PARALLEL`` execution (the three columns at once, 2 inter-op threads).

Usage: python benchmarks/probe_export_layout.py [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from bench_export import make_file, make_run  # noqa: E402


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _session(path: Path, parallel: bool = False):  # noqa: ANN202 - onnxruntime's own type
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if parallel:
        options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        options.inter_op_num_threads = 2
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    from nuclassify.export import export_run
    from nuclassify.models import load_spec

    with tempfile.TemporaryDirectory(prefix="nuclassify-probe-") as tmp:
        folder = Path(args.out or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / "events.h5"
        make_file(data, 256, 3)
        padded = copy.deepcopy(load_spec("conv4"))
        padded["name"] = "conv4-padded"
        for column in padded["columns"].values():
            for layer in column:
                if layer["kind"] == "conv":
                    layer["filters"] = -(-layer["filters"] // 16) * 16
        (folder / "conv4-padded.json").write_text(json.dumps(padded))
        files = {}
        for name, arch in (("conv4", "conv4"), ("padded", str(folder / "conv4-padded.json"))):
            make_run(folder / f"run-{name}", data, arch=arch)
            files[name] = folder / f"{name}.onnx"
            export_run(folder / f"run-{name}", files[name], verify=0)
        sessions = {"conv4": _session(files["conv4"]), "padded": _session(files["padded"]),
                    "conv4 ORT_PARALLEL": _session(files["conv4"], parallel=True)}
        rng = np.random.default_rng(0)
        feed = {v: rng.random((256, 127, w, 2), dtype=np.float32) for v, w in (("x", 50), ("u", 25), ("v", 25))}
        seconds: dict[str, list[float]] = {name: [] for name in sessions}
        for s in sessions.values():
            s.run(None, feed)
        for i in range(args.repeats):
            for name, s in (list(sessions.items()) if i % 2 == 0 else list(sessions.items())[::-1]):
                c0 = _cpu()
                s.run(None, feed)
                seconds[name].append(_cpu() - c0)
        base = min(seconds["conv4"])
        for name, values in seconds.items():
            print(f"{name}: {min(values):.3f} CPU-s per batch of 256 | baseline conv4 {base:.3f} | "
                  f"speed ratio {base / min(values):.2f}x")


if __name__ == "__main__":
    main()
