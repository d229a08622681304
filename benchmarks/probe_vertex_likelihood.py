"""Does the vertex activity, read plane by plane, place the vertex better than trackfit? A probe behind issue 14.

Issue 14 asks trackfit to "refine with the vertex activity (energy near the vertex)". The most
general classical form of that refinement is a likelihood over where the vertex sits: each
candidate slot s (a scintillator plane or a passive target, MINERvA's plane codes) near
trackfit's call is scored by

    log L(s) = log grammage(s) + log P(call - s | kind of s) + sum_d log P(energy bin of plane s + d | d, kind of s)

the mass prior (interactions follow the grammage), how far trackfit's own call lies from a
vertex of that kind, and the energy seen in each plane from six upstream to eight downstream of
it, binned (none, <= 2, 5, 10, 20, 40, 80 MeV, more). The tables are histograms of a simulated
fitting file, with one count added to every bin. Each segment's posterior is the sum over its
slots; the likelihood's call is the segment with the most.

It prints, on each measuring file, trackfit's and the likelihood's accuracy, the events each
fixes and breaks, the exact-slot rate, and the accuracy when the likelihood overrides trackfit
only where its segment is at least c times as probable as trackfit's.

Measured (2026-11-30; fitting file seed 31, 10,000 events): on the test file the likelihood
finds the exact slot as often as trackfit does (64.0% against 64.2%) but loses segments: 84.9%
against 86.8% (58 events fixed, 152 broken), and every override threshold loses too (86.3% at
odds above 1000). The planes' energies are far from independent (a track lights a run of them),
so the product over-counts the evidence; what separates a target vertex with a backward hadron
from one in the plane upstream is not in the per-plane energies.

Usage: nuclassify simulate minerva -n 10000 --seed 31 -o fit.h5
       nuclassify simulate minerva -n 5000 --seed 7 -o test.h5
       python benchmarks/probe_vertex_likelihood.py fit.h5 test.h5 [more.h5 ...]
"""

from __future__ import annotations

import argparse

import numpy as np

from nuclassify.data import open_dataset
from nuclassify.detector import minerva
from nuclassify.evaluation.trackfit import TrackFit
from nuclassify.evaluation.trackfit._material import SCINT_GRAMMAGE, target_grammage
from nuclassify.evaluation.trackfit._refined import VertexCall, refined_vertex

_SLOTS = minerva.N_PLANECODES
_SLOT_Z = minerva.planecode_z(np.arange(_SLOTS))
_SLOT_SEGMENT = minerva.segment_of_z(_SLOT_Z)
_TARGET_OF_SLOT = {int(minerva.planecode_of_z(t.z_center_mm)): t.number for t in minerva.TARGETS}
_GRAMMAGE = target_grammage()
_LOG_MASS = np.log([_GRAMMAGE[_TARGET_OF_SLOT[s]] if s in _TARGET_OF_SLOT else SCINT_GRAMMAGE
                    for s in range(_SLOTS)])
# 0: scintillator plane, 1: passive target, 2: water target.
_KIND = np.array([0 if s not in _TARGET_OF_SLOT else 2 if _TARGET_OF_SLOT[s] == 0 else 1 for s in range(_SLOTS)])
_IS_PLANE = _KIND == 0
_ENERGY_EDGES = np.array([0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0])
_OFFSETS = np.arange(-6, 9)  # planes read around a candidate slot
_REACH = 6  # candidates within this many slots of trackfit's call


class _Recording(TrackFit):
    """trackfit, keeping each event's cleaned hits and its vertex plane."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.recorded: list[tuple[dict, float]] = []

    def _event_vertex(self, hits: dict, times: dict | None = None) -> VertexCall:
        call = refined_vertex(hits, self.stereo_match, times=times)
        self.recorded.append((hits, call.plane_z))
        return call


def read(path: str) -> dict[str, np.ndarray]:
    """trackfit's segment and call slot, the energy binned per slot, and the truth, for one file."""
    ds = open_dataset(path)
    fit = _Recording(ds.view_names, ds.view_shapes)
    results = [fit.predict(ds.read_views(np.arange(s, min(s + 500, ds.n_events))))
               for s in range(0, ds.n_events, 500)]
    vertex_z = np.concatenate([r.z for r in results])
    energy = np.zeros((ds.n_events, _SLOTS + len(_OFFSETS)))
    call = np.full(ds.n_events, -1)
    for i, (hits, plane_z) in enumerate(fit.recorded):
        for z, _t, _c, e in hits.values():
            np.add.at(energy[i], minerva.planecode_of_z(z).astype(int), e)
        if np.isfinite(plane_z):
            call[i] = int(minerva.planecode_of_z(plane_z))
    bins = np.where(energy <= 0, 0, np.searchsorted(_ENERGY_EDGES[1:], energy) + 1)
    truth = ds.h5["vtx_data"]
    return {"trackfit": np.concatenate([r.segment for r in results]), "call": call, "bins": bins,
            "trackfit_slot": np.where(np.isfinite(vertex_z), minerva.planecode_of_z(np.nan_to_num(vertex_z)), -1),
            "slot": truth["planecodes"][:].astype(int), "segment": truth["segments"][:].astype(int)}


