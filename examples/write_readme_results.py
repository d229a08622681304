#!/usr/bin/env python3
"""Write the README's "Results" section from a reproduce run's ``results.json``; no number typed by hand.

    python examples/write_readme_results.py reproduce_out/results.json README.md [--figures examples/results]

The section lies between ``<!-- results:begin -->`` and ``<!-- results:end -->``; everything
outside the markers is left as it is. The key plots are copied, small, into ``--figures`` so
that the README shows the run it quotes. The file is replaced atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
_MAKE_TARGET = {"quick": "make reproduce-quick", "full": "make reproduce"}
FIGURES = {  # plot in the run's plots/ -> name in the README's figure folder
    "seed_tables.png": "seed_tables.png",
    "per_segment_vs_seed.png": "per_segment_vs_seed.png",
    "nova_efficiency_purity.png": "nova_efficiency_purity.png",
    "evolve_poor_objective.png": "evolve_poor_objective.png",
    "evolve_conv4_objective.png": "evolve_conv4_objective.png",
    "evolve_poor_genealogy.png": "evolve_poor_genealogy.png",
}


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def _p(p: float | None) -> str:
    if p is None:
        return ""
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def _ci(row: dict[str, Any]) -> str:
    low, high = row["ci95"]
    return f"{_pct(row['accuracy'], 2)} ({_pct(low)}–{_pct(high)})"


def _table(rows: list[dict[str, Any]]) -> list[str]:
    """The seed's table with ours beside it; with a muon-track column when the run measured it (the
    seed's own population: MINERvA's lattices hold only events with a muon track)."""
    muon = all("muon_track" in row for row in rows)
    head = "| model | nuclassify, simulated (95% CI) | McNemar p vs row above |"
    head += " muon-track events (95% CI) | seed talk |" if muon else " seed talk |"
    out = [head, "|---|---|---|---|---|" if muon else "|---|---|---|---|"]
    for row in rows:
        extra = f" {_ci(row['muon_track'])} |" if muon else ""
        out.append(f"| {row['label']} (`{row['model']}`) | {_ci(row)} | {_p(row.get('mcnemar_p_vs_previous_row'))} |"
                   f"{extra} {_pct(row['seed_accuracy'], 2)} |")
    return out


def _ordering(rows: list[dict[str, Any]]) -> str:
    """The rows best first, here and in the seed, and whether the two orders agree."""
    ours = [r["model"] for r in sorted(rows, key=lambda r: -r["accuracy"])]
    seed = [r["model"] for r in sorted(rows, key=lambda r: -r["seed_accuracy"])]
    verdict = "the same order" if ours == seed else "a different order"
    return (f"best first, here: {' > '.join(f'`{m}`' for m in ours)}; in the seed: "
            f"{' > '.join(f'`{m}`' for m in seed)} ({verdict})")


def _muon_track_note(rows: list[dict[str, Any]], data: dict[str, Any]) -> list[str]:
    """What the muon-track column is, and where trackfit stands on it against the seed's previous methods."""
    if not all("muon_track" in row for row in rows):
        return []
    tf = next((r for r in rows if r["model"] == "trackfit"), None)
    n = rows[0]["muon_track"]["n"]
    text = (f"The muon-track column counts only the {n:,} of {data['test_events']:,} test events whose muon "
            "leaves a track (`evaluate --sample muon-track`): MINERvA's lattices hold no other events, so "
            "they are the seed's population.")
    if tf is not None:
        text += (f" There trackfit gets {_pct(tf['muon_track']['accuracy'], 2)} against the seed's previous "
                 f"methods' {_pct(tf['seed_accuracy'], 2)}.")
    return [text, ""]


def minerva_section(m: dict[str, Any], meta: dict[str, Any], fig: str) -> list[str]:
    """The seed's two tables, the per-segment backup table and the misclassified-event causes."""
    data = m["data"]
    best = m["best_network"]
    bvt = m["best_vs_trackfit"]
    lines = [f"MINERvA vertex segments: {data['train_events']:,} simulated training events (10% held out for "
             f"validation), {data['test_events']:,} test events, 2016-width images; every network trained "
             f"{meta['sizes']['epochs']} epoch(s) with the same recipe and seed "
             f"(`{meta['train_args'] or 'defaults'}`).", "",
             "**Network design** (the seed's first table):", "", *_table(m["design_table"]), "",
             f"Ordering: {_ordering(m['design_table'])}.", "", *_muon_track_note(m["design_table"], data),
             "**Depth** (the seed's second table):", "", *_table(m["depth_table"]), "",
             f"Ordering: {_ordering(m['depth_table'])}.", "",
             f"The best network here is `{best}`: {_pct(bvt['network'], 2)} against trackfit's "
             f"{_pct(bvt['trackfit'], 2)} on the same events (McNemar p = {_p(bvt['mcnemar_p'])}).", "",
             f"![the seed's tables reproduced]({fig}/seed_tables.png)", "",
             f"**Per segment** (the seed's backup slide; detector z order), trackfit against `{best}`:", "",
             "| segment | target | events | trackfit | network | seed: previous | seed: DL |",
             "|---|---|---|---|---|---|---|"]
    for r in m["per_segment"]:
        better_net = r["network"] > r["trackfit"]
        net = f"**{_pct(r['network'])}**" if better_net else _pct(r["network"])
        tf = _pct(r["trackfit"]) if better_net else f"**{_pct(r['trackfit'])}**"
        lines.append(f"| {r['segment']} | {r['target'] or '–'} | {r['n']} | {tf} | {net} | "
                     f"{_pct(r['seed_previous'])} | {_pct(r['seed_dl'])} |")
    lines += ["", f"![per segment]({fig}/per_segment_vs_seed.png)", ""]
    causes = m.get("misclassified_causes") or {}
    table = causes.get("causes") or []
    if table:
        lines += [f"**Misclassified events by cause** (`explain --top-confused` on `{best}`: "
                  f"{causes.get('n_errors')} errors among {causes.get('n_events')} events; the seed's slide named "
                  "boundary events, multiple interactions and backward tracks):", "",
                  "| cause | among errors | among correct events | ratio | Fisher p |", "|---|---|---|---|---|"]
        for row in table:
            ratio = "–" if row.get("ratio") is None else f"{row['ratio']:.1f}"
            lines.append(f"| {row['cause'].replace('_', ' ')} | {_pct(row.get('error_rate'))} | "
                         f"{_pct(row.get('correct_rate'))} | {ratio} | {_p(row.get('p_value'))} |")
        lines.append("")
    return lines


