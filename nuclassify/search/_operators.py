"""Mutation and crossover on genomes (architecture spec dicts), driven by one random generator.

Operators are blind to input shapes but keep a block buildable by construction where that is
cheap (image layers go before dense ones, swaps stay within one kind of layer); whatever no
longer fits is repaired or rejected by the genome factory. Each function copies its input.

Mutation ops (weights in the space's ``mutation.ops``):

- ``insert``/``remove``: a layer in a column or the head, within the space's layer-count bounds;
- ``swap``: two neighbouring layers of the same sort (image layers, or dense/dropout);
- ``layer``: one gene of one layer (kernel height, filters, stride, activation, units, rate...);
- ``training``: optimizer, learning rate, batch size (and l2 or momentum if the space has them);
- ``structure``: the view set, how views combine (columns or join), the input transform.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nuclassify.search._genome import (
    INCEPTION_KEYS,
    JOINED,
    clone,
    get_gene,
    is_flat_kind,
    is_image_kind,
    layer_genes,
    random_layer,
    set_gene,
    weighted_choice,
)
from nuclassify.search._repair import SPATIAL_KINDS
from nuclassify.search._space import Block, SearchSpace

__all__ = ["mutate", "crossover"]

HEAD = "head"


def _blocks(genome: dict, space: SearchSpace) -> list[str]:
    """Names of the blocks an operator may edit: tied columns count once."""
    columns = list(genome["columns"])
    if genome.get("combine", "columns") == "columns" and space.tie_columns:
        columns = columns[:1]
    return columns + [HEAD]


def _layers(genome: dict, name: str) -> list[dict]:
    return genome[HEAD] if name == HEAD else genome["columns"][name]


def _bounds(space: SearchSpace, name: str) -> Block:
    return space.head if name == HEAD else space.column


def _where(name: str) -> str:
    return HEAD if name == HEAD else f"column {name}"


def _tie(genome: dict, space: SearchSpace) -> None:
    columns = genome["columns"]
    if genome.get("combine", "columns") == "columns" and space.tie_columns and len(columns) > 1:
        first = next(iter(columns.values()))
        for name in list(columns)[1:]:
            columns[name] = clone(first)


def _insert(genome: dict, space: SearchSpace, rng: np.random.Generator) -> str | None:
    blocks = _blocks(genome, space)
    name = blocks[int(rng.integers(len(blocks)))]
    layers, bounds = _layers(genome, name), _bounds(space, name)
    if len(layers) >= bounds.layers.hi:
        return None
    kind = weighted_choice(bounds.kinds, rng)
    first_flat = next((i for i, lay in enumerate(layers) if is_flat_kind(lay["kind"])), len(layers))
    last_image = max((i for i, lay in enumerate(layers) if lay["kind"] in SPATIAL_KINDS), default=-1)
    if is_image_kind(kind):
        lo, hi = 0, first_flat
    elif kind == "globalpool":
        if any(lay["kind"] in ("globalpool", "flatten") for lay in layers):
            return None
        lo = hi = first_flat
    elif kind == "dense":
        lo, hi = last_image + 1, len(layers)
    else:
        lo, hi = 0, len(layers)
    pos = int(rng.integers(lo, hi + 1))
    layers.insert(pos, random_layer(kind, space, rng))
    return f"insert {kind} at {_where(name)} layer {pos + 1}"


def _remove(genome: dict, space: SearchSpace, rng: np.random.Generator) -> str | None:
    blocks = _blocks(genome, space)
    name = blocks[int(rng.integers(len(blocks)))]
    layers = _layers(genome, name)
    if len(layers) <= _bounds(space, name).layers.lo or not layers:
        return None
    pos = int(rng.integers(len(layers)))
    kind = layers.pop(pos)["kind"]
    return f"remove {kind} at {_where(name)} layer {pos + 1}"


def _same_sort(a: dict, b: dict) -> bool:
    image = {"dropout"} | (SPATIAL_KINDS - {"globalpool"})
    flat = {"dropout", "dense"}
    return a != b and ((a["kind"] in image and b["kind"] in image) or (a["kind"] in flat and b["kind"] in flat))


def _swap(genome: dict, space: SearchSpace, rng: np.random.Generator) -> str | None:
    pairs = [(name, i) for name in _blocks(genome, space)
             for i, lay in enumerate(_layers(genome, name)[:-1]) if _same_sort(lay, _layers(genome, name)[i + 1])]
    if not pairs:
        return None
    name, i = pairs[int(rng.integers(len(pairs)))]
    layers = _layers(genome, name)
    layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return f"swap {_where(name)} layers {i + 1} and {i + 2}"


def _change_layer(genome: dict, space: SearchSpace, rng: np.random.Generator) -> str | None:
    genes = [(name, i, gene) for name in _blocks(genome, space)
             for i, lay in enumerate(_layers(genome, name)) for gene in layer_genes(lay, space)]
    if not genes:
        return None
    name, i, gene = genes[int(rng.integers(len(genes)))]
    layer = _layers(genome, name)[i]
    branch = INCEPTION_KEYS[int(rng.integers(len(INCEPTION_KEYS)))] if gene == "branch" else "b3"
    old = get_gene(layer, gene, branch)
    new = space.layer_genes[layer["kind"]][gene].perturb(old, rng)
    set_gene(layer, gene, new, branch)
    label = branch if gene == "branch" else gene
    return f"{_where(name)} layer {i + 1} {layer['kind']} {label} {old}->{new}"


def _change_training(genome: dict, space: SearchSpace, rng: np.random.Generator) -> str | None:
    keys = [k for k, gene in space.training.items() if gene.variable]
    if not keys:
        return None
    key = keys[int(rng.integers(len(keys)))]
    training = genome.setdefault("training", {})
    gene = space.training[key]
    old = training.get(key)
    training[key] = gene.sample(rng) if old is None else gene.perturb(old, rng)
    return f"training {key} {old}->{training[key]}"


def _change_structure(genome: dict, space: SearchSpace, rng: np.random.Generator) -> str | None:
    genes = [g for g, choice in (("views", space.view_sets), ("combine", space.combine),
                                 ("input_transform", space.input_transform)) if choice is not None and choice.variable]
    if not genes:
        return None
    gene = genes[int(rng.integers(len(genes)))]
    columns = genome["columns"]
    first = next(iter(columns.values()))
    if gene == "views":
        old, new = genome["views"], space.view_sets.perturb(genome["views"], rng)
        genome["views"] = new
        if genome.get("combine", "columns") == "columns":
            genome["columns"] = {v: columns[v] if v in columns else clone(first) for v in new}
    elif gene == "combine":
        old = genome.get("combine", "columns")
        new = space.combine.perturb(old, rng)
        genome["combine"] = new
        names = [JOINED] if new == "join" else genome["views"]
        genome["columns"] = {name: clone(first) for name in names}
    else:
        old = genome.get("input_transform", "none")
        new = space.input_transform.perturb(old, rng)  # type: ignore[union-attr]
        genome["input_transform"] = new
    return f"{gene} {old}->{new}"


OPS: dict[str, Callable[[dict, SearchSpace, np.random.Generator], str | None]] = {
    "insert": _insert, "remove": _remove, "swap": _swap, "layer": _change_layer,
    "training": _change_training, "structure": _change_structure,
}


def mutate(genome: dict, space: SearchSpace, rng: np.random.Generator) -> tuple[dict, list[str]]:
    """A copy of ``genome`` with 1..``max_genes`` genes changed, and what was changed."""
    child = clone(genome)
    changes: list[str] = []
    for _ in range(int(rng.integers(1, space.max_genes + 1))):
        for _try in range(8):
            change = OPS[weighted_choice(space.ops, rng)](child, space, rng)
            if change:
                changes.append(change)
                break
    _tie(child, space)
    return child, changes


def _cross_layers(x: list[dict], y: list[dict], bounds: Block, rng: np.random.Generator) -> list[dict]:
    """One-point crossover of two layer lists: ``x[:i] + y[j:]``, within the layer-count bounds.

    If ``x[:i]`` already flattened, ``j`` starts after ``y``'s last image layer, so the child
    never puts a conv after a dense layer.
    """
    for _ in range(6):
        i = int(rng.integers(len(x) + 1))
        j_lo = 0
        if any(is_flat_kind(lay["kind"]) for lay in x[:i]):
            j_lo = max((k for k, lay in enumerate(y) if lay["kind"] in SPATIAL_KINDS), default=-1) + 1
        j = int(rng.integers(j_lo, len(y) + 1))
        child = x[:i] + y[j:]
        if bounds.layers.lo <= len(child) <= bounds.layers.hi:
            return clone(child)
    return clone(x)


def crossover(a: dict, b: dict, space: SearchSpace, rng: np.random.Generator) -> dict | None:
    """Layer-wise crossover of two genomes with the same views and combine; else ``None``.

    Each column (once, if tied or joined) and the head is cut once in each parent; every
    training gene comes from either parent with equal odds.
    """
    if a["views"] != b["views"] or a.get("combine", "columns") != b.get("combine", "columns"):
        return None
    child = clone(a)
    for name in _blocks(a, space):
        child_layers = _cross_layers(_layers(a, name), _layers(b, name), _bounds(space, name), rng)
        if name == HEAD:
            child[HEAD] = child_layers
        else:
            child["columns"][name] = child_layers
    ta, tb = a.get("training", {}), b.get("training", {})
    child["training"] = {k: clone((ta if (k in ta and (k not in tb or rng.random() < 0.5)) else tb)[k])
                         for k in list(ta) + [k for k in tb if k not in ta]}
    _tie(child, space)
    return child
