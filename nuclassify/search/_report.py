"""``nuclassify evolve --report RUN_DIR``: what a finished, interrupted or running search found.

:func:`search_report` is a plain dict (what ``--json`` prints) built from the journal alone,
read-only, so it may be run while the search goes on; :func:`format_report` is its summary for
people, with the top five candidates.
"""

from __future__ import annotations

import collections
import os
import time

from nuclassify.search._candidate import Candidate
from nuclassify.search._history import History, generations, lineage, load_history
from nuclassify.search._objectives import pareto_ranks

__all__ = ["search_report", "format_report", "failure_kind", "TOP"]

TOP = 5
_KINDS = ("crash", "timeout", "invalid spec", "nan", "out of memory", "error")
_STATES = {"budget": "finished", "interrupted": "interrupted", "failures": "stopped after failures", "error": "error"}


def failure_kind(reason: str) -> str:
    """The kind of a failure reason: ``crash``, ``timeout``, ``invalid spec``, ``nan``, ``out of memory``,
    ``error``, ``missing objective`` or ``other``."""
    head = reason.split(":", 1)[0].strip()
    if head in _KINDS:
        return head
    return "missing objective" if reason.startswith("result has no") else "other"


def _row(c: Candidate) -> dict:
    return {"id": c.id, "status": c.status, "objectives": dict(c.objectives), "params": c.params,
            "origin": c.origin, "parents": list(c.parents), "worker": c.worker,
            "train_seconds": round(c.train_seconds, 3), "reason": c.reason}


def _ranked(history: History) -> list[Candidate]:
    """Finished candidates, best first: Pareto rank, then the objectives in order, then the earliest."""
    done = [c for c in history.candidates.values() if c.ok]
    vectors = [history.objectives.vector(c) for c in done]
    ranks = pareto_ranks(vectors) if history.objectives.multi else [0] * len(done)
    order = sorted(range(len(done)), key=lambda i: (ranks[i], [-x for x in vectors[i]], done[i].id))
    return [done[i] for i in order]


def search_report(run_dir: str | os.PathLike, workers: int | None = None) -> dict:
    """A search's state and findings, as JSON-ready values.

    Keys: ``run_dir``, ``state`` (``finished``, ``interrupted``, ``stopped after failures``,
    ``error``, or ``running`` when no stop is recorded: running, or killed), ``objectives``,
    ``budget`` (``None`` when the journal does not record it and the search has not reached it),
    ``submitted``, ``done``,
    ``finished``, ``failed``, ``failures`` (count per :func:`failure_kind`), ``best`` (a row plus
    ``generation`` and ``lineage`` back to a seed), ``front`` (rows; multi-objective only),
    ``top`` (the best rows), ``running`` (id, worker, since: started and not done, in a search
    with no recorded stop), ``pending`` (to be re-issued by a resume), ``utilisation`` (busy /
    (wall x workers)), ``busy_seconds``, ``wall_seconds`` (the sessions' wall time, without the
    gaps between them), ``workers`` (the last session's), ``sessions``, ``elapsed`` (seconds
    from the start to the last record) and ``made`` (how the search was started: ``command``,
    ``executor``, ``workers``, ``nuclassify_version``, ``created``; None in a journal from before
    it was recorded).

    Args:
        workers: the worker count, when the journal does not record it (see ``load_history``).

    Raises:
        RunDirError: no search in ``run_dir``, or a journal that cannot be replayed.
    """
    history = load_history(run_dir, workers)
    candidates = history.candidates
    done = [c for c in candidates.values() if c.done]
    failed = [c for c in done if not c.ok]
    ranked = _ranked(history)
    best = history.objectives.best(list(candidates.values()))
    last = history.sessions[-1]
    state = _STATES.get(last.stopped or "", last.stopped) if last.stopped else "running"
    report: dict = {
        "run_dir": str(history.run_dir), "state": state, "objectives": str(history.objectives),
        "budget": history.budget if history.budget is not None or last.stopped != "budget" else len(done),
        "submitted": len(candidates), "done": len(done),
        "finished": len(done) - len(failed), "failed": len(failed),
        "failures": dict(collections.Counter(failure_kind(c.reason) for c in failed).most_common()),
        "best": None, "front": [], "running": [], "pending": [],
        "top": [{**_row(c), "generation": generations(candidates, c.id)[c.id]} for c in ranked[:TOP]],
        "utilisation": history.utilisation,
        "busy_seconds": round(sum(s.busy_seconds for s in history.sessions), 3),
        "wall_seconds": round(sum(s.wall for s in history.sessions), 3), "workers": last.workers,
        "sessions": len(history.sessions), "elapsed": round(last.end - history.t0, 3),
        "made": history.header.get("made"),
    }
    if best is not None:
        line = lineage(candidates, best.id)
        report["best"] = {**_row(best), "generation": generations(candidates, best.id)[best.id], "lineage": line}
    if history.objectives.multi:
        report["front"] = [_row(c) for c in history.objectives.front(ranked)]
    if last.stopped is None:
        report["running"] = [{"id": i, "worker": w, "since": t} for i, (t, w) in sorted(last.open.items())
                             if not candidates[i].done]
    else:
        report["pending"] = sorted(i for i, c in candidates.items() if not c.done)
    return report


