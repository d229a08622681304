"""Public generators: blocks of events, seeded per block, optionally in several processes.

Reproducibility whatever the number of workers: the events are cut into blocks of a fixed
size, and block ``i`` draws from its own generator seeded by ``SeedSequence([seed, tag, i])``.
Workers only change who computes a block, never its numbers, and blocks are yielded in order.

Each generator returns :class:`SimulatedBlocks`: the blocks, plus ``provenance``, the seed and
every option the events depend on. The data layer's writers record it in the file, so a file
says how to make it again. ``workers`` is left out on purpose: the events do not depend on it.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import numpy as np

from nuclassify._signals import wait_interruptibly
from nuclassify.detector import minerva
from nuclassify.errors import UsageError
from nuclassify.events import MinervaBlock, NovaBlock
from nuclassify.simulate._effects import CROSSTALK_FRACTION, DEAD_CHANNEL_FRACTION
from nuclassify.simulate._minerva import PILEUP_DEFAULT, TIME_REFERENCES, MinervaConfig, minerva_block
from nuclassify.simulate._nova import NovaConfig, nova_block
from nuclassify.simulate._vertex import Z_MAX_LIMIT_MM, Z_MAX_MM

__all__ = ["simulate_minerva", "simulate_nova", "SimulatedBlocks", "BEAMS", "MINERVA_BLOCK_SIZE",
           "NOVA_BLOCK_SIZE", "SIMULATOR_VERSION", "PILEUP_DEFAULT", "TIME_REFERENCES"]

BEAMS = ("le", "me")
# Version of the simulator's physics, recorded in every simulated file's provenance so files
# made before and after a physics change can be told apart. 1 (unrecorded): up to issue 13.
# 2: per-material range tables, NOvA cells without strip sharing, reconstructed time reference,
# cross-talk, dead channels, fibre attenuation, per-beam pile-up, vertices to 6172.29 mm.
SIMULATOR_VERSION = 2
# The first segment-10 z (downstream of T5): a narrower vertex range would leave it empty.
_Z_MAX_LOWEST_MM = 5857.60
MINERVA_BLOCK_SIZE = 2500
NOVA_BLOCK_SIZE = 1000
_TAG = {"minerva": 1, "nova": 2}
BlockT = TypeVar("BlockT", MinervaBlock, NovaBlock)


class SimulatedBlocks(Generic[BlockT]):
    """The blocks of one simulation, in event order, with the options that made them.

    Iterate over it as over any iterator (blocks are simulated as they are consumed).
    ``provenance`` holds the simulator's name, the detector, ``n_events``, ``seed``,
    ``block_size`` and every generator option, under the keyword names of the function that made
    it (data/README.md lists them). A writer given these blocks records it in the file, e.g.
    ``write_minerva(path, simulate_minerva(1000, seed=1))``.
    """

    def __init__(self, blocks: Iterator[BlockT], provenance: dict[str, Any]) -> None:
        self._blocks = blocks
        self._provenance = dict(provenance)

    @property
    def provenance(self) -> dict[str, Any]:
        """A copy of the record (plain JSON types), so callers can add to it freely."""
        return dict(self._provenance)

    def __iter__(self) -> SimulatedBlocks[BlockT]:
        return self

    def __next__(self) -> BlockT:
        return next(self._blocks)

    def close(self) -> None:
        """Stop early: the worker processes, if any, are terminated now rather than when collected."""
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()


def _rng(seed: int, detector: str, block: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _TAG[detector], block]))


def _minerva_job(args: tuple[int, int, int, MinervaConfig]) -> MinervaBlock:
    seed, block, n, cfg = args
    run = (seed + block // 10_000) % 1_000_000
    return minerva_block(_rng(seed, "minerva", block), n, cfg, run, block % 10_000)


def _nova_job(args: tuple[int, int, int, NovaConfig]) -> NovaBlock:
    seed, block, n, cfg = args
    return nova_block(_rng(seed, "nova", block), n, cfg)


def _check_common(n_events: int, seed: int, workers: int, block_size: int) -> None:
    if int(n_events) <= 0:
        raise UsageError(f"number of events must be positive (received n_events={n_events})")
    if int(seed) < 0:
        raise UsageError(f"seed must be a non-negative integer (received seed={seed})")
    if int(workers) < 1:
        raise UsageError(f"workers must be at least 1 (received workers={workers})")
    if not 1 <= int(block_size) <= 9999:
        raise UsageError(f"block_size must be between 1 and 9999 (received block_size={block_size})")


def _provenance(detector: str, n_events: int, seed: int, block_size: int, **options: Any) -> dict[str, Any]:
    """The record of a simulation: everything its events depend on, as plain JSON values.

    Values are the normalised ones the generator uses (floats as floats), so two calls that
    make the same events give the same record, e.g. ``gain=1`` and ``gain=1.0``.
    """
    return {"simulator": f"nuclassify.simulate.simulate_{detector}", "simulator_version": SIMULATOR_VERSION,
            "detector": detector, "n_events": int(n_events), "seed": int(seed), "block_size": int(block_size),
            **options}


def _last_imaged_z(layout: str) -> float:
    """z (mm) of the last X plane imaged in ``layout``: vertices further downstream leave no image."""
    return float(minerva.view_plane_z("x", minerva.image_columns(layout)["x"])[-1])


def _quiet_worker() -> None:
    """Workers leave Ctrl-C to the parent (which stops the pool) and die quietly when terminated,
    also when the parent is killed outright (``kill -9``): otherwise they ran on to a broken pipe
    and printed its traceback to the terminal."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(signal.SIGTERM)


