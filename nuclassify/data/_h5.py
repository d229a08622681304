"""Opening HDF5 files with one clear line for every way a file can be unreadable."""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from nuclassify.errors import DataFileError

__all__ = ["open_h5", "HDF5_SIGNATURE", "read_error"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# The superblock may sit after a user block of 512, 1024, 2048, ... bytes.
_SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
# A generous chunk cache: a window read touches a few compressed chunks per dataset many times.
_CACHE_BYTES = 32 << 20


def _has_signature(path: Path, size: int) -> bool:
    with open(path, "rb") as fh:
        for offset in _SIGNATURE_OFFSETS:
            if offset + len(HDF5_SIGNATURE) > size:
                break
            fh.seek(offset)
            if fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open ``path`` read-only, raising :class:`DataFileError` (one line) if it cannot be an HDF5 file."""
    p = Path(path)
    if not p.exists():
        raise DataFileError(path, "no such file")
    if p.is_dir():
        raise DataFileError(path, "is a directory, expected an HDF5 file")
    if not p.is_file():  # a pipe or a device: HDF5 needs to seek, and its size says nothing
        raise DataFileError(path, "not a regular file (a pipe or device), expected an HDF5 file")
    try:
        size = p.stat().st_size
        if size == 0:
            raise DataFileError(path, "empty file (0 bytes)")
        if not _has_signature(p, size):
            raise DataFileError(path, "not an HDF5 file (no HDF5 signature)")
    except PermissionError as exc:
        raise DataFileError(path, f"cannot read file ({_first_line(exc)})") from exc
    try:
        return h5py.File(p, "r", rdcc_nbytes=_CACHE_BYTES, rdcc_nslots=10007)
    except OSError as exc:
        raise DataFileError(path, f"truncated or corrupt HDF5 file ({_first_line(exc)})") from exc


def read_error(path: str | os.PathLike, what: str, exc: BaseException) -> DataFileError:
    """The error for a dataset that opened but whose data cannot be read (corrupt chunk, truncation)."""
    return DataFileError(path, f"cannot read {what}: corrupt or truncated data ({_first_line(exc)})")
