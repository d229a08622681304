"""Provenance: how a file was made, recorded by every writer and read back by :class:`Dataset`.

A file that says how it was made (seed, every simulation option, nuclassify version, creation
time) can be regenerated, compared and cited; ``inspect`` shows the record and ``train`` copies it
into its run record. It is kept as ONE root attribute, ``nuclassify_provenance``, holding a JSON
object (fields in data/README.md): one attribute keeps the record whole and typed (ints stay ints,
nested values stay nested), and any HDF5 tool shows it (``h5dump -a nuclassify_provenance``).

The creation time is the only field that differs between two runs with the same options, so it
honours ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention): with it set, the same seed
and options give a byte-identical file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import h5py
import numpy as np

from nuclassify import __version__
from nuclassify.errors import DataFileError, UsageError

__all__ = [
    "PROVENANCE_ATTR", "creation_time", "provenance_record", "encode_provenance", "write_provenance",
    "read_provenance",
]

PROVENANCE_ATTR = "nuclassify_provenance"
_EPOCH_VAR = "SOURCE_DATE_EPOCH"


def creation_time() -> str:
    """The creation time to record, as ISO 8601 UTC to the second (``2024-05-01T12:00:00Z``).

    ``SOURCE_DATE_EPOCH`` (whole seconds since 1970-01-01 UTC), when set and not empty, replaces
    the clock so that repeated runs write the same bytes. A malformed value is refused rather than
    ignored, as the convention asks: a silently ignored value would break reproducibility unseen.
    """
    raw = os.environ.get(_EPOCH_VAR, "").strip()
    if raw:
        if not raw.isdigit():
            raise UsageError(f"{_EPOCH_VAR} must be a whole number of seconds since 1970-01-01 UTC "
                             f"(received {raw!r})")
        moment = _dt.datetime.fromtimestamp(int(raw), tz=_dt.timezone.utc)
    else:
        moment = _dt.datetime.now(tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(value: Any) -> Any:
    """JSON form of the numpy scalars/arrays and paths a caller may hand in (options often are)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def provenance_record(given: Mapping[str, Any] | None, blocks: object = None) -> dict[str, Any]:
    """The record a writer stores: the blocks' own provenance, then ``given``, then version and time.

    ``blocks`` may carry a ``provenance`` mapping (the iterators of :mod:`nuclassify.simulate` do),
    so ``write_minerva(path, simulate_minerva(...))`` records the seed and options without the
    caller repeating them; keys of ``given`` win over it. ``created`` is filled in unless given (a
    converter may carry an original time over); ``nuclassify_version`` is always the writer's.
    """
    record: dict[str, Any] = {}
    own = getattr(blocks, "provenance", None)
    for source, name in ((own, "blocks.provenance"), (given, "provenance")):
        if source is None:
            continue
        if not isinstance(source, Mapping):
            raise UsageError(f"{name} must be a mapping of names to values (received {type(source).__name__})")
        for key, value in source.items():
            if not isinstance(key, str):
                raise UsageError(f"{name} keys must be strings (received {key!r})")
            record[key] = value
    record.setdefault("created", creation_time())
    record["nuclassify_version"] = __version__
    return record


def encode_provenance(record: Mapping[str, Any]) -> str:
    """The attribute text: compact JSON with sorted keys, so equal records give equal bytes.

    Called before any event is written, so an unserialisable value fails at once, not after an
    hour of simulation.
    """
    try:
        return json.dumps(dict(record), sort_keys=True, separators=(",", ":"), allow_nan=False, default=_plain)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"provenance cannot be stored as JSON: {exc}") from exc


def write_provenance(h5: h5py.File, text: str) -> None:
    """Store encoded provenance on the file's root group."""
    h5.attrs[PROVENANCE_ATTR] = text


def read_provenance(h5: h5py.File, path: str | os.PathLike) -> dict[str, Any]:
    """The provenance record of an open file; ``{}`` when it has none (the experiments' files).

    Raises:
        DataFileError: if the attribute is there but is not a JSON object.
    """
    raw = h5.attrs.get(PROVENANCE_ATTR)
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        record = json.loads(str(raw))
    except ValueError as exc:
        raise DataFileError(path, f"attribute {PROVENANCE_ATTR} is not valid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise DataFileError(path, f"attribute {PROVENANCE_ATTR} is not a JSON object")
    return record
