"""The search refuses candidates whose training would not fit in memory (a random MINERvA
network of 5 M parameters at batch 500 once took 24 GB and was killed by the kernel)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nuclassify.errors import SpecError
from nuclassify.models import preset_shapes, walk_spec
from nuclassify.search import GenomeFactory, load_space
from nuclassify.search._factory import MEMORY_PER_ACTIVATION, training_memory_gb

WIDE = {"name": "wide", "views": ["x", "u", "v"], "combine": "columns",
        "columns": {v: [{"kind": "conv", "filters": 64, "kernel": [3, 3], "padding": "same"},
                        {"kind": "conv", "filters": 64, "kernel": [3, 3], "padding": "same"},
                        {"kind": "globalpool"}] for v in ("x", "u", "v")},
        "merge": "concat", "head": [], "training": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 1024}}


def test_memory_estimate_is_activations_times_batch_plus_parameter_state():
    shapes, n_classes = preset_shapes("minerva2016")
    layers = walk_spec(WIDE, shapes, n_classes)
    # two convs per view, three global pools, the concat and the softmax
    per_event = 2 * 64 * 127 * (50 + 25 + 25) + 3 * 64 + 3 * 64 + n_classes
    assert sum(int(np.prod(layer.out_shape)) for layer in layers) == per_event
    params = sum(layer.params for layer in layers)
    expected = (4 * 1024 * per_event * MEMORY_PER_ACTIVATION + 16 * params) / 1e9
    assert training_memory_gb(layers, 1024) == pytest.approx(expected)
    assert training_memory_gb(layers, 1024) > 40  # about 44 GB: far beyond a 24 GB machine


def test_factory_refuses_a_network_over_the_memory_cap(tmp_path):
    shapes, n_classes = preset_shapes("minerva2016")
    factory = GenomeFactory(load_space("minerva"), shapes, n_classes)
    assert factory.space.max_memory_gb == 6
    with pytest.raises(SpecError, match="GB to train, over the space's max_memory_gb 6"):
        factory.check(json.loads(json.dumps(WIDE)))
    small = json.loads(json.dumps(WIDE))
    small["training"]["batch_size"] = 16  # the same network at a small batch fits
    assert factory.check(small) > 0
    rng = np.random.default_rng(0)
    for _ in range(40):  # nothing the factory hands out is over the cap
        checked = factory.random(rng)
        layers = walk_spec(checked.genome, shapes, n_classes)
        assert training_memory_gb(layers, checked.genome["training"]["batch_size"]) <= 6


def test_a_bad_memory_cap_is_one_line(tmp_path):
    raw = json.loads(json.dumps(load_space("images").raw))
    raw["limits"]["max_memory_gb"] = -1
    path = tmp_path / "space.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(SpecError, match="limits.max_memory_gb.*positive number"):
        load_space(path)
