"""``nuclassify evolve``: a real (tiny) search end to end, Ctrl-C and --resume, one-line refusals."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from nuclassify.cli.main import cli, main
from nuclassify.search import read_journal

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _rows(run_dir):
    with open(Path(run_dir) / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _records(run_dir, kind):
    return [r for r in read_journal(Path(run_dir) / "journal.jsonl")[0] if r["kind"] == kind]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """300 of scikit-learn's 8x8 digits, written by the example script (80/20 train/valid files)."""
    spec = importlib.util.spec_from_file_location("digits_to_h5", EXAMPLES / "digits_to_h5.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_digits(tmp_path_factory.mktemp("digits"), limit=300, seed=1)


@pytest.mark.slow
def test_serial_search_on_minerva_writes_its_records_and_train_takes_best_json(tiny_minerva, tmp_path):
    run = tmp_path / "evo"
    res = CliRunner().invoke(cli, ["evolve", "--data", str(tiny_minerva), "--executor", "serial", "--budget", "3",
                                   "--epochs", "1", "--out", str(run), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert (summary["space"], summary["evaluated"], summary["failed"]) == ("minerva", 3, 0)
    rows = _rows(run)
    assert [r["id"] for r in rows] == ["0", "1", "2"] and {r["status"] for r in rows} == {"finished"}
    assert all(0.0 <= float(r["val_accuracy"]) <= 1.0 and int(r["params"]) > 0 for r in rows)
    assert len(_records(run, "finished")) == 3
    best = summary["best"]["id"]
    assert summary["best_json"] == str(run / "best.json")
    assert summary["best_model"] == str(run / "candidates" / str(best) / "best.keras")
    weights = sorted(p.parent.name for p in (run / "candidates").glob("*/best.keras"))
    assert weights == [str(best)]  # only the winner's weights are kept; every candidate's records are
    assert all((run / "candidates" / str(i) / "run.json").is_file() for i in range(3))

    trained = CliRunner().invoke(cli, ["train", "--data", str(tiny_minerva), "--arch", str(run / "best.json"),
                                       "--out", str(tmp_path / "winner"), "--valid-fraction", "0.25", "--json"])
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout.strip().splitlines()[-1])["arch"] == f"candidate-{best}"

    report = CliRunner().invoke(cli, ["search", "--report", str(run), "--json"])  # the alias, too
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["best"]["id"] == best


@pytest.mark.slow
def test_ctrl_c_mid_candidate_then_resume_repeats_no_finished_candidate(digits, tmp_path, monkeypatch):
    import keras

    import nuclassify.training as training

    real_fit = training.fit

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                os.kill(os.getpid(), signal.SIGINT)

    def fit_with_ctrl_c(spec, config, *, callbacks=None):
        first = Path(config.out_dir).name == "1" and not (config.out_dir / "spec.json").exists()
        return real_fit(spec, config, callbacks=[*(callbacks or []), *([CtrlC()] if first else [])])

    monkeypatch.setattr(training, "fit", fit_with_ctrl_c)
    train, valid = digits
    run = tmp_path / "evo"
    args = ["evolve", "--data", str(train), "--valid", str(valid), "--executor", "serial", "--budget", "3",
            "--out", str(run)]
    stopped = CliRunner().invoke(cli, args)
    assert stopped.exit_code == 130, stopped.output
    assert "search interrupted after 1 of 3 candidates" in stopped.stderr and "--resume" in stopped.stderr
    assert [r["id"] for r in _records(run, "finished")] == [0]

    resumed = CliRunner().invoke(cli, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert [r["id"] for r in _records(run, "finished")] == [0, 1, 2]  # each once, candidate 0 not again
    assert [(r["id"], r["attempt"]) for r in _records(run, "started")] == [(0, 1), (1, 1), (1, 2), (2, 1)]
    assert [r["status"] for r in _rows(run)] == ["finished"] * 3
    # The printed hint trains the winner on the search's own validation file.
    assert f"train it: nuclassify train --data {train} --valid {valid} --arch" in resumed.stdout


def _one_line_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("nuclassify: error: "), err
    return err


@pytest.mark.parametrize("extra, needle", [
    (["--budget", "0"], "--budget must be a positive integer; received 0"),
    (["--candidates-per-child", "0"], "--candidates-per-child must be a positive integer; received 0"),
    (["--valid-fraction", "0.2", "--valid", "{data}"], "either --valid or --valid-fraction"),
    (["--space", "nova"], "search space nova: view(s) xz, yz are not in the data (it has x, u, v)"),
    (["--resume"], "no search to resume"),
    (["--seed-arch", "cvn"], "seed network cvn uses view(s)"),
    (["--objectives", "val_accuracy,-nonsense"], "'nonsense' is not a figure the trainer reports"),
    (["--executor", "serial", "--candidates-per-child", "3"], "--candidates-per-child needs --executor process"),
    (["--tournament", "9"], "--tournament (9) must not exceed the population (4: set by --budget 2, a quarter"),
])
def test_bad_input_is_one_line_before_anything_runs(tiny_minerva, tmp_path, capsys, extra, needle):
    out = tmp_path / "empty"
    out.mkdir()
    argv = ["evolve", "--data", str(tiny_minerva), "--out", str(out), "--budget", "2",
            *[e.format(data=tiny_minerva) for e in extra]]
    assert needle in _one_line_error(capsys, argv)
    assert list(out.iterdir()) == []  # nothing written


def test_an_edited_space_file_is_named_in_its_errors(tiny_minerva, tmp_path, capsys):
    """A copy of a shipped space keeps the shipped name inside; the error must still say which file."""
    from nuclassify.search._space import _space_dir

    edited = json.loads((_space_dir() / "minerva.json").read_text())
    edited["views"] = [["q"]]
    space = tmp_path / "sp_views.json"
    space.write_text(json.dumps(edited))
    out = tmp_path / "empty"
    out.mkdir()
    err = _one_line_error(capsys, ["evolve", "--data", str(tiny_minerva), "--out", str(out), "--budget", "2",
                                   "--space", str(space)])
    assert f"search space minerva ({space}): view(s) q are not in the data" in err


def test_a_folder_holding_other_files_is_refused_and_kept(tiny_minerva, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.csv").write_text("a user's own results")  # a name the search itself writes
    err = _one_line_error(capsys, ["evolve", "--data", str(tiny_minerva), "--out", str(out), "--budget", "2"])
    assert "is not empty and holds no search" in err
    assert [p.name for p in out.iterdir()] == ["results.csv"] and (out / "results.csv").read_text() == \
        "a user's own results"


def test_missing_data_file_is_one_line(tmp_path, capsys):
    err = _one_line_error(capsys, ["evolve", "--data", str(tmp_path / "nope.h5"), "--out", str(tmp_path / "r"),
                                   "--budget", "2"])
    assert "nope.h5" in err and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_process_workers_with_reused_children_complete_the_search(digits, tmp_path):
    """--candidates-per-child through the CLI: 2 process workers, each child trains 2 candidates."""
    train, valid = digits
    run = tmp_path / "evo"
    res = CliRunner().invoke(cli, ["evolve", "--data", str(train), "--valid", str(valid), "--workers", "2",
                                   "--candidates-per-child", "2", "--budget", "4", "--epochs", "1", "--seed", "3",
                                   "--out", str(run), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert (summary["executor"], summary["workers"], summary["candidates_per_child"]) == ("process", 2, 2)
    assert (summary["evaluated"], summary["failed"]) == (4, 0)
    assert [r["status"] for r in _rows(run)] == ["finished"] * 4
