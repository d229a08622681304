"""Checks made before any training: options, labels, a validation file's kind, resume settings.

Each raises a one-line :class:`~nuclassify.errors.NuclassifyError` that names the file or option.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nuclassify.errors import DataFileError, UsageError

__all__ = ["labelled_events", "balanced_weights", "check_options", "resume_conflicts", "check_same_kind",
           "PRECISIONS", "LR_SCHEDULES", "ENGINES"]

PRECISIONS = ("fp32", "mixed")
LR_SCHEDULES = ("none", "cosine", "plateau")
ENGINES = ("fit", "jax-loop")


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
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {c: float(w) for c, w in enumerate(weights)}


def check_options(epochs: int, precision: str, lr_schedule: str, class_weights: str | None, engine: str,
                   valid: Any, valid_fraction: float | None, early_stopping: int | None,
                   distribute: bool = False) -> None:
    """Refuse impossible option values and combinations before anything is read or written."""
    if not isinstance(epochs, int) or epochs < 1:
        raise UsageError(f"epochs must be >= 1, got {epochs}")
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if lr_schedule not in LR_SCHEDULES:
        raise UsageError(f"lr schedule must be one of {', '.join(LR_SCHEDULES)}, got {lr_schedule!r}")
    if class_weights not in (None, "none", "balanced"):
        raise UsageError(f"class weights must be 'none' or 'balanced', got {class_weights!r}")
    if engine not in ENGINES:
        raise UsageError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if valid is not None and valid_fraction:
        raise UsageError("give either a validation file or a validation fraction, not both")
    if early_stopping is not None and early_stopping < 1:
        raise UsageError(f"early-stopping patience must be >= 1, got {early_stopping}")
    if distribute and engine == "jax-loop":
        raise UsageError("--engine jax-loop trains on one device; use --engine fit with --distribute")


def resume_conflicts(old: dict, new: dict, old_spec: dict, spec: dict) -> list[str]:
    problems = []
    if old_spec != spec:
        problems.append(f"architecture differs (run: {old.get('arch')}, now: {new['arch']})")
    for role in ("train", "valid"):
        a, b = old.get("data", {}).get(role), new["data"].get(role)
        if (a or {}).get("sha256") != (b or {}).get("sha256"):
            problems.append(f"{role} data differs (run: {(a or {}).get('path')}, now: {(b or {}).get('path')})")
    for key in ("target", "batch_size", "seed", "valid_fraction", "precision", "class_weights", "lr_schedule"):
        if old.get(key) != new.get(key):
            problems.append(f"{key} differs (run: {old.get(key)}, now: {new.get(key)})")
    return problems


def check_same_kind(train_ds: Any, valid_ds: Any, target: str) -> None:
    if tuple(train_ds.view_names) != tuple(valid_ds.view_names) or train_ds.view_shapes != valid_ds.view_shapes:
        raise DataFileError(valid_ds.path, f"views {valid_ds.view_shapes} differ from the training file's "
                                           f"{train_ds.view_shapes}")
    if target not in valid_ds.targets or valid_ds.n_classes(target) != train_ds.n_classes(target):
        raise DataFileError(valid_ds.path, f"has no '{target}' target with {train_ds.n_classes(target)} classes")
