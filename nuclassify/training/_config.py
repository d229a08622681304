"""``TrainConfig``: every option of one training run, validated once, recorded in run.json.

Why one object: ``fit`` and both engines used to take the same twenty-odd keyword arguments each,
so an option added in one place was easily missed in another. A search that trains many
candidates builds one config and varies it with :func:`dataclasses.replace`; the CLI builds one
from its flags. Every check that needs no data file happens here, in ``__post_init__``, before
anything is read or written, and fails with the project's one-line :class:`UsageError` that
names the option and the value received. Checks that need the file (an index beyond its last
event) happen in ``fit`` once the file is open.

Importing this module must not import Keras (``nuclassify.training`` stays cheap to import).
"""

from __future__ import annotations

import hashlib
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify.errors import UsageError
from nuclassify.training._distribute import DEFAULT_PORT

__all__ = ["TrainConfig", "PRECISIONS", "LR_SCHEDULES", "ENGINES", "PROGRESS_MODES", "CLASS_WEIGHTS",
           "summarise_indices"]

PRECISIONS = ("fp32", "mixed")
LR_SCHEDULES = ("none", "cosine", "plateau")
ENGINES = ("fit", "jax-loop")
PROGRESS_MODES = ("auto", "bar", "lines", "none")
CLASS_WEIGHTS = ("none", "balanced")
CHECKPOINTS = ("all", "best")
_DIGEST_ROLES = ("train", "valid")


def summarise_indices(idx: np.ndarray | None) -> dict | None:
    """``{"count", "sha256"}`` of an index array: enough to tell two subsets apart in run.json
    (and refuse a resume with other indices) without writing millions of numbers into it."""
    if idx is None:
        return None
    data = np.ascontiguousarray(idx, dtype="<i8").tobytes()
    return {"count": int(len(idx)), "sha256": hashlib.sha256(data).hexdigest()}


