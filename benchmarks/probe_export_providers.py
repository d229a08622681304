"""Would another onnxruntime setting or execution provider run conv4 faster on the CPU? A one-off probe (issue 12).

Times one batch of 256 conv4 events (2016 MINERvA widths, untrained: speed does not depend on the
weights) by process CPU time with one intra-op thread, interleaved and repeated, for:

- ``ORT_ENABLE_ALL`` (what ``predict`` uses: the NCHWc layout transform), the baseline;
- ``ORT_ENABLE_EXTENDED`` (no NCHWc transform: plain im2col convolutions);
- denormals flushed to zero (``session.set_denormal_as_zero``);
- the OpenVINO execution provider, when the installed onnxruntime has it (``pip install
  onnxruntime-openvino`` in a separate environment: it replaces the ``onnxruntime`` package).

Prints the median CPU seconds per batch and the ratio to the baseline (above 1: faster).

Usage: python benchmarks/probe_export_providers.py --onnx conv4.onnx [--repeats 6]
       (make the file with ``nuclassify export``, or ``benchmarks/probe_export_layout.py --out DIR``)
"""

from __future__ import annotations

import argparse
import resource

import numpy as np


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _sessions(path: str) -> dict:
    import onnxruntime as ort

    def options(**entries: str):  # noqa: ANN202 - onnxruntime's own type
        o = ort.SessionOptions()
        o.intra_op_num_threads = 1
        o.add_session_config_entry("session.intra_op.allow_spinning", "0")
        for key, value in entries.items():
            o.add_session_config_entry(key, value)
        return o

    extended = options()
    extended.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    cpu = ["CPUExecutionProvider"]
    out = {"ORT_ENABLE_ALL (baseline)": ort.InferenceSession(path, options(), providers=cpu),
           "ORT_ENABLE_EXTENDED": ort.InferenceSession(path, extended, providers=cpu),
           "denormals as zero": ort.InferenceSession(path, options(**{"session.set_denormal_as_zero": "1"}),
                                                     providers=cpu)}
    if "OpenVINOExecutionProvider" in ort.get_available_providers():
        out["OpenVINO EP"] = ort.InferenceSession(
            path, options(), providers=["OpenVINOExecutionProvider"],
            provider_options=[{"device_type": "CPU", "num_of_threads": "1", "precision": "FP32"}])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", required=True, help="an exported conv4 .onnx (2016 widths)")
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    sessions = _sessions(args.onnx)
    rng = np.random.default_rng(0)
    feed = {v: rng.random((256, 127, w, 2), dtype=np.float32) for v, w in (("x", 50), ("u", 25), ("v", 25))}
    reference = None
    for name, s in sessions.items():  # warm up, and check every setting computes the same thing
        probs = s.run(None, feed)[0]
        reference = probs if reference is None else reference
        print(f"{name}: largest difference from the baseline {float(np.abs(probs - reference).max()):.1e}")
    seconds: dict[str, list[float]] = {name: [] for name in sessions}
    for i in range(args.repeats):
        for name, s in (list(sessions.items()) if i % 2 == 0 else list(sessions.items())[::-1]):
            c0 = _cpu()
            s.run(None, feed)
            seconds[name].append(_cpu() - c0)
    base = float(np.median(seconds["ORT_ENABLE_ALL (baseline)"]))
    for name, values in seconds.items():
        m = float(np.median(values))
        print(f"{name:28s} {m:.3f} CPU-s per batch of 256  {base / m:.2f}x the baseline's speed")


if __name__ == "__main__":
    main()
