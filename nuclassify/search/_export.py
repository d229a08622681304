"""Files written from the search's state for people and other tools: ``results.csv`` and ``best.json``.

Both are exports of the journal, never read back by the search, and both are replaced
atomically, so a reader (a plot, a spreadsheet, ``train --arch best.json``) never sees half a
file. ``results.csv`` has one row per candidate id, whatever its state.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path

from nuclassify._fileio import atomic_output
from nuclassify.models import dump_spec
from nuclassify.search._candidate import Candidate
from nuclassify.search._objectives import Objectives

__all__ = ["write_results", "write_best", "named_spec", "RESULTS_NAME", "BEST_NAME", "RESULT_COLUMNS"]

RESULTS_NAME, BEST_NAME = "results.csv", "best.json"
RESULT_COLUMNS = ("id", "parents", "origin", "status", "reason")
TAIL_COLUMNS = ("params", "train_seconds", "worker", "submit_time", "start_time", "end_time", "genome")


def named_spec(candidate: Candidate) -> dict:
    """The candidate's genome as a complete spec, named after it (what ``train --arch`` takes)."""
    return {"name": f"candidate-{candidate.id}",
            "description": f"nuclassify evolve candidate {candidate.id} ({candidate.origin})"[:300],
            **candidate.genome}


def _stamp(t: float) -> str:
    return f"{t:.3f}" if t else ""


def write_results(run_dir: str | os.PathLike, candidates: Iterable[Candidate], objectives: Objectives) -> Path:
    """Write ``RUN_DIR/results.csv``: one row per candidate, in id order.

    Columns: id, parents (``;``-separated ids), origin, status, reason, then one column per
    objective and per other number the trainer reported, then params, train_seconds, worker,
    submit/start/end times (Unix seconds) and the genome as JSON.
    """
    rows = sorted(candidates, key=lambda c: c.id)
    extra = sorted({k for c in rows for k in c.objectives} - set(objectives.names) - set(TAIL_COLUMNS))
    metrics = [n for n in objectives.names if n not in TAIL_COLUMNS] + extra
    path = Path(run_dir) / RESULTS_NAME
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*RESULT_COLUMNS, *metrics, *TAIL_COLUMNS])
        for c in rows:
            values = [c.objectives.get(m, "") for m in metrics]
            writer.writerow([c.id, ";".join(map(str, c.parents)), c.origin, c.status, c.reason, *values,
                             c.params, f"{c.train_seconds:.3f}" if c.done else "", c.worker,
                             _stamp(c.submitted), _stamp(c.started), _stamp(c.ended),
                             json.dumps(c.genome, separators=(",", ":"))])
    return path


def write_best(run_dir: str | os.PathLike, candidate: Candidate) -> Path:
    """Write ``RUN_DIR/best.json``, the best candidate's spec, one layer per line."""
    path = Path(run_dir) / BEST_NAME
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(dump_spec(named_spec(candidate)))
    return path
