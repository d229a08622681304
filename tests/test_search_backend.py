"""Candidate processes: their share of the cores, and only their own backend's framework imported.

Issue 10 (performance): with 2 process workers on 2 cores, each fresh candidate process must not
size TensorFlow's thread pools to the whole machine, and must not import frameworks it never uses
(TensorFlow imports JAX when it is installed; Keras' ``set_random_seed`` imports TensorFlow on every
backend), since every candidate pays its imports again.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from nuclassify.search import SearchConfig, load_space, run_search
from nuclassify.search._child import unused_frameworks
from nuclassify.search._process import ProcessExecutor, thread_limits

THREAD_VARS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "OPENBLAS_NUM_THREADS")


@pytest.mark.parametrize(("workers", "cores", "threads"), [(2, 2, 1), (1, 2, 2), (2, 16, 8), (3, 16, 5), (4, 2, 1)])
def test_each_child_gets_its_share_of_the_cores(workers, cores, threads):
    env = thread_limits(workers, cores)
    assert {env[name] for name in THREAD_VARS} == {str(threads)}
    # XLA has no thread-count variable: its single-thread flags only when a child has one core
    assert ("XLA_FLAGS" in env) == (threads == 1)


def test_variables_the_user_set_are_kept(monkeypatch):
    for name in THREAD_VARS + ("XLA_FLAGS",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    executor = ProcessExecutor(2, gpus=[], prestart=False)
    for slot in executor._slots:
        assert "OMP_NUM_THREADS" not in slot.env  # the child inherits the user's 7
        assert slot.env["TF_NUM_INTRAOP_THREADS"] == str(thread_limits(2)["TF_NUM_INTRAOP_THREADS"])
    assert all(not slot.env for slot in ProcessExecutor(2, gpus=[], limit_threads=False)._slots)


def test_a_candidate_process_sees_its_thread_limits(tmp_path, monkeypatch):
    """End to end: the limits reach the fresh child's environment before its trainer runs."""
    for name in THREAD_VARS:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "envtrainer.py").write_text(textwrap.dedent("""
        import os

        def threads(spec, task):
            return {"val_accuracy": 0.5, "intra": float(os.environ["TF_NUM_INTRAOP_THREADS"]),
                    "omp": float(os.environ["OMP_NUM_THREADS"])}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned children get the parent's sys.path
    config = SearchConfig(load_space("images"), {"image": (8, 8, 1)}, 10, budget=2, trainer="envtrainer:threads",
                          population=2, tournament=2, seed=1)
    run_search(tmp_path / "run", config, ProcessExecutor(2, gpus=[], prestart=False))
    rows = [json.loads(line) for line in (tmp_path / "run" / "journal.jsonl").read_text().splitlines()]
    seen = [r for r in rows if "intra" in json.dumps(r)]
    expected = float(thread_limits(2)["TF_NUM_INTRAOP_THREADS"])
    assert seen and all(f'"intra": {expected}' in json.dumps(r) for r in seen)


@pytest.mark.parametrize(("backend", "unused"), [("tensorflow", ("jax", "torch")), ("jax", ("tensorflow", "torch")),
                                                 ("torch", ("tensorflow", "jax")), ("numpy", ())])
def test_unused_frameworks_of_each_backend(backend, unused):
    assert unused_frameworks(backend) == unused


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_a_candidate_imports_its_backend_only_and_still_seeds(backend):
    """The preload in a fresh process (as a candidate runs it): Keras starts on ``backend``, the other
    framework is never imported, and ``keras.utils.set_random_seed`` (which imports TensorFlow to seed
    it when it can) still works."""
    other = "tensorflow" if backend == "jax" else "jax"
    if importlib.util.find_spec(backend) is None or importlib.util.find_spec(other) is None:
        pytest.skip(f"needs {backend} and {other} installed")
    code = ("import logging, sys, nuclassify.search._preload, keras\n"
            "keras.utils.set_random_seed(3)\n"
            f"print(keras.backend.backend(), sys.modules.get({other!r}) is not None,"
            " logging.getLogger('tensorflow').getEffectiveLevel())")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("NUCLASSIFY_VERBOSE", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    backend_seen, other_imported, tf_log_level = result.stdout.split()[-3:]
    assert (backend_seen, other_imported) == (backend, "False")
    if backend == "tensorflow":  # a reused child's "tf.function retracing" warnings stay off the terminal
        assert int(tf_log_level) == logging.ERROR


def test_the_backend_is_found_as_keras_finds_it(tmp_path, monkeypatch):
    """KERAS_BACKEND first, else keras.json in KERAS_HOME, else TensorFlow: blocking the framework
    of a backend chosen in keras.json would break every candidate."""
    from nuclassify.search._child import backend_name

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backend_name() == "tensorflow"
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert backend_name() == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backend_name() == "torch"
