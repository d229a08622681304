"""Event containers: the hit lists that the simulator produces and the project's files store.

A public home shared by ``simulate`` (which fills them) and ``data`` (which writes and reads
them), so neither imports the other's private modules.

Detector images are about 2% occupied, so a block of events is kept as, per view, the flat
pixel index and the channel values of each hit, with per-event offsets. This is both the
simulator's output (no dense array is ever built there) and the on-disk form of the project's
own files; the reader densifies batches on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nuclassify.errors import UsageError

__all__ = ["SparseImages", "MinervaBlock", "NovaBlock"]


@dataclass
class SparseImages:
    """Hits of one view for a block of events, in event order.

    Attributes:
        shape: the dense per-event image shape, channels first: (C, rows, cols).
        offsets: int64 (n_events + 1,); event i's hits are ``offsets[i]:offsets[i+1]``.
        pixel: int32 (n_hits,); flat index ``row * cols + col`` (unique within an event).
        values: float32 (n_hits, C); channel values of each hit (energy, time, ...).
    """

    shape: tuple[int, int, int]
    offsets: np.ndarray
    pixel: np.ndarray
    values: np.ndarray

    @property
    def n_events(self) -> int:
        return int(len(self.offsets) - 1)

    @classmethod
    def from_dense(cls, images: np.ndarray) -> SparseImages:
        """Build from dense channels-first images (N, C, rows, cols); a hit is any non-zero pixel."""
        images = np.asarray(images, dtype=np.float32)
        n, c, rows, cols = images.shape
        flat = images.reshape(n, c, rows * cols)
        occupied = np.any(flat != 0, axis=1)  # (N, rows*cols)
        event, pixel = np.nonzero(occupied)
        values = flat[event, :, pixel]  # (n_hits, C)
        counts = np.bincount(event, minlength=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return cls((c, rows, cols), offsets, pixel.astype(np.int32), values.astype(np.float32))

    def to_dense(self, channels_last: bool = True) -> np.ndarray:
        """Dense float32 images, (N, rows, cols, C) if ``channels_last`` else (N, C, rows, cols)."""
        c, rows, cols = self.shape
        n = self.n_events
        event = np.repeat(np.arange(n), np.diff(self.offsets))
        if channels_last:
            out = np.zeros((n, rows * cols, c), dtype=np.float32)
            out[event, self.pixel] = self.values
            return out.reshape(n, rows, cols, c)
        out = np.zeros((n, c, rows * cols), dtype=np.float32)
        out[event, :, self.pixel] = self.values
        return out.reshape(n, c, rows, cols)

    @staticmethod
    def concatenate(parts: list[SparseImages]) -> SparseImages:
        """Join blocks of the same view end to end.

        Raises:
            UsageError: for no parts, or parts of different image shapes (the caller's input,
                so the package's one-line kind rather than a bare ValueError).
        """
        if not parts:
            raise UsageError("cannot join an empty list of views (nothing gives the image shape)")
        shape = parts[0].shape
        offsets = [np.zeros(1, dtype=np.int64)]
        base = 0
        for part in parts:
            if part.shape != shape:
                raise UsageError(f"cannot join views of shapes {shape} and {part.shape}")
            offsets.append(part.offsets[1:] + base)
            base += int(part.offsets[-1])
        return SparseImages(shape, np.concatenate(offsets),
                            np.concatenate([p.pixel for p in parts]),
                            np.concatenate([p.values for p in parts]))


@dataclass
class MinervaBlock:
    """A block of simulated (or converted) MINERvA events, ready for the writer.

    ``views`` maps "x", "u", "v" to their hits. ``truth`` maps an HDF5 group name
    ("gen_data", "hadro_data", "lepto_data", "vtx_data") to named per-event arrays that are
    written there in addition to the layout's required datasets.
    """

    views: dict[str, SparseImages]
    segments: np.ndarray  # uint8 (N,)
    planecodes: np.ndarray  # uint16 (N,)
    zs: np.ndarray  # float32 (N,), mm
    eventids: np.ndarray  # uint64 (N,)
    truth: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        return int(len(self.segments))


@dataclass
class NovaBlock:
    """A block of NOvA events: pixel maps (N, 16000) uint8 = (2 views, 100 planes, 80 cells)."""

    cvnmap: np.ndarray  # uint8 (N, 16000)
    interaction: np.ndarray  # int (N,) codes 0-15 (data/README.md; DUNE/dunereco CVN/func/InteractionType.h)
    truth: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        return int(len(self.interaction))
