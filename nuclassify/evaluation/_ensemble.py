"""A deep-ensemble run directory as the library reads it: its members, their digest, its temperature.

``nuclassify train --ensemble K`` (:func:`nuclassify.trust.train_ensemble`) writes::

    RUN/run.json            the ensemble's record: "ensemble": {"k", "members", "seeds", ...}, plus the
                            members' shared target, views, input shapes, class names and data digests
    RUN/members/m0 .. mK-1  one ordinary run directory per member (resumable on its own)
    RUN/calibration.json    optional: a temperature fitted on the averaged probabilities

Lakshminarayanan, Pritzel and Blundell ("Simple and Scalable Predictive Uncertainty Estimation
using Deep Ensembles", NeurIPS 2017, arXiv 1612.01474) average the members' probabilities; the
prediction is that mean. This module only finds and checks the members; reading them is
:mod:`nuclassify.evaluation._uncertainty`'s job.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from nuclassify.errors import RunDirError

__all__ = ["ENSEMBLE_KEY", "MEMBERS_DIR", "is_ensemble_dir", "read_ensemble", "member_dirs", "member_name",
           "ensemble_digest", "stored_ensemble_temperature", "summary_meta"]

#: The run.json key that marks a run directory as an ensemble.
ENSEMBLE_KEY = "ensemble"
#: The folder under RUN that holds the member runs.
MEMBERS_DIR = "members"


def member_name(i: int) -> str:
    """The folder name of member ``i`` (m0, m1, ...)."""
    return f"m{i}"


def is_ensemble_dir(spec: str | Path) -> bool:
    """Whether ``spec`` is a run directory whose run.json marks it as an ensemble (cheap: no Keras)."""
    path = Path(spec)
    if not (path / "run.json").is_file():
        return False
    try:
        return ENSEMBLE_KEY in json.loads((path / "run.json").read_text())
    except (OSError, ValueError):
        return False  # load_run reports the unreadable run.json in its own words


def read_ensemble(run_dir: str | Path) -> dict:
    """run.json of an ensemble run directory.

    Raises:
        RunDirError: no run.json, unreadable, or not an ensemble.
    """
    path = Path(run_dir) / "run.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise RunDirError(f"{run_dir}: not a run directory (no run.json)") from exc
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path}: unreadable ({exc})") from exc
    ens = meta.get(ENSEMBLE_KEY)
    if not isinstance(ens, dict) or not isinstance(ens.get("members"), list) or not ens["members"]:
        raise RunDirError(f"{path}: '{ENSEMBLE_KEY}' does not list the members; the file is damaged")
    return meta


def member_dirs(run_dir: str | Path, meta: dict | None = None) -> list[Path]:
    """Each member's run directory, in order; a missing one is a one-line RunDirError naming it.

    A member counts as present when its folder holds a run.json; a damaged or unfinished model
    file is reported when the member is loaded (with the member's name).
    """
    run_dir = Path(run_dir)
    meta = read_ensemble(run_dir) if meta is None else meta
    members = [run_dir / str(m) for m in meta[ENSEMBLE_KEY]["members"]]
    k = len(members)
    for i, path in enumerate(members):
        if not (path / "run.json").is_file():
            what = "is missing" if not path.exists() else "has no run.json"
            raise RunDirError(f"{run_dir}: ensemble member {path.name} ({i + 1} of {k}) {what} ({path}); "
                              f"train it again with 'nuclassify train --ensemble {k} --resume --out {run_dir} ...'")
    return members


def ensemble_digest(members: list[Path]) -> str:
    """sha256 over the members' model.keras digests: ties a temperature to these exact weights."""
    from nuclassify.evaluation._predictor import model_file_sha256

    digest = hashlib.sha256()
    for path in members:
        digest.update(f"{path.name}:{model_file_sha256(path / 'model.keras')}\n".encode())
    return digest.hexdigest()


def stored_ensemble_temperature(run_dir: Path, members: list[Path]) -> tuple[float | None, str | None, str | None]:
    """(temperature, note, warning) from RUN/calibration.json, applied only to the weights it was fitted for.

    As :func:`nuclassify.evaluation.stored_temperature`, with the ensemble's digest
    (:func:`ensemble_digest`) in place of one model file's.
    """
    from nuclassify.evaluation._predictor import CALIBRATION_FILE, read_calibration

    path = Path(run_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None, None, None
    temperature, cal, warning = read_calibration(
        path, ensemble_digest(members),
        f"{path} was fitted for other member weights (a member retrained since?); not applied: "
        f"run 'nuclassify calibrate' again")
    if temperature is None:
        return None, None, warning
    data = Path(str((cal.get("data") or {}).get("path", "?"))).name
    return temperature, (f"{run_dir}: applying temperature T={temperature:.3f} to the ensemble's averaged "
                         f"probabilities, from {path} (fitted on {data}, {cal.get('created', '?')})"), None


def summary_meta(member_meta: dict[str, Any]) -> dict[str, Any]:
    """The keys of a member's run.json that say what the ensemble reads and predicts (for RUN/run.json)."""
    keys = ("arch", "target", "views", "input_shapes", "n_classes", "class_names", "layout", "data", "backend",
            "versions", "batch_size", "epochs")
    return {k: member_meta[k] for k in keys if k in member_meta}