def evolve_section(e: dict[str, Any], meta: dict[str, Any], fig: str) -> list[str]:
    lines = ["**Evolution** (`evolve`, regularized evolution, process executor with "
             f"{meta['sizes']['workers']} workers, {meta['sizes']['evo_events']:,} events, 20% held out, "
             f"{meta['sizes']['evo_epochs']} epoch(s) per candidate):", "",
             "| seeded with | candidates | seed's val. accuracy | best val. accuracy | wall |", "|---|---|---|---|---|"]
    for label, r in e.items():
        s = r["summary"]
        best = s["best"]["objectives"].get("val_accuracy") if s.get("best") else None
        lines.append(f"| {'a deliberately poor network' if label == 'poor' else label} | {s['finished']} | "
                     f"{_pct(r.get('seed_objective'))} | {_pct(best)} | {s['wall_seconds'] / 60:.1f} min |")
    lines += ["", f"![evolution from the poor seed]({fig}/evolve_poor_objective.png)",
              f"![evolution from conv4]({fig}/evolve_conv4_objective.png)", ""]
    return lines


def nova_section(n: dict[str, Any], fig: str) -> list[str]:
    cvn, cuts = n["cvn"], n["cuts"]
    lines = ["**NOvA** flavours: the CVN-style network (`cvn`) against a cut-based selection (track length, shower "
             "fraction and hit count; cuts learnt on the training events by a depth-3 tree):", "",
             f"Accuracy: cvn {_pct(cvn['accuracy'])} ({_pct(cvn['ci95'][0])}–{_pct(cvn['ci95'][1])}), cuts "
             f"{_ci(cuts['accuracy'])}.", "",
             "| flavour | events | cvn efficiency | cvn purity | cuts efficiency | cuts purity |",
             "|---|---|---|---|---|---|"]
    for flavour, c in (cvn.get("flavours") or {}).items():
        k = cuts["flavours"].get(flavour, {})
        lines.append(f"| {flavour.replace('_', ' ')} | {c['n']} | {_pct(c['argmax']['efficiency'])} | "
                     f"{_pct(c['argmax']['purity'])} | {_pct(k.get('argmax', {}).get('efficiency'))} | "
                     f"{_pct(k.get('argmax', {}).get('purity'))} |")
    lines += ["", "(efficiency and purity at the argmax)", "", f"![NOvA efficiency against purity]({fig}/"
              "nova_efficiency_purity.png)", ""]
    return lines


def render(results: dict[str, Any], fig: str) -> str:
    meta = results["meta"]
    minutes = meta["total_step_seconds"] / 60
    lines = [BEGIN, "", f"Generated by `examples/write_readme_results.py` from the `results.json` of "
             f"`{_MAKE_TARGET.get(meta['size'], 'examples/reproduce_seed.sh')}` "
             f"(`{meta['command']}`), run on {meta['date']} on {meta['machine']}, Keras backend "
             f"{meta['keras_backend']}, nuclassify {meta['nuclassify']} (commit {str(meta['git_commit'])[:10]}), "
             f"{minutes:.0f} min of steps. Simulated data throughout: the seed's figures are MINERvA's own "
             "simulation with 3.27 M training events, so the comparison is of orderings, not of values.", ""]
    if "minerva" in results:
        lines += minerva_section(results["minerva"], meta, fig)
    if "evolve" in results:
        lines += evolve_section(results["evolve"], meta, fig)
    if "nova" in results:
        lines += nova_section(results["nova"], fig)
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("readme", type=Path)
    parser.add_argument("--figures", default="examples/results", help="folder (relative to the README) for PNGs")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    text = args.readme.read_text()
    if BEGIN not in text or END not in text:
        print(f"write_readme_results: error: {args.readme} has no '{BEGIN}' ... '{END}' markers", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + render(results, args.figures) + tail
    fig_dir = args.readme.parent / args.figures
    fig_dir.mkdir(parents=True, exist_ok=True)
    plots = args.results.parent / "plots"
    for src, dst in FIGURES.items():
        if (plots / src).exists():
            shutil.copy(plots / src, fig_dir / dst)
    tmp = args.readme.with_name(args.readme.name + ".part")
    tmp.write_text(new)
    os.replace(tmp, args.readme)
    print(f"wrote the Results section of {args.readme} from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
