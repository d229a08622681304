"""Does a trained model fit a data file? Checked before any batch is read, with both sides named."""

from __future__ import annotations

from typing import Any

from nuclassify.errors import UsageError

__all__ = ["check_model_data", "describe_views"]


def describe_views(names: Any, shapes: dict) -> str:
    """"x(127,94,2),u(127,47,2)" from view names and their (H, W, C) shapes."""
    return ",".join(f"{v}({','.join(str(int(d)) for d in shapes[v])})" for v in names)


def check_model_data(meta: dict, dataset: Any, model_label: str = "model") -> str:
    """Raise UsageError unless the run's target, views and input shapes match the data file.

    Args:
        meta: the run's run.json (keys "target", "views", "input_shapes", "n_classes").
        dataset: the open data file.
        model_label: how to name the model in messages (its path).

    Returns:
        The target to evaluate.
    """
    target = meta.get("target") or dataset.default_target
    views = list(meta.get("views") or [])
    shapes = {v: tuple(s) for v, s in (meta.get("input_shapes") or {}).items()}
    data_desc = describe_views(dataset.view_names, dataset.view_shapes)
    model_desc = describe_views(views, shapes) if views and all(v in shapes for v in views) else "?"
    problem = None
    if target not in dataset.targets:
        problem = f"target {target} is not in this {dataset.layout} file (its targets: {', '.join(dataset.targets)})"
    elif not views or any(v not in dataset.view_shapes for v in views):
        problem = "the views differ"
    elif any(tuple(dataset.view_shapes[v]) != shapes.get(v) for v in views):
        problem = "the input shapes differ"
    elif meta.get("n_classes") not in (None, dataset.n_classes(target)):
        problem = f"the model has {meta['n_classes']} classes, the file's {target} target {dataset.n_classes(target)}"
    if problem:
        raise UsageError(f"{model_label} expects views {model_desc} for target {target}; "
                         f"{dataset.path} has {data_desc} ({dataset.layout}): {problem}")
    return target
