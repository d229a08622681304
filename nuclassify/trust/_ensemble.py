"""Deep ensembles: K networks from K seeds in one run directory, and a temperature for their average.

Lakshminarayanan, Pritzel and Blundell ("Simple and Scalable Predictive Uncertainty Estimation
using Deep Ensembles", NeurIPS 2017, arXiv 1612.01474) train the same network K times from
different random initialisations and average the probabilities; Ovadia et al. ("Can You Trust
Your Model's Uncertainty?", NeurIPS 2019, arXiv 1906.02530) found such ensembles the best
calibrated under data shift of the methods they compared. Here member i is an ordinary run
directory ``RUN/members/mi`` trained with seed ``seed + i`` (weights, dropout and shuffling), so
each resumes on its own; ``RUN/run.json`` records the ensemble. All members train and validate
on the same events: a hold-out fraction is split once, from ``seed``, as a single run with that
seed would split it, so the validation events are unseen by every member (and usable to
calibrate the ensemble).

The temperature (``nuclassify calibrate`` on an ensemble, :func:`calibrate_ensemble`) is fitted
to the averaged probabilities, not per member: calibrating each member and then averaging
leaves the average under-confident, because averaging itself softens (Rahaman and Thiery,
"Uncertainty Quantification and Deep Ensembles", NeurIPS 2021, arXiv 2007.08792; Wu and Gales,
"Should Ensemble Members Be Calibrated?", arXiv 2101.05397). The ensemble is what is used, so it
is what is calibrated.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from nuclassify import __version__
from nuclassify._fileio import atomic_output
from nuclassify.errors import RunDirError, UsageError
from nuclassify.evaluation import (
    CALIBRATION_FILE,
    ENSEMBLE_KEY,
    MEMBERS_DIR,
    ensemble_digest,
    is_ensemble_dir,
    member_dirs,
    member_name,
    summary_meta,
)

__all__ = ["EnsembleResult", "train_ensemble", "calibrate_ensemble", "MAX_MEMBERS"]

#: More members than this is a typo rather than an ensemble (Lakshminarayanan et al. use 5).
MAX_MEMBERS = 64


@dataclass
class EnsembleResult:
    """What ``train --ensemble K`` reports: the ensemble's record and each member's fit.

    Attributes:
        run_dir: RUN.
        meta: RUN/run.json as written last.
        members: per member, the :class:`~nuclassify.training.FitResult` of this call, or None for a
            member that was already complete (resumed ensembles skip them).
    """

    run_dir: Path
    meta: dict
    members: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready summary: the ensemble and, per member, its seed, epochs and last metrics."""
        rows = []
        for i, (path, res) in enumerate(zip(self.meta[ENSEMBLE_KEY]["members"], self.members, strict=True)):
            row: dict[str, Any] = {"member": path, "seed": self.meta[ENSEMBLE_KEY]["seeds"][i],
                                   "trained_now": res is not None}
            if res is not None:
                row.update(epochs_completed=res.epochs_completed, train_events=res.train_events,
                           valid_events=res.valid_events, events_per_s=res.events_per_s,
                           last_epoch=res.history[-1] if res.history else {})
            rows.append(row)
        return {"run_dir": str(self.run_dir), "arch": self.meta.get("arch"), "target": self.meta.get("target"),
                "backend": self.meta.get("backend"), "ensemble": self.meta[ENSEMBLE_KEY], "members": rows}

    def summary(self) -> str:
        """A line per member, then where the ensemble is."""
        lines = []
        for row in self.to_dict()["members"]:
            if not row["trained_now"]:
                lines.append(f"{row['member']}: seed {row['seed']}, already complete")
                continue
            last = row["last_epoch"]
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in last.items()
                                if k in ("loss", "accuracy", "val_loss", "val_accuracy"))
            lines.append(f"{row['member']}: seed {row['seed']}, {row['epochs_completed']} epoch(s): {metrics}")
        k = self.meta[ENSEMBLE_KEY]["k"]
        lines.append(f"ensemble of {k} in {self.run_dir}: predict/evaluate --model {self.run_dir} average the members")
        return "\n".join(lines)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, payload: dict) -> None:
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, default=str) + "\n")


