"""``nuclassify evolve`` (alias ``search``): one :class:`~nuclassify.search._evolve_config.EvolveConfig`,
one call of :func:`~nuclassify.search._evolve.evolve`, a progress line, and its result printed."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import TYPE_CHECKING

import click

from nuclassify._progress import LINE_INTERVAL_S, format_duration, stream_is_terminal
from nuclassify._runlock import break_stale_lock, describe_lock, in_progress_note, refuse_if_busy
from nuclassify.cli._output import Output, get_output
from nuclassify.errors import UsageError

if TYPE_CHECKING:
    from nuclassify.search import EvolveResult, Progress


class _ProgressLine:
    """The search's progress: one line redrawn in place on a terminal, plain lines off one.

    Off a terminal (a batch job's log) a line is written at most every ``interval`` seconds,
    plus the last one, so a long search's log stays short.
    """

    def __init__(self, output: Output, objective: str, interval: float = LINE_INTERVAL_S) -> None:
        self.output, self.objective, self.interval = output, objective, interval
        self.terminal = stream_is_terminal() if output.terminal is None else output.terminal
        self._last, self._width, self._drawn = -float("inf"), 0, False

    def line(self, p: Progress) -> str:
        best = "-" if p.best is None else f"{p.best:.4f}"
        return (f"evolve: {p.done}/{p.budget} evaluated, {p.failed} failed, best {self.objective} {best}, "
                f"{p.running} busy, {format_duration(p.elapsed)}")

    def __call__(self, p: Progress) -> None:
        if self.output.quiet:
            return
        now = time.monotonic()
        last = p.done >= p.budget
        if self.terminal:
            if now - self._last < 0.1 and not last:
                return
            text = self.line(p)
            click.echo("\r" + text.ljust(self._width), nl=False, err=True)
            self._width, self._drawn = len(text), True
        elif last or now - self._last >= self.interval:
            click.echo(self.line(p), err=True)
        self._last = now

    def close(self) -> None:
        if self._drawn:
            click.echo("", err=True)
            self._drawn = False


def _report(output: Output, run_dir: str, json_mode: bool) -> None:
    from nuclassify.search import evolve_report as report

    payload, text = report(run_dir)
    note = in_progress_note(run_dir)  # a reader: a running search is read, not waited for
    payload["in_progress"] = describe_lock(run_dir)
    if note:
        click.echo(f"nuclassify: note: {note}", err=True)
    if json_mode:
        output.json(payload)
    else:
        output.result(text)


def _print(output: Output, result: EvolveResult, data: str, validation: str = "") -> None:
    """The text summary; ``validation`` is the search's own validation option, repeated in the train hint."""
    summary = result.summary()
    best = summary["best"]
    name = summary["objectives"].split(",")[0].lstrip("+-")
    output.result(f"evolve: {summary['evaluated']} candidates evaluated ({summary['failed']} failed) in "
                  f"{format_duration(summary['wall_seconds'])}, space {summary['space']}, "
                  f"strategy {summary['strategy']}")
    if best is None:
        output.result(f"no candidate finished; see {summary['results']}")
        return
    value = best["objectives"].get(name)
    shown = f"{value:.4f}" if isinstance(value, float) else str(value)
    output.result(f"best: candidate {best['id']}, {name} {shown}, {best['params']:,} parameters ({best['origin']})")
    if len(summary["front"]) > 1:
        output.result(f"Pareto front: candidates {', '.join(map(str, summary['front']))}")
    weights = f" (weights: {summary['best_model']})" if summary["best_model"] else ""
    output.result(f"best network: {summary['best_json']}{weights}")
    output.result(f"train it: nuclassify train --data {data}{validation} --arch {summary['best_json']} --out RUN "
                  "--epochs 10")
    output.result(f"results: {summary['results']}" + (f"; {len(summary['plots'])} plot(s) beside it"
                                                       if summary["plots"] else ""))
    for note in summary["notes"]:
        output.info(note)


@click.command("evolve")
@click.option("--data", type=click.Path(dir_okay=False), default=None, help="Training HDF5 file (any layout).")
@click.option("--valid", type=click.Path(dir_okay=False), default=None, help="Validation HDF5 file.")
@click.option("--valid-fraction", type=float, default=None,
              help="Hold out this fraction of --data (one split for every candidate) [default: 0.2].")
@click.option("--budget", type=int, default=None, help="How many candidates to train (may grow on --resume).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory of the search.")
@click.option("--executor", type=click.Choice(["serial", "process", "mpi"]), default="process", show_default=True,
              help="Where candidates train: here, in fresh child processes, or on MPI ranks (mpiexec).")
@click.option("--workers", type=int, default=None, help="Candidates at once [default: process 2, serial 1].")
@click.option("--epochs", type=int, default=1, show_default=True, help="Training epochs per candidate.")
@click.option("--max-events", type=int, default=None, help="Train each candidate on at most N events of --data.")
@click.option("--candidate-timeout", type=float, default=None, metavar="S", help="Kill a candidate after S seconds.")
@click.option("--candidates-per-child", type=int, default=1, show_default=True, metavar="N",
              help="Let one child process train up to N candidates in turn (process/mpi): saves the framework "
                   "import per candidate (seconds of CPU) for weaker isolation; a child whose memory grew by "
                   "over 1 GiB is replaced.")
@click.option("--strategy", type=click.Choice(["regularized", "ga", "random"]), default="regularized",
              show_default=True, help="Aging evolution, a MENNDL-like GA, or random search.")
@click.option("--population", type=int, default=None, help="Population P [default: budget/4, 4 to 100].")
@click.option("--tournament", type=int, default=None, help="Tournament size S [default: P/2, 2 to 10].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the search and the hold-out split.")
@click.option("--seed-arch", multiple=True, metavar="NAME|spec.json",
              help="Start the population with a known network (repeatable).")
@click.option("--space", default=None, metavar="NAME|space.json",
              help="Search space [default: the shipped one for the file's layout: minerva, nova or images].")
@click.option("--objectives", default="val_accuracy", show_default=True,
              help="What to maximise; '-' minimises, several keep a Pareto front (e.g. val_accuracy,-params).")
@click.option("--early-stop", type=click.Choice(["none", "median"]), default="none", show_default=True,
              help="Stop a candidate whose val_accuracy after an epoch is below the finished ones' median.")
@click.option("--precision", type=click.Choice(["fp32", "mixed"]), default="fp32", show_default=True)
@click.option("--resume", is_flag=True, help="Continue the search in --out (same options; --budget may grow).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), default=None, metavar="RUN_DIR",
              help="Reprint the summary (and redraw the plots) of a finished or running search.")
@click.option("--break-lock", is_flag=True,
              help="Remove a lock record left in --out by a writer on another host that is known to be dead.")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON summary; no progress line.")
@click.pass_context
def evolve(ctx: click.Context, data: str | None, valid: str | None, valid_fraction: float | None, budget: int | None,
           out: str | None, executor: str, workers: int | None, epochs: int, max_events: int | None,
           candidate_timeout: float | None, candidates_per_child: int, strategy: str, population: int | None,
           tournament: int | None,
           seed: int, seed_arch: tuple[str, ...], space: str | None, objectives: str, early_stop: str,
           precision: str, resume: bool, report_dir: str | None, break_lock: bool, json_mode: bool) -> None:
    """Evolve network architectures for a data file (MENNDL-style), training each candidate.

    Every candidate is an architecture spec, checked by shape arithmetic before it trains, and
    trained for --epochs in its own process (--executor process) or MPI rank. RUN_DIR receives
    journal.jsonl (the record: an interrupted search continues with --resume), results.csv
    (one row per candidate), best.json (the winner, for train --arch), candidates/ (each
    candidate's run.json and history; weights of the best only) and plots.

    \b
    Examples:
      nuclassify evolve --data train.h5 --valid valid.h5 --budget 30 --out runs/evo --epochs 3
      nuclassify evolve --data digits.h5 --budget 50 --out runs/d --seed-arch poor.json --workers 2
      nuclassify evolve --data train.h5 --budget 100 --out runs/pf --objectives val_accuracy,-params
      mpiexec -n 5 nuclassify evolve --executor mpi --data train.h5 --budget 400 --out runs/mpi
      nuclassify evolve --report runs/evo
      nuclassify train --data train.h5 --arch runs/evo/best.json --out runs/winner --epochs 10
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, not ours
    output = get_output(ctx, json_mode)
    if report_dir is not None:
        if data or out or budget is not None or resume:
            raise UsageError("--report RUN_DIR reprints a search; it takes no --data, --out, --budget or --resume")
        _report(output, report_dir, json_mode)
        return
    if out is None or budget is None:
        raise UsageError("evolve needs --data, --out and --budget (or --report RUN_DIR)")
    from nuclassify.search import EvolveConfig, SearchInterrupted
    from nuclassify.search import evolve as run_evolve

    config = EvolveConfig(data, out, budget=budget, valid=valid, valid_fraction=valid_fraction, executor=executor,
                          workers=workers, epochs=epochs, max_events=max_events, candidate_timeout=candidate_timeout,
                          candidates_per_child=candidates_per_child, strategy=strategy, population=population,
                          tournament=tournament, seed=seed, seed_arch=seed_arch, space=space, objectives=objectives,
                          early_stop=early_stop, precision=precision, resume=resume)
    if executor != "mpi":  # at once, before any start-up (under MPI the master rank's evolve checks)
        refuse_if_busy(out, break_lock=break_lock)
    elif break_lock:
        break_stale_lock(out)
    if output.verbose:
        os.environ["NUCLASSIFY_VERBOSE"] = "1"  # candidate processes then import Keras with its chatter
    if executor == "serial":  # candidates train in this process
        from nuclassify.cli._output import start_backend_quietly

        start_backend_quietly(output.verbose)
        if not output.verbose:  # "N calls triggered tf.function retracing": every candidate is a new model
            import logging

            logging.getLogger("tensorflow").setLevel(logging.ERROR)
    line = _ProgressLine(output, config.parsed_objectives.names[0])
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout is for the result (Keras may print)
            result = run_evolve(config, progress=line)
    except SearchInterrupted as exc:
        line.close()
        click.echo(f"nuclassify: {exc}", err=True)
        sys.exit(exc.exit_code)  # not ctx.exit: the group's main() runs click outside standalone mode
    finally:
        line.close()
    if result is None:  # an MPI worker rank: the master prints
        return
    if json_mode:
        output.json(result.summary())
    else:
        validation = f" --valid {valid}" if valid else (f" --valid-fraction {valid_fraction}" if valid_fraction else "")
        _print(output, result, str(data), validation)
