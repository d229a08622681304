"""Architecture specs (plain JSON dicts) and the Keras models they describe.

``build`` imports Keras; everything else here (loading, validating, counting parameters) works
on the spec alone, by shape arithmetic, so the search and ``nuclassify models`` stay cheap.
"""

from nuclassify.models._build import build, count_params, load_model, make_optimizer
from nuclassify.models._members import members_model
from nuclassify.models._spec import (
    ACTIVATIONS,
    INPUT_TRANSFORM_NAMES,
    OPTIMIZERS,
    LayerInfo,
    spec_params,
    validate_spec,
    walk_spec,
)
from nuclassify.models._zoo import INPUT_PRESETS, dump_spec, list_specs, load_spec, preset_shapes

__all__ = [
    "build", "count_params", "load_model", "make_optimizer", "validate_spec", "walk_spec", "LayerInfo",
    "load_spec", "list_specs", "dump_spec", "INPUT_PRESETS", "preset_shapes", "spec_params", "ACTIVATIONS",
    "OPTIMIZERS", "INPUT_TRANSFORM_NAMES", "members_model",
]
