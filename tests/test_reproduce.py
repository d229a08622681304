"""The reproduce pipeline: the README section is written from results.json, and the NOvA part runs end to end."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results() -> dict:
    row = {"model": "conv4", "accuracy": 0.8812, "ci95": [0.872, 0.890], "n": 5000, "label": "four",
           "seed_accuracy": 0.9409, "mcnemar_p_vs_previous_row": 0.0123}
    seg = [{"z_position": i, "segment": s, "target": None, "n": 100, "trackfit": 0.8, "network": 0.9 if i % 2 else 0.7,
            "seed_previous": 0.9, "seed_dl": 0.95} for i, s in enumerate([0, 1, 6, 2, 7, 3, 8, 4, 9, 5, 10])]
    return {
        "meta": {"size": "quick", "command": "python examples/reproduce_seed.py --size quick", "date": "2026-11-30",
                 "machine": "x86_64, 2 CPU cores", "keras_backend": "tensorflow", "nuclassify": "0.1.0",
                 "git_commit": "abcdef1234567", "total_step_seconds": 1500.0, "train_args": "--batch-size 64",
                 "sizes": {"epochs": 2, "workers": 2, "evo_events": 3000, "evo_epochs": 2}},
        "minerva": {"data": {"train_events": 20000, "test_events": 5000},
                    "design_table": [row | {"model": "trackfit", "label": "previous methods"}],
                    "depth_table": [row], "best_network": "conv4",
                    "best_vs_trackfit": {"network": 0.8812, "trackfit": 0.8501, "mcnemar_p": 3.2e-9},
                    "per_segment": seg,
                    "misclassified_causes": {"n_errors": 590, "n_events": 5000, "causes": [
                        {"cause": "boundary", "error_rate": 0.41, "correct_rate": 0.12, "ratio": 3.4,
                         "p_value": 1e-20}]}},
    }


def test_readme_section_is_written_from_the_results_and_only_between_the_markers(tmp_path: Path) -> None:
    writer = _load("write_readme_results", ROOT / "examples" / "write_readme_results.py")
    results = tmp_path / "run" / "results.json"
    results.parent.mkdir()
    results.write_text(json.dumps(_results()))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{writer.BEGIN}\nstale 12.3%\n{writer.END}\noutro\n")
    assert writer.main([str(results), str(readme), "--figures", "figs"]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("\noutro\n")
    assert "stale" not in text
    assert "88.12% (87.2%–89.0%)" in text            # the accuracy and its CI, from the JSON
    assert "94.09%" in text and "0.012" in text and "3.2e-09" in text
    assert "| boundary | 41.0% | 12.0% | 3.4 | 1.0e-20 |" in text
    assert "make reproduce-quick" in text and "2026-11-30" in text
    assert "Ordering: best first, here: `trackfit`; in the seed: `trackfit` (the same order)" in text
    assert "muon-track" not in text  # a run from before the column: the table as it was


def test_readme_tables_carry_the_muon_track_sample_when_the_run_measured_it(tmp_path: Path) -> None:
    writer = _load("write_readme_results", ROOT / "examples" / "write_readme_results.py")
    results = _results()
    for row in results["minerva"]["design_table"]:
        row["muon_track"] = {"model": row["model"], "accuracy": 0.9161, "ci95": [0.9066, 0.9247], "n": 3598}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text(f"{writer.BEGIN}\n{writer.END}\n")
    assert writer.main([str(path), str(readme)]) == 0
    text = readme.read_text()
    assert "| previous methods (`trackfit`) | 88.12% (87.2%–89.0%) | 0.012 | 91.61% (90.7%–92.5%) | 94.09% |" in text
    assert "only the 3,598 of 5,000 test events" in text and "trackfit gets 91.61% against" in text
    assert "| three" not in text and "| four (`conv4`) | 88.12% (87.2%–89.0%) | 0.012 | 94.09% |" in text


def test_readme_writer_refuses_a_readme_without_markers(tmp_path: Path, capsys) -> None:
    writer = _load("write_readme_results", ROOT / "examples" / "write_readme_results.py")
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_results()))
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    assert writer.main([str(results), str(readme)]) == 2
    assert readme.read_text() == "no markers\n"
    assert "markers" in capsys.readouterr().err


def test_bench_table_marks_goals() -> None:
    run_all = _load("run_all", ROOT / "benchmarks" / "run_all.py")
    table = run_all.format_table([{"name": "simulate", "value": 5123.0, "unit": "ev/s", "baseline": 2600.0,
                                   "baseline_name": "--workers 1", "ratio": 1.97, "goal": ">= 5,000 ev/s",
                                   "met": True},
                                  {"name": "trackfit", "value": 400.0, "unit": "ev/s", "baseline": None,
                                   "ratio": None, "goal": ">= 500", "met": False}])
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["figure", "value"]
    assert "5,123 ev/s" in lines[2] and "1.97x" in lines[2] and lines[2].endswith("yes")
    assert lines[3].endswith("NO")


@pytest.mark.slow
def test_reproduce_nova_part_runs_end_to_end(tmp_path: Path) -> None:
    """The smallest size, NOvA only: simulate, train cvn, evaluate, the cut-based selection, the plot."""
    out = tmp_path / "rep"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "reproduce_seed.py"), "--size", "smoke",
                           "--out", str(out), "--only", "nova"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    cuts = results["nova"]["cuts"]
    assert 0.4 < cuts["accuracy"]["accuracy"] <= 1.0          # far above the 4-class majority on any seed
    assert set(cuts["flavours"]) == {"nue_cc", "numu_cc", "nutau_cc", "nc"}
    assert (out / "plots" / "nova_efficiency_purity.png").stat().st_size > 10_000
    assert "nuclassify train" in (out / "commands.log").read_text()
    # a second call finds every step done and repeats none of them
    again = subprocess.run([sys.executable, str(ROOT / "examples" / "reproduce_seed.py"), "--size", "smoke",
                            "--out", str(out), "--only", "nova"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert "done earlier" in again.stdout and "$ nuclassify" not in again.stdout
