"""Named specs shipped in the package (``specs/*.json``), input-shape presets, and spec files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from nuclassify._fileio import read_json_file
from nuclassify.detector import minerva, nova
from nuclassify.errors import SpecError
from nuclassify.models._spec import validate_spec

__all__ = ["load_spec", "list_specs", "dump_spec", "INPUT_PRESETS", "preset_shapes"]

def _minerva_preset(layout: str) -> tuple[dict[str, tuple[int, int, int]], int]:
    """Channels-last (strips, planes, [energy, time]) per view, from the detector's geometry."""
    cols = minerva.image_columns(layout)
    return {v: (minerva.N_STRIPS, cols[v], 2) for v in minerva.VIEWS}, minerva.N_SEGMENTS


# name -> (view -> channels-last (H, W, C), classes of the usual target): MINERvA (Terwilliger
# et al., arXiv:1808.08332) and NOvA CVN maps (Aurisano et al., arXiv:1604.01444).
INPUT_PRESETS: dict[str, tuple[dict[str, tuple[int, int, int]], int]] = {
    "minerva": _minerva_preset("2018"),
    "minerva2016": _minerva_preset("2016"),
    "nova": ({"xz": (nova.N_MAP_CELLS, nova.N_MAP_PLANES, 1), "yz": (nova.N_MAP_CELLS, nova.N_MAP_PLANES, 1)}, 4),
}


def preset_shapes(name: str) -> tuple[dict[str, tuple[int, int, int]], int]:
    """Input shapes and class count of a preset (``minerva``, ``minerva2016``, ``nova``)."""
    if name not in INPUT_PRESETS:
        raise SpecError(f"unknown input-shape preset {name!r} (known: {', '.join(INPUT_PRESETS)})")
    shapes, n_classes = INPUT_PRESETS[name]
    return dict(shapes), n_classes


def _spec_dir() -> Path:
    return Path(str(resources.files("nuclassify.models") / "specs"))


def list_specs() -> list[str]:
    """Names of the specs shipped with the package, sorted."""
    return sorted(p.stem for p in _spec_dir().glob("*.json"))


def load_spec(name_or_path: str | Path) -> dict:
    """A spec by package name (``"epsilon"``) or from a JSON file; keys and layers are checked.

    Raises:
        SpecError: unknown name, unreadable file, bad JSON, or an invalid spec.
    """
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".json") or path.exists()):
        if text not in list_specs():
            raise SpecError(f"unknown architecture {text!r}: not a spec file, and not one of {', '.join(list_specs())}")
        path = _spec_dir() / f"{text}.json"
    spec = read_json_file(path, "spec", missing=SpecError)
    try:
        spec = validate_spec(spec)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from exc
    spec.setdefault("name", path.stem)
    return spec


def dump_spec(spec: dict) -> str:
    """JSON text of a spec with one layer per line: diff-friendly, and short enough to read."""
    lines = ["{"]
    items = list(spec.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if key == "columns":
            lines.append(' "columns": {')
            cols = list(value.items())
            for m, (col, layers) in enumerate(cols):
                lines.append(f"  {json.dumps(col)}: " + _layer_list(layers, "   ") + ("," if m < len(cols) - 1 else ""))
            lines.append(" }" + comma)
        elif key == "head":
            lines.append(' "head": ' + _layer_list(value, "  ") + comma)
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _layer_list(layers: list, indent: str) -> str:
    if not layers:
        return "[]"
    body = ",\n".join(indent + json.dumps(layer) for layer in layers)
    return "[\n" + body + "\n" + indent[:-1] + "]"
