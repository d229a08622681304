"""Spec -> Keras model. Validation happens first (by shape arithmetic), so Keras never sees a bad spec."""

from __future__ import annotations

from typing import Any

from nuclassify.models._spec import DEFAULT_DOMAIN_HEAD, domain_head_params, walk_spec

__all__ = ["build", "count_params", "make_optimizer", "inference_model", "DOMAIN_OUTPUT"]

DOMAIN_OUTPUT = "domain"
"""Name of the domain classifier's output (training with ``--domain-adapt`` only)."""


def count_params(spec: dict, input_shapes: dict[str, tuple[int, int, int]], n_classes: int) -> int:
    """Total parameters (trainable and not, as ``model.count_params()``), without building the model."""
    return sum(info.params for info in walk_spec(spec, input_shapes, n_classes))


def _regularizer(l2: float | None) -> Any:
    import keras

    return keras.regularizers.L2(l2) if l2 else None


def _apply(layer: dict, x: Any, name: str, l2: float | None) -> Any:
    from keras import layers as kl

    kind = layer["kind"]
    reg = _regularizer(l2)
    if kind == "conv":
        return kl.Conv2D(layer["filters"], tuple(layer["kernel"]), strides=tuple(layer["stride"]),
                         padding=layer["padding"], activation=layer["activation"], kernel_regularizer=reg,
                         name=name)(x)
    if kind == "pool":
        cls = kl.MaxPooling2D if layer["mode"] == "max" else kl.AveragePooling2D
        stride = layer["stride"] if layer["stride"] is not None else layer["size"]
        size = tuple(layer["size"]) if isinstance(layer["size"], list) else layer["size"]
        stride = tuple(stride) if isinstance(stride, list) else stride
        return cls(size, strides=stride, padding=layer["padding"], name=name)(x)
    if kind == "globalpool":
        cls = kl.GlobalAveragePooling2D if layer["mode"] == "avg" else kl.GlobalMaxPooling2D
        return cls(name=name)(x)
    if kind == "batchnorm":
        return kl.BatchNormalization(name=name)(x)
    if kind == "flatten":
        return kl.Flatten(name=name)(x)
    if kind == "dropout":
        return kl.Dropout(layer["rate"], name=name)(x)
    if kind == "dense":
        if len(x.shape) > 2:
            x = kl.Flatten(name=f"{name}_flatten")(x)
        return kl.Dense(layer["units"], activation=layer["activation"], kernel_regularizer=reg, name=name)(x)
    if kind == "inception":
        branches = []
        if layer["b1"]:
            branches.append(kl.Conv2D(layer["b1"], 1, activation="relu", kernel_regularizer=reg, name=f"{name}_1x1")(x))
        for k in (3, 5):
            r = kl.Conv2D(layer[f"b{k}r"], 1, activation="relu", kernel_regularizer=reg, name=f"{name}_{k}x{k}r")(x)
            branches.append(kl.Conv2D(layer[f"b{k}"], k, padding="same", activation="relu", kernel_regularizer=reg,
                                      name=f"{name}_{k}x{k}")(r))
        if layer["bp"]:
            p = kl.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
            branches.append(kl.Conv2D(layer["bp"], 1, activation="relu", kernel_regularizer=reg,
                                      name=f"{name}_poolproj")(p))
        return kl.Concatenate(axis=-1, name=name)(branches)
    raise AssertionError(f"unreachable: kind {kind}")  # walk_spec rejected unknown kinds


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def build(spec: dict, input_shapes: dict[str, tuple[int, int, int]], n_classes: int, *,
          domain_head: bool = False, domain_steps: int = 0) -> Any:
    """Build the Keras model a spec describes.

    Args:
        spec: an architecture spec (see :mod:`nuclassify.models._spec`); validated first.
        input_shapes: view name -> channels-last (H, W, C) of the data.
        n_classes: width of the softmax output.
        domain_head: also build the spec's ``domain_head`` (its default if it has none): a second
            output ``"domain"`` (one logit: source 0, target 1) on the penultimate features through
            a :class:`~nuclassify.models._layers.GradientReversal`, for domain-adversarial training.
            :func:`inference_model` cuts it off again.
        domain_steps: the run's training steps (epochs x steps per epoch), over which a
            ``"ramp": true`` domain head raises the reversal weight from 0 to 1.

    Returns:
        A functional ``keras.Model`` with one input per spec view, named by the view, in spec view
        order, and a float32 softmax output (also under mixed precision); with ``domain_head``
        the outputs are ``[softmax, domain logit]``.

    Raises:
        SpecError: the spec is invalid or its shapes do not fit these inputs.
    """
    import keras
    from keras import layers as kl

    infos = walk_spec(spec, input_shapes, n_classes)
    l2 = spec.get("training", {}).get("l2")
    views = spec["views"]
    from nuclassify.models._layers import INPUT_TRANSFORMS

    inputs = {v: keras.Input(tuple(int(d) for d in input_shapes[v]), name=v) for v in views}
    transform = INPUT_TRANSFORMS[spec.get("input_transform", "none")]
    fed = {v: transform(name=f"{_safe(v)}_log1p")(inputs[v]) if transform else inputs[v] for v in views}
    if spec.get("combine", "columns") == "join":
        height = max(int(input_shapes[v][0]) for v in views)
        padded = []
        for v in views:
            dh = height - int(input_shapes[v][0])
            padded.append(kl.ZeroPadding2D(((0, dh), (0, 0)), name=f"pad_{_safe(v)}")(fed[v]) if dh else fed[v])
        column_in = {next(iter(spec["columns"])): kl.Concatenate(axis=2, name="join")(padded)
                     if len(padded) > 1 else padded[0]}
    else:
        column_in = fed
    outs = []
    for col, layer_list in spec["columns"].items():
        x = column_in[col]
        for i, _raw in enumerate(layer_list, 1):
            layer = next(info.layer for info in infos if info.where.startswith(f"column {col} layer {i} "))
            x = _apply(layer, x, f"{_safe(col)}_{i}_{layer['kind']}", l2)
        outs.append(x)
    if len(outs) > 1:
        same_maps = all(len(o.shape) == 4 for o in outs) and len({tuple(o.shape[1:3]) for o in outs}) == 1
        if not same_maps:
            outs = [kl.Flatten(name=f"{_safe(c)}_flatten")(o) if len(o.shape) > 2 else o
                    for c, o in zip(spec["columns"], outs, strict=True)]
        x = kl.Concatenate(axis=-1, name="merge")(outs)
    else:
        x = outs[0]
    head_infos = [info for info in infos if info.where.startswith("head layer")]
    for i, info in enumerate(head_infos, 1):
        x = _apply(info.layer, x, f"head_{i}_{info.layer['kind']}", l2)
    if len(x.shape) > 2:
        x = kl.Flatten(name="head_flatten")(x)
    out = kl.Dense(n_classes, activation="softmax", dtype="float32", kernel_regularizer=_regularizer(l2),
                   name="output")(x)
    expected = sum(info.params for info in infos)
    if domain_head:
        from nuclassify.models._layers import GradientReversal

        head = spec.get("domain_head", DEFAULT_DOMAIN_HEAD)
        expected += domain_head_params({"domain_head": head}, int(x.shape[-1]))
        if head.get("ramp") and domain_steps < 1:
            raise ValueError("internal: a ramped domain_head needs the run's training steps (domain_steps)")
        d = GradientReversal(ramp_steps=domain_steps if head.get("ramp") else 0, name="domain_reversal")(x)
        for i, units in enumerate(head.get("units", DEFAULT_DOMAIN_HEAD["units"]), 1):
            d = kl.Dense(units, activation="relu", name=f"domain_{i}_dense")(d)
        out = [out, kl.Dense(1, dtype="float32", name=DOMAIN_OUTPUT)(d)]
    model = keras.Model([inputs[v] for v in views], out, name=_safe(str(spec.get("name", "nuclassify"))))
    if model.count_params() != expected:  # the arithmetic is what `models` and the search rely on
        raise RuntimeError(f"internal: built {model.count_params()} parameters, arithmetic says {expected}")
    return model


