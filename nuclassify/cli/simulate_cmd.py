"""``nuclassify simulate minerva|nova``: thin over :mod:`nuclassify.simulate` and the writers.

The file records how it was made (the simulator's own provenance: seed and every option) plus
``command``, the command line that makes the same file again. That command is rebuilt from the
options rather than copied from ``sys.argv``: it leaves out ``-o``, ``--workers``,
``--overwrite`` and ``--json``, which do not change the file, so two runs that differ only in
those still write byte-identical files (with ``SOURCE_DATE_EPOCH`` set).
"""

from __future__ import annotations

import contextlib
import shlex
import time
from pathlib import Path

import click

from nuclassify._signals import terminate_as_interrupt
from nuclassify.cli._output import get_output

_OUTPUT = click.Path(path_type=Path, dir_okay=False)


def _common(func):  # type: ignore[no-untyped-def]
    """Options shared by both detectors."""
    for decorator in reversed([
        click.option("-n", "--events", "n_events", type=int, required=True, help="Number of events (> 0)."),
        click.option("-o", "--output", type=_OUTPUT, required=True, help="HDF5 file to write."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Random seed: the file depends on it, never on --workers."),
        click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Processes to simulate with."),
        click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists."),
        click.option("--json", "json_mode", is_flag=True, help="Print a JSON summary instead of text."),
    ]):
        func = decorator(func)
    return func


def _check(n_events: int, output: Path, overwrite: bool) -> None:
    """Refuse bad input before any event is simulated."""
    from nuclassify._fileio import check_output_path
    from nuclassify.errors import UsageError

    if n_events <= 0:
        raise UsageError(f"-n must be a positive number of events (received {n_events})")
    check_output_path(output, overwrite=overwrite)


def _command(detector: str, n_events: int, seed: int, **options: object) -> str:
    """The ``nuclassify simulate`` command that reproduces the file (add ``-o FILE``).

    Every option is spelled out, defaults included, so the command keeps its meaning even if a
    later version changes a default.
    """
    args = ["nuclassify", "simulate", detector, "-n", str(n_events), "--seed", str(seed)]
    for flag, value in options.items():
        args += [f"--{flag.replace('_', '-')}", str(value)]
    return shlex.join(args)


@click.group("simulate")
def simulate() -> None:
    """Simulate MINERvA or NOvA events into an HDF5 file (the experiments' layouts).

    The same --seed gives the same file whatever --workers is. The file records its seed,
    options, nuclassify version and creation time (see `nuclassify inspect FILE`); set
    SOURCE_DATE_EPOCH to fix the recorded time and get byte-identical files.

    \b
    Examples:
      nuclassify simulate minerva -n 20000 -o train.h5 --seed 1 --workers 2
      nuclassify simulate minerva -n 5000 -o shifted.h5 --seed 2 --gain 1.05 --noise-rate 5e-4
      nuclassify simulate nova -n 10000 -o nova.h5 --seed 1
      nuclassify simulate minerva -n 5000 -o quiet.h5 --crosstalk 0 --dead-channels 0 --time-reference truth
      nuclassify simulate report -o physics_report      # the physics figures and plots
    """


@simulate.command("minerva")
@_common
@click.option("--beam", type=click.Choice(["le", "me"]), default="le", show_default=True,
              help="NuMI low-energy (peak ~3 GeV) or medium-energy (~6 GeV) spectrum.")
@click.option("--pileup", type=click.FloatRange(0, 1), default=None,
              help="Fraction of events with a second, overlapping interaction [default: the beam's, LE 0.04, "
                   "ME 0.12].")
@click.option("--backward", type=click.FloatRange(0, 1), default=0.06, show_default=True,
              help="Fraction of events with a hadron thrown backwards.")
@click.option("--gain", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Energy-scale factor of the readout (for shifted samples).")
@click.option("--noise-rate", type=click.FloatRange(0, 0.1), default=2e-4, show_default=True,
              help="Probability that a channel fires on noise in an event.")
@click.option("--layout", type=click.Choice(["2018", "2016"]), default="2018", show_default=True,
              help="2018: X 127x94, U/V 127x47 in groups; 2016: X 127x50, U/V 127x25 at the root.")
@click.option("--crosstalk", type=click.FloatRange(0, 0.5), default=0.04, show_default=True,
              help="Fraction of a channel's photo-electrons picked up by a neighbouring PMT pixel (0: none).")
@click.option("--dead-channels", type=click.FloatRange(0, 0.5), default=0.002, show_default=True,
              help="Fraction of channels that record nothing (a fixed map; 0: none).")
@click.option("--attenuation", type=click.FloatRange(0, 10), default=1.0, show_default=True,
              help="Scale of the light attenuation along the WLS fibres (0: none, 2: twice as strong).")
@click.option("--time-reference", type=click.Choice(["reco", "truth"]), default="reco", show_default=True,
              help="Hit times minus the reconstructed muon-track vertex time (reco, as the experiment's files) "
                   "or minus the true interaction time (truth).")
@click.option("--z-max", type=click.FloatRange(5857.6, 8408.91, min_open=True), default=6172.29,
              show_default=True,
              help="Upper vertex z in mm: the experiment's skimmer default, up to the end of the tracker.")
@click.pass_context
def minerva(ctx: click.Context, n_events: int, output: Path, seed: int, workers: int, overwrite: bool,
            json_mode: bool, beam: str, pileup: float | None, backward: float, gain: float, noise_rate: float,
            layout: str, crosstalk: float, dead_channels: float, attenuation: float, time_reference: str,
            z_max: float) -> None:
    """Simulate MINERvA nuclear-target events (segment and plane-code labels, full truth).

    \b
    Examples:
      nuclassify simulate minerva -n 20000 -o train.h5 --seed 1 --workers 2
      nuclassify simulate minerva -n 5000 -o test.h5 --seed 7
      nuclassify simulate minerva -n 5000 -o shifted.h5 --seed 2 --gain 1.05 --beam me
    """
    from nuclassify.data import write_minerva
    from nuclassify.simulate import simulate_minerva

    out = get_output(ctx, json_mode)
    _check(n_events, output, overwrite)
    blocks = simulate_minerva(n_events, seed=seed, beam=beam, pileup=pileup, backward_fraction=backward, gain=gain,
                              noise_rate=noise_rate, layout=layout, crosstalk=crosstalk, dead_channels=dead_channels,
                              attenuation=attenuation, time_reference=time_reference, z_max=z_max, workers=workers)
    start = time.perf_counter()
    # The resolved pile-up (the beam's default when not given), so the command keeps its meaning.
    command = _command("minerva", n_events, seed, beam=beam, pileup=blocks.provenance["pileup"], backward=backward,
                       gain=gain, noise_rate=noise_rate, layout=layout, crosstalk=crosstalk,
                       dead_channels=dead_channels, attenuation=attenuation, time_reference=time_reference,
                       z_max=z_max)
    # closing(): on Ctrl-C/SIGTERM the worker pool is stopped at once, not when the generator is collected
    with terminate_as_interrupt(), contextlib.closing(blocks), \
            out.progress_bar(n_events, label="simulating MINERvA") as bar:
        path = write_minerva(output, blocks, layout=layout, overwrite=overwrite, on_block=bar.update,
                             provenance={"command": command})
    _report(out, "minerva", path, n_events, seed, time.perf_counter() - start)


@simulate.command("nova")
@_common
@click.option("--gain", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Energy-scale factor before the 8-bit quantisation.")
@click.pass_context
def nova(ctx: click.Context, n_events: int, output: Path, seed: int, workers: int, overwrite: bool,
         json_mode: bool, gain: float) -> None:
    """Simulate NOvA events as CVN pixel maps (interaction codes 0-13).

    \b
    Examples:
      nuclassify simulate nova -n 10000 -o nova.h5 --seed 1
      nuclassify simulate nova -n 2000 -o nova_test.h5 --seed 2 --gain 1.1
    """
    from nuclassify.data import write_nova
    from nuclassify.simulate import simulate_nova

    out = get_output(ctx, json_mode)
    _check(n_events, output, overwrite)
    blocks = simulate_nova(n_events, seed=seed, gain=gain, workers=workers)
    start = time.perf_counter()
    command = _command("nova", n_events, seed, gain=gain)
    with terminate_as_interrupt(), contextlib.closing(blocks), \
            out.progress_bar(n_events, label="simulating NOvA") as bar:
        path = write_nova(output, blocks, overwrite=overwrite, on_block=bar.update, provenance={"command": command})
    _report(out, "nova", path, n_events, seed, time.perf_counter() - start)


@simulate.command("report")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for report.json and the PNGs (created; files in it are replaced).")
@click.option("-n", "--events", "n_events", type=click.IntRange(min=100), default=20000, show_default=True,
              help="MINERvA events to simulate for the figures.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="Random seed.")
@click.option("--beam", type=click.Choice(["le", "me"]), default="le", show_default=True, help="NuMI beam.")
@click.option("--json", "json_mode", is_flag=True, help="Print the report as JSON instead of a table.")
@click.pass_context
def report(ctx: click.Context, out_dir: Path, n_events: int, seed: int, beam: str, json_mode: bool) -> None:
    """Measure the simulator's physics against its references: report.json and PNG distributions.

    Every figure of the physics audit (kinematics, NOvA cells per plane, proton range in lead,
    time reference, cross-talk, segment shares, pile-up) with its reference and bounds, and
    plots of E_nu, y, Q^2, W, the muon, hits per event, segment shares, cells per plane and
    event times. Exits 1 if a figure lies outside its bounds.

    \b
    Example:
      nuclassify simulate report -o physics_report -n 20000
    """
    from nuclassify.simulate import physics_report

    out = get_output(ctx, json_mode)
    result = physics_report(out_dir, n_events=n_events, seed=seed, beam=beam)
    if out.json_mode:
        out.json(result)
    else:
        for name, fig in result["figures"].items():
            mark = {True: "ok  ", False: "FAIL", None: "    "}[fig.get("pass")]
            out.result(f"{mark} {name}: {fig['value']}  ({fig.get('reference', '')})")
        out.result(f"wrote report.json and {len(result['plots'])} plots to {out_dir}")
    if result["failed"]:
        ctx.exit(1)


def _report(out, detector: str, path: Path, n_events: int, seed: int, seconds: float) -> None:  # type: ignore[no-untyped-def]
    size = Path(path).stat().st_size
    summary = {"detector": detector, "output": str(path), "n_events": n_events, "seed": seed,
               "seconds": round(seconds, 3), "events_per_s": round(n_events / max(seconds, 1e-9), 1),
               "kb_per_event": round(size / 1024 / n_events, 3)}
    if out.json_mode:
        out.json(summary)
    else:
        out.result(f"wrote {n_events} {detector} events to {path} in {seconds:.1f} s "
                   f"({summary['events_per_s']:.0f} ev/s, {summary['kb_per_event']:.2f} KB/event)")
