"""``show``: an event display per layout, on files built with plain h5py; bad event numbers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from nuclassify.cli.main import cli, main
from nuclassify.data import draw_event, open_dataset
from nuclassify.data._display import _title


@pytest.fixture
def grouped_2018(tmp_path):
    path = tmp_path / "minerva_2018.h5"
    with h5py.File(path, "w") as h5:
        for view, w in (("x", 94), ("u", 47), ("v", 47)):
            data = np.zeros((3, 2, 127, w), np.float32)
            cols = np.arange(10, w)
            data[:, 0, 60 + (cols - 10) // 4, cols] = np.linspace(1, 30, len(cols))  # a track
            data[:, 1, 60 + (cols - 10) // 4, cols] = 25.0
            h5[f"img_data/hitimes-{view}"] = data
        h5["vtx_data/segments"] = np.array([3, 8, 0xFF], np.uint8)
        h5["vtx_data/planecodes"] = np.array([30, 100, 0xFFFF], np.uint16)
        h5["vtx_data/zs"] = np.array([4921.0, 5300.0, 0.0], np.float32)
        h5["event_data/eventids"] = np.array([1, 2, 3], np.uint64)
    return path


def _coloured_fraction(png) -> float:
    img = imread(png)[..., :3]
    return float(np.mean(np.abs(img - img.mean(axis=-1, keepdims=True)).sum(axis=-1) > 0.1))


def test_show_minerva_writes_png_with_colour(grouped_2018, tmp_path):
    out = tmp_path / "ev.png"
    result = CliRunner().invoke(cli, ["show", str(grouped_2018), "--event", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 0.001 < _coloured_fraction(out) < 0.5
    with open_dataset(grouped_2018) as ds:
        assert "true segment 3 (T3)" in _title(ds, 0) and "plane code 30" in _title(ds, 0)
        assert "vertex z 4921 mm (dashed)" in _title(ds, 0)
        assert "unlabelled" in _title(ds, 2)


def test_show_refuses_to_overwrite_and_checks_event_range(grouped_2018, tmp_path, capsys):
    out = tmp_path / "ev.png"
    draw_event(grouped_2018, 1, out)
    for args, fragment in ((["show", str(grouped_2018), "-o", str(out)], "already exists"),
                           (["show", str(grouped_2018), "-e", "3", "-o", str(tmp_path / "x.png")],
                            "event 3 out of range (file has 3 events: 0-2)"),
                           (["show", str(grouped_2018), "-e", "-1", "-o", str(tmp_path / "x.png")], "out of range")):
        with pytest.raises(SystemExit) as info:
            main(args)
        err = capsys.readouterr().err
        assert info.value.code == 2 and fragment in err and len(err.strip().splitlines()) == 1
    draw_event(grouped_2018, 2, out, overwrite=True)
    assert not (tmp_path / "x.png").exists()


def test_show_nova_and_images(tmp_path):
    nova = tmp_path / "nova.h5"
    maps = np.zeros((2, 2, 100, 80), np.uint8)
    maps[:, :, 10:60, 40] = 120
    with h5py.File(nova, "w") as h5:
        h5["cvnmap"] = maps.reshape(2, 16000)
        h5["neutrino/interaction"] = np.array([4, 13])
    with open_dataset(nova) as ds:
        assert "nue CC QE" in _title(ds, 0)
    draw_event(nova, 1, tmp_path / "nova.png")
    assert _coloured_fraction(tmp_path / "nova.png") > 0.001
    images = tmp_path / "img.h5"
    with h5py.File(images, "w") as h5:
        h5["images"] = np.random.default_rng(0).integers(0, 255, (2, 8, 8, 3)).astype(np.uint8)
        h5["labels"] = np.array([1, 0])
    draw_event(images, 0, tmp_path / "img.png")
    assert _coloured_fraction(tmp_path / "img.png") > 0.05


def test_show_reco_draws_the_reconstruction_over_the_views(grouped_2018, tmp_path, capsys):
    """--reco passes the event's views to the reconstruction and draws its track and vertex on top."""
    import matplotlib.pyplot as plt

    plain, reco = tmp_path / "plain.png", tmp_path / "reco.png"
    for out, extra in ((plain, []), (reco, ["--reco"])):
        result = CliRunner().invoke(cli, ["show", str(grouped_2018), "--event", "0", "-o", str(out), *extra])
        assert result.exit_code == 0, result.output
    drawn = []
    draw_event(grouped_2018, 0, tmp_path / "hook.png", overlay=lambda axes, views: drawn.append(
        (len(axes), [v.shape for v in views], [len(ax.lines) for ax in axes])))
    assert drawn == [(3, [(1, 127, 94, 2), (1, 127, 47, 2), (1, 127, 47, 2)], [drawn[0][2][0]] * 3)]
    assert not np.array_equal(plt.imread(plain), plt.imread(reco))  # something was drawn on top
    nova = tmp_path / "nova.h5"
    with h5py.File(nova, "w") as h5:
        h5["cvnmap"] = np.zeros((1, 16000), np.uint8)
        h5["neutrino/interaction"] = np.array([4])
    with pytest.raises(SystemExit) as info:
        main(["show", str(nova), "--reco", "-o", str(tmp_path / "n.png")])
    assert info.value.code == 2 and "--reco draws the MINERvA reconstruction" in capsys.readouterr().err
    assert not (tmp_path / "n.png").exists()


def test_the_gaps_between_planes_hide_zeros_not_whatever_memory_held():
    # The masked columns filling the gaps at passive targets used to hold uninitialised memory;
    # matplotlib's colour normalisation computes on hidden values too, so a NaN or huge leftover
    # raised the test suite's intermittent "overflow encountered in divide". Memory that held
    # NaNs is handed straight back by the allocator, which made the fault show every time.
    from nuclassify.data._display import _plane_cells
    from nuclassify.detector import minerva

    z = minerva.view_plane_z("x", 94)
    image = np.arange(127 * 94, dtype=np.float64).reshape(127, 94)
    for _ in range(5):
        junk = np.full((127, 2 * 94 - 1), np.nan)
        del junk
        edges, cells = _plane_cells(z, image)
        assert np.all(np.isfinite(cells.data))
        assert np.array_equal(cells[:, 0::2], image) and cells.mask[:, 1::2].all()
        assert len(edges) == 2 * 94 and np.all(np.diff(edges) >= 0)
