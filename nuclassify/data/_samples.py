"""Named event samples of a data file: which events an evaluation should count.

MINERvA's machine-learning lattices exist only for events with a reconstructed vertex and muon
(the time of each hit is stored relative to the muon track's vertex time, ``muon_trackVertexTime``
in the experiment's MasterAnaDev), so the experiment's comparisons, the seed talk's 91.9% of
the track-based reconstruction among them, were measured on events with a muon track. The
simulator writes every interaction, neutral-current events and those whose muon is too short
to track included, and records for each which reference a reconstruction would have used
(``vtx_data/time_ref_source``: 0 a muon track). The ``muon-track`` sample keeps those events,
so that a comparison with the experiment's figures is made on the same kind of events.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nuclassify.errors import DataFileError, UsageError

__all__ = ["SAMPLES", "sample_indices", "describe_sample"]

SAMPLES = ("all", "muon-track")
_SOURCE_FIELD = "vtx_data/time_ref_source"
_SOURCE_MUON_TRACK = 0  # data/README.md, "Hit times"


def sample_indices(dataset: Any, sample: str) -> np.ndarray | None:
    """The indices of ``dataset``'s events in ``sample`` (sorted); None for ``"all"``.

    ``"muon-track"``: events with a muon track, as MINERvA's lattices hold. A simulated file
    selects them by ``vtx_data/time_ref_source``; an experiment's own file (no nuclassify
    provenance, no such field) holds only such events already, so all of them are kept.

    Raises:
        UsageError: an unknown sample name, or ``muon-track`` asked of a file that is not MINERvA's.
        DataFileError: a simulated MINERvA file made before the field existed (simulator version 1),
            or a file that holds no event of the sample (nothing to evaluate or train on).
    """
    idx = _selected(dataset, sample)
    if idx is not None and not len(idx):
        raise DataFileError(dataset.path, f"holds no event of the {sample} sample")
    return idx


def _selected(dataset: Any, sample: str) -> np.ndarray | None:
    """:func:`sample_indices` without the check that the sample holds events (``inspect`` counts them)."""
    if sample not in SAMPLES:
        raise UsageError(f"unknown sample {sample!r} (expected one of {', '.join(SAMPLES)})")
    if sample == "all":
        return None
    if not str(dataset.layout).startswith("minerva"):
        raise UsageError(f"{dataset.path}: the muon-track sample is MINERvA's; this file is {dataset.layout}")
    if _SOURCE_FIELD in dataset.truth_fields:
        return np.flatnonzero(np.asarray(dataset.read_truth(_SOURCE_FIELD)) == _SOURCE_MUON_TRACK)
    if dataset.provenance.get("simulator"):
        raise DataFileError(dataset.path, f"has no {_SOURCE_FIELD} (simulator version "
                                          f"{dataset.provenance.get('simulator_version', 1)}), so its "
                                          "muon-track events cannot be told apart: simulate it again")
    return np.arange(dataset.n_events)


def describe_sample(sample: str, n_selected: int, n_file: int) -> str:
    """One line saying which events were counted, e.g. for the head of a report."""
    if sample == "all":
        return f"sample all: {n_file:,} events"
    return (f"sample {sample}: {n_selected:,} of {n_file:,} events ({n_selected / max(n_file, 1):.1%}), "
            "those with a muon track as MINERvA's lattices")
