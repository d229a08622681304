"""The same `nuclassify train` command on every installed Keras backend (each in its own process)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _train(backend: str, data, spec_path, out, *extra: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "nuclassify", "train", "--data", str(data), "--arch", str(spec_path), "--out",
           str(out), "--epochs", "2", "--valid-fraction", "0.25", "--json", *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_train_on_each_installed_backend(backend, tiny_minerva, tiny_spec, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    out = tmp_path / f"run-{backend}"
    summary = _train(backend, tiny_minerva, spec_path, out)
    assert summary["backend"] == backend and summary["epochs_completed"] == 2
    meta = json.loads((out / "run.json").read_text())
    assert meta["backend"] == backend and meta["status"] == "complete"
    assert backend in meta["versions"]
    # A model trained on any backend loads here (the test process's backend) and predicts.
    from nuclassify.data import open_dataset
    from nuclassify.training import load_run

    run = load_run(out)
    with open_dataset(tiny_minerva) as ds:
        xs, _ = next(ds.batches(4))
    probs = np.asarray(run.model.predict(list(xs), verbose=0))
    assert probs.shape == (4, 11)


def _majority_fraction(data, valid_fraction: float = 0.25, seed: int = 0) -> float:
    """Accuracy of always guessing the commonest class of the validation split (the class prior)."""
    from nuclassify.data import open_dataset, split_indices

    with open_dataset(data) as ds:
        _, valid = split_indices(ds.n_events, valid_fraction, seed)
        labels = ds.labels(None, valid)
    return float(np.bincount(labels).max() / len(labels))


def test_jax_loop_engine_mixed_precision(tiny_minerva, tiny_spec, tmp_path):
    """The jitted bf16 loop learns: the tiny file's label is a band of hits, so after two epochs the
    validation accuracy is far above the class prior (0.17 here; seen: 0.88-1.0)."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    out = tmp_path / "run"
    summary = _train("jax", tiny_minerva, spec_path, out, "--engine", "jax-loop", "--precision", "mixed",
                     "--backup-every", "2", "--class-weights", "balanced")
    assert summary["epochs_completed"] == 2
    prior = _majority_fraction(tiny_minerva)
    assert prior < 0.25
    assert summary["last_epoch"]["val_accuracy"] > max(0.5, 2 * prior), summary["last_epoch"]
    assert np.isfinite(summary["last_epoch"]["loss"])
    rows = (out / "history.csv").read_text().splitlines()
    assert len(rows) == 3 and "val_loss" in rows[0]
    assert json.loads((out / "run.json").read_text())["engine"] == "jax-loop"


