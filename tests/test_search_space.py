"""Search spaces: the shipped ones load; a bad space file is refused in one line naming the key."""

from __future__ import annotations

import json

import pytest

from nuclassify.errors import SpecError, UsageError
from nuclassify.search import list_spaces, load_space
from nuclassify.search._space import Choice, Range


def test_shipped_spaces_load_and_name_their_views():
    assert {"minerva", "nova", "images"} <= set(list_spaces())
    assert load_space("minerva").view_sets.values[0] == ("x", "u", "v")
    assert load_space("nova").view_sets.values == (("xz", "yz"),)
    assert load_space("images").view_sets.values == (("image",),)  # the data layer's generic view name


def test_range_and_choice_genes():
    r = Range(4, 64, log=True, integer=True)
    assert r.clip(1000) == 64 and isinstance(r.clip(10.4), int)
    c = Choice((1, 2))
    import numpy as np

    rng = np.random.default_rng(0)
    assert c.perturb(1, rng) == 2  # a mutation always changes a gene that can change
    assert all(4 <= r.sample(rng) <= 64 for _ in range(50))


def _write(tmp_path, space):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space))
    return path


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s.update(colum={}), "unknown key(s) colum"),
    (lambda s: s["conv"].update(filters={"min": 8, "max": 4}), "conv.filters"),
    (lambda s: s["conv"].update(activation=["relu", "sigmoidal"]), "conv.activation"),
    (lambda s: s["conv"].update(kernel_h={"min": 0.5, "max": 3}), "conv.kernel_h"),
    (lambda s: s["column"]["kinds"].update(conv="many"), "column.kinds"),
    (lambda s: s.pop("dense"), "no 'dense' section"),
    (lambda s: s["training"].update(optimizer=["adam", "lbfgs"]), "training.optimizer"),
    (lambda s: s["training"].pop("batch_size"), "missing gene(s) batch_size"),
    (lambda s: s["limits"].update(max_params=-1), "limits.max_params"),
    (lambda s: s.update(combine=["columns", "stack"]), "combine"),
])
def test_bad_space_is_one_line_naming_the_key(tmp_path, edit, message):
    space = json.loads(json.dumps(load_space("images").raw))
    edit(space)
    with pytest.raises(SpecError) as err:
        load_space(_write(tmp_path, space))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_name_bad_json_and_views_missing_from_data(tmp_path):
    with pytest.raises(UsageError, match="unknown search space 'minerv'"):
        load_space("minerv")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_space(bad)
    with pytest.raises(UsageError, match="view.*x, u, v are not in the data"):
        load_space("minerva").check_inputs({"image": (8, 8, 1)})
