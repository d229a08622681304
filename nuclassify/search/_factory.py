"""Checked genomes: every genome the master hands out has been repaired and walked here.

The factory joins the space, the data's input shapes and the operators. A genome leaves it
only if :func:`nuclassify.models.walk_spec` (shape arithmetic, no Keras; here its faster twin
:func:`~nuclassify.models._spec.spec_params`, which counts without describing) accepts it and its
parameter count is within the space's ``max_params``; otherwise the operator is retried with
the next random numbers, so the outcome is still a pure function of the generator's state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nuclassify.errors import SpecError, UsageError
from nuclassify.models import spec_params, walk_spec
from nuclassify.search._genome import genome_from_spec, random_genome
from nuclassify.search._operators import crossover, mutate
from nuclassify.search._repair import repair
from nuclassify.search._space import SearchSpace

__all__ = ["Checked", "GenomeFactory", "training_memory_gb", "MEMORY_PER_ACTIVATION"]


@dataclass(frozen=True)
class Checked:
    """A genome that fits the inputs, its parameter count, and how it was made."""

    genome: dict
    params: int
    origin: str


class GenomeFactory:
    """Random, seeded, mutated and crossed genomes that fit ``input_shapes`` under the cap.

    Args:
        space: the search space.
        input_shapes: view name -> channels-last (H, W, C) of the data.
        n_classes: classes of the target (the output layer counts towards ``max_params``).
        attempts: tries per request before falling back (mutation) or giving up (random).
    """

    def __init__(self, space: SearchSpace, input_shapes: dict[str, tuple[int, int, int]], n_classes: int,
                 attempts: int = 100) -> None:
        space.check_inputs(input_shapes)
        self.space = space
        self.input_shapes = {v: tuple(int(d) for d in s) for v, s in input_shapes.items()}
        self.n_classes = n_classes
        self.attempts = attempts

    def check(self, genome: dict) -> int:
        """Repair ``genome`` in place and return its parameter count.

        Raises:
            SpecError: it does not fit the inputs, or it is over ``max_params``.
        """
        repair(genome, self.input_shapes)  # type: ignore[arg-type]
        memory_cap = self.space.max_memory_gb
        if memory_cap is None:
            params = spec_params(genome, self.input_shapes, self.n_classes)  # type: ignore[arg-type]
        else:
            layers = walk_spec(genome, self.input_shapes, self.n_classes)  # type: ignore[arg-type]
            params = sum(layer.params for layer in layers)
        cap = self.space.max_params
        if cap is not None and params > cap:
            raise SpecError(f"{params:,} parameters, over the space's max_params {cap:,}")
        if memory_cap is not None:
            memory = training_memory_gb(layers, int(genome.get("training", {}).get("batch_size", 256)))
            if memory > memory_cap:
                raise SpecError(f"about {memory:.1f} GB to train, over the space's max_memory_gb {memory_cap:g}")
        return params

    def _try(self, genome: dict) -> int | None:
        try:
            return self.check(genome)
        except SpecError:
            return None

    def random(self, rng: np.random.Generator) -> Checked:
        """A random genome from the whole space.

        Raises:
            SpecError: no draw in ``attempts`` fits (the space is too tight for these inputs).
        """
        for _ in range(self.attempts):
            genome = random_genome(self.space, rng)
            params = self._try(genome)
            if params is not None:
                return Checked(genome, params, "random")
        raise SpecError(f"search space {self.space.label}: none of {self.attempts} random networks fits inputs "
                        f"{self.input_shapes} under max_params {self.space.max_params}; loosen the space")

    def mutate(self, parent: dict, rng: np.random.Generator) -> Checked:
        """A mutated child that differs from ``parent`` (after repair); a random genome if none is found."""
        for _ in range(self.attempts):
            child, changes = mutate(parent, self.space, rng)
            params = self._try(child)
            if params is not None and child != parent:
                return Checked(child, params, "mutation: " + "; ".join(changes))
        fallback = self.random(rng)
        return Checked(fallback.genome, fallback.params, "random (no valid mutation found)")

    def crossover(self, a: dict, b: dict, rng: np.random.Generator) -> Checked | None:
        """A child of ``a`` and ``b``; ``None`` if their columns are not compatible or no child fits."""
        for _ in range(max(1, self.attempts // 10)):
            child = crossover(a, b, self.space, rng)
            if child is None:
                return None
            params = self._try(child)
            if params is not None:
                return Checked(child, params, "crossover")
        return None

    def seeded(self, spec: dict) -> Checked:
        """A known network (``--seed-arch``) as a checked genome, repaired to the data if needed.

        Raises:
            UsageError: the network cannot be made to fit the data or the cap.
        """
        name = spec.get("name", "seed")
        genome = genome_from_spec(spec)
        missing = [v for v in genome.get("views", []) if v not in self.input_shapes]
        if missing:
            raise UsageError(f"seed network {name} uses view(s) {', '.join(missing)} that the data lacks "
                             f"(it has {', '.join(self.input_shapes)})")
        try:
            params = self.check(genome)
        except SpecError as exc:
            raise UsageError(f"seed network {name} does not fit this search: {exc}") from exc
        return Checked(genome, params, f"seed {name}")


#: Training memory per byte of forward activations: each layer's output is kept for the backward
#: pass, its gradient is made there, and TensorFlow adds temporaries. Measured on this project's
#: 2-core CPU machine: a MINERvA candidate with 3.7 GB of float32 forward activations per batch of
#: 500 reached 24 GB resident before the kernel killed it (a factor of 6.5).
MEMORY_PER_ACTIVATION = 6.5


def training_memory_gb(layers: list, batch_size: int) -> float:
    """Estimated GB to train one batch: float32 activations of every layer, times
    :data:`MEMORY_PER_ACTIVATION`, plus the parameters with Adam's two moments and gradients."""
    activations = sum(math.prod(layer.out_shape) for layer in layers)
    params = sum(layer.params for layer in layers)
    return (4.0 * batch_size * activations * MEMORY_PER_ACTIVATION + 16.0 * params) / 1e9
