"""`make demo`'s training recipe: the fast-learning conv4 spec, the cosine schedule it relies on,
the demo script's flags, and the paired McNemar line the demo ends on."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from nuclassify.evaluation._metrics import Tally
from nuclassify.evaluation._report import format_evaluation, format_paired
from nuclassify.evaluation._runner import ModelEvaluation
from nuclassify.models import count_params, list_specs, load_spec, preset_shapes

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.sh"
DEMO_ARCH = "conv4-fast"


def _convs(spec: dict, column: str) -> list[tuple[int, list[int]]]:
    return [(layer["filters"], layer["kernel"]) for layer in spec["columns"][column] if layer["kind"] == "conv"]


def test_demo_spec_is_the_seed_conv4_with_lighter_dropout_and_small_batches():
    assert DEMO_ARCH in list_specs()
    fast, conv4 = load_spec(DEMO_ARCH), load_spec("conv4")
    for view in ("x", "u", "v"):
        assert _convs(fast, view) == _convs(conv4, view) == [(12, [8, 3]), (20, [8, 3]), (28, [7, 3]), (36, [6, 3])]
        assert not [layer for layer in fast["columns"][view] if layer["kind"] == "dropout"]
    assert [layer.get("rate") for layer in fast["head"] if layer["kind"] == "dropout"] == [0.25]
    assert fast["training"]["batch_size"] == 64 and fast["training"]["learning_rate"] == 0.001
    assert fast["input_transform"] == "log1p"
    shapes, n_classes = preset_shapes(fast["default_inputs"])
    # Dropout has no weights: the same 1,240,919 parameters as conv4 (`nuclassify models`).
    assert count_params(fast, shapes, n_classes) == count_params(conv4, shapes, n_classes) == 1_240_919


@pytest.mark.slow
def test_demo_spec_builds_with_the_counted_parameters():
    from nuclassify.models import build

    spec = load_spec(DEMO_ARCH)
    shapes, n_classes = preset_shapes(spec["default_inputs"])
    model = build(spec, shapes, n_classes)
    assert model.count_params() == 1_240_919
    assert [t.name for t in model.inputs] == ["x", "u", "v"] and tuple(model.output.shape) == (None, 11)


@pytest.mark.slow
def test_cosine_schedule_starts_at_the_spec_rate_and_ends_at_zero(tiny_minerva, tiny_spec, tmp_path):
    """The demo's schedule: lr(t) = lr0 * (1 + cos(pi t / T)) / 2 over all T steps (Loshchilov & Hutter,
    arXiv:1608.03983, without restarts), so the last step trains at a rate near 0."""
    keras = pytest.importorskip("keras")
    from nuclassify.training import TrainConfig, fit

    out = tmp_path / "run"
    fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=2, batch_size=16, seed=1, quiet=True, lr_schedule="cosine",
                               tensorboard=False))
    steps = 2 * math.ceil(96 / 16)  # the fixture holds 96 events
    model = keras.models.load_model(out / "model.keras", compile=True)
    opt = model.optimizer
    assert int(opt.iterations.numpy()) == steps
    schedule = opt._learning_rate  # the schedule object itself, not its current value
    lr0 = tiny_spec["training"]["learning_rate"]
    assert float(schedule(0)) == pytest.approx(lr0, rel=1e-6)
    assert float(schedule(steps // 2)) == pytest.approx(lr0 / 2, rel=1e-5)
    assert float(schedule(steps // 4)) == pytest.approx(lr0 * (1 + math.cos(math.pi / 4)) / 2, rel=1e-5)
    assert float(schedule(steps)) == pytest.approx(0.0, abs=1e-9)


def _demo_default(name: str) -> str:
    match = re.search(rf"^{name}=\$\{{[A-Z_]+:-([^}}]+)\}}$", DEMO.read_text(), re.MULTILINE)
    assert match, f"{name} not set in {DEMO}"
    return match.group(1)


def test_demo_script_trains_the_recipe_within_its_budget():
    text = DEMO.read_text()
    assert _demo_default("ARCH") == DEMO_ARCH and _demo_default("SCHEDULE") == "cosine"
    assert int(_demo_default("BATCH")) == 64
    n_train, epochs = int(_demo_default("N_TRAIN")), int(_demo_default("EPOCHS"))
    # ~290 events/s on 2 quiet cores (measured; see README): the event passes must fit ~5 minutes.
    assert 0.9 * n_train * epochs / 290 < 300
    for flag in ('--arch "$ARCH"', '--batch-size "$BATCH"', '--lr-schedule "$SCHEDULE"', '--seed "$SEED"'):
        assert flag in text, flag
    # The demo's data settings stay the default simulator's: only the sizes and seeds are chosen.
    sims = [line for line in text.splitlines() if line.startswith("nuclassify simulate")]
    assert len(sims) == 2 and all("--layout 2016" in s and "--noise" not in s and "--gain" not in s for s in sims)


def _evaluation(name: str, correct: np.ndarray) -> ModelEvaluation:
    tally = Tally(2)
    truth = np.zeros(len(correct), dtype=np.int64)
    tally.update(truth, np.where(correct, 0, 1))
    return ModelEvaluation(name=name, class_names=("a", "b"), tally=tally, correct=correct)


def test_model_against_baseline_line_carries_mcnemars_p():
    # 100 events: both right on 50, both wrong on 10, only the model right on 30, only the baseline on 10.
    model = np.array([True] * 50 + [False] * 10 + [True] * 30 + [False] * 10)
    base = np.array([True] * 50 + [False] * 10 + [False] * 30 + [True] * 10)
    line = format_paired(_evaluation("net", model), _evaluation("trackfit", base))
    # Continuity-corrected McNemar (Edwards 1948): chi2 = (|b - c| - 1)^2 / (b + c) = 361/40, 1 dof.
    p = stats.chi2.sf(361 / 40, 1)
    assert p == pytest.approx(0.002663, abs=1e-6)
    assert line == "net vs trackfit: +20.00 points, McNemar p = 0.003 (30 events only net got right, 10 only trackfit)"
    text = format_evaluation(_evaluation("net", model), _evaluation("trackfit", base), per_segment=False)
    assert text.splitlines()[2] == line
    tiny = format_paired(_evaluation("net", model[:90]), _evaluation("trackfit", np.zeros(90, bool)))
    assert "McNemar p = " in tiny and "e-" in tiny  # p < 1e-3 is printed in scientific notation

