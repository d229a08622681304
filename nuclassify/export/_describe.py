"""The text ``nuclassify inspect model.onnx`` prints: what an exported model says about itself."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["format_exported"]


def _shape(dims: list) -> str:
    return "(" + ",".join("batch" if i == 0 and d is None else ("?" if d is None else str(d))
                          for i, d in enumerate(dims)) + ")"


def _layer(layer: dict) -> str:
    """One spec layer in a few characters: ``conv 12 8x3``, ``pool max 2x1``, ``dense 196``."""
    kind = layer.get("kind", "?")

    def size(v: Any) -> str:
        return "x".join(str(d) for d in v) if isinstance(v, (list, tuple)) else str(v)

    if kind == "conv":
        return f"conv {layer.get('filters')} {size(layer.get('kernel'))}"
    if kind == "pool":
        return f"pool {layer.get('mode', 'max')} {size(layer.get('size'))}"
    if kind == "dense":
        return f"dense {layer.get('units')}"
    if kind == "dropout":
        return f"dropout {layer.get('rate')}"
    if kind == "inception":
        return "inception " + "/".join(str(layer.get(k, 0)) for k in ("b1", "b3r", "b3", "b5r", "b5", "bp"))
    return str(kind)


def _spec_lines(spec: dict) -> list[str]:
    if not isinstance(spec, dict) or "columns" not in spec:
        return [f"  spec       {json.dumps(spec)[:200]}"]
    lines = [f"  spec       {spec.get('name', '?')}: views {', '.join(spec.get('views', []))}, "
             f"combine {spec.get('combine', 'columns')}, input transform {spec.get('input_transform', 'none')}"]
    for col, layers in spec["columns"].items():
        lines.append(f"    column {col}: {', '.join(_layer(x) for x in layers)}")
    lines.append(f"    head: {', '.join(_layer(x) for x in spec.get('head', [])) or '-'}, softmax")
    return lines


def _data_lines(data: dict) -> list[str]:
    lines = []
    for role, entry in (data or {}).items():
        if not entry:
            continue
        lines.append(f"  {role + ' data':<10} {entry.get('path', '?')}  {entry.get('size', '?')} bytes  "
                     f"{entry.get('hash', 'sha256')} {entry.get('sha256', '?')}")
        prov = entry.get("provenance") or {}
        if prov:
            lines.append(f"             provenance {json.dumps(prov, sort_keys=True)[:400]}")
    return lines


def format_exported(desc: dict) -> str:
    """Text for :func:`nuclassify.export.read_exported`'s result: a few labelled lines per topic.

    The spec is drawn layer by layer; ``inspect --json`` carries every field in full.
    """
    kind = "ONNX model" if desc["format"] == "onnx" else "TensorFlow SavedModel"
    ins = "  ".join(f"{k} {_shape(v)}" for k, v in desc["inputs"].items())
    meta = desc["metadata"]
    if not desc["ours"]:
        return "\n".join([f"{desc['path']}: {kind} without nuclassify metadata (not made by 'nuclassify export')",
                          f"  inputs     {ins}", f"  outputs    {', '.join(desc['outputs'])}",
                          "  predict/evaluate run it if its inputs are named after the data's views (with a warning)"])
    exported = meta.get("exported", {})
    training = meta.get("training", {})
    names = meta.get("class_names") or []
    lines = [
        f"{desc['path']}: {kind} exported by nuclassify {meta.get('nuclassify_version')} "
        f"(metadata format {meta.get('nuclassify_format')})",
        f"  target     {meta.get('target')} ({meta.get('n_classes', len(names))} classes), "
        f"layout {meta.get('layout')}, arch {meta.get('arch')}",
        f"  inputs     {ins}",
        f"             {meta.get('input_layout', '')}",
        f"  output     {', '.join(desc['outputs'])} (batch,{meta.get('n_classes', len(names))}): class probabilities"
        + (f", calibrated (temperature {meta['temperature']:.4g} folded into the graph)"
           if isinstance(meta.get("temperature"), (int, float)) else ""),
        "  classes    " + ", ".join(f"{i} {n}" for i, n in enumerate(names)),
        f"  trained    {training.get('epochs_completed', '?')} epoch(s), seed {training.get('seed', '?')}, "
        f"{training.get('backend', '?')}, status {training.get('status', '?')}, "
        f"{training.get('train_events', '?')} train / {training.get('valid_events', '?')} validation events, "
        f"{training.get('parameters', '?')} parameters",
        *_data_lines(meta.get("data", {})),
        f"  exported   {exported.get('time', '?')} from {exported.get('run_dir', '?')} "
        f"({exported.get('model_file', '?')}); keras {exported.get('keras')}, tensorflow {exported.get('tensorflow')}"
        + (f", tf2onnx {exported.get('tf2onnx')}, opset {exported.get('opset')}" if desc["format"] == "onnx" else ""),
        *_spec_lines(meta.get("spec", {})),
    ]
    return "\n".join(lines)