def _shared_split(config: Any) -> Any:
    """``config`` with its hold-out fraction turned into explicit indices, split once from its seed.

    Each member has its own seed; left to ``fit``, each would also draw its own validation split,
    and the ensemble would have seen every event. The split is the one a single run with this
    seed draws (same base events, same :func:`nuclassify.data.split_indices`).
    """
    from nuclassify.data import open_dataset, split_indices

    if not config.holds_out or config.valid_indices is not None:
        return config
    with open_dataset(config.train_data) as ds:
        n = ds.n_events
    if config.train_indices is not None:
        base = np.asarray(config.train_indices, dtype=np.int64)
    else:
        base = np.arange(n if config.max_events is None else min(n, config.max_events), dtype=np.int64)
    train_pos, valid_pos = split_indices(len(base), config.valid_fraction, config.seed)
    return replace(config, train_indices=base[train_pos], valid_indices=base[valid_pos], valid_fraction=None,
                   max_events=None)


def _prepare(run_dir: Path, k: int, config: Any) -> dict | None:
    """Check RUN for this call (new, --resume or --overwrite); returns the old record when resuming."""
    from nuclassify.training import RUN_FILES

    if config.resume and config.overwrite:
        raise RunDirError(f"{run_dir}: --resume and --overwrite exclude each other")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory")
    if config.resume:
        if not is_ensemble_dir(run_dir):
            raise RunDirError(f"{run_dir}: no ensemble to resume (no run.json with '{ENSEMBLE_KEY}'); start it "
                              f"without --resume")
        old = json.loads((run_dir / "run.json").read_text())
        if k < int(old[ENSEMBLE_KEY]["k"]):
            raise UsageError(f"--ensemble {k}: {run_dir} is an ensemble of {old[ENSEMBLE_KEY]['k']}; resume it with "
                             f"--ensemble {old[ENSEMBLE_KEY]['k']} (or more, to add members)")
        return old
    if run_dir.is_dir():
        from nuclassify._runlock import LOCK_FILES

        content = [p for p in run_dir.iterdir() if p.name not in LOCK_FILES]
        if content and not config.overwrite:
            raise RunDirError(f"{run_dir}: is not empty; use --resume to continue an ensemble there or "
                              f"--overwrite to replace it")
        if config.overwrite:  # what a run or an ensemble writes, and nothing else in the folder
            for name in (*RUN_FILES, MEMBERS_DIR, CALIBRATION_FILE):
                target = run_dir / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
    return None


