"""Run every ``benchmarks/bench_*.py`` in turn, then print all their figures as one table.

Each benchmark measures its baseline in the same run and prints the ratio, because the machines
are shared and absolute times drift. Each also records its figures (``benchmarks/_figures.py``);
they are gathered into ``bench_out/results.json`` and printed as one table at the end: the figure,
its baseline, the ratio and whether the goal is met. Pass names to run a subset:
``run_all.py read simulate``.

``bench_evolve`` (evolution against random search over 5 seeds on digits and simulated MINERvA,
and against Keras Tuner) trains hundreds of networks, 1–2 hours on 2 cores, so it runs only when
named (``run_all.py evolve``, ``make bench-evolve``) or with ``--all``; ``make bench`` is the rest,
about a quarter of an hour.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "bench_out"
LONG = frozenset({"bench_evolve"})  # run only when named, or with --all


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    return f"{text} {unit}".strip()


def format_table(rows: list[dict]) -> str:
    """The figures as aligned text: name, figure, baseline, ratio, goal, met."""
    header = ("figure", "value", "baseline (same run)", "ratio", "goal", "met")
    body = [(r["name"], _fmt(r["value"], r["unit"]),
             f"{_fmt(r.get('baseline'), r['unit'])} ({r.get('baseline_name') or '-'})" if r.get("baseline") is not None
             else "-",
             "-" if r.get("ratio") is None else f"{r['ratio']:.2f}x", r.get("goal") or "-",
             {True: "yes", False: "NO", None: "-"}[r.get("met")]) for r in rows]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    run_long = "--all" in argv
    names = [a for a in argv if a != "--all"]
    if any(a.startswith("-") for a in names) or any(not any(n in s.stem for s in scripts) for n in names):
        # nothing is run and bench_out/results.json is kept: a typo must not replace the last results
        print(__doc__.strip() + "\n\nbenchmarks: " + ", ".join(s.stem.removeprefix("bench_") for s in scripts))
        return 0 if names in (["--help"], ["-h"]) else 2
    if names:
        scripts = [s for s in scripts if any(name in s.stem for name in names)]
    elif not run_long:
        scripts = [s for s in scripts if s.stem not in LONG]
    OUT.mkdir(exist_ok=True)
    figures = OUT / "figures.jsonl"
    figures.unlink(missing_ok=True)
    env = dict(os.environ, NUCLASSIFY_BENCH_FIGURES=str(figures))
    failed = []
    for script in scripts:
        print(f"=== {script.stem} ===", flush=True)
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, env=env)
        if result.returncode != 0:
            print(f"!!! {script.stem} failed with exit status {result.returncode}", flush=True)
            failed.append(script.stem)
    rows = [json.loads(line) for line in figures.read_text().splitlines()] if figures.exists() else []
    results = {"date": _dt.datetime.now().isoformat(timespec="seconds"),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, load average "
                          f"{os.getloadavg()[0]:.2f} at the end",
               "benchmarks": [s.stem for s in scripts], "failed": failed, "figures": rows}
    tmp = OUT / "results.json.part"
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, OUT / "results.json")
    print(f"\n=== all figures ({len(rows)}; {OUT / 'results.json'}) ===")
    print(format_table(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
