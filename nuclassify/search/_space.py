"""The search space: which networks ``nuclassify evolve`` may propose, read from a JSON file.

The space is data a user copies and edits (``--space space.json``), not code, so its format is
plain: a value range is ``{"min": lo, "max": hi}`` (integers if both ends are, ``"log": true``
for a log-uniform draw), any list is a set of choices, and a lone value is fixed. Every part of
the file is checked here, once, so operators can trust it and a typo is one line naming the key.
Spaces for MINERvA, NOvA and generic images ship in ``spaces/``. The keys:

- ``views``: a view set, or a list of them (e.g. ``[["x", "u", "v"], ["x"]]``); ``combine``:
  ``columns`` and/or ``join``; ``tie_columns``: one layer list shared by every view's column;
  ``input_transform``: choices among ``none``, ``log1p``; ``inputs``: an input-shape preset for
  checks without data (``minerva2016``, ``nova``...).
- ``column`` and ``head``: ``{"layers": range, "kinds": {kind: weight}}``: how many layers, and
  the odds of each kind (conv, pool, batchnorm, dropout, dense, inception, globalpool).
- one section per layer kind with its genes: ``conv`` (filters, kernel_h, kernel_w, stride,
  padding, activation), ``pool`` (size_h, size_w, mode), ``dropout`` (rate), ``dense`` (units,
  activation), ``inception`` (branch: each branch's width).
- ``training``: optimizer, learning_rate, batch_size (l2, momentum optional).
- ``limits.max_params``: the parameter cap; ``limits.max_memory_gb``: the cap on a candidate's
  estimated training memory (:func:`training_memory_gb`: a network of few parameters can still
  hold gigabytes of activations at full image size and a large batch); ``mutation``:
  ``max_genes`` changed per child (default 1), and the weight of each operator (insert, remove, swap, layer,
  training, structure).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from nuclassify._fileio import read_json_file
from nuclassify.errors import SpecError, UsageError
from nuclassify.models import INPUT_PRESETS, INPUT_TRANSFORM_NAMES
from nuclassify.search._genes import VALUE_RULES, Choice, Range, check_values, parse_gene

__all__ = ["Range", "Choice", "Block", "SearchSpace", "load_space", "list_spaces", "LAYER_GENES", "MUTATION_OPS"]

# kind -> (required genes, optional genes with the fixed value used when the space omits them)
LAYER_GENES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "conv": (("filters", "kernel_h", "kernel_w"), {"stride": [1, 1], "padding": "valid", "activation": "relu"}),
    "pool": (("size_h", "size_w"), {"mode": "max"}),
    "dropout": (("rate",), {}),
    "dense": (("units",), {"activation": "relu"}),
    "inception": (("branch",), {}),
    "batchnorm": ((), {}),
    "globalpool": ((), {"mode": "avg"}),
}
MUTATION_OPS = {"insert": 1.0, "remove": 1.0, "swap": 0.5, "layer": 3.0, "training": 1.0, "structure": 0.3}
TRAINING_GENES = (("optimizer", "learning_rate", "batch_size"), ("l2", "momentum"))
TOP_KEYS = {"name", "description", "about", "inputs", "views", "combine", "tie_columns", "input_transform",
            "column", "head", "training", "limits", "mutation", *LAYER_GENES}


@dataclass(frozen=True)
class Block:
    """A column or the head: how many layers, and the relative odds of each layer kind."""

    layers: Range
    kinds: dict[str, float]


@dataclass(frozen=True)
class SearchSpace:
    """A checked search space. ``raw`` is the file's dict; ``digest`` identifies it on resume."""

    name: str
    raw: dict
    view_sets: Choice
    combine: Choice
    tie_columns: bool
    input_transform: Choice | None
    column: Block
    head: Block
    layer_genes: dict[str, dict[str, Range | Choice]]
    training: dict[str, Range | Choice]
    max_params: int | None
    max_genes: int
    ops: dict[str, float]
    inputs: str | None = None
    digest: str = field(default="")
    max_memory_gb: float | None = None
    source: str = ""  # where it was read: a shipped space's name or the file's path, for messages

    @property
    def label(self) -> str:
        """The space for messages: its name, and the file it came from when that says more."""
        return self.name if self.source in ("", self.name) else f"{self.name} ({self.source})"

    def check_inputs(self, input_shapes: dict[str, tuple[int, int, int]]) -> None:
        """Refuse, in one line, a space whose views the data lacks or cannot join."""
        for views in self.view_sets.values:
            missing = [v for v in views if v not in input_shapes]
            if missing:
                raise UsageError(f"search space {self.label}: view(s) {', '.join(missing)} are not in the data "
                                 f"(it has {', '.join(input_shapes) or 'none'})")
            if "join" in self.combine.values and len({input_shapes[v][2] for v in views}) > 1:
                raise UsageError(f"search space {self.label}: combine 'join' needs views {', '.join(views)} "
                                 "to have equal channel counts")


