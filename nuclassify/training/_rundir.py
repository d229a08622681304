"""The run directory: what a training run leaves behind, written so that a crash loses nothing.

Layout of RUN_DIR::

    run.json        metadata (data files + hashes, seed, backend, versions, timings, target,
                    views, input_shapes, n_classes, class_names, layout, arch, epochs_completed,
                    status "running" | "complete" | "stopped-nan"); rewritten atomically
    spec.json       the architecture spec used
    model.keras     the final model (written only when the run completes)
    best.keras      the best epoch so far (lowest val_loss, or loss without validation data)
    last.keras      the model after the last completed epoch (with optimizer state)
    history.csv     one row per completed epoch; rewritten atomically from the saved state
    logs/           TensorBoard logs (TensorFlow backend)
    resume/         state.keras + state.json: the newest checkpoint, also mid-epoch, for --resume
    .replaced-run/  with --overwrite, the run being replaced, kept until the new run completes
                    (put back if the new run fails before its first checkpoint)

Data files are identified by SHA-256. Files up to 4 GiB are hashed whole (streamed in 8 MiB
pieces); larger ones by "sha256-head-tail": SHA-256 of the first and last MiB plus the size,
so a resume check on a 100 GB file takes milliseconds, and the method is named in run.json.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nuclassify._fileio import atomic_output, default_file_mode, temporary_target
from nuclassify._runlock import LOCK_FILES, run_in_progress
from nuclassify.errors import (
    DataFileError,
    NuclassifyError,
    OutputError,
    RunDirError,
    TrainingDivergedError,
    TrainingInterrupted,
)
from nuclassify.models import load_model as _load_keras_model

__all__ = ["RUN_FILES", "REPLACED_DIR", "LoadedRun", "load_run", "prepare_run_dir", "start_run",
           "discard_unstarted_run", "after_failure", "has_checkpoint", "file_digest", "write_json_atomic",
           "read_run_json", "save_model_atomic", "check_run_dir", "drop_replaced_run", "recover_interrupted_replace",
           "remove_stale_temporaries", "load_model_file"]

RUN_FILES = ("run.json", "spec.json", "model.keras", "best.keras", "last.keras", "history.csv", "logs", "resume")
REPLACED_DIR = ".replaced-run"
# Where --overwrite gathers the old run's files before one rename makes them REPLACED_DIR: a kill
# while they move leaves them here, and recover_interrupted_replace puts them back.
_STAGING_DIR = ".replacing-run"
_WHOLE_HASH_LIMIT = 4 << 30

_PIECE = 8 << 20


def file_digest(path: str | os.PathLike) -> dict[str, Any]:
    """Identity of a data file: ``{"path", "size", "sha256", "hash"}`` (hash method named)."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= _WHOLE_HASH_LIMIT:
            method = "sha256"
            for piece in iter(lambda: fh.read(_PIECE), b""):
                digest.update(piece)
        else:
            method = "sha256-head-tail"
            digest.update(fh.read(1 << 20))
            fh.seek(size - (1 << 20))
            digest.update(fh.read(1 << 20))
            digest.update(str(size).encode())
    return {"path": str(path.resolve()), "size": size, "sha256": digest.hexdigest(), "hash": method}


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to a temporary file in the same folder and rename it into place."""
    write_text_atomic(path, json.dumps(payload, indent=1, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write text (run.json, history.csv) atomically and fsync it, so a kill -9 leaves the old file or the new."""
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def save_model_atomic(model: Any, path: Path) -> None:
    """``model.save`` to a temporary ``.keras`` next to ``path``, then rename (a kill leaves the old file)."""
    with atomic_output(path, overwrite=True, suffix=".tmp.keras") as tmp:
        model.save(tmp)
        os.chmod(tmp, default_file_mode())  # in case the saver replaced the file rather than wrote into it


def read_run_json(run_dir: Path) -> dict:
    """run.json of a run directory, or RunDirError."""
    path = run_dir / "run.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise RunDirError(f"{run_dir}: not a run directory (no run.json)") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(meta, dict):
        raise RunDirError(f"{path}: damaged run record: expected a JSON object, found {type(meta).__name__}")
    return meta


