"""``nuclassify evaluate`` on a NOvA file: efficiency and purity per flavour, curve plot."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from test_evaluate_cli import make_run

from nuclassify.cli.main import cli
from nuclassify.data import NovaBlock, write_nova


def test_nova_flavour_efficiency_purity(tmp_path):
    rng = np.random.default_rng(0)
    n = 64
    maps = (rng.integers(0, 255, (n, 16000)) * (rng.random((n, 16000)) < 0.05)).astype(np.uint8)
    codes = rng.choice([0, 1, 4, 5, 8, 13], n)
    write_nova(tmp_path / "nova.h5", [NovaBlock(cvnmap=maps, interaction=codes)])
    shapes = {"xz": (80, 100, 1), "yz": (80, 100, 1)}
    run = make_run(tmp_path / "cvn", 3, shapes=shapes, target="flavour", n_classes=4, views=("xz", "yz"))
    meta = json.loads((run / "run.json").read_text())
    meta["class_names"] = ["numu CC", "nue CC", "nutau CC", "NC"]
    (run / "run.json").write_text(json.dumps(meta))
    args = ["evaluate", "--model", str(run), "--data", str(tmp_path / "nova.h5"), "--score-cut", "0.3"]
    r = CliRunner().invoke(cli, args + ["--json", "--plots", str(tmp_path / "plots")])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    flav = payload["flavours"]
    assert set(flav) == {"nue_cc", "numu_cc", "nutau_cc", "nc"}
    assert sum(f["n"] for f in flav.values()) == payload["n_events"]
    for f in flav.values():
        assert f["cut"]["score_cut"] == 0.3
        assert f["argmax"]["efficiency"] is None or 0.0 <= f["argmax"]["efficiency"] <= 1.0
    curve = payload["efficiency_purity_curve"]["nue_cc"]
    assert curve["efficiency"][0] == 1.0 and np.all(np.diff(curve["efficiency"]) <= 1e-12)
    assert (tmp_path / "plots" / "efficiency_purity.png").stat().st_size > 5000
    text = CliRunner().invoke(cli, args).stdout
    assert "flavour selection" in text and "eff@0.30" in text
    r = CliRunner().invoke(cli, ["evaluate", "--model", "trackfit", "--data", str(tmp_path / "nova.h5")])
    assert r.exit_code != 0 and "MINERvA" in str(r.exception)