def _die_with_parent(sig: int) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (prctl PR_SET_PDEATHSIG); elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig), 0, 0, 0)  # 1: PR_SET_PDEATHSIG


def _run_blocks(job: Callable[[Any], Any], jobs: list[Any], workers: int) -> Iterator[Any]:
    """Yield ``job(args)`` for each of ``jobs`` in order, computed by up to ``workers`` processes.

    At most two blocks per worker are in flight, so a slow consumer (the writer) never lets
    finished blocks pile up in memory, however many events are asked for.
    """
    if workers == 1 or len(jobs) == 1:
        for args in jobs:
            yield job(args)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    n_proc = min(workers, len(jobs))
    pool = multiprocessing.get_context(method).Pool(n_proc, initializer=_quiet_worker)
    try:
        pending: deque[Any] = deque()
        queued = iter(jobs)
        for args in itertools.islice(queued, 2 * n_proc):
            pending.append(pool.apply_async(job, (args,)))
        while pending:
            result = wait_interruptibly(pending.popleft().get, multiprocessing.TimeoutError)
            for args in itertools.islice(queued, 1):
                pending.append(pool.apply_async(job, (args,)))
            yield result
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def simulate_minerva(n_events: int, *, seed: int = 0, beam: str = "le", pileup: float | None = None,
                     backward_fraction: float = 0.06, gain: float = 1.0, noise_rate: float = 2e-4,
                     layout: str = "2018", crosstalk: float = CROSSTALK_FRACTION,
                     dead_channels: float = DEAD_CHANNEL_FRACTION, attenuation: float = 1.0,
                     time_reference: str = "reco", z_max: float = Z_MAX_MM, block_size: int = MINERVA_BLOCK_SIZE,
                     workers: int = 1) -> SimulatedBlocks[MinervaBlock]:
    """Simulate MINERvA neutrino events in the nuclear-target region, block by block.

    Every detector effect is an option that can be turned off (0) or scaled; data/README.md
    ("Detector effects") gives each default and its source.

    Args:
        n_events: number of events (> 0).
        seed: the output is a function of ``seed`` (and the options) only, whatever ``workers``.
        beam: "le" (NuMI low energy, peak near 3 GeV) or "me" (medium energy, near 6 GeV).
        pileup: fraction of events with a second, overlapping interaction; None takes the
            beam's own (LE 0.04, ME 0.12: ME spills make about 3x the interactions).
        backward_fraction: fraction of events with a hadron thrown backwards.
        gain: multiplies recorded energies (a mis-calibrated detector for shifted samples).
        noise_rate: probability that an imaged channel fires on noise in an event.
        layout: "2018" (X 127x94, U/V 127x47) or "2016" (X 127x50, U/V 127x25) images.
        crosstalk: fraction of each channel's photo-electrons that a neighbouring PMT pixel
            picks up (0 to 0.5; default 0.04).
        dead_channels: fraction of channels that record nothing (0 to 0.5; a fixed map).
        attenuation: scale of the WLS-fibre light attenuation, multiplying 1/lambda (0: none).
        time_reference: "reco" (hit times minus the reconstructed muon-track vertex time, or the
            earliest energetic cluster's time without a track, as the experiment's files) or
            "truth" (minus the true interaction time, exactly: version 1's behaviour).
        z_max: upper z (mm) of the vertices: 6172.29 (the experiment's skimmer default) up to
            8408.91 (the end of the tracker; the 2017-18 samples set no bound).
        block_size: events per block (fixed: changing it changes the events).
        workers: processes to use (the events do not depend on it, so it is not in provenance).

    Returns:
        An iterator of :class:`~nuclassify.events.MinervaBlock` objects in event order, with a
        ``provenance`` dict of the seed and options (:class:`SimulatedBlocks`); the options are
        checked at once (:class:`~nuclassify.errors.UsageError`), the events are simulated as
        the iterator is consumed.

    Example:
        >>> blocks = list(simulate_minerva(10, seed=1))
        >>> blocks[0].views["x"].shape
        (2, 127, 94)
    """
    _check_common(n_events, seed, workers, block_size)
    if beam not in BEAMS:
        raise UsageError(f"unknown beam {beam!r} (expected one of {', '.join(BEAMS)})")
    if layout not in ("2018", "2016"):
        raise UsageError(f"unknown layout {layout!r} (expected 2018 or 2016)")
    if pileup is None:
        pileup = PILEUP_DEFAULT[beam]
    for name, value in (("pileup", pileup), ("backward_fraction", backward_fraction)):
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"{name} must be between 0 and 1 (received {name}={value})")
    if gain <= 0:
        raise UsageError(f"gain must be positive (received gain={gain})")
    if not 0.0 <= noise_rate <= 0.1:
        raise UsageError(f"noise_rate must be between 0 and 0.1 (received noise_rate={noise_rate})")
    for name, value in (("crosstalk", crosstalk), ("dead_channels", dead_channels)):
        if not 0.0 <= value <= 0.5:
            raise UsageError(f"{name} must be between 0 and 0.5 (received {name}={value})")
    if not 0.0 <= attenuation <= 10.0:
        raise UsageError(f"attenuation must be between 0 and 10 (received attenuation={attenuation})")
    if layout == "2016" and z_max > _last_imaged_z(layout):
        raise UsageError(f"z_max must be at most {_last_imaged_z(layout):.2f} mm for the 2016 layout, whose images "
                         f"end there (received z_max={z_max})")
    if time_reference not in TIME_REFERENCES:
        raise UsageError(f"unknown time_reference {time_reference!r} (expected one of {', '.join(TIME_REFERENCES)})")
    if not _Z_MAX_LOWEST_MM < z_max <= Z_MAX_LIMIT_MM:
        raise UsageError(f"z_max must be above {_Z_MAX_LOWEST_MM} and at most {Z_MAX_LIMIT_MM} mm "
                         f"(received z_max={z_max})")
    cfg = MinervaConfig(beam=beam, pileup=float(pileup), backward_fraction=float(backward_fraction),
                        gain=float(gain), noise_rate=float(noise_rate), layout=layout, crosstalk=float(crosstalk),
                        dead_channels=float(dead_channels), attenuation=float(attenuation),
                        time_reference=time_reference, z_max=float(z_max))
    jobs = [(int(seed), i, min(block_size, n_events - start), cfg)
            for i, start in enumerate(range(0, int(n_events), int(block_size)))]
    provenance = _provenance("minerva", n_events, seed, block_size, beam=cfg.beam, layout=cfg.layout,
                             pileup=cfg.pileup, backward_fraction=cfg.backward_fraction, gain=cfg.gain,
                             noise_rate=cfg.noise_rate, crosstalk=cfg.crosstalk, dead_channels=cfg.dead_channels,
                             attenuation=cfg.attenuation, time_reference=cfg.time_reference, z_max=cfg.z_max)
    return SimulatedBlocks(_run_blocks(_minerva_job, jobs, int(workers)), provenance)


