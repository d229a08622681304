"""Streaming batches: every event once per epoch, labels aligned, seeded shuffles, index selections."""

from __future__ import annotations

import numpy as np
import pytest

from nuclassify.data import MinervaBlock, SparseImages, open_dataset, split_indices, write_minerva
from nuclassify.errors import DataFileError, UsageError

N = 300


def tagged_hits(start: int, n: int, cols: int) -> SparseImages:
    """Event i carries its own index as the energy of pixel (0, 0): batches can be traced to events."""
    dense = np.zeros((n, 2, 127, cols), np.float32)
    dense[:, 0, 0, 0] = np.arange(start, start + n) + 1  # +1 so event 0 has a hit too
    dense[:, 1, 0, 0] = 7.0
    dense[:, 0, 60, cols // 2] = 3.5
    return SparseImages.from_dense(dense)


@pytest.fixture(scope="module")
def tagged_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("batches") / "tagged.h5"
    blocks = []
    for start in range(0, N, 100):
        views = {"x": tagged_hits(start, 100, 94), "u": tagged_hits(start, 100, 47), "v": tagged_hits(start, 100, 47)}
        seg = (np.arange(start, start + 100) % 11).astype(np.uint8)
        blocks.append(MinervaBlock(views, seg, seg.astype(np.uint16), np.zeros(100, np.float32),
                                   np.arange(start, start + 100, dtype=np.uint64)))
    return write_minerva(path, blocks)


def event_of(views: tuple[np.ndarray, ...]) -> np.ndarray:
    ids = views[0][:, 0, 0, 0] - 1
    for v in views[1:]:
        np.testing.assert_array_equal(v[:, 0, 0, 0] - 1, ids)  # all views of a row are the same event
    return ids.astype(np.int64)


def test_unshuffled_batches_are_in_file_order(tagged_file):
    with open_dataset(tagged_file) as ds:
        batches = list(ds.batches(64))
        assert [len(b[1]) for b in batches] == [64, 64, 64, 64, 44]
        ids = np.concatenate([event_of(v) for v, _ in batches])
        np.testing.assert_array_equal(ids, np.arange(N))
        labels = np.concatenate([lab for _, lab in batches])
        np.testing.assert_array_equal(labels, np.arange(N) % 11)
        assert batches[0][0][0].shape == (64, 127, 94, 2) and batches[0][0][0].dtype == np.float32
        assert batches[0][0][0][0, 0, 0, 1] == 7.0  # channel 1 (time) lands in the last axis


def test_shuffled_epoch_visits_each_event_once_with_aligned_labels(tagged_file):
    with open_dataset(tagged_file) as ds:
        orders = {}
        for epoch in (0, 1):
            ids, labels = [], []
            for views, lab in ds.batches(50, shuffle=True, seed=3, epoch=epoch):
                ids.append(event_of(views))
                labels.append(lab)
            ids_all = np.concatenate(ids)
            np.testing.assert_array_equal(np.sort(ids_all), np.arange(N))
            np.testing.assert_array_equal(np.concatenate(labels), ids_all % 11)
            orders[epoch] = ids_all
        assert not np.array_equal(orders[0], orders[1])
        assert not np.array_equal(orders[0], np.arange(N))
        again = np.concatenate([event_of(v) for v, _ in ds.batches(50, shuffle=True, seed=3, epoch=1)])
        np.testing.assert_array_equal(again, orders[1])
        other_seed = np.concatenate([event_of(v) for v, _ in ds.batches(50, shuffle=True, seed=4, epoch=1)])
        assert not np.array_equal(other_seed, orders[1])


@pytest.mark.parametrize("indices", [range(10, 200, 3), slice(250, None), np.array([5, 299, 5, 17, 0])])
def test_index_selection(tagged_file, indices):
    expected = np.arange(N)[indices] if not isinstance(indices, range) else np.array(list(indices))
    with open_dataset(tagged_file) as ds:
        ids = np.concatenate([event_of(v) for v, _ in ds.batches(16, indices=indices)])
        np.testing.assert_array_equal(ids, expected)
        np.testing.assert_array_equal(event_of(ds.read_views(indices)), expected)
        np.testing.assert_array_equal(ds.labels(indices=indices), expected % 11)


def test_drop_remainder_and_no_labels(tagged_file):
    with open_dataset(tagged_file) as ds:
        batches = list(ds.batches(128, drop_remainder=True, with_labels=False, shuffle=True))
        assert len(batches) == ds.n_batches(128, drop_remainder=True) == 2
        assert all(lab is None for _, lab in batches)
        assert all(len(v[0]) == 128 for v, _ in batches)


def test_sparse_batches_densify_to_the_same_arrays(tagged_file):
    with open_dataset(tagged_file) as ds:
        dense = list(ds.batches(40, shuffle=True, seed=1))
        sparse = list(ds.sparse_batches(40, shuffle=True, seed=1))
        for (dv, dl), (sv, sl) in zip(dense, sparse, strict=True):
            np.testing.assert_array_equal(dl, sl)
            for d, s in zip(dv, sv, strict=True):
                np.testing.assert_array_equal(d, s.to_dense(channels_last=True))


def test_split_indices_is_a_seeded_partition():
    train, valid = split_indices(1000, 0.1, seed=5)
    assert len(valid) == 100 and len(train) == 900
    np.testing.assert_array_equal(np.sort(np.concatenate([train, valid])), np.arange(1000))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(valid) > 0)
    t2, v2 = split_indices(1000, 0.1, seed=5)
    np.testing.assert_array_equal(v2, valid)
    assert not np.array_equal(split_indices(1000, 0.1, seed=6)[1], valid)
    assert len(split_indices(10, 0.0)[1]) == 0
    with pytest.raises(UsageError):
        split_indices(10, 1.0)


