"""How well a vertex finder places the vertex in z, per region, for ``evaluate``.

The classical methods (trackfit, hough, trackreco) return a vertex z beside their segment
probabilities; a segment can be right with z off by a plane or wrong with z off by a few mm at
a boundary, so their z is measured on its own, as MINERvA quotes vertex resolution: the
residual dz = z_reco - z_true, separately where the true vertex lies (in a passive target's
material, in the water target, or in scintillator; :func:`nuclassify.detector.minerva.vertex_region`),
because a vertex in a passive target leaves no hit where it sits and is found only from the
planes around it.

- **core width**: 1.4826 x the median absolute deviation of dz about its median: the sigma of
  the Gaussian core, insensitive to the tails of events whose vertex was put in the wrong place
  altogether (those are counted by the ``beyond_100mm`` fraction instead);
- **bias**: the median dz;
- **pull core width**: the same for dz / z_sigma where the method reports an uncertainty; near 1
  when that uncertainty is honest;
- the number of tracks the method used and its fit quality (trackreco's chi2/ndf), where it
  reports them.

Memory is a few floats per event with a z; events without a z (nothing clean to see) are
counted as ``no_vertex``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nuclassify.detector.minerva import VERTEX_REGIONS, vertex_region

__all__ = ["VertexResolution", "core_width", "format_vertex_table"]

_MAD_TO_SIGMA = 1.4826  # sigma of a Gaussian / its median absolute deviation
_FAR_MM = 100.0


def core_width(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: a Gaussian core's sigma, robust to outliers (nan if empty)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan")
    return float(_MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


@dataclass
class VertexResolution:
    """Streamed residuals of one vertex finder's z against the truth, with its fit columns."""

    dz: list[np.ndarray] = field(default_factory=list)
    region: list[np.ndarray] = field(default_factory=list)
    pull: list[np.ndarray] = field(default_factory=list)
    n_tracks: list[np.ndarray] = field(default_factory=list)
    fit_quality: list[np.ndarray] = field(default_factory=list)

    def update(self, z_reco: np.ndarray, z_true: np.ndarray, columns: dict[str, np.ndarray] | None = None) -> None:
        """Add one batch: the method's z (nan where it found none), the true z, its extra columns."""
        z_reco = np.asarray(z_reco, dtype=np.float64)
        z_true = np.asarray(z_true, dtype=np.float64)
        self.dz.append(z_reco - z_true)
        self.region.append(vertex_region(z_true))
        columns = columns or {}
        sigma = columns.get("z_sigma")
        if sigma is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                self.pull.append((z_reco - z_true) / np.asarray(sigma, dtype=np.float64))
        if columns.get("n_tracks") is not None:
            self.n_tracks.append(np.asarray(columns["n_tracks"], dtype=np.float64))
        if columns.get("fit_quality") is not None:
            self.fit_quality.append(np.asarray(columns["fit_quality"], dtype=np.float64))

    def summary(self) -> dict:
        """The JSON object: per region (and all) n, no_vertex, core width, bias, tails, pull width;
        the tracks used and the fit quality where reported."""
        dz = np.concatenate(self.dz) if self.dz else np.empty(0)
        region = np.concatenate(self.region) if self.region else np.empty(0, dtype=np.int64)
        pull = np.concatenate(self.pull) if self.pull else None
        out: dict = {"regions": {}}
        for k, name in [*enumerate(VERTEX_REGIONS), (-1, "all")]:
            sel = region == k if k >= 0 else np.ones(len(dz), dtype=bool)
            out["regions"][name] = self._region(dz[sel], None if pull is None else pull[sel])
        if self.n_tracks:
            n = np.concatenate(self.n_tracks)
            n = n[np.isfinite(n)].astype(np.int64)
            capped = np.minimum(n, 3)
            out["n_tracks"] = {"mean": float(n.mean()) if len(n) else None,
                               "fraction": {label: float(np.mean(capped == c)) if len(n) else None
                                            for c, label in enumerate(("0", "1", "2", "3+"))}}
        if self.fit_quality:
            q = np.concatenate(self.fit_quality)
            q = q[np.isfinite(q)]
            out["fit_quality"] = {"median": float(np.median(q)) if len(q) else None, "n": int(len(q))}
        return out

    @staticmethod
    def _region(dz: np.ndarray, pull: np.ndarray | None) -> dict:
        found = np.isfinite(dz)
        d = dz[found]
        row = {"n": int(len(dz)), "no_vertex": int((~found).sum()),
               "core_width_mm": core_width(d) if len(d) else None,
               "bias_mm": float(np.median(d)) if len(d) else None,
               "beyond_100mm": float(np.mean(np.abs(d) > _FAR_MM)) if len(d) else None}
        if pull is not None:
            p = pull[np.isfinite(pull)]
            row["pull_core_width"] = core_width(p) if len(p) else None
        return row

    def format(self) -> str:
        """One line: each region's core width (and bias), as the text report prints it."""
        regions = self.summary()["regions"]
        parts = []
        for name in VERTEX_REGIONS:
            r = regions[name]
            if r["core_width_mm"] is not None:
                parts.append(f"{name} {r['core_width_mm']:.0f} mm (bias {r['bias_mm']:+.0f}, n={r['n']})")
        far = regions["all"]["beyond_100mm"]
        tail = f"; {100 * far:.1f}% of vertices more than 100 mm off" if far is not None else ""
        return "vertex z core width: " + ", ".join(parts) + tail if parts else ""


def format_vertex_table(methods: dict[str, VertexResolution]) -> str:
    """``evaluate --compare``'s vertex table: per method and region, the core width (pull core width)."""
    summaries = {name: res.summary()["regions"] for name, res in methods.items()}
    name_w = max(12, *(len(n) for n in summaries))
    lines = ["vertex z - z_true: core width (pull core width) where the true vertex lies",
             f"{'model':<{name_w}} " + " ".join(f"{r:>16}" for r in VERTEX_REGIONS) + f" {'>100 mm off':>12}"]
    for name, regions in summaries.items():
        cells = []
        for r in VERTEX_REGIONS:
            row = regions[r]
            if row["core_width_mm"] is None:
                cells.append(f"{'-':>16}")
                continue
            pull = f" ({row['pull_core_width']:.2f})" if row.get("pull_core_width") is not None else ""
            cells.append(f"{row['core_width_mm']:.1f} mm{pull}".rjust(16))
        far = regions["all"]["beyond_100mm"]
        lines.append(f"{name:<{name_w}} " + " ".join(cells) + (f" {100 * far:>11.1f}%" if far is not None else ""))
    return "\n".join(lines)
