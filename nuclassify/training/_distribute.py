"""Data-parallel training on several accelerators and nodes (no Horovod: broken with TF >= 2.16).

- One node, several GPUs: ``tf.distribute.MirroredStrategy`` (TensorFlow backend) or
  ``keras.distribution.DataParallel`` (JAX backend).
- Several nodes, JAX (works): the MPI ranks (or Keras' KERAS_DISTRIBUTION_* variables) join one
  multi-process JAX job through ``keras.distribution.initialize``; DataParallel spans all
  processes' devices and each process feeds its own share of every batch. Launch one process
  per node, e.g.::

      KERAS_BACKEND=jax mpiexec -n 4 --map-by ppr:1:node -x KERAS_BACKEND nuclassify train \
          --distribute --data train.h5 --arch epsilon --out runs/eps4 --epochs 8

- Several nodes, TensorFlow: ``tf.distribute.MultiWorkerMirroredStrategy`` with TF_CONFIG built
  from the MPI ranks (one ``allgather`` of host names; worker r at ``host:port+r``). Keras 3's
  ``fit`` fails under it (tensorflow/tensorflow#72388); ``_kerasloop`` turns that into one line.

Rank 0 (the chief) writes RUN_DIR; the other ranks write their (required) checkpoint copies to a
scratch folder ``RUN_DIR.workers/rank-N`` beside it, which can be deleted afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from nuclassify.errors import UsageError

__all__ = ["mpi_world", "worker_rank", "tf_config_from_ranks", "tf_config_from_mpi", "distribution_scope",
           "DEFAULT_PORT"]

DEFAULT_PORT = 23456
_MPI_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def mpi_world() -> tuple[int, int]:
    """(rank, size) when launched under mpiexec with more than one rank, else (0, 1).

    mpi4py is imported only when the launcher's environment says there are several ranks.
    """
    if not any(int(os.environ.get(v, "1") or 1) > 1 for v in _MPI_SIZE_VARS):
        return 0, 1
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise UsageError("launched under MPI with several ranks but mpi4py is not installed "
                         "(pip install 'nuclassify[mpi]')") from exc
    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def worker_rank() -> tuple[int, int]:
    """(rank, size) of this process among the training workers: from TF_CONFIG or Keras'
    KERAS_DISTRIBUTION_* variables when set (a cluster launched without MPI), else from the MPI
    launch, else (0, 1)."""
    if "TF_CONFIG" in os.environ:
        try:
            config = json.loads(os.environ["TF_CONFIG"])
            return int(config["task"]["index"]), len(config["cluster"]["worker"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"TF_CONFIG is not a valid worker cluster description ({exc})") from exc
    if os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
        try:
            return int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"]), int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"])
        except (KeyError, ValueError) as exc:
            raise UsageError(f"KERAS_DISTRIBUTION_PROCESS_ID / _NUM_PROCESSES are not numbers ({exc})") from exc
    return mpi_world()


_KERAS_DIST_VARS = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                    "KERAS_DISTRIBUTION_PROCESS_ID")
_jax_initialized: tuple[int, int] | None = None


def _jax_processes(port: int) -> tuple[int, int]:
    """Join a multi-process JAX job when launched as one (MPI ranks, or Keras' KERAS_DISTRIBUTION_* variables).

    Every process then sees all processes' devices and DataParallel spans them; each process
    feeds its own share of every batch. Must run before JAX first touches a device.
    """
    global _jax_initialized
    if _jax_initialized is not None:
        return _jax_initialized
    if os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
        missing = [v for v in _KERAS_DIST_VARS if not os.environ.get(v)]
        if missing:
            raise UsageError(f"multi-process JAX launch: {', '.join(missing)} not set")
        rank, size = worker_rank()
        address = os.environ["KERAS_DISTRIBUTION_JOB_ADDRESSES"]
    else:
        rank, size = mpi_world()
        if size == 1:
            return 0, 1
        import socket

        from mpi4py import MPI

        address = f"{MPI.COMM_WORLD.bcast(socket.gethostname(), root=0)}:{port}"
    if size > 1:
        import jax
        import keras

        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices across processes
        keras.distribution.initialize(job_addresses=address, num_processes=size, process_id=rank)
    _jax_initialized = (rank, size)
    return rank, size


def tf_config_from_ranks(hosts: list[str], rank: int, port: int = DEFAULT_PORT) -> dict:
    """TF_CONFIG for MultiWorkerMirroredStrategy: one worker per rank, ``rank`` being this one.

    Ranks on the same host get consecutive ports (``port + rank``) so that they never collide.
    """
    if not hosts or not 0 <= rank < len(hosts):
        raise UsageError(f"rank {rank} out of range for {len(hosts)} host(s)")
    if not 1 <= port <= 65535 - len(hosts):
        raise UsageError(f"port {port} out of range")
    workers = [f"{h}:{port + r}" for r, h in enumerate(hosts)]
    return {"cluster": {"worker": workers}, "task": {"type": "worker", "index": rank}}


def tf_config_from_mpi(port: int = DEFAULT_PORT) -> dict:
    """Build TF_CONFIG from mpi4py's COMM_WORLD (one allgather of host names)."""
    import socket

    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    hosts = comm.allgather(socket.gethostname())
    return tf_config_from_ranks(hosts, comm.Get_rank(), port)


@contextlib.contextmanager
def distribution_scope(distribute: bool, *, port: int = DEFAULT_PORT) -> Any:
    """Context in which to build and compile the model; yields a dict describing the set-up.

    Without ``distribute`` it does nothing. With it, the strategy follows the backend and the
    launch: MPI (or a preset TF_CONFIG) with several workers -> MultiWorkerMirroredStrategy;
    otherwise MirroredStrategy (TF) or DataParallel (JAX) over the local devices.
    """
    import keras

    backend = keras.backend.backend()
    if not distribute:
        yield {"strategy": "none", "chief": True, "rank": 0, "size": 1}
        return
    if backend == "tensorflow":
        import tensorflow as tf

        rank, size = mpi_world()
        if size > 1 and "TF_CONFIG" not in os.environ:
            os.environ["TF_CONFIG"] = json.dumps(tf_config_from_mpi(port))
        if "TF_CONFIG" in os.environ:
            index, workers = worker_rank()
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            info = {"strategy": "MultiWorkerMirroredStrategy", "chief": index == 0, "rank": index,
                    "size": workers, "tf_config": json.loads(os.environ["TF_CONFIG"]),
                    "replicas": strategy.num_replicas_in_sync}
        else:
            strategy = tf.distribute.MirroredStrategy()
            info = {"strategy": "MirroredStrategy", "chief": True, "rank": 0, "size": 1,
                    "replicas": strategy.num_replicas_in_sync}
        with strategy.scope():
            yield info
        return
    if backend == "jax":
        rank, size = _jax_processes(port)
        # Each process streams its own share of the events (training._fit._streams), so Keras must
        # not try to shard the feed again (it can only shard tf.data datasets).
        dist = keras.distribution.DataParallel(auto_shard_dataset=False)
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(dist)
        try:
            devices = len(keras.distribution.list_devices())
            yield {"strategy": "DataParallel", "chief": rank == 0, "rank": rank, "size": size, "processes": size,
                   "devices": devices, "replicas": devices}
        finally:
            keras.distribution.set_distribution(previous)
        return
    raise UsageError(f"--distribute is supported on the tensorflow and jax backends, not {backend}")