def check_run_dir(out_dir: str | os.PathLike, *, resume: bool, overwrite: bool) -> Path:
    """Refuse a RUN_DIR that cannot be used, without touching anything (called before any work)."""
    run_dir = Path(out_dir)
    if resume and overwrite:
        raise RunDirError(f"{run_dir}: --resume and --overwrite exclude each other")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory")
    staged = run_dir / _STAGING_DIR  # an --overwrite killed while it moved the old run aside: still that run
    has_meta = (run_dir / "run.json").is_file() or (staged / "run.json").is_file()
    ours = [n for n in RUN_FILES if (run_dir / n).exists() or (staged / n).exists()] if run_dir.is_dir() else []
    if resume:
        if not has_meta:
            if ours:  # left by an older version, or by a run killed while it set up: nothing to continue
                raise RunDirError(f"{run_dir}: nothing to resume: it holds only a partial set-up of a run that never "
                                  f"started ({', '.join(ours)}, no run.json); start again with --overwrite")
            raise RunDirError(f"{run_dir}: nothing to resume (no run.json); start a new run without --resume")
        return run_dir
    if run_dir.is_dir() and any(p.name not in LOCK_FILES for p in run_dir.iterdir()):  # our lock is not content
        if not overwrite:
            if ours and not has_meta:
                raise RunDirError(f"{run_dir}: holds only a partial set-up of a run that never started "
                                  f"({', '.join(ours)}, no run.json); use --overwrite to replace it")
            what = "holds another run" if ours else "is not empty"
            hint = "use --resume to continue it or --overwrite to replace it" if ours else \
                "use --overwrite to write a run beside its files, or choose another --out"
            diverged = _diverged_at(run_dir) if has_meta else None
            if diverged is not None:  # resuming would run into the same NaN: only a fresh start helps
                what, hint = (f"holds a run whose loss became NaN at epoch {diverged}",
                              "start it again with --overwrite (with a lower --lr, or --precision fp32)")
            raise RunDirError(f"{run_dir}: {what}; {hint}")
    return run_dir


def _diverged_at(run_dir: Path) -> int | None:
    """The epoch (1-based) at which a run stopped on a NaN loss, or None (another status, or unreadable)."""
    try:
        meta = read_run_json(run_dir)
        return int(meta["nan"]["epoch"]) + 1 if meta.get("status") == "stopped-nan" else None
    except (RunDirError, ValueError, TypeError, KeyError):
        return None


def _remove_run_files(run_dir: Path) -> None:
    """Delete the files a run writes (RUN_FILES) and nothing else that may share the folder."""
    for name in RUN_FILES:
        target = run_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def prepare_run_dir(out_dir: str | os.PathLike, *, resume: bool, overwrite: bool) -> Path:
    """Check, then create RUN_DIR. A folder that holds anything is refused unless resume/overwrite.

    ``overwrite`` touches only the files a run writes (listed in :data:`RUN_FILES`); anything
    else in the folder is left alone. They are not deleted but moved into :data:`REPLACED_DIR`
    inside the run, so that an interrupted or failed replacement loses nothing: the old run is
    put back if the new one fails before its first checkpoint (:func:`discard_unstarted_run`)
    and dropped only when the new one completes (:func:`drop_replaced_run`). If a replaced run
    is already kept there (an earlier ``--overwrite`` that never completed), the files beside
    it are that abandoned attempt's and are removed. ``resume`` needs a previous run's run.json.
    """
    run_dir = check_run_dir(out_dir, resume=resume, overwrite=overwrite)
    if resume:
        return run_dir
    if run_dir.is_dir():
        kept = run_dir / REPLACED_DIR
        present = [n for n in RUN_FILES if (run_dir / n).exists()]
        if kept.is_dir() or not present:
            _remove_run_files(run_dir)
        else:  # gathered, then kept in one rename: REPLACED_DIR only ever holds a whole run
            staging = run_dir / _STAGING_DIR
            staging.mkdir(exist_ok=True)
            for name in present:
                os.replace(run_dir / name, staging / name)
            os.replace(staging, kept)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


