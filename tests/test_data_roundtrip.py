"""Every layout round-trips: write, then read gives identical images, labels, ids and truth."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from nuclassify.data import (
    MinervaBlock,
    NovaBlock,
    SparseImages,
    open_dataset,
    write_images,
    write_minerva,
    write_nova,
)
from nuclassify.errors import DataFileError, UsageError


def make_hits(rng: np.random.Generator, n: int, c: int, cols: int, occupancy: float = 0.03) -> SparseImages:
    """Random hits with float16-exact values, so a float16 file round-trips bit for bit."""
    dense = np.zeros((n, c, 127, cols), np.float32)
    mask = rng.random((n, 127, cols)) < occupancy
    for ch in range(c):
        dense[:, ch][mask] = (rng.random(mask.sum()) * 50 + 0.5).astype(np.float16)
    return SparseImages.from_dense(dense)


def make_block(rng: np.random.Generator, n: int, widths=(94, 47), c: int = 2, start: int = 0,
               unlabelled: bool = False) -> MinervaBlock:
    views = {"x": make_hits(rng, n, c, widths[0]), "u": make_hits(rng, n, c, widths[1]),
             "v": make_hits(rng, n, c, widths[1])}
    segments = np.full(n, 0xFF, np.uint8) if unlabelled else rng.integers(0, 11, n).astype(np.uint8)
    planecodes = np.full(n, 0xFFFF, np.uint16) if unlabelled else rng.integers(0, 67, n).astype(np.uint16)
    eventids = (np.arange(start, start + n) + 10**15).astype(np.uint64)
    truth = {"gen_data": {"W": rng.random(n).astype(np.float32), "current": rng.integers(1, 3, n).astype(np.int32)}}
    return MinervaBlock(views, segments, planecodes, rng.random(n).astype(np.float32) * 1000 + 4500, eventids, truth)


CASES = [  # layout, dense, widths, channels
    ("2018", False, (94, 47), 2),
    ("2016", False, (50, 25), 2),
    ("2018", True, (94, 47), 1),
    ("2016", True, (50, 25), 2),
    ("2018", False, (50, 25), 1),
    ("2016", False, (94, 47), 1),
]


@pytest.mark.parametrize(("layout", "dense", "widths", "c"), CASES)
def test_minerva_round_trip(tmp_path, layout, dense, widths, c):
    rng = np.random.default_rng(hash((layout, dense, widths, c)) % 2**32)
    blocks = [make_block(rng, 40, widths, c, 0), make_block(rng, 25, widths, c, 40)]
    seen: list[int] = []
    path = write_minerva(tmp_path / "m.h5", blocks, layout=layout, dense=dense, on_block=seen.append)
    assert seen == [40, 25]
    with open_dataset(path) as ds:
        assert ds.layout == f"minerva-{layout}"
        assert ds.n_events == 65
        assert ds.view_names == ("x", "u", "v")
        assert ds.view_shapes == {"x": (127, widths[0], c), "u": (127, widths[1], c), "v": (127, widths[1], c)}
        assert ds.sparse is (not dense)
        views = ds.read_views(range(65))
        for k, name in enumerate(ds.view_names):
            expected = np.concatenate([b.views[name].to_dense(channels_last=True) for b in blocks])
            assert views[k].dtype == np.float32
            np.testing.assert_array_equal(views[k], expected)
        np.testing.assert_array_equal(ds.labels("segment"), np.concatenate([b.segments for b in blocks]))
        np.testing.assert_array_equal(ds.labels("planecode"), np.concatenate([b.planecodes for b in blocks]))
        assert ds.n_classes("planecode") == (67 if layout == "2016" else 174)
        np.testing.assert_array_equal(ds.event_ids(), np.concatenate([b.eventids for b in blocks]))
        np.testing.assert_array_equal(ds.read_truth("gen_data/W"), np.concatenate([b.truth["gen_data"]["W"]
                                                                                  for b in blocks]))
        np.testing.assert_array_equal(ds.read_truth("zs", [3, 1]), np.concatenate([b.zs for b in blocks])[[3, 1]])
        assert "gen_data/current" in ds.truth_fields


def test_unlabelled_real_data_reads_as_minus_one(tmp_path):
    rng = np.random.default_rng(1)
    path = write_minerva(tmp_path / "data.h5", [make_block(rng, 12, unlabelled=True)])
    with open_dataset(path) as ds:
        assert not ds.labelled("segment") and not ds.labelled("planecode")
        assert (ds.labels("segment") == -1).all() and (ds.labels("planecode") == -1).all()
        assert len(ds.labelled_indices("segment")) == 0
        assert ds.n_classes("segment") == 11


def test_float32_values_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(2)
    block = make_block(rng, 10)
    block.views["x"].values[:] = rng.random(block.views["x"].values.shape).astype(np.float32) * 1e5
    path = write_minerva(tmp_path / "f32.h5", [block], values_dtype="float32")
    with open_dataset(path) as ds:
        np.testing.assert_array_equal(ds.read_views([0, 1, 2])[0], block.views["x"].to_dense()[:3])


def test_float16_overflow_is_refused_and_leaves_no_file(tmp_path):
    rng = np.random.default_rng(3)
    block = make_block(rng, 5)
    block.views["u"].values[:] = 1e6
    with pytest.raises(DataFileError, match="float16"):
        write_minerva(tmp_path / "big.h5", [block])
    assert list(tmp_path.iterdir()) == []


def test_sparse_file_is_small_and_readable_by_plain_h5py(tmp_path):
    rng = np.random.default_rng(4)
    block = make_block(rng, 200)  # 3% random occupancy: worse than real tracks for compression
    path = write_minerva(tmp_path / "s.h5", [block])
    assert path.stat().st_size / 200 < 8 * 1024
    with h5py.File(path, "r") as h5:  # the README recipe for densifying without nuclassify
        grp = h5["img_data/hitimes-x"]
        c, rows, cols = grp.attrs["shape"]
        off, pix, val = grp["offsets"][:], grp["pixel"][:], grp["values"][:]
        i = 7
        img = np.zeros((c, rows * cols), np.float32)
        img[:, pix[off[i]:off[i + 1]]] = val[off[i]:off[i + 1]].T
        np.testing.assert_array_equal(img.reshape(c, rows, cols), block.views["x"].to_dense(False)[i])
        assert h5["vtx_data/segments"].dtype == np.uint8 and h5["vtx_data/planecodes"].dtype == np.uint16


def test_writer_is_atomic_when_blocks_fail(tmp_path):
    rng = np.random.default_rng(5)

    def blocks():
        yield make_block(rng, 5)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_minerva(tmp_path / "x.h5", blocks())
    assert list(tmp_path.iterdir()) == []
    write_minerva(tmp_path / "x.h5", [make_block(rng, 3)])
    with pytest.raises(UsageError, match="already exists"):
        write_minerva(tmp_path / "x.h5", [make_block(rng, 3)])
    write_minerva(tmp_path / "x.h5", [make_block(rng, 4)], overwrite=True)
    with open_dataset(tmp_path / "x.h5") as ds:
        assert ds.n_events == 4
    with pytest.raises(UsageError, match="no events"):
        write_minerva(tmp_path / "none.h5", [])


def test_writer_rejects_mismatched_blocks(tmp_path):
    rng = np.random.default_rng(6)
    with pytest.raises(DataFileError, match="image shape"):
        write_minerva(tmp_path / "a.h5", [make_block(rng, 3), make_block(rng, 3, (50, 25))])
    partial = make_block(rng, 3)
    partial.truth = {}
    with pytest.raises(DataFileError, match="every block"):
        write_minerva(tmp_path / "c.h5", [make_block(rng, 3), partial])
    bad = make_block(rng, 3)
    del bad.views["v"]
    with pytest.raises(DataFileError, match="lacks view"):
        write_minerva(tmp_path / "b.h5", [bad])


@pytest.mark.parametrize("naming", ["cvnmap", "rec.training"])
def test_nova_round_trip_and_label_schemes(tmp_path, naming):
    rng = np.random.default_rng(7)
    codes = np.arange(16).repeat(2)
    maps = rng.integers(0, 256, (32, 16000)).astype(np.uint8)
    blocks = [NovaBlock(maps[:20], codes[:20], {"truth": {"E": rng.random(20)}}),
              NovaBlock(maps[20:], codes[20:], {"truth": {"E": rng.random(12)}})]
    path = write_nova(tmp_path / "n.h5", blocks, naming=naming)
    with h5py.File(path, "r") as h5:
        assert ("cvnmap" in h5) == (naming == "cvnmap")
    with open_dataset(path) as ds:
        assert ds.layout == "nova-cvn" and ds.n_events == 32
        assert ds.view_names == ("xz", "yz")
        assert ds.view_shapes == {"xz": (80, 100, 1), "yz": (80, 100, 1)}
        xz, yz = ds.read_views(np.arange(32))
        native = maps.reshape(32, 2, 100, 80).astype(np.float32)  # (view, plane, cell)
        np.testing.assert_array_equal(xz[..., 0], native[:, 0].transpose(0, 2, 1))
        np.testing.assert_array_equal(yz[..., 0], native[:, 1].transpose(0, 2, 1))
        flavour = ds.labels("flavour")
        assert list(flavour[::2]) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, -1, 3, -1, -1]
        i13 = ds.labels("interaction13")
        assert list(i13[::2]) == list(range(12)) + [-1, 12, -1, -1]
        assert ds.n_classes("flavour") == 4 and ds.n_classes("interaction13") == 13
        assert ds.class_names("flavour")[1] == "nue CC"
        assert ds.default_target == "flavour"
        assert "truth/E" in ds.truth_fields


def test_images_round_trip(tmp_path):
    rng = np.random.default_rng(8)
    images = rng.integers(0, 256, (30, 32, 32, 3)).astype(np.uint8)
    labels = rng.integers(0, 10, 30)
    path = write_images(tmp_path / "c.h5", images, labels, class_names=[f"c{i}" for i in range(10)])
    with open_dataset(path) as ds:
        assert ds.layout == "images" and ds.view_names == ("image",)
        assert ds.view_shapes == {"image": (32, 32, 3)}
        assert ds.n_classes("label") == 10 and ds.class_names()[3] == "c3"
        (img,) = ds.read_views(slice(None))
        np.testing.assert_array_equal(img, images.astype(np.float32))
        np.testing.assert_array_equal(ds.labels(), labels)


@pytest.mark.parametrize("compression", ["lzf", "gzip", "none"])
def test_other_compressions_round_trip(tmp_path, compression):
    rng = np.random.default_rng(9)
    block = make_block(rng, 20)
    path = write_minerva(tmp_path / "c.h5", [block], compression=compression)
    with h5py.File(path, "r") as h5:
        assert h5["img_data/hitimes-x/pixel"].compression == (None if compression == "none" else compression)
    with open_dataset(path) as ds:
        for k, view in enumerate("xuv"):
            np.testing.assert_array_equal(ds.read_views(range(20))[k], block.views[view].to_dense())
    with pytest.raises(UsageError, match="compression"):
        write_minerva(tmp_path / "d.h5", [block], compression="zstd")
