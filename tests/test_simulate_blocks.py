"""The generators' blocks: layout, labels, truth, reproducibility and detector-response options."""

import numpy as np
import pytest

from nuclassify.data import SparseImages
from nuclassify.detector import minerva, nova
from nuclassify.errors import UsageError
from nuclassify.simulate import simulate_minerva, simulate_nova


def _join(blocks):
    views = {v: SparseImages.concatenate([b.views[v] for b in blocks]) for v in "xuv"}
    zs = np.concatenate([b.zs for b in blocks])
    return views, zs, blocks


@pytest.fixture(scope="module")
def minerva_events():
    return _join(list(simulate_minerva(400, seed=11, block_size=200)))


def test_every_hit_lies_inside_the_detector_images(minerva_events):
    views, zs, blocks = minerva_events
    shapes = {"x": (2, 127, 94), "u": (2, 127, 47), "v": (2, 127, 47)}
    for name, hits in views.items():
        assert hits.shape == shapes[name]
        assert hits.offsets[0] == 0 and np.all(np.diff(hits.offsets) >= 0)
        assert hits.pixel.min() >= 0 and hits.pixel.max() < 127 * shapes[name][2]
        for i in range(0, hits.n_events, 37):
            pix = hits.pixel[hits.offsets[i]:hits.offsets[i + 1]]
            assert len(np.unique(pix)) == len(pix)  # pixels merged, never repeated
        assert np.all(hits.values[:, 0] > 0) and np.all(np.isfinite(hits.values))
        assert np.all(np.abs(hits.values[:, 1]) <= 16000.0)
    assert zs.min() >= 4280.0 and zs.max() <= 6172.29  # the skimmer's default upper bound (module 31)
    assert np.mean(np.diff(views["x"].offsets)) > 50  # real events, not empty images


def test_labels_and_truth_agree_with_geometry(minerva_events):
    _, zs, blocks = minerva_events
    segments = np.concatenate([b.segments for b in blocks])
    assert np.array_equal(segments, minerva.segment_of_z(zs))
    planecodes = np.concatenate([b.planecodes for b in blocks])
    assert np.array_equal(planecodes, minerva.planecode_of_z(zs)) and planecodes.max() < 174
    ids = np.concatenate([b.eventids for b in blocks])
    assert len(np.unique(ids)) == len(ids)
    truth = blocks[0].truth
    for group, names in {"gen_data": ["current", "int_type", "targetZ", "W", "Q2", "E_nu"],
                         "vtx_data": ["x", "y", "target", "pileup", "backward"],
                         "hadro_data": ["n_protons", "n_pich", "n_pi0", "n_neutrons"],
                         "lepto_data": ["E_lepton"]}.items():
        for name in names:
            assert len(truth[group][name]) == blocks[0].n_events, (group, name)
    # Target vertices carry the nucleus of their material: lead is Z = 82.
    gen = truth["gen_data"]
    vtx = truth["vtx_data"]
    lead = vtx["material"] == minerva.MATERIAL_CODES["Pb"]
    assert np.all(gen["targetZ"][lead & (vtx["target"] >= 0)] == 82)
    assert set(np.unique(gen["current"])) <= {1, 2}
    # Charged-current events have a lepton, neutral-current ones none.
    assert np.all(truth["lepto_data"]["E_lepton"][gen["current"] == 2] == 0)


def test_late_hits_from_decays(minerva_events):
    views, _, _ = minerva_events
    t = views["x"].values[:, 1]
    event = np.repeat(np.arange(views["x"].n_events), np.diff(views["x"].offsets))
    late = np.unique(event[t > 500.0])
    assert len(late) > 0.1 * views["x"].n_events  # Michel electrons microseconds later
    prompt = t[t < 200.0]
    assert np.median(np.abs(prompt)) < 15.0  # the prompt hits are near time zero


def test_same_seed_same_events_whatever_workers():
    a = list(simulate_minerva(300, seed=5, block_size=100, workers=1))
    b = list(simulate_minerva(300, seed=5, block_size=100, workers=2))
    c = list(simulate_minerva(300, seed=6, block_size=100, workers=1))
    for x, y in zip(a, b, strict=True):
        for v in "xuv":
            assert np.array_equal(x.views[v].pixel, y.views[v].pixel)
            assert np.array_equal(x.views[v].values, y.views[v].values)
        assert np.array_equal(x.zs, y.zs) and np.array_equal(x.eventids, y.eventids)
    assert not np.array_equal(a[0].zs, c[0].zs)