def test_jax_data_parallel_on_two_devices(tiny_minerva, tiny_spec, tmp_path):
    """--distribute on JAX shards every batch over 2 (host) devices; short final batches are left out."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    base = [sys.executable, "-m", "nuclassify", "train", "--data", str(tiny_minerva), "--arch", str(spec_path),
            "--epochs", "1", "--valid-fraction", "0.25", "--distribute"]
    # 72 training events, batch 20: 3 full batches and a short one of 12, which is left out.
    out = tmp_path / "run"
    proc = subprocess.run([*base, "--out", str(out), "--batch-size", "20", "--json"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dist = json.loads((out / "run.json").read_text())["distribution"]
    assert dist["strategy"] == "DataParallel" and dist["replicas"] == 2
    assert dist["events_per_epoch"] == {"train": 60, "valid": 20}
    # A batch that does not split over the devices is refused in one line, and leaves no run behind.
    bad = tmp_path / "bad"
    proc = subprocess.run([*base, "--out", str(bad), "--batch-size", "15"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert "does not split evenly over 2 replicas" in proc.stderr.strip().splitlines()[-1]
    assert not bad.exists()


def test_tf_mirrored_strategy_on_two_devices(tiny_minerva, tiny_spec, tmp_path):
    """MirroredStrategy over two logical CPU devices trains and records its replicas."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed")
    script = f"""
import json, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from nuclassify.training import TrainConfig, fit
r = fit({tiny_spec!r}, TrainConfig({str(tiny_minerva)!r}, {str(tmp_path / "run")!r}, epochs=2, batch_size=16,
                                  valid_fraction=0.25, distribute=True, quiet=True))
print(json.dumps({{"dist": r.meta["distribution"], "epochs": r.epochs_completed}}))
"""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["epochs"] == 2
    assert got["dist"]["strategy"] == "MirroredStrategy" and got["dist"]["replicas"] == 2
    assert got["dist"]["events_per_epoch"] == {"train": 64, "valid": 16}


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_two_tf_workers_from_tf_config(tiny_minerva, tiny_spec, tmp_path):
    """Two workers on localhost (TF_CONFIG, as an MPI launch builds it): no hang, no clash of RUN_DIRs.

    Keras 3.15's fit() fails under MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388); the
    command must then say so in one line on every worker. Should Keras fix it, the run completes.
    """
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed")
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    ports = _free_ports(2)
    out = tmp_path / "run"
    procs = []
    for rank in range(2):
        config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": rank}}
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_CONFIG": json.dumps(config)}
        cmd = [sys.executable, "-m", "nuclassify", "-q", "train", "--data", str(tiny_minerva), "--arch",
               str(spec_path), "--out", str(out), "--epochs", "1", "--batch-size", "16", "--distribute"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        if proc.returncode == 0:
            assert json.loads((out / "run.json").read_text())["status"] == "complete"
        else:
            assert proc.returncode == 2, err[-2000:]
            last = err.strip().splitlines()[-1]
            assert last.startswith("nuclassify: error: multi-worker training failed") and "72388" in last
    # Rank 1 writes its copies beside RUN_DIR, never into it (else it would be refused: "holds another
    # run"), and a run that could not train leaves no half-made RUN_DIR behind.
    if all(p.returncode == 2 for p in procs):
        assert not out.exists() and not (tmp_path / "run.workers" / "rank-1").exists()


def _two_jax_processes(tiny_minerva, spec_path, out, launch: str) -> list[subprocess.CompletedProcess]:
    port = _free_ports(1)[0]
    args = ["-q", "train", "--data", str(tiny_minerva), "--arch", str(spec_path), "--out", str(out), "--epochs", "2",
            "--batch-size", "16", "--valid-fraction", "0.25", "--distribute", "--port", str(port), "--json"]
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    if launch == "mpi":
        import shutil

        mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
        if mpiexec is None:
            pytest.skip("mpiexec not installed")
        launcher = [mpiexec, "-n", "2", "--oversubscribe", *(["--allow-run-as-root"] if os.geteuid() == 0 else []),
                    "-x", "KERAS_BACKEND", "-x", "TF_CPP_MIN_LOG_LEVEL"]
        probe = subprocess.run([*launcher, sys.executable, "-c", "pass"], env=env, capture_output=True, text=True,
                               timeout=60)
        if probe.returncode != 0:  # the machine's MPI cannot start two ranks at all: not our code's fault
            pytest.skip(f"mpiexec cannot start 2 ranks here: {probe.stderr.strip()[-200:]}")
        cmd = [*launcher, sys.executable, "-m", "nuclassify", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return [proc]
    procs = []
    for rank in range(2):
        penv = {**env, "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"localhost:{port}",
                "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": str(rank)}
        procs.append(subprocess.Popen([sys.executable, "-m", "nuclassify", *args], env=penv, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    done = []
    for p in procs:
        out_text, err_text = p.communicate(timeout=240)
        assert p.returncode == 0, err_text[-3000:]
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out_text, err_text))
    return done


@pytest.mark.parametrize("launch", ["env", pytest.param("mpi", marks=pytest.mark.mpi)])
def test_jax_processes_train_one_model_together(tiny_minerva, tiny_spec, tmp_path, launch):
    """Several nodes: JAX processes (Keras' KERAS_DISTRIBUTION_* or MPI ranks) share every batch."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    out = tmp_path / "run"
    _two_jax_processes(tiny_minerva, spec_path, out, launch)
    chief = json.loads((out / "run.json").read_text())
    worker = json.loads((tmp_path / "run.workers" / "rank-1" / "run.json").read_text())
    assert chief["status"] == worker["status"] == "complete"
    dist = chief["distribution"]
    assert (dist["processes"], dist["replicas"], dist["rank"], worker["distribution"]["rank"]) == (2, 2, 0, 1)
    # 72 training events: 36 per process, 4 local batches of 8 -> 64 per epoch; 24 validation -> 16.
    assert dist["events_per_epoch"] == {"train": 64, "valid": 16}
    # One model: both processes computed the same (global) losses and accuracies.
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    assert chief["best"] == worker["best"]
    rows = [(out / "history.csv"), (tmp_path / "run.workers" / "rank-1" / "history.csv")]
    import csv

    hist = [list(csv.DictReader(r.open())) for r in rows]
    for r0, r1 in zip(*hist, strict=True):
        assert all(np.isclose(float(r0[k]), float(r1[k]), rtol=1e-5) for k in keys)


def _accelerator_platform() -> str | None:
    """JAX's accelerator platform ("gpu", "tpu"), or None on a CPU-only machine (asked in a subprocess,
    so that this process's backend and device memory are left alone)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    probe = subprocess.run([sys.executable, "-c", "import jax; print(jax.default_backend())"], env=env,
                           capture_output=True, text=True, timeout=120)
    platform = probe.stdout.strip().splitlines()[-1] if probe.returncode == 0 and probe.stdout.strip() else "cpu"
    return None if platform == "cpu" else platform


@pytest.mark.gpu
def test_jax_loop_on_an_accelerator(tiny_minerva, tiny_spec, tmp_path):
    """engine jax-loop where it is meant to run: on a GPU, in bf16, with hits densified on the device."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    platform = _accelerator_platform()
    if platform is None:
        pytest.skip("no accelerator: JAX sees only the CPU")
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    summary = _train("jax", tiny_minerva, spec_path, tmp_path / "run", "--engine", "jax-loop", "--precision",
                     "mixed")
    assert summary["epochs_completed"] == 2
    assert summary["last_epoch"]["val_accuracy"] > max(0.5, 2 * _majority_fraction(tiny_minerva))
