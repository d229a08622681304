#!/usr/bin/env python3
"""Regenerate the event displays in ``examples/`` from the current simulator and ``nuclassify show``.

    python examples/make_example_figures.py [--out examples] [--seed 7]

Simulates small seeded MINERvA (2016 widths) and NOvA files, picks the first event of each kind
from the simulation truth the files carry, and draws it with ``nuclassify show`` as a user would:

- ``sim_minerva_target.png``: a vertex in a passive target; ``sim_minerva_gap.png``: in a gap
  between targets; ``sim_minerva_pileup.png``: with a second interaction; ``sim_minerva_backward.png``:
  with a backward-going track;
- ``show_minerva_event.png``: a target event with the track-and-vertex reconstruction drawn on it;
- ``sim_nova_numu_cc.png``, ``sim_nova_nue_cc.png``, ``sim_nova_nc.png`` and ``show_nova_event.png``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from nuclassify.data import open_dataset

N_EVENTS = 400


def _nuclassify(*args: str) -> None:
    print("$ nuclassify " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "nuclassify", *args], check=True)


def _first(mask: np.ndarray, what: str) -> int:
    hits = np.flatnonzero(mask)
    if not len(hits):
        raise SystemExit(f"make_example_figures: no {what} event among {N_EVENTS}; raise N_EVENTS or change --seed")
    return int(hits[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        minerva, nova = Path(tmp) / "minerva.h5", Path(tmp) / "nova.h5"
        _nuclassify("simulate", "minerva", "-n", str(N_EVENTS), "-o", str(minerva), "--layout", "2016", "--seed",
                    str(args.seed), "--pileup", "0.1")
        _nuclassify("simulate", "nova", "-n", str(N_EVENTS), "-o", str(nova), "--seed", str(args.seed))
        with h5py.File(minerva, "r") as f:
            segment = f["segments"][:]
            pileup = f["vtx_data/pileup"][:] > 0
            backward = f["vtx_data/backward"][:] > 0
        clean = ~pileup & ~backward
        target = _first(clean & (segment >= 1) & (segment <= 5), "target")
        picks = {"sim_minerva_target.png": target,
                 "sim_minerva_gap.png": _first(clean & (segment >= 6) & (segment <= 9), "gap"),
                 "sim_minerva_pileup.png": _first(pileup, "pile-up"),
                 "sim_minerva_backward.png": _first(backward & ~pileup, "backward-track")}
        for name, event in picks.items():
            _nuclassify("show", str(minerva), "--event", str(event), "-o", str(args.out / name), "--overwrite")
        _nuclassify("show", str(minerva), "--event", str(target), "--reco", "-o",
                    str(args.out / "show_minerva_event.png"), "--overwrite")
        with open_dataset(nova) as ds:
            labels = ds.labels()
            names = [n.lower() for n in ds.class_names()]
        nova_picks = {f"sim_nova_{key.replace(' ', '_')}.png": _first(labels == names.index(key), key)
                      for key in ("numu cc", "nue cc", "nc")}
        for name, event in nova_picks.items():
            _nuclassify("show", str(nova), "--event", str(event), "-o", str(args.out / name), "--overwrite")
        _nuclassify("show", str(nova), "--event", "0", "-o", str(args.out / "show_nova_event.png"), "--overwrite")
    return 0


if __name__ == "__main__":
    sys.exit(main())
