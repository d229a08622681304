"""One place where every benchmark records its figures, so ``make bench`` can print them as one table.

Each ``bench_*.py`` still prints its own lines; :func:`record` also appends the figure, its
baseline from the same run, their ratio and the goal to the JSON-lines file named by
``NUCLASSIFY_BENCH_FIGURES`` (``run_all.py`` sets it and gathers the lines into
``bench_out/results.json``). Run on its own, a benchmark records nothing.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

ENV = "NUCLASSIFY_BENCH_FIGURES"


def record(name: str, value: float, unit: str, *, baseline: float | None = None, baseline_name: str = "",
           ratio: float | None = None, goal: str = "", met: bool | None = None, **extra: Any) -> None:
    """Record one figure.

    Args:
        name: what was measured, for example ``"simulate minerva --workers 2"``.
        value, unit: the figure (``4124.0``, ``"ev/s"``).
        baseline, baseline_name: the same quantity for the baseline measured in the same run.
        ratio: the figure against its baseline (``value / baseline`` unless the benchmark defines it
            otherwise, for example a start-up time where shorter is better).
        goal: the goal as text (``">= 5,000 ev/s"``, ``">= 0.95x"``); ``met`` whether it is met.
    """
    path = os.environ.get(ENV)
    if not path:
        return
    if ratio is None and baseline:
        ratio = value / baseline
    row = {"name": name, "value": value, "unit": unit, "baseline": baseline, "baseline_name": baseline_name,
           "ratio": ratio, "goal": goal, "met": met, "time": time.time(), **extra}
    with open(path, "a") as fh:
        fh.write(json.dumps(row, default=float) + "\n")