def _duration(seconds: float) -> str:
    seconds = max(float(seconds), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes} min {s:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _values(row: dict, names: list[str]) -> list[str]:
    return [f"{row['objectives'][n]:.4g}" if n in row["objectives"] else "-" for n in names]


def _metrics(report: dict) -> list[str]:
    """The objectives to print beside the parameter count (which is printed anyway)."""
    return [n.lstrip("-") for n in report["objectives"].split(",") if n.lstrip("-") != "params"]


def _table(rows: list[dict], names: list[str]) -> list[str]:
    header = ["id", *names, "params", "gen", "origin"]
    cells = [[str(r["id"]), *_values(r, names), f"{r['params']:,}", str(r.get("generation", "")),
              (r["origin"] if len(r["origin"]) <= 48 else r["origin"][:45] + "...")] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:{'<' if i == len(header) - 1 else '>'}{w}}}" for i, w in enumerate(widths))
    return [("  " + fmt.format(*row)).rstrip() for row in (header, *cells)]


def format_report(report: dict) -> str:
    """The report for people: state, counts, best candidate, utilisation, and the top candidates."""
    names = _metrics(report)
    budget = report["budget"] if report["budget"] is not None else "?"
    state = "running (or killed: no stop recorded)" if report["state"] == "running" else report["state"]
    lines = [f"search {report['run_dir']}: {state}, {report['done']}/{budget} candidates done, "
             f"{report['finished']} finished, {report['failed']} failed"]
    made = report.get("made")
    if made:
        lines.append(f"  made by: {made['command']} ({made['executor']} executor, {made['workers']} worker(s), "
                     f"nuclassify {made['nuclassify_version']}, {made['created']})")
    if report["failures"]:
        lines.append("  failures: " + ", ".join(f"{k} {n}" for k, n in report["failures"].items()))
    util = report["utilisation"]
    lines.append(f"  wall {_duration(report['wall_seconds'])} in {report['sessions']} session(s), "
                 f"{report['workers']} worker(s), utilisation "
                 + (f"{100 * util:.1f}%" if util is not None else "-") + " (busy / (wall x workers))")
    best = report["best"]
    if best is None:
        lines.append("  best: none finished yet")
    else:
        values = "".join(f"{n} {v}, " for n, v in zip(names, _values(best, names), strict=True))
        lines.append(f"  best: #{best['id']} {values}{best['params']:,} params, generation {best['generation']} "
                     f"(line {' <- '.join(f'#{i}' for i in best['lineage'][:8])}"
                     + (" ..." if len(best["lineage"]) > 8 else "") + ")")
    if report["front"]:
        lines.append(f"  Pareto front ({len(report['front'])}): " + ", ".join(f"#{r['id']}" for r in report["front"]))
    if report["running"]:
        now = time.time()
        lines.append("  running: " + ", ".join(f"#{r['id']} on {r['worker']} ({_duration(now - r['since'])})"
                                               for r in report["running"]))
    if report["pending"]:
        lines.append(f"  to re-issue on --resume: {', '.join(f'#{i}' for i in report['pending'])}")
    if report["top"]:
        lines.append(f"  top {len(report['top'])}:")
        lines.extend(_table(report["top"], names))
    return "\n".join(lines)
