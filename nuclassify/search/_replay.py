"""Rebuild a search's state from its journal: candidates, result order, ask count, random state.

The live loop applies each result through :func:`apply_result`, the same function replay uses,
so a resumed search sees exactly the candidates, in exactly the order, that the interrupted one
had recorded. A result for a candidate already done (a late duplicate) is ignored, so each id
has one terminal row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nuclassify.errors import RunDirError
from nuclassify.search._candidate import FAILED, FINISHED, Candidate

__all__ = ["Replay", "replay", "apply_result", "check_same_search"]


@dataclass
class Replay:
    """The state a journal describes."""

    header: dict
    candidates: dict[int, Candidate] = field(default_factory=dict)
    told: list[int] = field(default_factory=list)  # ids in the order their results were recorded
    rng_state: dict | None = None

    @property
    def asked(self) -> int:
        return len(self.candidates)

    @property
    def pending(self) -> list[int]:
        """Ids submitted but without a result (running when the search stopped), in id order."""
        return [i for i, c in self.candidates.items() if not c.done]


def apply_result(candidate: Candidate, record: dict) -> None:
    """Copy a ``finished``/``failed`` record onto its candidate."""
    candidate.status = record["kind"]
    candidate.worker = record.get("worker", candidate.worker)
    candidate.started = record.get("start", candidate.started)
    candidate.ended = record.get("end", candidate.ended)
    if record["kind"] == FINISHED:
        candidate.objectives = dict(record.get("objectives", {}))
        candidate.train_seconds = record.get("train_seconds", candidate.ended - candidate.started)
    else:
        candidate.reason = record.get("reason", "")


def replay(records: list[dict]) -> Replay:
    """The state after ``records`` (a journal, header first).

    Raises:
        RunDirError: a record refers to a candidate never submitted, or ids are out of order.
    """
    state = Replay(records[0])
    for n, rec in enumerate(records[1:], 2):
        kind = rec.get("kind")
        if kind == "submitted":
            cid = rec["id"]
            if cid != state.asked:
                raise RunDirError(f"journal line {n}: candidate {cid} submitted after {state.asked} others")
            state.candidates[cid] = Candidate(cid, rec["genome"], rec.get("params", 0), tuple(rec.get("parents", ())),
                                              rec.get("origin", ""), submitted=rec["t"])
            state.rng_state = rec.get("rng")
        elif kind in ("started", FINISHED, FAILED):
            candidate = state.candidates.get(rec.get("id", -1))
            if candidate is None:
                raise RunDirError(f"journal line {n}: {kind} record for unknown candidate {rec.get('id')}")
            if candidate.done:
                continue
            if kind == "started":
                candidate.status, candidate.worker, candidate.started = "started", rec.get("worker", ""), rec["t"]
                candidate.attempts += 1
            else:
                apply_result(candidate, rec)
                state.told.append(candidate.id)
    return state


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def check_same_search(header: dict, identity: dict, run_dir: str) -> None:
    """Refuse to resume with settings that would change what the journal's results mean.

    The message lists every setting that differs, and inside the grouped ones (the data files'
    digests, the training options) only the entries that differ, so a dropped ``--valid`` or a
    changed ``--epochs`` is named rather than hidden in two truncated dictionaries.

    Raises:
        RunDirError: naming the settings that differ.
    """
    old = header.get("identity", {})
    differences = []
    for key in sorted(set(old) | set(identity)):
        before, now = (json.loads(json.dumps(value)) for value in (old.get(key), identity.get(key)))
        differences += _differences(key, before, now)
    if differences:
        raise RunDirError(f"{run_dir} holds a search made with other settings: {'; '.join(differences)}; resume "
                          "with the options it was started with (only --budget may grow), or start a new search "
                          "with another --out")


_GROUP_LABEL = {"data": "data", "trainer_options": "training option", "input_shapes": "input shape"}


def _differences(key: str, before: Any, now: Any) -> list[str]:
    """``'name before, now now'`` for ``key``, or for each differing entry when both are dictionaries."""
    if before == now:
        return []
    if isinstance(before, dict) and isinstance(now, dict) and key in _GROUP_LABEL:
        return [f"{_GROUP_LABEL[key]} {sub} {_short(before.get(sub))}, now {_short(now.get(sub))}"
                for sub in sorted(set(before) | set(now)) if before.get(sub) != now.get(sub)]
    return [f"{key} {_short(before)}, now {_short(now)}"]
