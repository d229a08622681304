"""Draw reconstructed MINERvA events (hits, fitted tracks, vertex) for a look at the reconstruction.

    python examples/trackfit_figures.py DATA.h5 OUT_DIR [N_PER_KIND]

Picks events of each kind from the file's truth (backward hadron, pile-up, neutral current,
passive-target vertex, other) and writes one PNG per event, X/U/V side by side; the title gives
the true and reconstructed segment and z. Red: tracks attached to the vertex; orange dashed:
backward tracks; grey dotted: tracks the vertex fit rejected; star: vertex; magenta line: the
vertex plane; black dashed: true vertex z.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nuclassify.data import open_dataset  # noqa: E402
from nuclassify.evaluation.trackfit import draw_reco_overlay, reconstruct_batch  # noqa: E402


def main(path: str, out: str, per_kind: int = 6) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open_dataset(path) as ds:
        n = min(ds.n_events, 2000)
        truth = {k: ds.read_truth(f"vtx_data/{k}")[:n] for k in ("backward", "pileup", "zs", "target")}
        current = ds.read_truth("gen_data/current")[:n]
        kinds = {"backward": truth["backward"] == 1, "pileup": truth["pileup"] == 1, "nc": current == 2,
                 "target": (truth["target"] > 0) & (current == 1), "tracker": (truth["target"] < 0) & (current == 1)}
        labels = ds.labels()[:n]
        for kind, mask in kinds.items():
            events = np.flatnonzero(mask)[:per_kind]
            views = ds.read_views(events)
            batch = reconstruct_batch(views, ds.view_names)
            for k, (i, reco) in enumerate(zip(events, batch.events, strict=True)):
                fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharex=True)
                h = reco.hits
                for ax, code, name in zip(axes, (0, 1, 2), ("X", "U", "V"), strict=True):
                    sel = h.view == code
                    ax.scatter(h.z[sel], h.t[sel], c=np.log10(h.energy[sel]), s=6, cmap="viridis")
                    ax.axvline(truth["zs"][i], color="black", ls="--", lw=0.8)
                    ax.set_title(f"{name} view")
                    ax.set_xlabel("z (mm)")
                draw_reco_overlay(axes, ("x", "u", "v"), reco)
                fig.suptitle(f"event {i} ({kind}): true segment {labels[i]} z {truth['zs'][i]:.0f} | reco segment "
                             f"{reco.segment} z {reco.z:.0f} +- {reco.z_sigma:.0f} mm, {reco.n_tracks} tracks")
                fig.savefig(out_dir / f"{kind}_{k:02d}_event{i}.png", dpi=80)
                plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 6)
