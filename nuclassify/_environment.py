"""Environment variables settled before any heavy import reads them."""

from __future__ import annotations

import os

from nuclassify.errors import UsageError

__all__ = ["SOURCE_DATE_EPOCH", "check_source_date_epoch"]

SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


def check_source_date_epoch() -> None:
    """Settle ``SOURCE_DATE_EPOCH`` before anything reads it: an empty value is removed (it counts as
    unset), a malformed one is refused.

    Why here and early: importing SciPy runs numpy's f2py, which reads the variable itself with a
    bare ``int()``, so an empty or fractional value otherwise ends a command with numpy's
    ValueError before ``nuclassify.data._provenance.creation_time`` can say what is wrong.
    """
    raw = os.environ.get(SOURCE_DATE_EPOCH)
    if raw is None:
        return
    if not raw.strip():
        del os.environ[SOURCE_DATE_EPOCH]
        return
    if not raw.strip().isdigit():
        raise UsageError(f"{SOURCE_DATE_EPOCH} must be a whole number of seconds since 1970-01-01 UTC "
                         f"(received {raw!r})")
