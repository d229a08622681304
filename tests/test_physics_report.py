"""The physics report (`nuclassify simulate report`, `make physics-report`): JSON figures and PNGs."""

from __future__ import annotations

import json

from click.testing import CliRunner

from nuclassify.cli.main import cli
from nuclassify.simulate import SIMULATOR_VERSION
from nuclassify.simulate._report import PLOTS

# Figures whose bounds hold even on a small sample (the kinematic shares need the full 20,000).
DETECTOR_FIGURES = ("nova_muon_cells_per_plane", "proton_range_pb_100MeV_g_cm2", "proton_range_pb_500MeV_g_cm2",
                    "proton_100MeV_transmission_pb_0.95R", "proton_100MeV_transmission_pb_1.05R",
                    "time_ref_pull_times_sqrt_n_ns", "crosstalk_hits_below_1.5MeV", "pileup_default_le_me")


def test_report_command_writes_json_and_every_plot(tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["-q", "simulate", "report", "-o", str(out), "-n", "600", "--seed", "2",
                                      "--json"])
    report = json.loads(result.stdout)
    # Exit status 1 exactly when a figure is outside its bounds.
    assert result.exit_code == (1 if report["failed"] else 0), result.output
    assert report == json.loads((out / "report.json").read_text())
    assert report["simulator_version"] == SIMULATOR_VERSION and report["n_events"] == 600
    for name in DETECTOR_FIGURES:
        assert report["figures"][name]["pass"] is True, (name, report["figures"][name])
    for name, figure in report["figures"].items():
        assert "value" in figure, name
    assert sorted(report["plots"]) == sorted(f"{p}.png" for p in PLOTS)
    for name in report["plots"]:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_report_refuses_too_few_events(tmp_path):
    result = CliRunner().invoke(cli, ["simulate", "report", "-o", str(tmp_path / "r"), "-n", "10"])
    assert result.exit_code != 0 and "10" in result.output


def test_the_installed_command_exits_1_when_a_figure_is_out_of_bounds(tmp_path, monkeypatch, capsys):
    """The entry point (not only the Click group under CliRunner) carries the report's status: a
    CI step running `make physics-report` must see a figure out of bounds."""
    import pytest

    import nuclassify.simulate as simulate
    from nuclassify.cli.main import main

    def failing_report(out_dir, **_):
        out_dir.mkdir(parents=True, exist_ok=True)
        return {"figures": {"w_peak": {"value": 2.0, "pass": False, "reference": "test"}}, "failed": ["w_peak"],
                "plots": []}

    monkeypatch.setattr(simulate, "physics_report", failing_report)
    with pytest.raises(SystemExit) as stopped:
        main(["-q", "simulate", "report", "-o", str(tmp_path / "r"), "-n", "600"])
    assert stopped.value.code == 1
    assert "FAIL w_peak" in capsys.readouterr().out
    monkeypatch.setattr(simulate, "physics_report", lambda out_dir, **_: {"figures": {}, "failed": [], "plots": []})
    try:
        main(["-q", "simulate", "report", "-o", str(tmp_path / "ok"), "-n", "600"])
    except SystemExit as done:
        assert done.code in (0, None)