def _fail(where: str, problem: str) -> SpecError:
    return SpecError(f"{where}: {problem}")


def _allowed(values: tuple, options: tuple, where: str) -> None:
    bad = [v for v in values if v not in options]
    if bad:
        raise _fail(where, f"{bad[0]!r} is not one of {', '.join(map(str, options))}")


def _section(raw: dict, key: str, where: str, allowed: set[str]) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise _fail(f"{where}{key}", "must be an object")
    unknown = set(value) - allowed - {"about"}
    if unknown:
        raise _fail(f"{where}{key}",
                    f"unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(allowed))})")
    return value


def _block(raw: dict, key: str, where: str) -> Block:
    sec = _section(raw, key, where, {"layers", "kinds"})
    if "layers" not in sec or "kinds" not in sec:
        raise _fail(f"{where}{key}", 'needs "layers" ({"min": n, "max": m}) and "kinds" ({kind: weight})')
    layers = parse_gene(sec["layers"], f"{where}{key}.layers")
    if not isinstance(layers, Range) or not layers.integer or layers.lo < 0:
        raise _fail(f"{where}{key}.layers", f'must be {{"min": int >= 0, "max": int}}; received {sec["layers"]!r}')
    kinds = sec["kinds"]
    if not isinstance(kinds, dict) or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in kinds.values()) or not any(
            w > 0 for w in kinds.values()):
        raise _fail(f"{where}{key}.kinds", f"must map layer kinds to weights >= 0, one > 0; received {kinds!r}")
    _allowed(tuple(kinds), tuple(LAYER_GENES), f"{where}{key}.kinds")
    for kind in kinds:
        if LAYER_GENES[kind][0] and kind not in raw:
            raise _fail(f"{where}{key}.kinds", f"uses {kind} layers but the space has no {kind!r} section")
    return Block(layers, {k: float(w) for k, w in kinds.items() if w > 0})


def _layer_genes(raw: dict, kind: str, where: str) -> dict[str, Range | Choice]:
    required, optional = LAYER_GENES[kind]
    sec = _section(raw, kind, where, set(required) | set(optional))
    missing = [k for k in required if k not in sec]
    if missing and kind in raw:
        raise _fail(f"{where}{kind}", f"missing gene(s) {', '.join(missing)}")
    genes = {k: parse_gene(sec[k], f"{where}{kind}.{k}") for k in sec if k != "about"}
    for k, fixed in optional.items():
        genes.setdefault(k, Choice((tuple(fixed) if isinstance(fixed, list) else fixed,)))
    for key, gene in genes.items():
        check_values(gene, f"{where}{kind}.{key}", *VALUE_RULES[key])
    return genes


