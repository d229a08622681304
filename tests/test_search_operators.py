"""Genomes: every random, seeded, mutated or crossed genome fits its inputs (walk_spec) under the cap."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nuclassify.models import load_spec, preset_shapes, walk_spec
from nuclassify.search import GenomeFactory, Objectives, load_space, make_strategy, pareto_front
from nuclassify.search._candidate import Candidate
from nuclassify.search._repair import repair

MINERVA_2016 = preset_shapes("minerva2016")
DIGITS = ({"image": (8, 8, 1)}, 10)


@pytest.mark.parametrize(("space", "inputs"), [("minerva", MINERVA_2016), ("images", DIGITS)])
def test_every_candidate_fits_its_inputs(space, inputs):
    shapes, n_classes = inputs
    factory = GenomeFactory(load_space(space), shapes, n_classes)
    rng = np.random.default_rng(1)
    pool = [factory.random(rng).genome for _ in range(12)]
    made = list(pool)
    for _ in range(60):  # chains of mutations and crossovers, as a long search makes them
        a, b = pool[int(rng.integers(len(pool)))], pool[int(rng.integers(len(pool)))]
        child = factory.crossover(a, b, rng) if rng.random() < 0.3 else None
        child = child or factory.mutate(a, rng)
        pool[int(rng.integers(len(pool)))] = child.genome
        made.append(child.genome)
    for genome in made:
        params = sum(info.params for info in walk_spec(genome, shapes, n_classes))
        assert params <= factory.space.max_params


def test_seed_network_is_kept_and_mutated_within_bounds():
    shapes, n_classes = MINERVA_2016
    factory = GenomeFactory(load_space("minerva"), shapes, n_classes)
    seed = factory.seeded(load_spec("conv4"))
    assert seed.origin == "seed conv4" and seed.genome["columns"] == load_spec("conv4")["columns"]
    rng = np.random.default_rng(0)
    child = factory.mutate(seed.genome, rng)
    assert child.genome != seed.genome and child.origin.startswith("mutation: ")
    walk_spec(child.genome, shapes, n_classes)


def test_repair_shrinks_windows_and_drops_image_layers_after_dense():
    genome = {"views": ["image"], "combine": "columns", "merge": "concat", "head": [], "columns": {"image": [
        {"kind": "conv", "filters": 4, "kernel": [20, 3]}, {"kind": "pool", "size": [4, 4]},
        {"kind": "dense", "units": 8}, {"kind": "conv", "filters": 4, "kernel": [1, 1]}]}}
    repair(genome, {"image": (8, 8, 1)})
    layers = genome["columns"]["image"]
    assert layers[0]["kernel"] == [8, 3] and layers[1]["size"] == [1, 4] and [x["kind"] for x in layers][-1] == "dense"
    walk_spec(genome, {"image": (8, 8, 1)}, 10)


@pytest.mark.parametrize("name", ["regularized", "ga", "random"])
def test_same_seed_same_proposals(name):
    shapes, n_classes = DIGITS

    def proposals(seed):
        rng = np.random.default_rng(seed)
        strategy = make_strategy(name, GenomeFactory(load_space("images"), shapes, n_classes),
                                 Objectives.parse("val_accuracy"), rng, population=4, tournament=2)
        out = []
        for i in range(12):
            p = strategy.ask()
            out.append((p.genome, p.parents))
            strategy.tell(Candidate(i, p.genome, p.params, p.parents, status="finished",
                                    objectives={"val_accuracy": (i * 7 % 5) / 5}))
        return out

    assert proposals(3) == proposals(3)
    assert proposals(3) != proposals(4)


def test_objectives_and_pareto_front():
    obj = Objectives.parse("val_accuracy,-params")
    assert obj.names == ("val_accuracy", "params") and obj.signs == (1, -1) and str(obj) == "val_accuracy,-params"
    assert pareto_front([(0.9, -100), (0.8, -50), (0.7, -60), (0.9, -200)]) == [0, 1]
    assert obj.problem({"val_accuracy": float("nan"), "params": 1}).startswith("nan: val_accuracy")


def test_two_objectives_keep_a_pareto_front(tmp_path):
    from nuclassify.search import SearchConfig, SerialExecutor, run_search

    config = SearchConfig(load_space("images"), *DIGITS, budget=30, strategy="ga", population=8, tournament=3,
                          objectives="val_accuracy,-params")
    result = run_search(tmp_path, config, SerialExecutor())
    points = [(c.objectives["val_accuracy"], -c.params) for c in result.candidates]
    front = {c.id for c in result.front}
    assert front == {result.candidates[i].id for i in pareto_front(points)} and result.best.id in front
    header = (tmp_path / "results.csv").read_text().splitlines()[0].split(",")
    assert header.count("params") == 1 and "val_accuracy" in header


def test_master_side_never_imports_a_framework():
    code = ("import sys, nuclassify.search, nuclassify.search._process, nuclassify.search._loop; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