_RUN_WRITES = {*RUN_FILES, "state.keras", "state.json"}  # the names a run's temporaries stand for


def remove_stale_temporaries(run_dir: str | os.PathLike) -> int:
    """Delete the temporary files a killed writer left in RUN_DIR (and its resume folder); how many.

    Called with RUN_DIR held, so no writer of this run is alive to own them. Each is the size of
    what it was replacing (a model: tens of MB) and nothing else would ever remove them.
    """
    removed = 0
    for folder in (Path(run_dir), Path(run_dir) / "resume"):
        if not folder.is_dir():
            continue
        for item in folder.iterdir():
            if temporary_target(item.name) in _RUN_WRITES and item.is_file():
                with contextlib.suppress(OSError):
                    item.unlink()
                    removed += 1
    return removed


def recover_interrupted_replace(run_dir: str | os.PathLike) -> None:
    """Put back the files of a run that ``--overwrite`` was moving aside when it was killed.

    Called with RUN_DIR held, before it is checked: the files in the staging folder are the old
    run's (the new run starts only after the move), so they return to their places and the run
    is whole again, for ``--resume``, for reading, or for the next ``--overwrite`` to keep.
    """
    with contextlib.suppress(OSError):  # anything left is a duplicate of what is in place: kept for a person
        _put_back(Path(run_dir) / _STAGING_DIR, Path(run_dir))


def _put_back(folder: Path, run_dir: Path) -> None:
    """Move what ``folder`` holds back into ``run_dir`` (names already taken there stay), then remove it."""
    if not folder.is_dir():
        return
    for item in folder.iterdir():
        if not (run_dir / item.name).exists():
            os.replace(item, run_dir / item.name)
    folder.rmdir()


def drop_replaced_run(run_dir: Path) -> None:
    """Delete the run that ``--overwrite`` replaced, once the new run has completed."""
    kept = run_dir / REPLACED_DIR
    if kept.is_dir():
        shutil.rmtree(kept, ignore_errors=True)


def _restore_replaced_run(run_dir: Path) -> None:
    """Put the run that ``--overwrite`` moved aside back in place (the new run never started)."""
    _put_back(run_dir / REPLACED_DIR, run_dir)


def start_run(run_dir: Path, meta: dict, *, spec: dict | None, created: bool) -> None:
    """Write a run's first files: ``spec.json`` (a new run; ``spec`` None when resuming) and ``run.json``.

    Both are written atomically, and if either fails (a full disk, a size limit) a new run's
    files are removed again, so the folder never holds a spec without its run.json, which
    neither ``--resume`` nor a new run could use.
    """
    try:
        if spec is not None:
            write_json_atomic(run_dir / "spec.json", spec)
        write_json_atomic(run_dir / "run.json", meta)
    except BaseException:
        if spec is not None:
            discard_unstarted_run(run_dir, created=created)
        raise


def has_checkpoint(run_dir: Path) -> bool:
    """Whether RUN_DIR holds a complete resume checkpoint (the model and the state that names it)."""
    return (run_dir / "resume" / "state.keras").is_file() and (run_dir / "resume" / "state.json").is_file()


def discard_unstarted_run(run_dir: Path, *, created: bool) -> None:
    """Remove what a run wrote before it turned out it could not start (a set-up error, a full disk).

    Only for a new run that has no complete checkpoint yet, so that the corrected command is not
    refused for a RUN_DIR that "holds another run". ``created``: this run made the folder, so an
    empty one is removed too. Never raises: it runs while another error is on its way out.
    """
    if has_checkpoint(run_dir):
        return
    with contextlib.suppress(OSError):
        _remove_run_files(run_dir)
        _restore_replaced_run(run_dir)
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):  # (a held lock stays: its holder removes it)
            run_dir.rmdir()


