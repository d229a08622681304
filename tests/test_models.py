"""Architecture specs: parameter counts, validation messages, every named spec builds."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from click.testing import CliRunner

from nuclassify.cli.main import cli
from nuclassify.errors import SpecError
from nuclassify.models import (
    count_params,
    dump_spec,
    list_specs,
    load_spec,
    preset_shapes,
    validate_spec,
    walk_spec,
)

EPS_2016 = {"x": (127, 50, 2), "u": (127, 25, 2), "v": (127, 25, 2)}


def test_epsilon_has_the_published_parameter_count():
    # gnperdue/ANNMINERvA archive/Lasagne/minerva_ann_networks.py (build_triamese_epsilon) and its logs:
    # 1,686,071 at (2,127,50)/(2,127,25) channels-first = (127,50,2)/(127,25,2) here, 11 classes.
    assert count_params(load_spec("epsilon"), EPS_2016, 11) == 1_686_071


@pytest.mark.slow
def test_every_named_spec_builds_with_the_counted_parameters():
    from nuclassify.models import build

    for name in list_specs():
        spec = load_spec(name)
        shapes, n_classes = preset_shapes(spec["default_inputs"])
        model = build(spec, shapes, n_classes)
        assert model.count_params() == count_params(spec, shapes, n_classes), name
        assert [t.name for t in model.inputs] == spec["views"], name
        assert tuple(model.output.shape) == (None, n_classes)
        if name == "epsilon":
            assert model.count_params() == 1_686_071


def test_named_specs_cover_the_seed_table_and_cvn():
    names = set(list_specs())
    assert {"epsilon", "1view", "3view-1col", "3view-3col", "conv3", "conv4", "conv5", "cvn", "cvn-full"} <= names
    conv4 = load_spec("conv4")
    heights = [layer["kernel"] for layer in conv4["columns"]["x"] if layer["kind"] == "conv"]
    assert heights == [[8, 3], [8, 3], [7, 3], [6, 3]]
    assert load_spec("1view")["views"] == ["x"]
    assert load_spec("3view-1col")["combine"] == "join"
    shapes, n = preset_shapes("nova")
    assert count_params(load_spec("cvn"), shapes, n) < count_params(load_spec("cvn-full"), shapes, n) / 10


def test_join_concatenates_views_along_width():
    infos = walk_spec(load_spec("3view-1col"), EPS_2016, 11)
    assert infos[0].where == "join" and infos[0].out_shape == (127, 100, 2)


def test_unknown_top_level_key_is_rejected():
    spec = load_spec("epsilon")
    spec["colums"] = {}
    with pytest.raises(SpecError, match="unknown spec key.*colums"):
        validate_spec(spec)


def test_unknown_layer_kind_names_the_layer():
    spec = load_spec("epsilon")
    spec["columns"]["u"][2] = {"kind": "convolution", "filters": 3}
    with pytest.raises(SpecError, match=r"column u layer 3 \(convolution\): unknown layer kind"):
        validate_spec(spec, EPS_2016)


def test_unknown_layer_key_names_the_layer():
    spec = load_spec("epsilon")
    spec["head"][1]["unit"] = 5
    with pytest.raises(SpecError, match=r"head layer 2 \(dense\): unknown key\(s\) unit"):
        validate_spec(spec)


def test_shapes_shrinking_to_zero_are_found_by_arithmetic():
    spec = load_spec("epsilon")
    # At width 8 the U column (first kernel 8x5, then three 3-wide kernels) runs out of columns.
    with pytest.raises(SpecError, match=r"column u layer 5 \(conv\): kernel 6x3 does not fit input 27x2"):
        walk_spec(spec, {"x": (127, 50, 2), "u": (127, 8, 2), "v": (127, 8, 2)})
    # A pool larger than what is left.
    spec["columns"]["x"].insert(8, {"kind": "pool", "size": [4, 1]})
    with pytest.raises(SpecError, match=r"column x layer 9 \(pool\): pool 4x1 does not fit input 3x42"):
        walk_spec(spec, EPS_2016)


def test_image_layer_after_dense_and_bad_values_are_rejected():
    spec = copy.deepcopy(load_spec("1view"))
    spec["columns"]["x"].append({"kind": "conv", "filters": 2, "kernel": [1, 1]})
    with pytest.raises(SpecError, match=r"column x layer 11 \(conv\): needs an image"):
        walk_spec(spec, EPS_2016)
    spec = load_spec("1view")
    spec["columns"]["x"][0]["kernel"] = [8, 0]
    with pytest.raises(SpecError, match=r"column x layer 1 \(conv\): kernel must be two positive integers"):
        walk_spec(spec, EPS_2016)
    spec = load_spec("1view")
    spec["training"]["optimizer"] = "adamax"
    with pytest.raises(SpecError, match="optimizer must be one of"):
        validate_spec(spec)


def test_views_must_exist_in_the_data():
    with pytest.raises(SpecError, match="spec uses view.*x, u, v.*data has views xz, yz"):
        walk_spec(load_spec("epsilon"), preset_shapes("nova")[0])


def test_load_spec_errors_and_round_trip(tmp_path):
    with pytest.raises(SpecError, match="unknown architecture 'epsilom'"):
        load_spec("epsilom")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SpecError, match="bad.json: not valid JSON"):
        load_spec(bad)
    path = tmp_path / "mine.json"
    path.write_text(dump_spec(load_spec("conv5")))
    assert load_spec(path) == load_spec("conv5")
    assert json.loads(dump_spec(load_spec("cvn"))) == load_spec("cvn")


def test_models_cli_lists_counts():
    result = CliRunner().invoke(cli, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)["models"]}
    assert rows["epsilon"]["parameters"] == 1_686_071
    assert rows["cvn"]["inputs"] == "nova" and rows["cvn"]["parameters"] > 0
    result = CliRunner().invoke(cli, ["models", "--input-shapes", "nova"])
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if x.startswith("epsilon"))
    assert "n/a" in line
    result = CliRunner().invoke(cli, ["models"])
    assert "1,686,071" in result.output


def test_models_command_does_not_import_keras():
    import subprocess
    import sys

    code = ("import sys\nfrom nuclassify.cli.main import main\n"
            "try:\n    main(['models'])\nexcept SystemExit:\n    pass\n"
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_input_transform_log1p_compresses_scales_and_survives_save(tmp_path):
    import keras

    from nuclassify.models import build, load_model, load_spec

    spec = load_spec("conv4")
    assert spec["input_transform"] == "log1p"
    shapes = {"x": (127, 50, 2), "u": (127, 25, 2), "v": (127, 25, 2)}
    model = build(spec, shapes, 11)
    layer = model.get_layer("x_log1p")
    raw = np.array([[0.0, 1.0, -43.0, 16000.0]], dtype="float32")
    out = keras.ops.convert_to_numpy(layer(raw))
    np.testing.assert_allclose(out, np.sign(raw) * np.log1p(np.abs(raw)), rtol=1e-6)
    assert out[0, 0] == 0.0 and out.max() < 10  # empty pixels stay empty; 16 us -> < 10
    path = tmp_path / "m.keras"
    model.save(path)
    again = load_model(path)
    batch = [np.random.default_rng(0).random((2, *shapes[v]), dtype=np.float32) * 1000 for v in ("x", "u", "v")]
    np.testing.assert_allclose(again.predict(batch, verbose=0), model.predict(batch, verbose=0), rtol=1e-5)


def test_unknown_input_transform_rejected():
    from nuclassify.errors import SpecError
    from nuclassify.models import load_spec, validate_spec

    spec = dict(load_spec("epsilon"), input_transform="sqrt")
    with pytest.raises(SpecError, match="input_transform"):
        validate_spec(spec)
