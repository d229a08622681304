"""A search's figures (``nuclassify evolve --report``), drawn from its journal alone.

Four PNGs, each replaced atomically so that a viewer never sees half a file, and each readable
while the search still runs: the objective against evaluation number and wall time with the
best-so-far line (is the search still improving?), the objective against parameter count with
the Pareto front (are smaller networks as good?), worker utilisation over time (are the workers
kept fed?), and the winner's genealogy (what did evolution do to get there?). Matplotlib's
object interface (``Figure``, Agg) is used, never pyplot, so no global state or display is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nuclassify._fileio import atomic_output
from nuclassify.search._candidate import Candidate
from nuclassify.search._history import History, generations, lineage, load_history
from nuclassify.search._objectives import pareto_front

__all__ = ["write_search_plots", "PLOT_NAMES"]

PLOT_NAMES = ("objective.png", "params.png", "utilisation.png", "genealogy.png")
MAX_GENERATIONS, MAX_NODES = 12, 48  # of the genealogy shown (the generations closest to the winner)


def _figure(width: float, height: float):  # -> matplotlib.figure.Figure
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path: Path) -> Path:
    with atomic_output(path, overwrite=True, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def _clock(seconds: np.ndarray) -> tuple[np.ndarray, str]:
    """Seconds rescaled to s, min or h, whichever reads best, and the unit."""
    span = float(np.max(seconds)) if seconds.size else 0.0
    for scale, unit in ((3600.0, "h"), (60.0, "min")):
        if span >= 3 * scale:
            return seconds / scale, unit
    return seconds, "s"


def _shade_gaps(ax, history: History, scale: float) -> None:
    """Grey bands where the search was not running (between a session's end and the next start)."""
    for i, (a, b) in enumerate(zip(history.sessions, history.sessions[1:])):  # noqa: B905 - pairs
        ax.axvspan((a.end - history.t0) / scale, (b.start - history.t0) / scale, color="0.85", lw=0,
                   label="not running" if i == 0 else None)


def _objective(history: History):
    from matplotlib.ticker import MaxNLocator

    name, sign = history.objectives.names[0], history.objectives.signs[0]
    told = [history.candidates[i] for i in history.told]
    if not told:
        return None
    fig = _figure(11, 4)
    axes = fig.subplots(1, 2, sharey=True)
    wall, unit = _clock(np.array([c.ended - history.t0 for c in told]))
    scale = {"s": 1.0, "min": 60.0, "h": 3600.0}[unit]
    for ax, xs, label in ((axes[0], np.arange(1, len(told) + 1), "evaluation"), (axes[1], wall, f"wall time ({unit})")):
        order = np.argsort(xs, kind="stable")
        ok = [i for i in order if told[i].ok]
        bad = [i for i in order if not told[i].ok]
        y = np.array([told[i].objectives[name] for i in ok])
        ax.scatter(xs[ok], y, s=14, color="C0", alpha=0.7, label="candidate")
        if len(ok):
            best = sign * np.maximum.accumulate(sign * y)
            ax.step(np.append(xs[ok], xs[order[-1]]), np.append(best, best[-1]), where="post", color="C1", lw=2,
                    label="best so far")
        if bad:
            ax.scatter(xs[bad], np.full(len(bad), 0.03), transform=ax.get_xaxis_transform(), marker="x",
                       color="C3", label=f"failed ({len(bad)})")
        if label.startswith("wall"):
            _shade_gaps(ax, history, scale)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel(name + (" (lower is better)" if sign < 0 else ""))
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(f"{name} of {len(told)} evaluated candidates")
    return fig


def _params(history: History):
    name, sign = history.objectives.names[0], history.objectives.signs[0]
    ok = [c for c in history.candidates.values() if c.ok]
    if not ok:
        return None
    x = np.array([max(c.objectives.get("params", c.params), 1.0) for c in ok])
    y = np.array([c.objectives[name] for c in ok])
    front = pareto_front([(sign * b, -a) for a, b in zip(x, y, strict=True)])
    front = sorted(front, key=lambda i: x[i])
    best = max(range(len(ok)), key=lambda i: history.objectives.vector(ok[i]))
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    ax.scatter(x, y, s=16, color="C0", alpha=0.5, label="candidate")
    ax.step(x[front], y[front], where="post", color="C3", lw=1.2, alpha=0.8)
    ax.scatter(x[front], y[front], s=30, color="C3", label=f"Pareto front ({len(front)})", zorder=3)
    ax.scatter([x[best]], [y[best]], s=160, marker="*", color="gold", edgecolor="k", zorder=4,
               label=f"best #{ok[best].id}")
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel(name + (" (lower is better)" if sign < 0 else ""))
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"{name} against size: {len(ok)} finished networks")
    return fig


