"""Streaming pixel validation: every pixel finite, every hit inside its image.

The same checks run while reading batches (a bad pixel stops training with the file and event
named); this function runs them over a file, or its first ``max_events``, without densifying.
"""

from __future__ import annotations

import numpy as np

from nuclassify.data._reader import Dataset

__all__ = ["validate_pixels"]

_WINDOW = 4096


def validate_pixels(dataset: Dataset, max_events: int | None = None) -> int:
    """Check the pixels of the first ``max_events`` events (all if None); return how many were checked.

    Raises:
        DataFileError: at the first NaN or infinite pixel (or sparse hit outside its image),
            naming the file, the event and the view.
    """
    n = dataset.n_events if max_events is None else max(0, min(int(max_events), dataset.n_events))
    window = _WINDOW if dataset.sparse else max(1, dataset.window_size(1) // 4)
    for start in range(0, n, window):
        events = np.arange(start, min(n, start + window), dtype=np.int64)
        for source in dataset._sources:  # load() runs the checks; nothing is densified
            source.load(events)
    return n