def simulate_nova(n_events: int, *, seed: int = 0, gain: float = 1.0, block_size: int = NOVA_BLOCK_SIZE,
                  workers: int = 1) -> SimulatedBlocks[NovaBlock]:
    """Simulate NOvA far-detector events as CVN pixel maps with interaction codes 0-13.

    Args:
        n_events: number of events (> 0).
        seed: the output depends on ``seed`` only, whatever ``workers``.
        gain: multiplies recorded energies before the 8-bit quantisation.
        block_size: events per block (fixed: changing it changes the events).
        workers: processes to use (the events do not depend on it, so it is not in provenance).

    Returns:
        An iterator of :class:`~nuclassify.events.NovaBlock` objects in event order, with a
        ``provenance`` dict (:class:`SimulatedBlocks`); options checked at once, events
        simulated as it is consumed.
    """
    _check_common(n_events, seed, workers, block_size)
    if gain <= 0:
        raise UsageError(f"gain must be positive (received gain={gain})")
    cfg = NovaConfig(float(gain))
    jobs = [(int(seed), i, min(block_size, n_events - start), cfg)
            for i, start in enumerate(range(0, int(n_events), int(block_size)))]
    provenance = _provenance("nova", n_events, seed, block_size, gain=cfg.gain)
    return SimulatedBlocks(_run_blocks(_nova_job, jobs, int(workers)), provenance)
