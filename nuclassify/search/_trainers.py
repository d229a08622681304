"""Trainers that train nothing: for tests, benchmarks and dry runs of the search machinery.

The trainer contract (what ``--trainer``/``SearchConfig.trainer`` names, as ``"module:function"``)::

    trainer(spec: dict, task: dict) -> dict

``spec`` is the candidate's full architecture spec (what ``train --arch`` takes). ``task`` holds
``candidate_id``, ``seed`` (a per-candidate training seed), ``input_shapes``, ``n_classes``,
``options`` (the search's trainer options, e.g. data files and epochs), ``run_dir`` and
``attempt``. It returns numbers: every objective (e.g. ``val_accuracy``), and optionally
``params``, ``train_seconds`` and anything else worth a column in ``results.csv``. Raising
fails the candidate with the exception as its reason; a NaN objective fails it as ``nan``.

It runs in a fresh child process (process executor) or in the master (serial executor), so
its module must import cheaply and pull in Keras only inside the function.
"""

from __future__ import annotations

import math
import os
import signal
import time

from nuclassify.models import walk_spec

__all__ = ["toy_score", "noop", "sleep", "device", "failing", "crashing", "hanging", "nan", "scripted"]


def toy_score(spec: dict) -> float:
    """A made-up, deterministic "accuracy" in (0, 1) with some structure for a search to climb.

    It rewards a few conv layers with moderate filter counts and a learning rate near 1e-3,
    so that strategies can be compared without training anything.
    """
    convs = [lay for layers in spec["columns"].values() for lay in layers if lay.get("kind") == "conv"]
    depth = 1 - math.exp(-len(convs) / 3)
    width = math.exp(-((math.log2(max(sum(c["filters"] for c in convs) / max(len(convs), 1), 1)) - 5) / 2) ** 2)
    lr = spec.get("training", {}).get("learning_rate", 1e-3)
    rate = math.exp(-((math.log10(lr) + 3) / 0.8) ** 2)
    return round(0.1 + 0.85 * depth * (0.5 + 0.5 * width) * (0.6 + 0.4 * rate), 6)


def noop(spec: dict, task: dict) -> dict:
    """No training at all: the toy score at once (the master-throughput benchmark's trainer)."""
    return {"val_accuracy": toy_score(spec), "train_seconds": 0.0}


def sleep(spec: dict, task: dict) -> dict:
    """Sleep ``options["sleep"]`` seconds (default 0.2), then the toy score: a stand-in for training."""
    seconds = float(task.get("options", {}).get("sleep", 0.2))
    time.sleep(seconds)
    return {"val_accuracy": toy_score(spec), "train_seconds": seconds}


def device(spec: dict, task: dict) -> dict:
    """The toy score and the GPU this worker was given (``cuda_visible_device``, -1 for none)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return {"val_accuracy": toy_score(spec), "cuda_visible_device": float(visible) if visible.isdigit() else -1.0}


def failing(spec: dict, task: dict) -> dict:
    raise RuntimeError("this trainer always fails")


def crashing(spec: dict, task: dict) -> dict:
    """Die as the out-of-memory killer kills: SIGKILL, no goodbye."""
    os.kill(os.getpid(), signal.SIGKILL)
    return {}  # pragma: no cover - never reached


def hanging(spec: dict, task: dict) -> dict:
    """Never return (until the executor's candidate timeout kills the process)."""
    while True:
        time.sleep(60)


def nan(spec: dict, task: dict) -> dict:
    return {"val_accuracy": float("nan")}


def scripted(spec: dict, task: dict) -> dict:
    """Behave per candidate id as ``options["script"]`` says, else like :func:`sleep`.

    ``{"script": {"2": "crash", "4": "hang", "6": "invalid", "8": "nan", "9": "fail"}}``;
    ``"disk-full-once"`` raises the OutputError of a full disk the first time (a mark in
    ``run_dir`` remembers it); ``"invalid"`` breaks the spec and walks it, so the candidate fails
    as a spec that cannot be built would; ``"interrupt"`` raises KeyboardInterrupt (Ctrl-C in the
    middle of a candidate), and ``"interrupt-once"`` does so only the first time (it leaves a
    mark in ``run_dir``), so a resumed search with the same options gets past it; ``"leak"``
    keeps ``options["leak_mb"]`` MiB alive for the rest of the process's life. With
    ``options["report_pid"]`` the result carries the process id (``pid``).
    """
    action = task.get("options", {}).get("script", {}).get(str(task["candidate_id"]), "sleep")
    if action == "crash":
        return crashing(spec, task)
    if action == "hang":
        return hanging(spec, task)
    if action == "nan":
        return nan(spec, task)
    if action == "fail":
        return failing(spec, task)
    if action == "interrupt":
        raise KeyboardInterrupt
    if action == "interrupt-once":
        mark = os.path.join(task["run_dir"], f".interrupted-{task['candidate_id']}")
        if not os.path.exists(mark):
            open(mark, "w").close()
            raise KeyboardInterrupt
    if action == "disk-full-once":
        mark = os.path.join(task["run_dir"], f".disk-full-{task['candidate_id']}")
        if not os.path.exists(mark):
            open(mark, "w").close()
            from nuclassify.errors import OutputError

            raise OutputError(f"{task['run_dir']}/candidates/{task['candidate_id']}/best.keras: no space left on "
                              "device (free 0 B)")
    if action == "invalid":
        first = next(iter(spec["columns"]))
        spec["columns"][first].insert(0, {"kind": "conv", "filters": 1, "kernel": [10_000, 1]})
        walk_spec(spec, {v: tuple(s) for v, s in task["input_shapes"].items()})
    if action == "leak":  # keep memory for the rest of the process's life, as a leaking framework would
        _LEAKED.append(b"\x01" * (int(task["options"].get("leak_mb", 64)) * 2**20))
    result = sleep(spec, task)
    if task.get("options", {}).get("report_pid"):
        result["pid"] = float(os.getpid())
    return result


#: what ``scripted``'s ``"leak"`` action keeps alive
_LEAKED: list[bytes] = []
