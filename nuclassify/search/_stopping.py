"""Early stopping of poor candidates: the median rule, split between the master and the workers.

Why split: the rule compares one candidate's learning curve with those of the candidates that
already finished, which only the master knows. So the master keeps the curves
(:class:`MedianTracker`, fed with each finished candidate's per-epoch ``val_accuracy_e<k>``
numbers) and hands the current per-epoch medians to each new candidate in its task options;
the worker applies them with a Keras callback inside the one ``fit`` call
(:func:`make_median_callback`), never with a second training loop.

The rule (Golovin et al., "Google Vizier", KDD 2017, simplified to the value at each epoch): a
candidate whose ``val_accuracy`` after epoch ``e`` is below the median of the finished
candidates' ``val_accuracy`` after epoch ``e`` stops there. Medians are given only for epochs
that at least ``min_curves`` finished candidates reached, and the last epoch is never cut (it
would end anyway), so the first candidates of a search always train in full.

Nothing here imports Keras at module level.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["EARLY_STOP_RULES", "CURVE_PREFIX", "curve_key", "curve_of", "MedianRule", "MedianTracker",
           "make_median_callback"]

EARLY_STOP_RULES = ("none", "median")
CURVE_PREFIX = "val_accuracy_e"
_CURVE_KEY = re.compile(rf"^{CURVE_PREFIX}(\d+)$")


def curve_key(epoch: int) -> str:
    """The result column of ``val_accuracy`` after epoch ``epoch`` (counted from 1)."""
    return f"{CURVE_PREFIX}{epoch}"


def curve_of(values: Mapping[str, float]) -> dict[int, float]:
    """A candidate's learning curve (epoch from 1 -> val_accuracy) from its reported numbers."""
    out = {}
    for key, value in values.items():
        match = _CURVE_KEY.match(key)
        if match and isinstance(value, (int, float)) and math.isfinite(value):
            out[int(match.group(1))] = float(value)
    return out


class MedianRule:
    """The worker's side: stop after epoch ``e`` when ``val_accuracy`` is below ``medians[e]``.

    Args:
        medians: epoch (from 1) -> median ``val_accuracy`` of the finished candidates there;
            JSON object keys (strings) are accepted, as they arrive in task options.
        epochs: the candidate's total epochs; the last one is never cut.
    """

    def __init__(self, medians: Mapping[Any, float], epochs: int) -> None:
        self.medians = {int(e): float(m) for e, m in medians.items()}
        self.epochs = int(epochs)

    def should_stop(self, epoch: int, value: float | None) -> bool:
        """Whether a candidate with ``value`` after epoch ``epoch`` (from 1) stops there."""
        if epoch >= self.epochs or epoch not in self.medians or value is None:
            return False
        return not math.isfinite(value) or value < self.medians[epoch]


class MedianTracker:
    """The master's side: the finished candidates' curves and their per-epoch medians.

    Medians are recomputed only when curves were added, and with many curves at most once every
    ``refresh_s`` seconds: slightly stale medians do no harm, and a master that takes in a
    thousand results a second must not sort every curve for every new candidate.

    Args:
        min_curves: an epoch gets a median only once this many finished candidates reached it.
        refresh_s: least seconds between recomputations once there are over 1,000 curves.
    """

    def __init__(self, min_curves: int = 3, refresh_s: float = 1.0) -> None:
        self.min_curves = max(1, int(min_curves))
        self.refresh_s = refresh_s
        self._curves: dict[int, dict[int, float]] = {}
        self._cached: dict[str, float] = {}
        self._dirty, self._computed = False, -math.inf

    def add(self, candidate_id: int, values: Mapping[str, float]) -> None:
        """Record a finished candidate's numbers (a candidate recorded twice counts once)."""
        curve = curve_of(values)
        if curve:
            self._curves[int(candidate_id)] = curve
            self._dirty = True

    def extend(self, results: Iterable[tuple[int, Mapping[str, float]]]) -> None:
        for cid, values in results:
            self.add(cid, values)

    def medians(self) -> dict[str, float]:
        """Epoch (as a string, for JSON) -> median val_accuracy, for epochs with enough curves."""
        now = time.monotonic()
        if self._dirty and (len(self._curves) <= 1000 or now - self._computed >= self.refresh_s):
            self._cached, self._dirty, self._computed = self._compute(), False, now
        return dict(self._cached)

    def _compute(self) -> dict[str, float]:
        by_epoch: dict[int, list[float]] = {}
        for curve in self._curves.values():
            for epoch, value in curve.items():
                by_epoch.setdefault(epoch, []).append(value)
        return {str(e): round(float(np.median(v)), 6) for e, v in sorted(by_epoch.items())
                if len(v) >= self.min_curves}


def make_median_callback(rule: MedianRule, monitor: str = "val_accuracy") -> Any:
    """A Keras callback that applies ``rule`` at each epoch end; ``stopped_epoch`` (from 1, 0 if
    never) says where it stopped. Keras is imported here, in the worker, only."""
    import keras

    class MedianStopping(keras.callbacks.Callback):
        """Stops ``fit`` after an epoch whose ``val_accuracy`` is below the finished candidates' median."""

        def __init__(self) -> None:
            super().__init__()
            self.rule = rule
            self.stopped_epoch = 0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            value = (logs or {}).get(monitor)
            done = epoch + 1
            if self.rule.should_stop(done, None if value is None else float(value)):
                self.stopped_epoch = done
                self.model.stop_training = True

    return MedianStopping()
