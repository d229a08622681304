"""Architecture specs: plain JSON dicts that describe a whole network, checked without Keras.

One format serves ``train --arch``, the model zoo and the evolutionary search (a genome *is* a
spec), so a spec is a plain, easily mutated dict::

    {
      "name": "epsilon", "description": "one line",
      "views": ["x", "u", "v"],            # model inputs, in this order
      "combine": "columns",                # one column per view, or "join": one column for all
      "columns": {"x": [LAYER, ...], "u": [...], "v": [...]},   # "join": {"joined": [...]}
      "merge": "concat",
      "head": [LAYER, ...],                # after the merge; the softmax layer is implied
      "training": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 500, "l2": 0.0001},
      "default_inputs": "minerva2016",     # optional: preset used by `nuclassify models`
      "domain_head": {"units": [1024, 1024], "weight": 0.1}   # optional: see below
    }

``domain_head`` is the domain classifier of domain-adversarial training (``train --domain-adapt``;
Ganin et al., arXiv 1505.07818; MINERvA's dense 1024-1024-1 with loss weight 0.1, arXiv
1808.08332): dense ReLU layers of these widths and one logit, fed from the penultimate features
through a gradient-reversal layer, its loss weighted by ``weight``. It exists only while training
with ``--domain-adapt``: parameter counts, ``nuclassify models`` and saved inference models leave it out.
``"ramp": true`` (``train --domain-ramp``) weights the reversed gradient by Ganin et al.'s schedule,
rising from 0 to 1 over the run, instead of 1 from the first step (MINERvA's setting, the default).

``"join"`` zero-pads every view at the bottom to the tallest view's height and concatenates
them along the width (z) axis, so X (127,50) + U (127,25) + V (127,25) becomes one
(127,100) image: the z axes of the views stay side by side and one conv stack sees them all
(the seed talk's "3 views + 1 column"). Views must then have the same number of channels.

Layers (``kind`` plus keys; defaults in brackets):

- ``conv``: filters, kernel [h, w], stride [[1, 1]], padding ["valid"|"same"], activation ["relu"]
- ``pool``: size [h, w], mode ["max"|"avg"], stride [= size], padding ["valid"]
- ``globalpool``: mode ["avg"|"max"]
- ``batchnorm``; ``flatten``; ``dropout``: rate; ``dense``: units, activation ["relu"]
- ``inception``: b1, b3r, b3, b5r, b5, bp (GoogLeNet-style: 1x1 | 1x1->3x3 | 1x1->5x5 |
  3x3 max-pool->1x1, "same" padding, outputs concatenated on channels)

A dense layer on an image flattens it first (flatten is implied). Layers count from 1 in messages.
Shapes are followed by arithmetic alone (:func:`walk_spec`), so an impossible spec is refused,
and its parameters counted, without building anything.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from nuclassify.errors import SpecError

__all__ = ["LayerInfo", "walk_spec", "spec_params", "validate_spec", "check_spec_keys", "SPEC_KEYS", "LAYER_KEYS",
           "DEFAULT_DOMAIN_HEAD", "domain_head_params"]

SPEC_KEYS = {"name", "description", "views", "combine", "columns", "merge", "head", "training", "default_inputs",
             "input_transform", "domain_head"}
DOMAIN_HEAD_KEYS = {"units", "weight", "ramp"}
DEFAULT_DOMAIN_HEAD = {"units": [1024, 1024], "weight": 0.1}  # MINERvA's DANN (arXiv 1808.08332)
INPUT_TRANSFORM_NAMES = ("none", "log1p")
REQUIRED_KEYS = ("views", "columns", "head")
TRAINING_KEYS = {"optimizer", "learning_rate", "batch_size", "l2", "momentum", "nesterov"}
OPTIMIZERS = ("adam", "adamw", "sgd", "adagrad", "rmsprop", "nadam")
ACTIVATIONS = ("relu", "elu", "selu", "gelu", "tanh", "sigmoid", "swish", "linear", "leaky_relu")
# kind -> (required keys, optional keys with defaults)
LAYER_KEYS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "conv": (("filters", "kernel"), {"stride": [1, 1], "padding": "valid", "activation": "relu"}),
    "pool": (("size",), {"mode": "max", "stride": None, "padding": "valid"}),
    "globalpool": ((), {"mode": "avg"}),
    "batchnorm": ((), {}),
    "flatten": ((), {}),
    "dropout": (("rate",), {}),
    "dense": (("units",), {"activation": "relu"}),
    "inception": (("b1", "b3r", "b3", "b5r", "b5", "bp"), {}),
}
SPATIAL = {"conv", "pool", "globalpool", "inception", "batchnorm"}
# Every key a layer of each kind may have ("kind" included): one subset test per layer in
# _check_layer_keys instead of building sets, since the search walks ~30 layers per candidate.
_ALLOWED = {kind: frozenset(("kind", *required, *optional)) for kind, (required, optional) in LAYER_KEYS.items()}


@dataclass(frozen=True)
class LayerInfo:
    """One layer as the shape walker sees it: where, what, shapes in and out, parameter count."""

    where: str  # e.g. "column x layer 3 (conv)"
    layer: dict
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: int


def _fail(where: str, problem: str) -> SpecError:
    return SpecError(f"{where}: {problem}")


def _pair(value: Any, where: str, key: str) -> tuple[int, int]:
    if type(value) is list and len(value) == 2:  # the usual [h, w] of plain ints: no generic checks
        a, b = value
        if type(a) is int and type(b) is int and a > 0 and b > 0:
            return a, b
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise _fail(where, f"{key} must be two positive integers [h, w]; received {key}={value!r}")
    return int(value[0]), int(value[1])


def _positive_int(layer: dict, key: str, where: str, allow_zero: bool = False) -> int:
    value = layer[key]
    low = 0 if allow_zero else 1
    if type(value) is int and value >= low:  # fast path; bools and int subclasses take the checks below
        return value
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _fail(where, f"{key} must be an integer >= {low}; received {key}={value!r}")
    return value


def _choice(layer: dict, key: str, options: tuple[str, ...], where: str) -> str:
    value = layer[key]
    if value not in options:
        raise _fail(where, f"{key} must be one of {', '.join(options)}; received {key}={value!r}")
    return value


def _check_layer_keys(layer: Any, where: str) -> dict:
    """Return the layer with defaults filled in; reject unknown kinds and keys."""
    if not isinstance(layer, dict) or "kind" not in layer:
        raise _fail(where, f"a layer must be an object with a 'kind'; received {layer!r}")
    kind = layer["kind"]
    if kind not in LAYER_KEYS:
        raise _fail(where, f"unknown layer kind {kind!r} (known: {', '.join(LAYER_KEYS)})")
    required, optional = LAYER_KEYS[kind]
    if not layer.keys() <= _ALLOWED[kind]:
        unknown = set(layer) - {"kind"} - set(required) - set(optional)
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))} for a {kind} layer "
                           f"(allowed: {', '.join(list(required) + list(optional)) or 'none'})")
    for key in required:
        if key not in layer:
            missing = [k for k in required if k not in layer]
            raise _fail(where, f"missing key(s) {', '.join(missing)} for a {kind} layer")
    return {**optional, **layer}


def _out_len(n: int, k: int, s: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(n / s)
    return (n - k) // s + 1 if n >= k else 0


def _image(shape: tuple[int, ...], where: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise _fail(where, f"needs an image (H, W, C) but receives a flat vector of {shape[0]} "
                           "(a dense layer or the merge flattened it)")
    return shape  # type: ignore[return-value]


def _layer_shape(layer: dict, shape: tuple[int, ...], where: str, l2_free: bool = True) -> tuple[tuple[int, ...], int]:
    """Output shape and parameter count of one (already key-checked) layer.

    Conv comes first because most layers of most specs are convolutions; each kind's branch
    makes its own checks in a fixed order, so the order of branches changes no error.
    """
    kind = layer["kind"]
    if kind == "conv":
        h, w, c = _image(shape, where)
        padding = _choice(layer, "padding", ("valid", "same"), where)
        filters = _positive_int(layer, "filters", where)
        kh, kw = _pair(layer["kernel"], where, "kernel")
        sh, sw = _pair(layer["stride"], where, "stride")
        _choice(layer, "activation", ACTIVATIONS, where)
        oh, ow = _out_len(h, kh, sh, padding), _out_len(w, kw, sw, padding)
        if oh < 1 or ow < 1:
            raise _fail(where, f"kernel {kh}x{kw} does not fit input {h}x{w}")
        return (oh, ow, filters), kh * kw * c * filters + filters
    if kind == "dense":
        units = _positive_int(layer, "units", where)
        _choice(layer, "activation", ACTIVATIONS, where)
        n_in = math.prod(shape)
        return (units,), n_in * units + units
    if kind == "pool":
        h, w, c = _image(shape, where)
        padding = _choice(layer, "padding", ("valid", "same"), where)
        _choice(layer, "mode", ("max", "avg"), where)
        ph, pw = _pair(layer["size"], where, "size")
        sh, sw = _pair(layer["stride"] if layer["stride"] is not None else [ph, pw], where, "stride")
        oh, ow = _out_len(h, ph, sh, padding), _out_len(w, pw, sw, padding)
        if oh < 1 or ow < 1:
            raise _fail(where, f"pool {ph}x{pw} does not fit input {h}x{w}")
        return (oh, ow, c), 0
    if kind == "dropout":
        rate = layer["rate"]
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate < 1:
            raise _fail(where, f"rate must be a number in [0, 1); received rate={rate!r}")
        return shape, 0
    if kind == "flatten":
        return (math.prod(shape),), 0
    h, w, c = _image(shape, where)  # the other kinds are all spatial
    if kind == "batchnorm":
        return shape, 4 * c
    if kind == "globalpool":
        _choice(layer, "mode", ("avg", "max"), where)
        return (c,), 0
    # inception
    b = {k: _positive_int(layer, k, where, allow_zero=k in ("b1", "bp")) for k in LAYER_KEYS["inception"][0]}
    params = 0
    if b["b1"]:
        params += c * b["b1"] + b["b1"]
    params += c * b["b3r"] + b["b3r"] + 9 * b["b3r"] * b["b3"] + b["b3"]
    params += c * b["b5r"] + b["b5r"] + 25 * b["b5r"] * b["b5"] + b["b5"]
    if b["bp"]:
        params += c * b["bp"] + b["bp"]
    return (h, w, b["b1"] + b["b3"] + b["b5"] + b["bp"]), params


def check_spec_keys(spec: Any) -> None:
    """Check the top level and training section of a spec (no shapes needed)."""
    if not isinstance(spec, dict):
        raise SpecError(f"a spec must be a JSON object; received {type(spec).__name__}")
    if not spec.keys() <= SPEC_KEYS:
        unknown = set(spec) - SPEC_KEYS
        raise SpecError(f"unknown spec key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(SPEC_KEYS))})")
    missing = [k for k in REQUIRED_KEYS if k not in spec]
    if missing:
        raise SpecError(f"spec is missing {', '.join(missing)}")
    views = spec["views"]
    if (not isinstance(views, list) or not views or not all(isinstance(v, str) for v in views)
            or len(set(views)) != len(views)):
        raise SpecError(f"views must be a non-empty list of distinct view names; received views={views!r}")
    combine = spec.get("combine", "columns")
    if combine not in ("columns", "join"):
        raise SpecError(f"combine must be 'columns' or 'join'; received combine={combine!r}")
    if spec.get("merge", "concat") != "concat":
        raise SpecError(f"merge must be 'concat'; received merge={spec.get('merge')!r}")
    if spec.get("input_transform", "none") not in INPUT_TRANSFORM_NAMES:
        raise SpecError(f"input_transform must be one of {', '.join(INPUT_TRANSFORM_NAMES)}; "
                        f"received input_transform={spec.get('input_transform')!r}")
    columns = spec["columns"]
    if not isinstance(columns, dict):
        raise SpecError("columns must be an object mapping a column name to its list of layers")
    if combine == "columns" and list(columns) != list(views):
        raise SpecError(f"with combine 'columns' there is one column per view, in view order: expected columns "
                        f"{views}, received {list(columns)}")
    if combine == "join" and len(columns) != 1:
        raise SpecError(f"with combine 'join' there is exactly one column; received {list(columns)}")
    for name, layers in list(columns.items()) + [("head", spec["head"])]:
        if not isinstance(layers, list):
            raise SpecError(f"{'head' if name == 'head' else 'column ' + name} must be a list of layers")
    training = spec.get("training", {})
    if not isinstance(training, dict):
        raise SpecError("training must be an object")
    if not training.keys() <= TRAINING_KEYS:
        unknown = set(training) - TRAINING_KEYS
        raise SpecError(f"unknown training key(s) {', '.join(sorted(unknown))} "
                        f"(allowed: {', '.join(sorted(TRAINING_KEYS))})")
    if training.get("optimizer", "adam") not in OPTIMIZERS:
        raise SpecError(f"training: optimizer must be one of {', '.join(OPTIMIZERS)}; "
                        f"received optimizer={training.get('optimizer')!r}")
    for key, low in (("learning_rate", 0.0), ("l2", -1e-300), ("momentum", -1e-300)):
        value = training.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= low):
            raise SpecError(f"training: {key} must be a number > {max(low, 0)}; received {key}={value!r}")
    bs = training.get("batch_size")
    if bs is not None and (not isinstance(bs, int) or isinstance(bs, bool) or bs < 1):
        raise SpecError(f"training: batch_size must be a positive integer; received batch_size={bs!r}")
    if "domain_head" in spec:
        _check_domain_head(spec["domain_head"])


def _check_domain_head(head: Any) -> None:
    """``domain_head``: {"units": [positive ints], "weight": number > 0, "ramp": bool}, nothing else."""
    if not isinstance(head, dict) or not head.keys() <= DOMAIN_HEAD_KEYS:
        raise SpecError(f"domain_head must be an object with keys {', '.join(sorted(DOMAIN_HEAD_KEYS))}; "
                        f"received domain_head={head!r}")
    units = head.get("units", DEFAULT_DOMAIN_HEAD["units"])
    if not isinstance(units, list) or not all(type(u) is int and u > 0 for u in units):
        raise SpecError(f"domain_head: units must be a list of positive integers; received units={units!r}")
    weight = head.get("weight", DEFAULT_DOMAIN_HEAD["weight"])
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < weight < math.inf:
        raise SpecError(f"domain_head: weight must be a number > 0; received weight={weight!r}")
    if not isinstance(head.get("ramp", False), bool):
        raise SpecError(f"domain_head: ramp must be true or false; received ramp={head['ramp']!r}")


def domain_head_params(spec: dict, n_features: int) -> int:
    """Parameters of the spec's domain classifier on ``n_features`` penultimate features (0 without one).

    A ramped head adds one: the reversal layer's count of training steps (not trainable).
    """
    if "domain_head" not in spec:
        return 0
    total, n_in = (1 if spec["domain_head"].get("ramp") else 0), n_features
    for units in [*spec["domain_head"].get("units", DEFAULT_DOMAIN_HEAD["units"]), 1]:
        total += n_in * units + units
        n_in = units
    return total


def walk_spec(spec: dict, input_shapes: dict[str, tuple[int, int, int]],
              n_classes: int | None = None) -> list[LayerInfo]:
    """Follow shapes through the whole network by arithmetic; raise SpecError at the first bad layer.

    Args:
        spec: the architecture spec.
        input_shapes: view name -> channels-last (H, W, C).
        n_classes: when given, the implied softmax layer is included (for parameter counts).

    Returns:
        One :class:`LayerInfo` per layer, column by column, then merge, head and output.
    """
    infos: list[LayerInfo] = []
    _walk(spec, input_shapes, n_classes, infos)
    return infos


def spec_params(spec: dict, input_shapes: dict[str, tuple[int, int, int]], n_classes: int | None = None) -> int:
    """The parameter count of :func:`walk_spec` (the sum of its layers'), in about 60% of its time.

    Why: the search's master walks every genome it proposes (~30 layers each, a thousand and more
    a second, retries included) and needs only the count. This walk makes exactly the same checks but
    builds no :class:`LayerInfo` and no per-layer location strings; when a check fails, the spec
    is walked again by :func:`walk_spec`, so the SpecError and its message are the same too.

    Raises:
        SpecError: as :func:`walk_spec`.
    """
    try:
        return _walk(spec, input_shapes, n_classes, None)
    except SpecError:
        walk_spec(spec, input_shapes, n_classes)  # raises the same error, with its layer named
        raise  # pragma: no cover - unreachable: both walks make the same checks


def _where(block: str, i: int, raw: Any) -> str:
    return f"{block} layer {i} ({raw.get('kind') if isinstance(raw, dict) else '?'})"


def _walk(spec: dict, input_shapes: dict[str, tuple[int, int, int]], n_classes: int | None,
          infos: list[LayerInfo] | None) -> int:
    """The walk behind :func:`walk_spec` and :func:`spec_params`: the total parameter count.

    With ``infos``, one :class:`LayerInfo` per layer is appended to it; without, none is built
    and layers are located by an empty string in errors (:func:`spec_params` walks again to name them).
    """
    check_spec_keys(spec)
    views = spec["views"]
    missing = [v for v in views if v not in input_shapes]
    if missing:
        raise SpecError(f"spec uses view(s) {', '.join(missing)} but the data has views "
                        f"{', '.join(input_shapes) or 'none'}")
    shapes = {v: tuple(int(d) for d in input_shapes[v]) for v in views}
    for v, s in shapes.items():
        if len(s) != 3 or min(s) < 1:
            raise SpecError(f"input shape of view {v} must be (H, W, C) > 0; received {s}")
    total = 0
    if spec.get("combine", "columns") == "join":
        channels = {s[2] for s in shapes.values()}
        if len(channels) != 1:
            raise SpecError(f"combine 'join' needs views with equal channel counts; received {shapes}")
        height = max(s[0] for s in shapes.values())
        joined = (height, sum(s[1] for s in shapes.values()), channels.pop())
        column_inputs = {next(iter(spec["columns"])): joined}
        if infos is not None:
            infos.append(LayerInfo("join", {"kind": "join"}, tuple(shapes[views[0]]), joined, 0))
    else:
        column_inputs = shapes
    outs = []
    for name, layers in spec["columns"].items():
        shape = column_inputs[name]
        block = f"column {name}"
        for i, raw in enumerate(layers, 1):
            where = _where(block, i, raw) if infos is not None else ""
            layer = _check_layer_keys(raw, where)
            new_shape, params = _layer_shape(layer, shape, where)
            if infos is not None:
                infos.append(LayerInfo(where, layer, shape, new_shape, params))
            total += params
            shape = new_shape
        outs.append(shape)
    if all(len(s) == 3 for s in outs) and len({s[:2] for s in outs}) == 1:
        merged: tuple[int, ...] = (*outs[0][:2], sum(s[2] for s in outs))
    else:
        merged = (sum(math.prod(s) for s in outs),)
    if len(outs) > 1 and infos is not None:
        infos.append(LayerInfo("merge", {"kind": "concat"}, outs[0], merged, 0))
    shape = merged
    for i, raw in enumerate(spec["head"], 1):
        where = _where("head", i, raw) if infos is not None else ""
        layer = _check_layer_keys(raw, where)
        new_shape, params = _layer_shape(layer, shape, where)
        if infos is not None:
            infos.append(LayerInfo(where, layer, shape, new_shape, params))
        total += params
        shape = new_shape
    if n_classes is not None:
        if not isinstance(n_classes, int) or n_classes < 2:
            raise SpecError(f"n_classes must be an integer >= 2; received {n_classes!r}")
        n_in = math.prod(shape)
        params = n_in * n_classes + n_classes
        if infos is not None:
            infos.append(LayerInfo("output (softmax)", {"kind": "dense", "units": n_classes}, shape, (n_classes,),
                                   params))
        total += params
    return total


def validate_spec(spec: dict, input_shapes: dict[str, tuple[int, int, int]] | None = None) -> dict:
    """Check a spec; with ``input_shapes`` also follow the shapes. Returns a deep copy.

    Raises:
        SpecError: naming the layer at fault, e.g.
            ``column x layer 3 (conv): kernel 8x3 does not fit input 2x40``.
    """
    check_spec_keys(spec)
    if input_shapes is not None:
        walk_spec(spec, input_shapes)
    else:
        for name, layers in list(spec["columns"].items()) + [("head", spec["head"])]:
            for i, raw in enumerate(layers, 1):
                prefix = "head" if name == "head" else f"column {name}"
                _check_layer_keys(raw, f"{prefix} layer {i} ({raw.get('kind') if isinstance(raw, dict) else '?'})")
    return copy.deepcopy(spec)