def after_failure(run_dir: Path, exc: BaseException, *, new_run: bool, created: bool,
                  data: tuple[Any, ...] = ()) -> BaseException:
    """Leave RUN_DIR usable after ``exc`` stopped training; return the error to raise, saying what to do.

    Before the first complete checkpoint a new run's files are removed (nothing is lost; the
    same command starts again). After it the run is kept, and a read or write failure (a
    truncated data file, a full disk) says that ``--resume`` continues from the checkpoint.
    Interrupts and NaN stops record their own state and are left as they are.

    ``data``: the open datasets; when one of them stopped its stream (``stream_error``), that
    error is the cause, whatever the backend wrapped it in (TF: ``UnknownError``).
    """
    if isinstance(exc, (TrainingInterrupted, TrainingDivergedError)):
        if (run_dir / REPLACED_DIR).is_dir() and has_checkpoint(run_dir) and exc.args:
            exc.args = (f"{exc.args[0]}; the run it replaces is kept in {run_dir / REPLACED_DIR} "
                        "until this one completes",)
        return exc
    if not isinstance(exc, (NuclassifyError, KeyboardInterrupt)):
        exc = next((ds.stream_error for ds in data if getattr(ds, "stream_error", None) is not None), exc)
    if not has_checkpoint(run_dir):
        if new_run:
            discard_unstarted_run(run_dir, created=created)
        return exc
    if isinstance(exc, (DataFileError, OutputError)) and exc.args and "--resume" not in str(exc):
        exc.args = (f"{exc}; {run_dir} keeps its last checkpoint: continue with --resume once this is fixed",)
    return exc


@dataclass
class LoadedRun:
    """A trained model with its spec and run.json metadata (``meta``)."""

    model: Any
    spec: dict
    meta: dict
    path: Path