def test_gain_scales_energies_only():
    a = next(simulate_minerva(100, seed=3))
    b = next(simulate_minerva(100, seed=3, gain=2.0))
    assert np.array_equal(a.views["x"].pixel, b.views["x"].pixel)
    np.testing.assert_allclose(b.views["x"].values[:, 0], 2 * a.views["x"].values[:, 0], rtol=1e-6)


def test_noise_rate_adds_hits_and_2016_layout_cuts_images():
    quiet = next(simulate_minerva(100, seed=3, noise_rate=0.0))
    noisy = next(simulate_minerva(100, seed=3, noise_rate=0.005))
    extra = noisy.views["x"].offsets[-1] - quiet.views["x"].offsets[-1]
    assert extra > 0.5 * 0.005 * 127 * 94 * 100
    old = next(simulate_minerva(50, seed=3, layout="2016"))
    assert old.views["x"].shape == (2, 127, 50) and old.views["u"].shape == (2, 127, 25)


def test_pileup_and_backward_options():
    block = next(simulate_minerva(200, seed=4, pileup=1.0, backward_fraction=1.0))
    vtx = block.truth["vtx_data"]
    assert np.all(vtx["pileup"] == 1) and np.all(vtx["pileup_z"] > 4000)
    assert np.all(vtx["backward"] == 1)
    clean = next(simulate_minerva(200, seed=4, pileup=0.0, backward_fraction=0.0))
    assert np.all(clean.truth["vtx_data"]["pileup"] == 0) and np.all(clean.truth["vtx_data"]["pileup_z"] == -1)

    def upstream_fraction(b):
        z_cols = minerva.view_plane_z("x", 94)
        hits = b.views["x"]
        event = np.repeat(np.arange(b.n_events), np.diff(hits.offsets))
        z_hit = z_cols[hits.pixel % 94]
        early = (z_hit < b.zs[event] - 60.0) & (hits.values[:, 0] > 1.0)
        return len(np.unique(event[early])) / b.n_events

    assert upstream_fraction(block) > upstream_fraction(clean) + 0.3


def test_bad_arguments_raise_usage_errors():
    # Checked when called, before any event is simulated.
    with pytest.raises(UsageError, match="positive"):
        simulate_minerva(0)
    with pytest.raises(UsageError, match="beam"):
        simulate_minerva(10, beam="he")
    with pytest.raises(UsageError, match="pileup"):
        simulate_minerva(10, pileup=1.5)
    with pytest.raises(UsageError, match="workers"):
        simulate_minerva(10, workers=0)
    with pytest.raises(UsageError, match="positive"):
        simulate_nova(-3)


def test_nova_pixel_maps_and_codes():
    blocks = list(simulate_nova(600, seed=2, block_size=300))
    maps = np.concatenate([b.cvnmap for b in blocks])
    codes = np.concatenate([b.interaction for b in blocks])
    assert maps.dtype == np.uint8 and maps.shape == (600, nova.MAP_SIZE)
    assert codes.min() >= 0 and codes.max() <= 13
    assert set(np.unique(codes)) >= {0, 1, 2, 4, 5, 6, 13}
    cube = maps.reshape(600, 2, 100, 80)
    has_hits = cube.reshape(600, -1).any(axis=1)
    assert has_hits.mean() > 0.97
    # The window starts at the first plane with a hit: column 0 is lit in one of the views
    # (unless that first hit lies more than 40 cells from the median cell).
    assert np.mean(cube[has_hits, :, 0, :].any(axis=(1, 2))) > 0.9
    # Electron-neutrino CC events are showers (wide, short), muon-neutrino CC QE ones tracks.
    columns = (cube > 0).any(axis=3).sum(axis=(1, 2))
    per_column = (cube > 0).sum(axis=(1, 2, 3)) / np.maximum(columns, 1)
    nue, numu_qe = (codes >= 4) & (codes <= 6), codes == 0
    assert per_column[nue].mean() > 1.3 * per_column[numu_qe].mean()
    assert columns[numu_qe].mean() > 1.3 * columns[nue].mean()
    again = list(simulate_nova(600, seed=2, block_size=300, workers=2))
    assert all(np.array_equal(a.cvnmap, b.cvnmap) for a, b in zip(blocks, again, strict=True))
