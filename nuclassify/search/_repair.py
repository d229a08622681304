"""Make a mutated genome fit its inputs, so that few children have to be thrown away.

Mutation and crossover are blind to shapes: a longer kernel, an extra pool, or a conv moved
after a dense layer can leave a spec that no longer fits. Rather than reject such a child, this
module follows the shapes (the same arithmetic as :func:`nuclassify.models.walk_spec`, which
stays the final judge) and makes the least change that fits:

- a kernel or pool window taller or wider than its input (padding ``valid``) is shrunk to it;
- a spatial layer (conv, pool, batch-norm, inception, global pool) that would receive a flat
  vector is dropped, since nothing can be done with it there.

The result may still break the parameter cap; the genome factory rejects and retries those.
"""

from __future__ import annotations

import math

__all__ = ["repair", "column_inputs", "SPATIAL_KINDS", "FLATTENING_KINDS"]

SPATIAL_KINDS = frozenset({"conv", "pool", "batchnorm", "inception", "globalpool"})
FLATTENING_KINDS = frozenset({"dense", "flatten", "globalpool"})

Shape = tuple[int, ...]


def column_inputs(genome: dict, input_shapes: dict[str, tuple[int, int, int]]) -> dict[str, Shape]:
    """Input shape of each column: one per view, or the views side by side for ``join``."""
    views = genome["views"]
    if genome.get("combine", "columns") == "join":
        shapes = [input_shapes[v] for v in views]
        joined = (max(s[0] for s in shapes), sum(s[1] for s in shapes), shapes[0][2])
        return {next(iter(genome["columns"])): joined}
    return {v: tuple(input_shapes[v]) for v in views}


def _pair(value: object) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    h, w = value  # type: ignore[misc]
    return int(h), int(w)


def _out(n: int, k: int, s: int, padding: str) -> int:
    return math.ceil(n / s) if padding == "same" else (n - k) // s + 1


def _fit_window(layer: dict, key: str, h: int, w: int) -> tuple[int, int]:
    """Shrink ``layer[key]`` to the input when padding is valid; return the output (h, w)."""
    kh, kw = _pair(layer[key])
    padding = layer.get("padding", "valid")
    if padding == "valid" and (kh > h or kw > w):
        kh, kw = min(kh, h), min(kw, w)
        layer[key] = [kh, kw]
    stride = layer.get("stride")
    if key == "size" and stride is None:
        sh, sw = kh, kw
    else:
        sh, sw = _pair(stride if stride is not None else 1)
    return _out(h, kh, sh, padding), _out(w, kw, sw, padding)


def fit_layers(layers: list[dict], shape: Shape) -> tuple[list[dict], Shape]:
    """The layers, repaired in place where needed, and the shape they produce from ``shape``."""
    kept: list[dict] = []
    for layer in layers:
        kind = layer.get("kind")
        if kind in SPATIAL_KINDS and len(shape) != 3:
            continue
        if kind == "conv":
            h, w = _fit_window(layer, "kernel", shape[0], shape[1])
            shape = (h, w, int(layer["filters"]))
        elif kind == "pool":
            h, w = _fit_window(layer, "size", shape[0], shape[1])
            shape = (h, w, shape[2])
        elif kind == "inception":
            shape = (shape[0], shape[1], sum(int(layer.get(k, 0)) for k in ("b1", "b3", "b5", "bp")))
        elif kind == "globalpool":
            shape = (shape[2],)
        elif kind == "flatten":
            shape = (math.prod(shape),)
        elif kind == "dense":
            shape = (int(layer["units"]),)
        kept.append(layer)
    return kept, shape


def repair(genome: dict, input_shapes: dict[str, tuple[int, int, int]]) -> dict:
    """Repair ``genome`` in place (see the module docstring) and return it."""
    outs = []
    for name, shape in column_inputs(genome, input_shapes).items():
        layers, out = fit_layers(genome["columns"][name], shape)
        genome["columns"][name] = layers
        outs.append(out)
    if all(len(s) == 3 for s in outs) and len({s[:2] for s in outs}) == 1:
        merged: Shape = (*outs[0][:2], sum(s[2] for s in outs))
    else:
        merged = (sum(math.prod(s) for s in outs),)
    genome["head"], _ = fit_layers(genome["head"], merged)
    return genome