def fit_tables(data: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """log P(energy bin | offset, kind) and log P(call - slot | kind), from events with a call."""
    activity = np.ones((3, len(_OFFSETS), len(_ENERGY_EDGES) + 1))
    call_offset = np.ones((3, 2 * _REACH + 1))
    for bins, call, slot in zip(data["bins"], data["call"], data["slot"], strict=True):
        if call < 0:
            continue
        kind = _KIND[slot]
        if abs(call - slot) <= _REACH:
            call_offset[kind, call - slot + _REACH] += 1
        planes = slot + _OFFSETS
        ok = (planes >= 0) & (planes < _SLOTS)
        ok[ok] &= _IS_PLANE[planes[ok]]
        np.add.at(activity[kind], (np.flatnonzero(ok), bins[planes[ok]]), 1)
    return (np.log(activity / activity.sum(axis=2, keepdims=True)),
            np.log(call_offset / call_offset.sum(axis=1, keepdims=True)))


def posteriors(data: dict[str, np.ndarray], log_activity: np.ndarray,
               log_call: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each event's posterior over the 11 segments (zeros without a call) and its most likely slot (-1)."""
    out = np.zeros((len(data["call"]), minerva.N_SEGMENTS))
    best_slot = np.full(len(data["call"]), -1)
    for i, (bins, call) in enumerate(zip(data["bins"], data["call"], strict=True)):
        if call < 0:
            continue
        slots = np.arange(max(call - _REACH, 0), min(call + _REACH + 1, _SLOTS))
        score = np.empty(len(slots))
        for j, s in enumerate(slots):
            planes = s + _OFFSETS
            ok = (planes >= 0) & (planes < _SLOTS)
            ok[ok] &= _IS_PLANE[planes[ok]]
            kind = _KIND[s]
            score[j] = (_LOG_MASS[s] + log_call[kind, call - s + _REACH]
                        + log_activity[kind, np.flatnonzero(ok), bins[planes[ok]]].sum())
        np.add.at(out[i], _SLOT_SEGMENT[slots], np.exp(score - score.max()))
        out[i] /= out[i].sum()
        best_slot[i] = slots[np.argmax(score)]
    return out, best_slot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fit", help="simulated MINERvA file the tables are fitted on")
    parser.add_argument("measure", nargs="+", help="files to measure on")
    args = parser.parse_args()
    log_activity, log_call = fit_tables(read(args.fit))
    for path in args.measure:
        data = read(path)
        post, best_slot = posteriors(data, log_activity, log_call)
        truth, trackfit, seen = data["segment"], data["trackfit"], data["call"] >= 0
        best = np.where(seen, post.argmax(axis=1), trackfit)
        rows = np.arange(len(best))
        odds = post[rows, best] / np.maximum(post[rows, trackfit], 1e-300)
        print(f"{path}: {len(truth)} events")
        print(f"  trackfit {np.mean(trackfit == truth):.2%}   likelihood {np.mean(best == truth):.2%}   "
              f"exact slot: trackfit {np.mean(data['trackfit_slot'] == data['slot']):.1%}, likelihood "
              f"{np.mean(best_slot == data['slot']):.1%}")
        for c in (1, 3, 10, 30, 100, 1000):
            call = np.where(seen & (odds > c), best, trackfit)
            fixed = int(np.sum((call == truth) & (trackfit != truth)))
            broken = int(np.sum((call != truth) & (trackfit == truth)))
            print(f"  override where odds > {c:<5d} {np.mean(call == truth):.2%}  fixed {fixed:4d}  broken {broken:4d}")


if __name__ == "__main__":
    main()
