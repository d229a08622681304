"""What a search says about itself: the summary of a result or of a journal, the report, the plots.

``evolve --report RUN_DIR`` and the end of ``evolve`` both come here. The report and the plots
are ``_report``'s and ``_plots``' (imported when present, so this module works while they are
being written); :func:`journal_summary` is the short fallback, replayed from the journal alone,
which also says how far an interrupted search got.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nuclassify.errors import RunDirError
from nuclassify.search._config import SearchResult
from nuclassify.search._export import RESULTS_NAME
from nuclassify.search._journal import JOURNAL_NAME, read_journal

__all__ = ["search_summary", "journal_summary", "report", "write_plots"]


def search_summary(result: SearchResult) -> dict[str, Any]:
    """Counts, the best candidate and the front of a search result, JSON-ready."""
    def brief(c: Any) -> dict[str, Any]:
        return {"id": c.id, "objectives": c.objectives, "params": c.params, "parents": list(c.parents),
                "origin": c.origin}

    return {"run_dir": str(result.run_dir), "stopped": result.stopped, "evaluated": result.finished + result.failed,
            "finished": result.finished, "failed": result.failed, "wall_seconds": round(result.wall_seconds, 2),
            "best": brief(result.best) if result.best is not None else None,
            "front": [c.id for c in result.front], "results": str(result.run_dir / RESULTS_NAME)}


def write_plots(run_dir: Path) -> tuple[list[str], list[str]]:
    """The search's figures, if the plotting module is installed: (paths, notes on what failed)."""
    try:
        from nuclassify.search._plots import write_search_plots
    except ImportError:
        return [], []
    try:
        written = write_search_plots(run_dir)
    except Exception as exc:  # noqa: BLE001 - a figure must never cost the search's result
        return [], [f"plots not written: {type(exc).__name__}: {exc}"]
    if written is None:
        return [], []
    items = written.values() if isinstance(written, dict) else written
    return [str(p) for p in items], []


def report(run_dir: str | Path, *, plots: bool = True) -> tuple[dict[str, Any], str]:
    """The summary of a finished or running search, as (JSON-ready dict, text), and its plots.

    Uses ``_report`` (``search_report``/``format_report``) when installed, else a short summary
    replayed from the journal. Reading never disturbs a running search (the journal is append-only).

    Raises:
        RunDirError: no search journal in ``run_dir``.
    """
    run_dir = Path(run_dir)
    if not (run_dir / JOURNAL_NAME).is_file():
        raise RunDirError(f"{run_dir}: no search here (no {JOURNAL_NAME})")
    try:
        from nuclassify.search._report import format_report, search_report
    except ImportError:
        payload = journal_summary(run_dir)
        text = _format_summary(payload)
    else:
        payload = dict(search_report(run_dir))
        text = format_report(payload)
    if plots:
        paths, notes = write_plots(run_dir)
        payload["plots"] = paths
        text = "\n".join([text, *(f"plot: {p}" for p in paths), *notes])
    return payload, text


def journal_summary(run_dir: Path) -> dict[str, Any]:
    """Counts, best and front, replayed from the journal (the fallback of :func:`report`)."""
    from nuclassify.search._objectives import Objectives
    from nuclassify.search._replay import replay

    records, _ = read_journal(run_dir / JOURNAL_NAME)
    if not records or records[0].get("kind") != "header":
        raise RunDirError(f"{run_dir / JOURNAL_NAME}: does not start with a search header")
    state = replay(records)
    objectives = Objectives.parse(records[0].get("identity", {}).get("objectives", "val_accuracy"))
    ordered = [state.candidates[i] for i in sorted(state.candidates)]
    stopped = next((r.get("reason", "") for r in reversed(records) if r.get("kind") == "stopped"), "running")
    last = records[-1].get("t", records[0].get("t", 0.0)) - records[0].get("t", 0.0)
    result = SearchResult(run_dir, ordered, objectives.best(ordered), objectives.front(ordered), stopped, last)
    out = search_summary(result)
    out.update({"objectives": str(objectives), "running": sum(c.status == "started" for c in ordered),
                "submitted": len(ordered)})
    return out


def _format_summary(payload: dict[str, Any]) -> str:
    lines = [f"search {payload['run_dir']}: {payload['evaluated']} evaluated ({payload['failed']} failed), "
             f"{payload.get('running', 0)} running, {payload['stopped']}"]
    best = payload.get("best")
    if best:
        figures = ", ".join(f"{k} {v:.4g}" for k, v in best["objectives"].items() if not k.startswith("val_accuracy_e"))
        lines.append(f"best: candidate {best['id']} ({best['origin']}): {figures}")
    if len(payload.get("front", [])) > 1:
        lines.append(f"Pareto front: candidates {', '.join(map(str, payload['front']))}")
    lines.append(f"results: {payload['results']}")
    return "\n".join(lines)
