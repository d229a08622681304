"""Engine "jax-loop": a jitted JAX training step instead of ``model.fit`` (KERAS_BACKEND=jax).

Why: on a GPU, ``model.fit`` fed from host numpy reaches about half of what the same Keras model
trains at when the step is one jitted function and the data is already on the device. This
project measured it on one NVIDIA H200 with ``benchmarks/gpu/gpu_train_bench.py`` (epsilon, 2018
inputs, batch 1024) against the hand-written reference it runs (``anchor_bench.py``, data on the
device): 16.6k vs 27.5k events/s. So this engine

- ships each batch to the device as *hit lists* (detector images are ~2% occupied: ~50x fewer
  bytes than dense float32) and densifies them inside the jitted step (a scatter);
- pads hit lists to a few power-of-two sizes and the last batch to the full batch size (padded
  events get weight 0), so the step compiles a handful of times, not once per batch;
- reads, pads and ``device_put``s the next batches in a background thread (prefetch);
- runs ``model.stateless_call`` + ``optimizer.stateless_apply`` under ``jax.jit`` with the state
  donated, in bfloat16 mixed precision with ``--precision mixed``;
- syncs with the host only at checkpoints and epoch ends (loss/accuracy are summed on device),
  where it also checks for NaN before anything is saved.

Checkpoints, resume state, history and best/last models are the same as with engine "fit"
(both go through ``_keeper.end_epoch`` / ``save_resume``), and so are the progress lines off a
terminal (``_progress``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify._readahead import ReadAhead
from nuclassify.training._config import TrainConfig
from nuclassify.training._feed import StreamSpec
from nuclassify.training._keeper import end_epoch, save_resume
from nuclassify.training._progress import LineProgress, resolve_progress

__all__ = ["run_jax_loop"]


def _bucket(n: int) -> int:
    return max(1024, 1 << max(0, int(n - 1).bit_length()))


def _pack(views: dict, labels: np.ndarray, batch_size: int, weights: np.ndarray | None) -> tuple:
    """Host side: per view (event of hit, pixel, values) padded to a bucket; labels and weights padded."""
    packed = {}
    n = len(labels)
    for name, hits in views.items():
        counts = np.diff(hits.offsets)
        m = int(hits.offsets[-1])
        size = _bucket(m)
        ev = np.full(size, batch_size, dtype=np.int32)  # out of range: dropped by the scatter
        ev[:m] = np.repeat(np.arange(n, dtype=np.int32), counts)
        pix = np.zeros(size, dtype=np.int32)
        pix[:m] = hits.pixel
        val = np.zeros((size, hits.values.shape[1]), dtype=np.float32)
        val[:m] = hits.values
        packed[name] = (ev, pix, val)
    y = np.zeros(batch_size, dtype=np.int32)
    y[:n] = labels
    w = np.zeros(batch_size, dtype=np.float32)
    w[:n] = 1.0 if weights is None else weights[labels]
    return packed, y, w


def _prefetch(stream: StreamSpec, epoch: int, start: int, weights: np.ndarray | None, depth: int = 4) -> ReadAhead:
    """Read sparse batches, pack them and put them on the device, ahead of use, in a thread."""
    import jax

    items = ((jax.device_put(_pack(views, labels, stream.batch_size, weights)), len(labels))
             for views, labels in stream.stream(epoch, start, sparse=True))
    return ReadAhead(items, 0, depth)


def _running(sums: Any, seen: int) -> dict[str, float]:
    """Mean loss and accuracy so far in the epoch, from the on-device sums (a host sync)."""
    ce, correct = (float(v) for v in np.asarray(sums))
    return {"loss": ce / max(seen, 1), "accuracy": correct / max(seen, 1)}


def _densify(packed: dict, shapes: dict, batch_size: int, dtype: Any) -> list:
    import jax.numpy as jnp

    out = []
    for name, (h, w, c) in shapes.items():
        ev, pix, val = packed[name]
        dense = jnp.zeros((batch_size, h * w, c), dtype).at[ev, pix].set(val.astype(dtype), mode="drop")
        out.append(dense.reshape(batch_size, h, w, c))
    return out


def run_jax_loop(model: Any, config: TrainConfig, *, train_stream: StreamSpec, valid_stream: StreamSpec | None,
                 state: dict, run_dir: Path, first_epoch: int, start_step: int, weights: dict | None, monitor: str,
                 on_epoch: Callable[[dict], None], stop_requested: Any = None) -> tuple[bool, dict | None]:
    """Train ``model`` (compiled, JAX backend) with a jitted step; returns (stopped_early, nan or None).

    Options (epochs, precision, early stopping, checkpoints, progress) come from ``config``; the
    arguments are this run's state.
    """
    import jax
    import jax.numpy as jnp
    import keras

    epochs, early_stopping = config.epochs, config.early_stopping
    backup_every, backup_seconds = config.backup_steps, config.backup_interval_s
    mode = resolve_progress(config.progress, config.quiet)

    opt = model.optimizer
    if not opt.built:
        opt.build(model.trainable_variables)
    shapes = {v: tuple(int(d) for d in inp.shape[1:]) for v, inp in zip(train_stream.views, model.inputs, strict=True)}
    in_dtype = jnp.bfloat16 if config.precision == "mixed" else jnp.float32
    batch = train_stream.batch_size
    wvec = None
    if weights:
        wvec = np.array([weights.get(c, 1.0) for c in range(max(weights) + 1)], dtype=np.float32)

    def forward(tv: Any, ntv: Any, packed: dict, training: bool) -> tuple:
        xs = _densify(packed, shapes, batch, in_dtype)
        probs, ntv, losses = model.stateless_call(tv, ntv, xs, training=training, return_losses=True)
        return probs, ntv, losses

    def per_event(probs: Any, y: Any) -> tuple:
        p = jnp.take_along_axis(probs.astype(jnp.float32), y[:, None], axis=1)[:, 0]
        ce = -jnp.log(jnp.clip(p, 1e-7, 1.0))
        correct = (jnp.argmax(probs, axis=1) == y).astype(jnp.float32)
        return ce, correct

    def loss_fn(tv: Any, ntv: Any, packed: dict, y: Any, w: Any) -> tuple:
        probs, ntv, losses = forward(tv, ntv, packed, True)
        ce, correct = per_event(probs, y)
        loss = jnp.sum(ce * w) / jnp.maximum(jnp.sum(w > 0), 1.0)
        if losses:
            loss = loss + sum(losses)
        return loss, (ntv, jnp.sum(ce * (w > 0)), jnp.sum(correct * (w > 0)))

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    @jax.jit
    def train_step(st: tuple, packed: dict, y: Any, w: Any) -> tuple:
        tv, ntv, ov, sums = st
        (_, (ntv, ce_sum, correct)), grads = grad_fn(tv, ntv, packed, y, w)
        tv, ov = opt.stateless_apply(ov, grads, tv)
        return tv, ntv, ov, sums + jnp.stack([ce_sum, correct])

    @jax.jit
    def eval_step(tv: Any, ntv: Any, packed: dict, y: Any, w: Any) -> Any:
        probs, _, _ = forward(tv, ntv, packed, False)
        ce, correct = per_event(probs, y)
        valid = (w > 0).astype(jnp.float32)
        return jnp.stack([jnp.sum(ce * valid), jnp.sum(correct * valid)])

    def to_model(st: tuple) -> None:
        tv, ntv, ov, _ = st
        for var, val in zip(model.trainable_variables, tv, strict=True):
            var.assign(val)
        for var, val in zip(model.non_trainable_variables, ntv, strict=True):
            var.assign(val)
        for var, val in zip(opt.variables, ov, strict=True):
            var.assign(val)

    st = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
          [v.value for v in opt.variables], jnp.zeros(2, jnp.float32))
    (run_dir / "resume").mkdir(exist_ok=True)
    steps = train_stream.n_steps
    lines = None
    if mode == "lines":
        lines = LineProgress(epochs, steps, min(len(train_stream.indices), steps * batch))
    best_seen, waited = None, 0
    epoch = first_epoch
    while epoch < epochs:
        t0 = time.perf_counter()
        st = (*st[:3], jnp.zeros(2, jnp.float32))
        bar = keras.utils.Progbar(steps - start_step, unit_name="step") if mode == "bar" else None
        if lines is not None:
            lines.begin_epoch(epoch, start_step)
        feed = _prefetch(train_stream, epoch, start_step, wvec)
        done, seen, since = start_step, 0, 0
        saved_at = time.perf_counter()
        try:
            for (packed, y, w), n in feed:
                st = train_step(st, packed, y, w)
                done, seen, since = done + 1, seen + n, since + 1
                if bar is not None:
                    bar.update(done - start_step)
                if lines is not None:  # the running means cost a device sync: only when a line is due
                    lines.step(done, lambda st=st, seen=seen: _running(st[3], seen))
                stop = stop_requested is not None and stop_requested.is_set() and done < steps
                due = stop or bool(backup_every and since >= backup_every) or bool(
                    backup_seconds and time.perf_counter() - saved_at >= backup_seconds)
                if due and done < steps:
                    since, saved_at = 0, time.perf_counter()
                    if not math.isfinite(float(st[3][0])):
                        return False, {"epoch": epoch, "step": done}
                    to_model(st)
                    if config.checkpoints == "all":
                        save_resume(model, run_dir, state, epoch, done)
                    if stop:
                        state["interrupted"] = {"epoch": epoch, "step": done}
                        return False, None
        finally:
            feed.close()
        sums = np.asarray(st[3])
        elapsed = time.perf_counter() - t0
        if not np.all(np.isfinite(sums)):
            return False, {"epoch": epoch, "step": done}
        row = {"epoch": epoch, "accuracy": float(sums[1] / max(seen, 1)), "loss": float(sums[0] / max(seen, 1))}
        if valid_stream is not None:
            vs = np.zeros(2)
            vfeed = _prefetch(valid_stream, 0, 0, None)
            try:
                for (packed, y, w), _ in vfeed:
                    vs += np.asarray(eval_step(st[0], st[1], packed, y, w))
            finally:
                vfeed.close()
            nv = min(len(valid_stream.indices), valid_stream.n_steps * valid_stream.batch_size)
            row.update(val_accuracy=float(vs[1] / nv), val_loss=float(vs[0] / nv))
        row.update(seconds=round(elapsed, 3), events_per_s=round(seen / max(elapsed, 1e-9), 1))
        if start_step:
            row["resumed_at_step"] = start_step
        if bar is not None:
            bar.update(done - start_step, values=[(k, v) for k, v in row.items() if "acc" in k or "loss" in k],
                       finalize=True)
        if lines is not None:
            lines.end_epoch(row, row["events_per_s"])
        to_model(st)
        value = row.get(monitor, row["loss"])
        end_epoch(model, run_dir, state, row, monitor, on_epoch, checkpoints=config.checkpoints)
        if stop_requested is not None and stop_requested.is_set():
            state["interrupted"] = {"epoch": epoch + 1, "step": 0}
            return False, None
        if best_seen is None or value < best_seen:
            best_seen, waited = value, 0
        else:
            waited += 1
            if early_stopping and waited >= early_stopping:
                return True, None
        epoch, start_step = epoch + 1, 0
    return False, None
