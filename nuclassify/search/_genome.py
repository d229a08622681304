"""Genomes drawn at random from a space, and the gene accessors the operators share.

A genome is an architecture spec (the JSON ``train --arch`` takes) without ``name`` and
``description``, which the loop adds per candidate. Nothing here checks shapes: the factory
repairs and walks every genome before it leaves the master.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nuclassify.search._repair import FLATTENING_KINDS, SPATIAL_KINDS
from nuclassify.search._space import Block, SearchSpace

__all__ = ["random_genome", "random_block", "random_layer", "genome_from_spec", "layer_genes", "get_gene",
           "set_gene", "weighted_choice", "clone", "is_flat_kind", "is_image_kind", "JOINED", "INCEPTION_KEYS"]

JOINED = "joined"  # the one column's name with combine "join"
INCEPTION_KEYS = ("b1", "b3r", "b3", "b5r", "b5", "bp")
_PAIRS = {"kernel_h": ("kernel", 0), "kernel_w": ("kernel", 1), "size_h": ("size", 0), "size_w": ("size", 1)}
_DEFAULTS = {"stride": [1, 1], "padding": "valid", "activation": "relu", "mode": "max"}


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars); several times faster than ``copy.deepcopy``.

    Layers (flat dicts whose lists hold numbers) take a short cut: the master clones a genome
    for every child, so this is on the path that bounds its results per second.
    """
    if isinstance(value, dict):
        if "kind" in value:
            return {k: v[:] if type(v) is list else v for k, v in value.items()}
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def weighted_choice(weights: dict[str, float], rng: np.random.Generator) -> str:
    """A key of ``weights`` drawn with probability proportional to its weight (one uniform draw)."""
    x = rng.random() * sum(weights.values())
    for name, weight in weights.items():
        x -= weight
        if x < 0:
            return name
    return name  # rounding left x at 0: the last key


def random_layer(kind: str, space: SearchSpace, rng: np.random.Generator) -> dict:
    """One layer of ``kind`` with every gene drawn from the space."""
    genes = space.layer_genes[kind]
    layer: dict[str, Any] = {"kind": kind}
    if kind == "conv":
        layer.update(filters=genes["filters"].sample(rng),
                     kernel=[genes["kernel_h"].sample(rng), genes["kernel_w"].sample(rng)],
                     stride=genes["stride"].sample(rng), padding=genes["padding"].sample(rng),
                     activation=genes["activation"].sample(rng))
    elif kind == "pool":
        layer.update(size=[genes["size_h"].sample(rng), genes["size_w"].sample(rng)], mode=genes["mode"].sample(rng))
    elif kind == "dropout":
        layer["rate"] = genes["rate"].sample(rng)
    elif kind == "dense":
        layer.update(units=genes["units"].sample(rng), activation=genes["activation"].sample(rng))
    elif kind == "inception":
        layer.update({k: genes["branch"].sample(rng) for k in INCEPTION_KEYS})
    elif kind == "globalpool":
        layer["mode"] = genes["mode"].sample(rng) if genes["mode"].variable else "avg"  # type: ignore[union-attr]
    return layer


def _rank(kind: str) -> int:
    """Order within a block: image layers, then the global pool, then dense layers."""
    return 2 if kind in ("dense", "flatten") else 1 if kind == "globalpool" else 0


def random_block(block: Block, space: SearchSpace, rng: np.random.Generator) -> list[dict]:
    """A column or head: a random number of layers, kinds drawn by weight, in a buildable order.

    Image layers come before flattening ones; a dropout keeps the place of the layer drawn
    before it; at most one global pool.
    """
    n = block.layers.sample(rng)
    kinds = [weighted_choice(block.kinds, rng) for _ in range(n)]
    ranked, rank = [], 0
    for i, kind in enumerate(kinds):
        rank = rank if kind == "dropout" else _rank(kind)
        ranked.append((rank, i, kind))
    ordered = [k for _, _, k in sorted(ranked)]
    if ordered.count("globalpool") > 1:
        first = ordered.index("globalpool")
        ordered = [k for i, k in enumerate(ordered) if k != "globalpool" or i == first]
    return [random_layer(k, space, rng) for k in ordered]


def random_training(space: SearchSpace, rng: np.random.Generator) -> dict:
    return {key: gene.sample(rng) for key, gene in space.training.items()}


def random_genome(space: SearchSpace, rng: np.random.Generator) -> dict:
    """A genome drawn from the whole space (not yet fitted to any input shapes)."""
    views = list(space.view_sets.sample(rng))
    combine = space.combine.sample(rng)
    genome: dict[str, Any] = {"views": views}
    if space.input_transform is not None:
        genome["input_transform"] = space.input_transform.sample(rng)
    genome["combine"] = combine
    names = [JOINED] if combine == "join" else views
    if combine == "join" or space.tie_columns:
        column = random_block(space.column, space, rng)
        genome["columns"] = {name: clone(column) for name in names}
    else:
        genome["columns"] = {name: random_block(space.column, space, rng) for name in names}
    genome["merge"] = "concat"
    genome["head"] = random_block(space.head, space, rng)
    genome["training"] = random_training(space, rng)
    return genome


def genome_from_spec(spec: dict) -> dict:
    """A known network (``--seed-arch``) as a genome: the spec less its names and presets."""
    genome = {k: clone(v) for k, v in spec.items() if k not in ("name", "description", "default_inputs")}
    genome.setdefault("combine", "columns")
    genome.setdefault("merge", "concat")
    genome.setdefault("training", {})
    return genome


# space identity -> (the space, kind -> its variable genes): a space is frozen once loaded, and
# mutation asks this for every layer of a genome (~30) on each of the master's ~1,000 proposals a
# second; the space is held so its id cannot be reused while it is cached.
_VARIABLE: dict[int, tuple[SearchSpace, dict[str, tuple[str, ...]]]] = {}


def _variable_genes(space: SearchSpace) -> dict[str, tuple[str, ...]]:
    entry = _VARIABLE.get(id(space))
    if entry is None or entry[0] is not space:
        if len(_VARIABLE) >= 16:  # a process meets a few spaces; tests meet many
            _VARIABLE.clear()
        variable = {kind: tuple(name for name, gene in genes.items() if gene.variable)
                    for kind, genes in space.layer_genes.items()}
        entry = _VARIABLE[id(space)] = (space, variable)
    return entry[1]


def layer_genes(layer: dict, space: SearchSpace) -> list[str]:
    """The genes of ``layer`` that the space lets mutation change."""
    return list(_variable_genes(space).get(layer.get("kind", ""), ()))


def get_gene(layer: dict, gene: str, branch: str = "b3") -> Any:
    if gene in _PAIRS:
        key, i = _PAIRS[gene]
        value = layer[key]
        return value if isinstance(value, int) else value[i]
    if gene == "branch":
        return layer[branch]
    return layer.get(gene, _DEFAULTS.get(gene))


def set_gene(layer: dict, gene: str, value: Any, branch: str = "b3") -> None:
    """Set one gene; ``branch`` names the inception branch a ``branch`` gene changes."""
    if gene in _PAIRS:
        key, i = _PAIRS[gene]
        pair = layer[key]
        pair = [pair, pair] if isinstance(pair, int) else list(pair)
        pair[i] = value
        layer[key] = pair
    elif gene == "branch":
        layer[branch] = value
    else:
        layer[gene] = value


def is_flat_kind(kind: str) -> bool:
    return kind in FLATTENING_KINDS


def is_image_kind(kind: str) -> bool:
    return kind in SPATIAL_KINDS and kind != "globalpool"
