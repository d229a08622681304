"""Checks made before any training that need the data: labels, a validation file's kind, resume settings.

Options alone are checked once, by :class:`~nuclassify.training.TrainConfig`. Each check raises a
one-line :class:`~nuclassify.errors.NuclassifyError` that names the file or option.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nuclassify.errors import DataFileError, UsageError

__all__ = ["labelled_events", "balanced_weights", "resume_conflicts", "check_same_kind", "checked_indices"]

# run.json keys that a resumed run must share with the run it continues (the data subset included:
# a resume on other events would silently mix two training sets).
_SAME_ON_RESUME = ("target", "batch_size", "seed", "valid_fraction", "precision", "class_weights", "lr_schedule",
                   "max_events", "train_indices", "valid_indices", "sample")
# Keys that run.json gained later, and what a run recorded before them was trained with.
_ADDED_LATER = {"sample": "all"}


def labelled_events(ds: Any, target: str, idx: np.ndarray, role: str) -> tuple[np.ndarray, np.ndarray, int]:
    """The events of ``idx`` that carry a ``target`` label, their labels, and how many were left out.

    A file without any label (real data) is refused. Single events without one are left out:
    a simulated NOvA file holds e.g. nu-e elastic events, which the 4-flavour scheme excludes.
    """
    labels = ds.labels(target, idx)
    keep = labels >= 0
    if len(idx) and not keep.any():
        raise DataFileError(ds.path, f"data without the labels the target needs: none of the {len(idx)} {role} "
                                     f"events has a '{target}' label (unlabelled, e.g. real data); "
                                     "train on labelled (simulated) events")
    left_out = int(len(idx) - np.count_nonzero(keep))
    return idx[keep], labels[keep], left_out


def balanced_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """Class weights by inverse frequency (absent classes weigh 1), so rare segments count as much."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {c: float(w) for c, w in enumerate(weights)}


def checked_indices(idx: np.ndarray, n_events: int, name: str, path: Any) -> np.ndarray:
    """``idx`` (an option's index array into a file of ``n_events``), or a one-line UsageError naming both."""
    if len(idx) and int(idx.max()) >= n_events:
        raise UsageError(f"{name}: event index {int(idx.max())} out of range ({path} has {n_events} events)")
    return idx


def resume_conflicts(old: dict, new: dict, old_spec: dict, spec: dict) -> list[str]:
    """What differs between the run.json (and spec) of a run and those of its resumption."""
    problems = []
    if old_spec != spec:
        if old.get("arch") == new["arch"]:  # one name, edited layers: say so rather than 'tiny, now: tiny'
            problems.append(f"architecture differs (the spec {new['arch']!r} has changed since the run began: "
                            "its run.json holds the one it was trained with)")
        else:
            problems.append(f"architecture differs (run: {old.get('arch')}, now: {new['arch']})")
    for role in ("train", "valid"):
        a, b = old.get("data", {}).get(role), new["data"].get(role)
        if (a or {}).get("sha256") != (b or {}).get("sha256"):
            problems.append(f"{role} data differs (run: {(a or {}).get('path')}, now: {(b or {}).get('path')})")
    for key in _SAME_ON_RESUME:
        before, now = old.get(key, _ADDED_LATER.get(key)), new.get(key, _ADDED_LATER.get(key))
        if before != now:
            problems.append(f"{key} differs (run: {_short(before)}, now: {_short(now)})")
    return problems


def _short(value: Any) -> Any:
    """An index-array summary as "N events, sha256 abcdef..." (one readable line), else the value."""
    if isinstance(value, dict) and "count" in value and "sha256" in value:
        return f"{value['count']} events, sha256 {str(value['sha256'])[:12]}"
    return value


def check_same_kind(train_ds: Any, valid_ds: Any, target: str) -> None:
    """A validation file must have the training file's views, shapes and target classes."""
    if tuple(train_ds.view_names) != tuple(valid_ds.view_names) or train_ds.view_shapes != valid_ds.view_shapes:
        raise DataFileError(valid_ds.path, f"views {valid_ds.view_shapes} differ from the training file's "
                                           f"{train_ds.view_shapes}")
    if target not in valid_ds.targets or valid_ds.n_classes(target) != train_ds.n_classes(target):
        raise DataFileError(valid_ds.path, f"has no '{target}' target with {train_ds.n_classes(target)} classes")
