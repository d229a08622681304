"""Shared fixtures: tiny MINERvA-like files and a tiny spec, small enough to train in seconds on a CPU."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

TINY_SPEC = {
    "name": "tiny",
    "description": "test network: one small conv per view",
    "views": ["x", "u", "v"],
    "combine": "columns",
    "columns": {v: [{"kind": "conv", "filters": 4, "kernel": [8, 3]}, {"kind": "pool", "size": [4, 1]},
                    {"kind": "dense", "units": 16}] for v in ("x", "u", "v")},
    "merge": "concat",
    "head": [{"kind": "dense", "units": 16}],
    "training": {"optimizer": "adam", "learning_rate": 0.003, "batch_size": 16},
}


def make_minerva_file(path, n: int = 64, width: int = 10, seed: int = 0, unlabelled: bool = False):
    """A 2016-layout file whose segment label is visible as a band of hits at row 5 + 10*label."""
    from nuclassify.data import MinervaBlock, SparseImages, write_minerva

    rng = np.random.default_rng(seed)
    seg = rng.integers(0, 11, n).astype(np.uint8)

    def images(w: int) -> np.ndarray:
        a = np.zeros((n, 2, 127, w), np.float32)
        for i in range(n):
            r = 5 + int(seg[i]) * 10
            a[i, 0, r:r + 3, :] = rng.random((3, w)) + 1
            a[i, 1, r:r + 3, :] = 5
        return a

    views = {"x": SparseImages.from_dense(images(width)), "u": SparseImages.from_dense(images(width // 2)),
             "v": SparseImages.from_dense(images(width // 2))}
    labels = np.full(n, 0xFF, np.uint8) if unlabelled else seg
    block = MinervaBlock(views, labels, np.zeros(n, np.uint16), np.zeros(n, np.float32), np.arange(n, dtype=np.uint64))
    write_minerva(path, [block], layout="2016", overwrite=True)
    return path


@pytest.fixture(scope="session")
def tiny_minerva(tmp_path_factory):
    """96 labelled events, X (127,10,2), U/V (127,5,2)."""
    return make_minerva_file(tmp_path_factory.mktemp("data") / "tiny.h5", n=96)


@pytest.fixture(scope="session")
def tiny_unlabelled(tmp_path_factory):
    """Like tiny_minerva but every segment is 0xFF (real data)."""
    return make_minerva_file(tmp_path_factory.mktemp("data") / "real.h5", n=32, unlabelled=True)


@pytest.fixture()
def tiny_spec():
    """A fresh copy of the tiny spec (tests may mutate it)."""
    import copy

    return copy.deepcopy(TINY_SPEC)
