"""Domain-adversarial training (``train --domain-adapt``): the unlabelled feed and the two-head loss.

MINERvA trained its vertex finder on simulation and adapted it to detector data with a domain
classifier behind a gradient-reversal layer (Perdue et al., "Reducing model bias in a deep
learning classifier using domain adversarial neural networks in the MINERvA experiment", JINST 13
(2018) P11020, arXiv 1808.08332; the method is Ganin et al., arXiv 1505.07818). Here that is

- in ``models``: the spec key ``domain_head`` and the ``GradientReversal`` layer (a second
  output ``"domain"``, one logit, built only for training);
- here: every training step gets one batch of labelled source events (domain 0) *and* one batch
  of the unlabelled target file (domain 1), concatenated. The class loss of the target events is
  masked by a sample weight of 0; the source events weigh ``(source + target) / source`` so that
  the class loss stays the mean over the source events (Keras divides by the whole batch) and
  reads as it does without adaptation. The domain loss covers every event.

Batch ``p`` (counted over all epochs) of the target stream is a pure function of ``p``, as the
source feed's batches are (``_feed``), so a resumed run draws the same target batches it would
have drawn without the interruption. Validation stays on source events only, with the domain
loss weighted 0: ``val_loss`` is the class loss, as without adaptation.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from nuclassify.errors import UsageError

__all__ = ["DomainStream", "check_domain_file", "with_domain_head", "compile_args", "paired_item", "valid_item",
           "rename_logs_callback", "domain_conflicts", "DOMAIN_DATA_ROLE"]

DOMAIN_DATA_ROLE = "domain"
"""run.json ``data`` key of the unlabelled file (digest and provenance, as for ``train``)."""


class DomainStream:
    """The unlabelled target file as an endless stream of shuffled batches (views only).

    ``batch(p)``-wise purity: :meth:`from_position` starts at global batch ``p`` (epoch ``p // n``,
    batch ``p % n`` of the target file's own epochs of ``n`` batches), whatever the source file's
    epoch length is.
    """

    def __init__(self, ds: Any, indices: np.ndarray, batch_size: int, views: list[str], seed: int) -> None:
        self.ds = ds
        self.indices = indices
        self.batch_size = int(batch_size)
        self.views = list(views)
        self.seed = seed
        self.n_steps = math.ceil(len(indices) / self.batch_size)
        self._pick = [list(ds.view_names).index(v) for v in self.views]

    def _epoch(self, epoch: int, start: int) -> Iterator[dict]:
        it = self.ds.batches(self.batch_size, indices=self.indices, shuffle=True, seed=self.seed + 7919,
                             epoch=epoch, with_labels=False)
        for xs, _ in itertools.islice(it, start, None):
            yield {v: xs[k] for v, k in zip(self.views, self._pick, strict=True)}

    def from_position(self, position: int) -> Iterator[dict]:
        """Target batches from global batch ``position`` on, forever."""
        epoch, start = divmod(int(position), self.n_steps)
        yield from self._epoch(epoch, start)
        for later in itertools.count(epoch + 1):
            yield from self._epoch(later, 0)


def check_domain_file(train_ds: Any, domain_ds: Any) -> None:
    """Refuse an unlabelled file of another detector, layout or views than the training file's (one line)."""
    problem = None
    if domain_ds.layout != train_ds.layout:
        problem = f"layout {domain_ds.layout}, the training file {train_ds.path} is {train_ds.layout}"
    elif tuple(domain_ds.view_names) != tuple(train_ds.view_names) or domain_ds.view_shapes != train_ds.view_shapes:
        problem = f"views {domain_ds.view_shapes} differ from the training file's {train_ds.view_shapes}"
    if problem:
        raise UsageError(f"--domain-adapt {domain_ds.path}: not the training data's detector/layout: {problem}")


def with_domain_head(spec: dict, weight: float | None, ramp: bool | None = None) -> dict:
    """The spec with its ``domain_head`` (MINERvA's 1024-1024 and 0.1 unless it has one), options applied.

    The result is what spec.json records, so a resume with another weight is refused as a spec change.
    """
    from nuclassify.models._spec import DEFAULT_DOMAIN_HEAD

    head = {**DEFAULT_DOMAIN_HEAD, **spec.get("domain_head", {})}
    if weight is not None:
        head["weight"] = float(weight)
    if ramp is not None:
        head["ramp"] = bool(ramp)
    return {**spec, "domain_head": head}


def compile_args(spec: dict) -> dict:
    """``model.compile`` keywords for the two-output model: losses, their weights, the class accuracy.

    The accuracy is a *weighted* metric, so the masked target events do not count in it.
    """
    import keras

    from nuclassify.models._build import DOMAIN_OUTPUT

    return {"loss": {"output": "sparse_categorical_crossentropy",
                     DOMAIN_OUTPUT: keras.losses.BinaryCrossentropy(from_logits=True)},
            "loss_weights": {"output": 1.0, DOMAIN_OUTPUT: float(spec["domain_head"]["weight"])},
            "weighted_metrics": {"output": ["accuracy"]}}


def paired_item(x: dict, y: np.ndarray, target_x: dict, class_weight: np.ndarray | None) -> tuple:
    """One training step's (inputs, (labels, domain), (class weights, domain weights)): source, then target.

    Tuples, not lists: TensorFlow's dataset adapter takes a list for a tensor, not a structure.
    """
    ns = len(y)
    nt = len(next(iter(target_x.values())))
    merged = {v: np.concatenate([x[v], target_x[v]]) for v in x}
    labels = np.concatenate([y, np.zeros(nt, dtype=y.dtype)])
    domain = np.concatenate([np.zeros(ns, np.float32), np.ones(nt, np.float32)])[:, None]
    w_source = class_weight[y] if class_weight is not None else np.ones(ns, np.float32)
    w_class = np.concatenate([w_source * ((ns + nt) / ns), np.zeros(nt, np.float32)]).astype(np.float32)
    return merged, (labels, domain), (w_class, np.ones(ns + nt, np.float32))


def valid_item(x: dict, y: np.ndarray) -> tuple:
    """A validation batch for the two-output model: source labels, domain loss weighted 0."""
    n = len(y)
    return x, (y, np.zeros((n, 1), np.float32)), (np.ones(n, np.float32), np.zeros(n, np.float32))


_RENAMES = {"output_accuracy": "accuracy", "val_output_accuracy": "val_accuracy",
            "output_loss": "class_loss", "val_output_loss": "val_class_loss"}


def rename_logs_callback() -> Any:
    """A Keras callback that gives the two-output model's logs the one-output names (first in the list).

    Keras prefixes a multi-output model's metrics with the output name (``output_accuracy``);
    history.csv, run.json, the progress lines and ``train``'s summary read ``accuracy``. Keras
    hands every callback the same logs dict, so renaming in the first callback renames for all.
    """
    import keras

    def rename(logs: dict | None) -> None:
        for old, new in _RENAMES.items():
            if logs is not None and old in logs:
                logs[new] = logs.pop(old)

    class _Rename(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            rename(logs)

        def on_test_end(self, logs: dict | None = None) -> None:
            rename(logs)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            rename(logs)

    return _Rename()


def domain_conflicts(old: dict, new: dict) -> list[str]:
    """What differs in the unlabelled feed between a run.json and its resumption (empty: nothing)."""
    a = (old.get("data") or {}).get(DOMAIN_DATA_ROLE) or {}
    b = (new.get("data") or {}).get(DOMAIN_DATA_ROLE) or {}
    if a.get("sha256") != b.get("sha256"):
        return [f"--domain-adapt data differs (run: {a.get('path')}, now: {b.get('path')})"]
    return []