def make_optimizer(training: dict, learning_rate: Any = None) -> Any:
    """The optimizer of a spec's training section (``learning_rate`` may be a schedule)."""
    import keras

    name = training.get("optimizer", "adam")
    lr = learning_rate if learning_rate is not None else training.get("learning_rate", 1e-3)
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=training.get("momentum", 0.0),
                                    nesterov=bool(training.get("nesterov", False)))
    if name == "adagrad":
        return keras.optimizers.Adagrad(lr)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, momentum=training.get("momentum", 0.0))
    if name == "nadam":
        return keras.optimizers.Nadam(lr)
    if name == "adamw":
        return keras.optimizers.AdamW(lr)
    return keras.optimizers.Adam(lr)


def inference_model(model: Any) -> Any:
    """``model`` without its domain classifier (the class output alone), or ``model`` itself.

    Why: the domain head exists to train the features (``--domain-adapt``); prediction,
    evaluation and export want class probabilities only, and a second one-value-per-event output
    would be taken for a vertex-z head. The result shares the layers (and weights) of ``model``.
    """
    import keras

    if DOMAIN_OUTPUT not in getattr(model, "output_names", []):
        return model
    return keras.Model(model.inputs, model.get_layer("output").output, name=model.name)


def load_model(path: str | Any, compile: bool = False, *,  # noqa: A002 - Keras's own name
               keep_domain_head: bool = False) -> Any:
    """Load a saved ``.keras`` model, with nuclassify's custom layers registered first.

    A checkpoint of a ``--domain-adapt`` run comes back as its :func:`inference_model` (class
    probabilities only) unless ``keep_domain_head`` (resuming the training).
    """
    import keras

    import nuclassify.models._layers  # noqa: F401 - registers the custom layers

    model = keras.saving.load_model(path, compile=compile)
    return model if keep_domain_head else inference_model(model)
