"""Which events, in which order: index selections, per-epoch shuffles, train/valid splits.

Shuffling is two-level so that reads stay contiguous: the selected events (sorted) are cut into
blocks of consecutive events, the block order is permuted, and then events are permuted within
each reading window. Every event appears once per epoch, the order depends only on
(seed, epoch), and a window touches only ``window / block`` contiguous stretches of the file.
"""

from __future__ import annotations

import os

import numpy as np

from nuclassify.errors import DataFileError, UsageError

__all__ = ["resolve_indices", "epoch_order", "split_indices", "SHUFFLE_BLOCK"]

SHUFFLE_BLOCK = 128  # consecutive events kept together by the block-level shuffle


def resolve_indices(indices: object, n: int, path: str | os.PathLike) -> np.ndarray:
    """Turn None / range / slice / int array / boolean mask into an int64 array of event indices."""
    if indices is None:
        return np.arange(n, dtype=np.int64)
    if isinstance(indices, slice):
        return np.arange(*indices.indices(n), dtype=np.int64)
    if isinstance(indices, range):
        idx = np.arange(indices.start, indices.stop, indices.step, dtype=np.int64)
    else:
        idx = np.asarray(indices)
        if idx.ndim == 0:
            idx = idx.reshape(1)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise UsageError(f"{path}: boolean event mask has shape {idx.shape}, file has {n} events")
            return np.flatnonzero(idx).astype(np.int64)
        if idx.size == 0:
            return np.zeros(0, dtype=np.int64)
        if idx.dtype.kind not in "iu":
            raise UsageError(f"{path}: event indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise DataFileError(path, f"event index {bad} out of range (file has {n} events: 0-{n - 1})")
    return idx


def epoch_order(idx: np.ndarray, shuffle: bool, seed: int, epoch: int, window: int, batch_size: int = 1) -> np.ndarray:
    """The order in which ``idx`` is visited in ``epoch``: as given, or the two-level shuffle.

    With shuffling, each run of ``batch_size`` events (one batch: a random set) is sorted by
    file position, which makes gathering its hits cache-friendly and changes nothing for SGD.
    """
    if not shuffle or len(idx) < 2:
        return idx
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF])
    ordered = np.sort(idx)
    n_blocks = -(-len(ordered) // SHUFFLE_BLOCK)
    pad = n_blocks * SHUFFLE_BLOCK - len(ordered)
    blocks = np.concatenate([ordered, np.full(pad, -1, dtype=np.int64)]).reshape(n_blocks, SHUFFLE_BLOCK)
    order = blocks[rng.permutation(n_blocks)].ravel()
    order = order[order >= 0]
    for start in range(0, len(order), window):
        stop = min(start + window, len(order))
        order[start:stop] = order[start:stop][rng.permutation(stop - start)]
    if batch_size > 1:
        full = len(order) // batch_size * batch_size
        order[:full] = np.sort(order[:full].reshape(-1, batch_size), axis=1).ravel()
        order[full:] = np.sort(order[full:])
    return order


def split_indices(n: int, valid_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random train/valid split of ``n`` events; both parts sorted (so reads stay contiguous).

    The validation part has ``round(n * valid_fraction)`` events, chosen from ``seed``.
    """
    if not 0.0 <= float(valid_fraction) < 1.0:
        raise UsageError(f"valid fraction must be in [0, 1), got {valid_fraction}")
    if n < 0:
        raise UsageError(f"number of events must be >= 0, got {n}")
    n_valid = int(round(n * float(valid_fraction)))
    if valid_fraction > 0 and n > 1:
        n_valid = min(max(n_valid, 1), n - 1)
    perm = np.random.default_rng(int(seed) & 0xFFFFFFFF).permutation(n)
    return np.sort(perm[n_valid:]).astype(np.int64), np.sort(perm[:n_valid]).astype(np.int64)