def _integer(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None,
             optional: bool = False) -> int | None:
    """``value`` as a plain int (numpy integers welcome, bools and floats refused), range-checked."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{name} must be an integer{' or None' if optional else ''}, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise UsageError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise UsageError(f"{name} must be <= {maximum}, got {value}")
    return value


def _number(name: str, value: Any, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise UsageError(f"{name} must be a number{' or None' if optional else ''}, got {value!r}")
    return float(value)


def _choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _path(name: str, value: Any, *, optional: bool = False) -> Path | None:
    if value is None and optional:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise UsageError(f"{name} must be a file path{' or None' if optional else ''}, got {value!r}")
    return Path(value)


def _indices(name: str, value: Any) -> np.ndarray | None:
    """A read-only int64 copy of an index array (so the frozen config really cannot change)."""
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise UsageError(f"{name} must be a 1-D array of integer event indices, got shape {arr.shape} "
                         f"dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=True)
    if arr.size and arr.min() < 0:
        raise UsageError(f"{name} must be >= 0, got {int(arr.min())}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class TrainConfig:
    """Every option of one call of :func:`~nuclassify.training.fit` (a frozen, validated value).

    ``eq=False``: the index arrays make field-wise ``==`` ambiguous; compare :meth:`record` instead.

    Args:
        train_data: HDF5 file in any layout the data layer reads; streamed, never loaded whole.
        out_dir: RUN_DIR; refused if it holds anything unless ``resume`` or ``overwrite``.
        valid: a separate validation file, or
        valid_fraction: hold out this fraction of the training events (split drawn from ``seed``);
            0 or None: no hold-out.
        epochs: total epochs (a resumed run continues up to this number).
        batch_size: events per step; None: the spec's ``training.batch_size``, else 256.
        seed: seeds Keras (weights, dropout) and the per-epoch shuffle: same seed, same run.
        precision: "fp32" or "mixed" (float16 on TF GPUs, bfloat16 elsewhere; float32 softmax).
        resume: continue the run in ``out_dir`` from its newest checkpoint (also mid-epoch).
        overwrite: replace the run in ``out_dir``.
        target: label target; None: the file's default (e.g. "segment").
        early_stopping: stop after this many epochs without improvement of the monitored loss.
        lr_schedule: "none", "cosine" (decay to 0 over all steps) or "plateau" (halve after 2 flat epochs).
        class_weights: "balanced" weights classes by inverse frequency; None or "none": unweighted.
        distribute: data-parallel over local devices / MPI ranks (see ``_distribute``).
        quiet: no progress output at all (overrides ``progress``).
        backup_every: steps between mid-epoch resume checkpoints; None or 0: not counted in steps.
        backup_seconds: also save one at the first step after this many seconds (default 5 min), so
            a kill -9 loses at most about that much work; None or 0: epoch ends (and steps) only.
        engine: "fit" (Keras ``model.fit``) or "jax-loop" (jitted JAX step; JAX backend only).
        port: base port of the multi-worker set-up built from MPI ranks.
        max_events: train on at most the first N events of ``train_data`` (before any hold-out
            split); for quick trials on a big file. Excludes ``train_indices``.
        train_indices: explicit events of ``train_data`` to train on (a search that trains many
            candidates on one file picks its subsets once). With ``valid_fraction`` the hold-out
            is drawn from these.
        valid_indices: explicit events of ``train_data`` to validate on; needs ``train_indices``,
            excludes ``valid`` and ``valid_fraction``, and must not overlap ``train_indices``.
        sample: train (and validate) on these events only: ``"all"``, or ``"muon-track"``, the
            MINERvA events with a muon track, the only ones the experiment's lattices hold
            (:func:`nuclassify.data.sample_indices`; a ``valid`` file is taken the same way).
            ``max_events`` then counts events of the sample. Excludes ``train_indices``.
        digests: precomputed :func:`~nuclassify.training.file_digest` results by role ("train",
            "valid"), so that many calls on one file do not each hash it (up to 4 GiB). Checked
            against the file's path and size.
        progress: "auto" (a live bar on a terminal, plain lines otherwise), "bar", "lines", "none".
        checkpoints: "all" (best.keras, last.keras, the resume checkpoint and model.keras) or
            "best" (best.keras only, for a search: its candidates are retrained from scratch when
            interrupted, so the rest is write time and disk it never reads; no ``resume``).
        tensorboard: write TensorBoard logs (TensorFlow backend, engine "fit", package installed).
        domain_adapt: an unlabelled file of the same layout (e.g. detector data) for
            domain-adversarial training (``training._domain``); None: none. Engine "fit" only.
        domain_weight: the domain loss weight (None: the spec's ``domain_head`` weight, else 0.1).
        domain_ramp: weight the reversed gradient by Ganin's schedule, 0 -> 1 over the run
            (None: the spec's ``domain_head`` ramp, else off: MINERvA's constant weight).
    """

    train_data: str | os.PathLike
    out_dir: str | os.PathLike
    _: KW_ONLY
    valid: str | os.PathLike | None = None
    valid_fraction: float | None = None
    epochs: int = 1
    batch_size: int | None = None
    seed: int = 0
    precision: str = "fp32"
    resume: bool = False
    overwrite: bool = False
    target: str | None = None
    early_stopping: int | None = None
    lr_schedule: str = "none"
    class_weights: str | None = None
    distribute: bool = False
    quiet: bool = False
    backup_every: int | None = None
    backup_seconds: float | None = 300.0
    engine: str = "fit"
    port: int = DEFAULT_PORT
    max_events: int | None = None
    train_indices: np.ndarray | Sequence[int] | None = None
    valid_indices: np.ndarray | Sequence[int] | None = None
    sample: str = "all"
    digests: Mapping[str, dict] | None = None
    domain_adapt: str | os.PathLike | None = None
    domain_weight: float | None = None
    domain_ramp: bool | None = None
    progress: str = "auto"
    checkpoints: str = "all"
    tensorboard: bool = True

    def __post_init__(self) -> None:
        """Check and normalise every option once; one-line UsageError naming the option."""
        put = object.__setattr__  # the dataclass is frozen: normalise through the back door, here only
        put(self, "train_data", _path("train_data", self.train_data))
        put(self, "out_dir", _path("out_dir", self.out_dir))
        put(self, "valid", _path("valid", self.valid, optional=True))
        put(self, "domain_adapt", _path("domain_adapt", self.domain_adapt, optional=True))
        weight = _number("domain weight", self.domain_weight, optional=True)
        if weight is not None and weight <= 0:
            raise UsageError(f"--domain-weight must be > 0, got {weight:g}")
        put(self, "domain_weight", weight)
        put(self, "epochs", _integer("epochs", self.epochs, minimum=1))
        put(self, "batch_size", _integer("batch size", self.batch_size, minimum=1, optional=True))
        put(self, "seed", _integer("seed", self.seed, minimum=0, maximum=2**32 - 1))
        _choice("precision", self.precision, PRECISIONS)
        _choice("lr schedule", self.lr_schedule, LR_SCHEDULES)
        _choice("engine", self.engine, ENGINES)
        _choice("progress", self.progress, PROGRESS_MODES)
        _choice("checkpoints", self.checkpoints, CHECKPOINTS)
        if self.class_weights is not None:
            _choice("class weights", self.class_weights, CLASS_WEIGHTS)
        if self.target is not None and (not isinstance(self.target, str) or not self.target):
            raise UsageError(f"target must be a label target's name or None, got {self.target!r}")
        put(self, "early_stopping", _integer("early-stopping patience", self.early_stopping, minimum=1,
                                             optional=True))
        put(self, "backup_every", _integer("backup every", self.backup_every, minimum=0, optional=True))
        seconds = _number("backup seconds", self.backup_seconds, optional=True)
        if seconds is not None and seconds < 0:
            raise UsageError(f"backup seconds must be >= 0 (0: off), got {seconds:g}")
        put(self, "backup_seconds", seconds)
        put(self, "port", _integer("port", self.port, minimum=1, maximum=65535))
        put(self, "max_events", _integer("max events", self.max_events, minimum=1, optional=True))
        fraction = _number("valid fraction", self.valid_fraction, optional=True)
        if fraction is not None and not 0.0 <= fraction < 1.0:
            raise UsageError(f"valid fraction must be in [0, 1), got {fraction:g}")
        put(self, "valid_fraction", fraction)
        put(self, "train_indices", _indices("train_indices", self.train_indices))
        put(self, "valid_indices", _indices("valid_indices", self.valid_indices))
        from nuclassify.data import SAMPLES  # (h5py: the data is opened right after anyway)

        _choice("sample", self.sample, SAMPLES)
        put(self, "digests", self._checked_digests())
        self._check_combinations()

    def _checked_digests(self) -> dict[str, dict] | None:
        if self.digests is None:
            return None
        if not isinstance(self.digests, Mapping):
            raise UsageError(f"digests must map 'train'/'valid' to file_digest() results, got {self.digests!r}")
        out = {}
        for role, digest in self.digests.items():
            if role not in _DIGEST_ROLES:
                raise UsageError(f"digests: unknown role {role!r} (expected {' or '.join(_DIGEST_ROLES)})")
            if not isinstance(digest, Mapping) or not isinstance(digest.get("sha256"), str):
                raise UsageError(f"digests[{role!r}] must be a file_digest() result (with 'sha256'), got {digest!r}")
            out[role] = dict(digest)
        return out

    def _check_combinations(self) -> None:
        if self.valid is not None and self.holds_out:
            raise UsageError("give either a validation file or a validation fraction, not both")
        if self.valid_indices is not None:
            if self.train_indices is None:
                raise UsageError("valid_indices needs train_indices (both index the training file)")
            if self.valid is not None or self.holds_out:
                raise UsageError("valid_indices excludes a validation file and a validation fraction")
            shared = np.intersect1d(self.train_indices, self.valid_indices)
            if shared.size:
                raise UsageError(f"train_indices and valid_indices share {shared.size} event(s) "
                                 f"(first: {int(shared[0])})")
        if self.train_indices is not None and not len(self.train_indices):
            raise UsageError("train_indices is empty")
        if self.max_events is not None and self.train_indices is not None:
            raise UsageError("give either max_events or train_indices, not both")
        if self.sample != "all" and self.train_indices is not None:
            raise UsageError(f"give either sample {self.sample!r} or train_indices, not both")
        if self.resume and self.checkpoints == "best":
            raise UsageError("resume needs the resume checkpoint, which checkpoints='best' does not write")
        if self.domain_weight is not None and self.domain_adapt is None:
            raise UsageError("--domain-weight needs --domain-adapt UNLABELLED.h5")
        if self.domain_ramp is not None and self.domain_adapt is None:
            raise UsageError("--domain-ramp needs --domain-adapt UNLABELLED.h5")
        if self.domain_adapt is not None and self.engine != "fit":
            raise UsageError("--domain-adapt trains with engine fit (its two-output loss); drop --engine jax-loop")
        if self.distribute and self.engine == "jax-loop":
            raise UsageError("--engine jax-loop trains on one device; use --engine fit with --distribute")

    @property
    def holds_out(self) -> bool:
        """A validation fraction is split off the training events (0 and None mean no hold-out)."""
        return self.valid_fraction is not None and self.valid_fraction > 0.0

    @property
    def backup_steps(self) -> int | None:
        """Steps between mid-epoch checkpoints, or None when they are not counted in steps (0 = off)."""
        return self.backup_every if self.backup_every is not None and self.backup_every > 0 else None

    @property
    def backup_interval_s(self) -> float | None:
        """Seconds between mid-epoch checkpoints, or None when off (0 = off)."""
        return self.backup_seconds if self.backup_seconds is not None and self.backup_seconds > 0 else None

    @property
    def weighting(self) -> str | None:
        """The class weighting: "balanced", or None for unweighted (None and "none" alike)."""
        return None if self.class_weights in (None, "none") else self.class_weights

    def resolved_batch_size(self, spec: Mapping) -> int:
        """The batch size this run uses: the option, else the spec's, else 256."""
        if self.batch_size is not None:
            return self.batch_size
        given = spec.get("training", {}).get("batch_size")
        return 256 if given is None else int(given)

    def record(self) -> dict[str, Any]:
        """The options as JSON-ready values for run.json: paths as strings, index arrays summarised.

        ``digests`` are left out: run.json keeps them (with provenance) under ``data``.
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("_", "digests"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, np.ndarray):
                value = summarise_indices(value)
            out[f.name] = value
        out["valid_fraction"] = self.valid_fraction if self.holds_out else None
        out["class_weights"] = self.weighting
        return out