def _utilisation(history: History):
    util = history.utilisation
    if util is None:
        return None
    ends = np.array([history.sessions[-1].end - history.t0])
    _, unit = _clock(ends)
    scale = {"s": 1.0, "min": 60.0, "h": 3600.0}[unit]
    fig = _figure(9, 3.4)
    ax = fig.subplots()
    for s in history.sessions:
        t, f = (np.array(v) for v in zip(*s.steps(), strict=True))
        t = (t - history.t0) / scale
        ax.fill_between(t, f, step="post", color="C0", alpha=0.3, lw=0)
        ax.step(t, f, where="post", color="C0", lw=1)
    _shade_gaps(ax, history, scale)
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0, max(float(ends[0]) / scale, 1e-9))
    ax.set_xlabel(f"wall time ({unit})")
    ax.set_ylabel("busy workers / workers")
    ax.grid(alpha=0.3)
    workers = sorted({s.workers for s in history.sessions})
    ax.set_title(f"worker utilisation {100 * util:.1f}% (busy / (wall x workers)), "
                 f"{'/'.join(map(str, workers))} worker(s)")
    if len(history.sessions) > 1:
        ax.legend(loc="lower right", fontsize=8)
    return fig


def _shown(history: History, best: Candidate) -> tuple[dict[int, int], int]:
    """The ancestors drawn (id -> generation): the generations nearest the winner, at most
    ``MAX_NODES``; and how many older ones are left out."""
    depth = generations(history.candidates, best.id)
    floor = depth[best.id] - MAX_GENERATIONS + 1
    shown, queue = {best.id: depth[best.id]}, [best.id]
    while queue and len(shown) < MAX_NODES:
        for p in history.candidates[queue.pop(0)].parents:
            if p in depth and p not in shown and depth[p] >= floor and len(shown) < MAX_NODES:
                shown[p] = depth[p]
                queue.append(p)
    return shown, len(depth) - len(shown)


def _genealogy(history: History):
    best = history.objectives.best(list(history.candidates.values()))
    if best is None:
        return None
    name = history.objectives.names[0]
    shown, hidden = _shown(history, best)
    layers: dict[int, list[int]] = {}
    for cid in sorted(shown):
        layers.setdefault(shown[cid], []).append(cid)
    pos = {cid: (i - (len(ids) - 1) / 2, -g) for g, ids in layers.items() for i, cid in enumerate(ids)}
    line = lineage(history.candidates, best.id)
    on_line = set(zip(line, line[1:], strict=False))
    wide = max(len(ids) for ids in layers.values())
    fig = _figure(max(4.5, 0.95 * wide + 1.5), max(2.6, 0.62 * len(layers) + 1.4))
    ax = fig.subplots()
    for cid, xy in pos.items():
        for p in dict.fromkeys(history.candidates[cid].parents):  # a crossover of a member with itself: one arrow
            if p in pos:
                red = (cid, p) in on_line
                ax.annotate("", xy=xy, xytext=pos[p], zorder=1, arrowprops={
                    "arrowstyle": "->", "color": "C3" if red else "0.6", "lw": 1.8 if red else 0.8,
                    "shrinkA": 11, "shrinkB": 11,  # an edge that skips generations bends round the ones between
                    "connectionstyle": f"arc3,rad={0.35 if pos[p][1] - xy[1] > 1 else 0}"})
    for cid, (x, y) in pos.items():
        c = history.candidates[cid]
        colour = "gold" if cid == best.id else ("#cdeccd" if not c.parents else "#dbe8f6")
        value = f"{c.objectives[name]:.4g}" if name in c.objectives else c.status
        ax.text(x, y, f"#{cid}  {value}", ha="center", va="center", fontsize=8, zorder=3,
                bbox={"boxstyle": "round,pad=0.3", "fc": colour, "ec": "0.4"})
    ax.set_xlim(-wide / 2 - 0.1, wide / 2 + 0.1)
    ax.set_ylim(-max(layers) - 0.5, -min(layers) + 0.5)
    ax.set_yticks([-g for g in sorted(layers)], [str(g) for g in sorted(layers)])
    ax.set_xticks([])
    for side in ("bottom", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_ylabel("generation")
    more = f"\n{hidden} older ancestor(s) not shown" if hidden else ""
    ax.set_title(f"genealogy of the best, #{best.id} ({name} {best.objectives[name]:.4g})\n"
                 f"green: seed or random, gold: best, red: its longest line{more}", fontsize=9)
    return fig


def write_search_plots(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                       workers: int | None = None) -> list[Path]:
    """Draw a search's figures into ``out_dir`` (default ``run_dir``); return the files written.

    ``objective.png`` (against evaluation number and wall time, best so far, failures marked),
    ``params.png`` (against parameters, log scale, Pareto front), ``utilisation.png`` and
    ``genealogy.png``; a figure with nothing to show yet (no finished candidate) is skipped.

    Raises:
        RunDirError: no search in ``run_dir``, or a journal that cannot be replayed.
    """
    history = load_history(run_dir, workers)
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in zip(PLOT_NAMES, (_objective, _params, _utilisation, _genealogy), strict=True):
        fig = draw(history)
        if fig is not None:
            written.append(_save(fig, out / name))
    return written