def test_split_indices_feed_batches(tagged_file):
    train, valid = split_indices(N, 0.2, seed=0)
    with open_dataset(tagged_file) as ds:
        got = np.concatenate([event_of(v) for v, _ in ds.batches(32, indices=valid, shuffle=True)])
        np.testing.assert_array_equal(np.sort(got), valid)


def test_bad_indices_and_targets(tagged_file):
    with open_dataset(tagged_file) as ds:
        with pytest.raises(DataFileError, match="event index 300 out of range"):
            ds.read_views([300])
        with pytest.raises(UsageError, match="no target 'flavour'"):
            ds.labels("flavour")
        with pytest.raises(UsageError, match="batch size"):
            next(ds.batches(0))
    with pytest.raises(UsageError, match="closed"):
        ds.read_views([0])


def test_reused_buffers_give_the_same_batches(tagged_file):
    with open_dataset(tagged_file) as ds:
        fresh = [(tuple(a.copy() for a in v), lab) for v, lab in ds.batches(32, shuffle=True, seed=2)]
        reused = [(tuple(a.copy() for a in v), lab) for v, lab in ds.batches(32, shuffle=True, seed=2,
                                                                              reuse_buffers=2)]
        assert len(fresh) == len(reused) == 10
        for (fv, fl), (rv, rl) in zip(fresh, reused, strict=True):
            np.testing.assert_array_equal(fl, rl)
            for a, b in zip(fv, rv, strict=True):
                np.testing.assert_array_equal(a, b)  # old hits were cleared, new ones written
        it = ds.batches(32, reuse_buffers=2)
        first = next(it)[0][0]
        next(it)
        third = next(it)[0][0]
        assert third is not first and np.shares_memory(first, third)  # documented: recycled 2 batches later
        with pytest.raises(UsageError, match="reuse_buffers"):
            next(ds.batches(32, reuse_buffers=1))


def test_read_runs_cover_every_event_within_the_span_limit():
    from nuclassify.data._views import ranges, runs

    rng = np.random.default_rng(0)
    events = np.unique(rng.integers(0, 5000, 700))
    parts = runs(events, max_gap=16, max_span=200)
    assert parts[0][0] == 0 and parts[-1][1] == len(events)
    assert all(a < b for a, b in parts) and all(p[1] == q[0] for p, q in zip(parts[:-1], parts[1:], strict=True))
    for a, b in parts:
        assert events[b - 1] - events[a] < 200
        assert np.all(np.diff(events[a:b]) <= 16)
    np.testing.assert_array_equal(ranges(np.array([5, 0, 9]), np.array([2, 0, 3])), [5, 6, 9, 10, 11])