def load_run(path: str | os.PathLike, *, which: str = "model") -> LoadedRun:
    """Load a run for evaluation or prediction.

    Args:
        path: a run directory, or a ``.keras`` file inside one (its run.json is read beside it).
        which: ``"model"`` (final), ``"best"`` or ``"last"`` when ``path`` is a directory. A run
            that another process is still writing has no final model yet: ``"model"`` then reads
            ``last.keras``, its last complete epoch (readers are never blocked; nuclassify._runlock).

    Raises:
        RunDirError: missing directory, no run.json, no model (e.g. an interrupted run), or a
            damaged model file.
    """
    path = Path(path)
    if not path.exists():
        raise RunDirError(f"{path}: no such run directory or model file")
    if path.is_dir():
        run_dir, model_path = path, path / f"{which}.keras"
    else:
        if path.suffix != ".keras":
            raise RunDirError(f"{path}: expected a run directory or a .keras model file")
        run_dir, model_path = path.parent, path
        if not (run_dir / "run.json").is_file():
            raise RunDirError(f"{path}: not inside a run directory (no run.json beside it); give the run "
                              "directory, or export the model to .onnx to use it on its own")
    meta = read_run_json(run_dir)
    if path.is_dir() and which == "model" and not model_path.is_file() and (run_dir / "last.keras").is_file() \
            and run_in_progress(run_dir) is not None:
        model_path = run_dir / "last.keras"  # being written: readers get its last complete epoch
    if not model_path.is_file():
        status = meta.get("status", "?")
        hint = ""
        if (run_dir / "last.keras").is_file() and status == "complete":  # finished, then the file went
            hint = f"; the run completed, but its {model_path.name} is gone: load {run_dir / 'last.keras'}"
        elif (run_dir / "last.keras").is_file():
            hint = f"; the run is {status} after {meta.get('epochs_completed', 0)} epoch(s): resume it with " \
                   f"--resume, or load {run_dir / 'last.keras'}"
        raise RunDirError(f"{run_dir}: incomplete run, no {model_path.name}{hint}")
    try:
        spec = json.loads((run_dir / "spec.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{run_dir}: spec.json missing or unreadable ({exc})") from exc
    views = meta.get("views")
    if not isinstance(views, list) or not views or not all(isinstance(v, str) for v in views):
        raise RunDirError(f"{run_dir / 'run.json'}: damaged run record: no list of the model's input views "
                          f"(found {views!r})")
    model = load_model_file(model_path)
    check_run_record(run_dir / "run.json", meta, _output_classes(model))
    return LoadedRun(model=model, spec=spec, meta=meta, path=run_dir)


def _output_classes(model: Any) -> int | None:
    """The width of the model's (first) output, the number of classes it scores; None if unknown."""
    try:
        width = model.outputs[0].shape[-1]
    except (AttributeError, IndexError, TypeError):
        return None
    return int(width) if width is not None else None


def check_run_record(path: Path, meta: dict, n_outputs: int | None = None) -> None:
    """Refuse a run.json whose fields have the wrong types or disagree with the network, in one line.

    An edited or damaged record used to surface as whatever Python raised deep inside (``'list'
    object has no attribute 'items'``), or worse as a CSV whose header (from ``class_names``) did
    not match its rows (from the network). Only fields present are checked: older runs lack some.
    """
    from nuclassify.data._schema import LAYOUTS

    def bad(key: str, expected: str) -> RunDirError:
        return RunDirError(f"{path}: damaged run record: {key} must be {expected}, found {meta.get(key)!r:.60}")

    shapes = meta.get("input_shapes")
    if "input_shapes" in meta and not (isinstance(shapes, dict) and all(
            isinstance(v, str) and isinstance(s, list) and s and all(isinstance(d, int) and d > 0 for d in s)
            for v, s in shapes.items())):
        raise bad("input_shapes", "an object of view -> list of positive integers")
    if isinstance(shapes, dict) and set(shapes) != set(meta.get("views") or []):
        raise bad("input_shapes", f"one shape per view ({', '.join(meta.get('views') or [])})")
    for key, kind, expected in (("data", dict, "an object"), ("arch", str, "a name"), ("target", str, "a name"),
                                ("status", str, "a word")):
        if key in meta and meta[key] is not None and not isinstance(meta[key], kind):
            raise bad(key, expected)
    if "layout" in meta and meta["layout"] not in LAYOUTS:
        raise bad("layout", f"one of {', '.join(LAYOUTS)}")
    for key in ("seed", "n_classes"):
        if meta.get(key) is not None and (isinstance(meta[key], bool) or not isinstance(meta[key], int)):
            raise bad(key, "an integer")
    if meta.get("valid_fraction") is not None and (isinstance(meta["valid_fraction"], bool)
                                                   or not isinstance(meta["valid_fraction"], (int, float))):
        raise bad("valid_fraction", "a number")
    names = meta.get("class_names")
    if "class_names" in meta and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise bad("class_names", "a list of names")
    counts = {"n_classes": meta.get("n_classes"), "class_names": len(names) if isinstance(names, list) else None}
    for key, count in counts.items():
        if count is not None and n_outputs is not None and count != n_outputs:
            raise RunDirError(f"{path}: damaged run record: {key} gives {count} classes but the network "
                              f"scores {n_outputs}")


# What Keras' loader raises for a file that is damaged rather than for a bug of ours: a broken zip,
# an unreadable or corrupt weights file (h5py: OSError), a config that is not valid JSON or names
# what does not exist (ValueError, JSONDecodeError), a member missing from the archive (KeyError).
_BAD_MODEL_FILE = (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError)


def load_model_file(model_path: Path, *, what: str = "model", hint: str = "", **load_options: Any) -> Any:
    """Load a ``.keras`` file; a damaged file is a one-line RunDirError, anything else propagates.

    ``what`` names the file in the message, ``hint`` ends it (what to do), and ``load_options``
    go to the loader (a resume checkpoint loads compiled, with its domain head).

    Keras reports a file that is no zip archive at all as "File not found", which misleads when
    the file is right there (a truncated copy, a full disk), so that case is named first.
    """
    if not zipfile.is_zipfile(model_path):
        raise RunDirError(f"{model_path}: cannot load {what}: not a .keras (zip) archive; the file is damaged "
                          f"or truncated{hint}")
    try:
        return _load_keras_model(model_path, **{"compile": False, **load_options})
    except _BAD_MODEL_FILE as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise RunDirError(f"{model_path}: cannot load {what}, the file is damaged ({type(exc).__name__}: "
                          f"{detail}){hint}") from exc