def parse_space(raw: Any, source: str) -> SearchSpace:
    """Check a space dict (from ``source``, a name used in messages) and return it parsed."""
    where = f"search space {source}: "
    if not isinstance(raw, dict):
        raise SpecError(f"{where}must be a JSON object")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise SpecError(f"{where}unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(TOP_KEYS))})")
    for key in ("views", "column", "head", "training"):
        if key not in raw:
            raise SpecError(f"{where}missing {key!r}")
    views = raw["views"]
    view_sets = [views] if isinstance(views, list) and all(isinstance(v, str) for v in views) else views
    if not isinstance(view_sets, list) or not view_sets or not all(
            isinstance(s, list) and s and all(isinstance(v, str) for v in s) and len(set(s)) == len(s)
            for s in view_sets):
        raise _fail(f"{where}views", f"must be a list of view names, or a list of such lists; received {views!r}")
    combine = parse_gene(raw.get("combine", "columns"), f"{where}combine")
    _allowed(getattr(combine, "values", ()), ("columns", "join"), f"{where}combine")
    transform = parse_gene(raw["input_transform"], f"{where}input_transform") if "input_transform" in raw else None
    if transform is not None:
        _allowed(getattr(transform, "values", ()), INPUT_TRANSFORM_NAMES, f"{where}input_transform")
    column, head = _block(raw, "column", where), _block(raw, "head", where)
    layer_genes = {k: _layer_genes(raw, k, where) for k in LAYER_GENES if k in raw or not LAYER_GENES[k][0]}
    train = _section(raw, "training", where, set(TRAINING_GENES[0]) | set(TRAINING_GENES[1]))
    missing = [k for k in TRAINING_GENES[0] if k not in train]
    if missing:
        raise _fail(f"{where}training", f"missing gene(s) {', '.join(missing)}")
    training = {k: parse_gene(v, f"{where}training.{k}") for k, v in train.items() if k != "about"}
    for key, gene in training.items():
        check_values(gene, f"{where}training.{key}", *VALUE_RULES[key])
    limits = _section(raw, "limits", where, {"max_params", "max_memory_gb"})
    max_params = limits.get("max_params")
    if max_params is not None and (not isinstance(max_params, int) or isinstance(max_params, bool) or max_params < 1):
        raise _fail(f"{where}limits.max_params", f"must be a positive integer; received {max_params!r}")
    max_memory = limits.get("max_memory_gb")
    if max_memory is not None and (isinstance(max_memory, bool) or not isinstance(max_memory, (int, float))
                                   or max_memory <= 0):
        raise _fail(f"{where}limits.max_memory_gb", f"must be a positive number; received {max_memory!r}")
    mutation = _section(raw, "mutation", where, {"max_genes", "ops"})
    max_genes = mutation.get("max_genes", 1)  # one change per child, as in Real et al. (arXiv:1802.01548)
    if not isinstance(max_genes, int) or isinstance(max_genes, bool) or max_genes < 1:
        raise _fail(f"{where}mutation.max_genes", f"must be an integer >= 1; received {max_genes!r}")
    ops = mutation.get("ops", MUTATION_OPS)
    if not isinstance(ops, dict) or not all(isinstance(w, (int, float)) and w >= 0 for w in ops.values()) or not any(
            w > 0 for w in ops.values()):
        raise _fail(f"{where}mutation.ops", f"must map operators to weights >= 0, one at least > 0; received {ops!r}")
    _allowed(tuple(ops), tuple(MUTATION_OPS), f"{where}mutation.ops")
    inputs = raw.get("inputs")
    if inputs is not None and inputs not in INPUT_PRESETS:
        raise _fail(f"{where}inputs", f"must be one of {', '.join(INPUT_PRESETS)}; received {inputs!r}")
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16]
    return SearchSpace(str(raw.get("name", source)), raw, Choice(tuple(tuple(s) for s in view_sets)), combine,
                       bool(raw.get("tie_columns", False)), transform, column, head, layer_genes, training,
                       max_params, max_genes, {k: float(w) for k, w in ops.items() if w > 0}, inputs, digest,
                       None if max_memory is None else float(max_memory), source)


def _space_dir() -> Path:
    return Path(str(resources.files("nuclassify.search") / "spaces"))


def list_spaces() -> list[str]:
    """Names of the spaces shipped with the package, sorted."""
    return sorted(p.stem for p in _space_dir().glob("*.json"))


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A space by package name (``"minerva"``) or from a JSON file, checked.

    Raises:
        UsageError: neither a file nor a shipped name.
        SpecError: unreadable file, bad JSON, or an invalid space (one line naming the key).
    """
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".json") or path.exists()):
        if text not in list_spaces():
            raise UsageError(f"unknown search space {text!r}: not a file, and not one of {', '.join(list_spaces())}")
        path = _space_dir() / f"{text}.json"
    raw = read_json_file(path, "search-space")
    if isinstance(raw, dict):
        raw.setdefault("name", path.stem)
    return parse_space(raw, str(path) if path.parent != _space_dir() else path.stem)