def _member_complete(path: Path, epochs: int) -> bool:
    """A member that needs no more training: complete, model.keras there, at least ``epochs`` done."""
    try:
        meta = json.loads((path / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return (meta.get("status") == "complete" and int(meta.get("epochs_completed", 0)) >= epochs
            and (path / "model.keras").is_file())


def train_ensemble(spec: dict | str | Path, config: Any, k: int, *, callbacks: list | None = None) -> EnsembleResult:
    """Train ``k`` members of ``spec`` with seeds ``config.seed + i`` into ``config.out_dir``/members/mi.

    Args:
        spec: a spec dict, named spec or spec file (as :func:`nuclassify.training.fit`).
        config: the :class:`~nuclassify.training.TrainConfig` every member shares; its ``out_dir``
            is the ensemble's RUN and its ``seed`` the first member's. With ``resume``, complete
            members are skipped, started ones resumed and missing ones trained.
        k: members, 2..MAX_MEMBERS.
        callbacks: extra Keras callbacks for each member's ``fit``.

    Raises:
        UsageError: ``k`` out of range, or combined with ``distribute``.
        RunDirError: RUN is not empty (without resume/overwrite), or has no ensemble to resume.
        and whatever :func:`nuclassify.training.fit` raises for a member (that member's folder
        keeps its checkpoint: ``--resume`` continues from there).

    Example:
        >>> from nuclassify.training import TrainConfig                   # doctest: +SKIP
        >>> res = train_ensemble("conv3", TrainConfig("train.h5", "runs/ens", epochs=3), 5)  # doctest: +SKIP
    """
    from nuclassify._runlock import hold_run_dir
    from nuclassify.training import file_digest, fit

    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= MAX_MEMBERS:
        raise UsageError(f"--ensemble must be an integer from 2 to {MAX_MEMBERS} (members to train), got {k!r}")
    if config.distribute:
        raise UsageError("--ensemble trains its members one after another on this machine; drop --distribute")
    if config.seed + k - 1 > 2**32 - 1:
        raise UsageError(f"--seed {config.seed} leaves no room for {k} member seeds (seed + i must be < 2**32)")
    run_dir = Path(config.out_dir)
    _prepare(run_dir, k, config)
    with hold_run_dir(run_dir, cleanup_if_created=True):  # one writer of the ensemble at a time
        old = _prepare(run_dir, k, config)  # again, as it is now that it is held
        base = _shared_split(config)
        digests = dict(base.digests or {})
        digests.setdefault("train", file_digest(base.train_data))  # hashed once, not once per member
        if base.valid is not None:
            digests.setdefault("valid", file_digest(base.valid))
        base = replace(base, digests=digests)
        members = [f"{MEMBERS_DIR}/{member_name(i)}" for i in range(k)]
        meta = {**(old or {}), ENSEMBLE_KEY: {
            "k": k, "members": members, "seeds": [config.seed + i for i in range(k)],
            "combine": "mean of the members' probabilities (Lakshminarayanan et al. 2017, arXiv 1612.01474)",
            "calibration": "a temperature from 'nuclassify calibrate' scales the averaged probabilities",
            "members_completed": 0},
            "status": "running", "options": {**config.record(), "ensemble": k},
            "created": (old or {}).get("created", _now()), "made_by": f"nuclassify {__version__} train --ensemble"}
        _write_json(run_dir / "run.json", meta)
        results = []
        for i in range(k):
            path = run_dir / members[i]
            if config.resume and _member_complete(path, config.epochs):
                results.append(None)
            else:
                resume = config.resume and (path / "run.json").is_file()
                member = replace(base, out_dir=path, seed=config.seed + i, resume=resume, overwrite=not resume)
                results.append(fit(spec, member, callbacks=callbacks))
            member_meta = json.loads((path / "run.json").read_text())
            if i == 0:
                meta.update(summary_meta(member_meta))
            meta[ENSEMBLE_KEY]["members_completed"] = i + 1
            _write_json(run_dir / "run.json", meta)
        if (run_dir / CALIBRATION_FILE).is_file():
            (run_dir / CALIBRATION_FILE).unlink()  # fitted for other weights: it would not be applied anyway
        meta["status"] = "complete"
        meta["finished"] = _now()
        _write_json(run_dir / "run.json", meta)
    return EnsembleResult(run_dir, meta, results)


def calibrate_ensemble(spec: str | os.PathLike, data: str | os.PathLike, *, batch_size: int = 256,
                       on_batch: Callable[[int], None] | None = None) -> Any:
    """Fit one temperature to an ensemble's averaged probabilities and store it in RUN/calibration.json.

    The same fit and record as :func:`nuclassify.trust.calibrate_run` (NLL-minimising T, figures
    before and after, data digest), tied to the members' weights by
    :func:`nuclassify.evaluation.ensemble_digest` instead of one model file's sha256.

    Raises:
        DataFileError: ``data`` has no labels for the ensemble's target.
        RunDirError: a member is missing, incomplete or damaged.
    """
    from nuclassify._runlock import hold_run_dir, run_in_progress
    from nuclassify.trust._temperature import fit_and_store

    run_dir = Path(spec)
    holder = run_in_progress(run_dir)
    if holder is not None:
        raise UsageError(f"{run_dir}: still being trained ({holder.describe()}); calibrate it when it has finished")
    with hold_run_dir(run_dir, cleanup_if_created=False):
        members = member_dirs(run_dir)
        return fit_and_store(
            run_dir, str(run_dir), data, batch_size=batch_size, on_batch=on_batch, trained="the members were",
            method=("temperature scaling (Guo et al. 2017, arXiv 1706.04599) of the ensemble's averaged "
                    "probabilities: softmax(log mean_k p_k / T)"),
            model={"file": f"{MEMBERS_DIR}/*/model.keras", "members": [p.name for p in members],
                   "sha256": ensemble_digest(members)},
            own_data_warning=("its members are over-confident on their own training events, not on new ones; "
                              "calibrate on a held-out file"))
