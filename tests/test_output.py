"""The shared output helper: off a terminal, progress is a few plain lines fit for a batch job's log."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from test_trackfit import write_track_file

from nuclassify._progress import PlainProgress
from nuclassify.cli._output import Output
from nuclassify.cli.main import cli

LINE = re.compile(r"^evaluate: (\d+)/(\d+) events \((\d+)%\)( \d+ ev/s)?( ETA \d+:\d\d:\d\d| done in \d+:\d\d:\d\d)?$")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _lines(text: str) -> list[str]:
    assert "\r" not in text
    return text.splitlines()


def test_plain_lines_at_most_once_per_interval_then_a_final_one(capsys):
    clock = FakeClock()
    with PlainProgress(50000, "evaluate", interval_s=30.0, clock=clock) as bar:
        for _ in range(10):  # 10 batches of 1200 events, 5 s apart: 50 s in all
            clock.now += 5.0
            bar.update(1200)
    lines = _lines(capsys.readouterr().err)
    assert lines == ["evaluate: 7200/50000 events (14%) 240 ev/s ETA 0:02:58",
                     "evaluate: 12000/50000 events (24%) 240 ev/s done in 0:00:50"]
    with PlainProgress(10**9, "simulating", clock=clock) as slow:
        clock.now += 10.0
        slow.update(100)  # 10 ev/s: 99,999,990 s to go
        assert slow.line(clock.now).endswith("10 ev/s ETA 27777:46:30")  # hours run on past a day


def test_output_off_a_terminal_writes_plain_lines(capsys, monkeypatch):
    monkeypatch.setattr("nuclassify._progress.LINE_INTERVAL_S", 0.0)
    with Output(terminal=False).progress_bar(30, "evaluate") as bar:
        for _ in range(3):
            bar.update(10)
    lines = _lines(capsys.readouterr().err)
    assert len(lines) == 4  # one per update (interval 0) and the final line
    assert all(LINE.match(line) for line in lines), lines
    assert lines[-1].startswith("evaluate: 30/30 events (100%)") and "done in" in lines[-1]

    monkeypatch.setattr("nuclassify._progress.LINE_INTERVAL_S", 3600.0)
    with Output(terminal=False).progress_bar(30, "evaluate") as bar:
        for _ in range(3):
            bar.update(10)
    assert len(_lines(capsys.readouterr().err)) == 1  # only the final line

    items = list(Output(terminal=False).progress(range(5), length=5, label="evaluate"))
    assert items == list(range(5))
    lines = _lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("evaluate: 5/5 events (100%)")


def test_quiet_json_and_terminal_modes_write_no_plain_lines(capsys, monkeypatch):
    monkeypatch.setattr("nuclassify._progress.LINE_INTERVAL_S", 0.0)
    for out in (Output(quiet=True, terminal=False), Output(json_mode=True, terminal=False)):
        with out.progress_bar(30, "evaluate") as bar:
            bar.update(30)
        assert list(out.progress(range(3), 3, "evaluate")) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    with Output(terminal=True).progress_bar(30, "evaluate") as bar:  # click's live bar (hidden: not a tty here)
        bar.update(30)
    assert "events (" not in capsys.readouterr().err


def test_a_failed_job_logs_how_far_it_got(capsys):
    clock = FakeClock()
    with pytest.raises(RuntimeError), PlainProgress(100, "evaluate", interval_s=30.0, clock=clock) as bar:
        clock.now += 1.0
        bar.update(40)
        raise RuntimeError("disk gone")
    assert _lines(capsys.readouterr().err) == ["evaluate: 40/100 events (40%) 40 ev/s stopped after 0:00:01"]
    with pytest.raises(RuntimeError), PlainProgress(100, "evaluate", clock=clock):
        raise RuntimeError("before any work")
    assert capsys.readouterr().err == ""


def test_evaluate_off_a_terminal_logs_plain_progress(tmp_path):
    data, _, _ = write_track_file(tmp_path / "t.h5", n=20, seed=3)
    r = CliRunner().invoke(cli, ["evaluate", "--model", "trackfit", "--data", str(data), "--batch-size", "8"])
    assert r.exit_code == 0, r.output
    lines = _lines(r.stderr)
    assert lines[0].startswith("evaluating trackfit on ")
    assert len(lines) == 2 and LINE.match(lines[1]) and lines[1].startswith("evaluate: 20/20 events (100%)")
    assert "accuracy" in r.stdout and "evaluate:" not in r.stdout
