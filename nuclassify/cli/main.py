"""The ``nuclassify`` command group: global options, lazy sub-commands, clean error reporting."""

from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback

import click

from nuclassify import __version__
from nuclassify._diskfaults import ignore_file_size_signal, reason, write_failure
from nuclassify._environment import check_source_date_epoch
from nuclassify._signals import terminate_as_interrupt
from nuclassify.errors import NuclassifyError, OutputError

# name -> (module, attribute, one-line help). Modules are imported only when the command runs
# (or when its own --help is asked for), so the group's --help stays fast.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "simulate": ("nuclassify.cli.simulate_cmd", "simulate", "Simulate MINERvA or NOvA events into an HDF5 file."),
    "inspect": ("nuclassify.cli.inspect_cmd", "inspect", "Summarise a data file: layout, events, views, labels."),
    "show": ("nuclassify.cli.show_cmd", "show", "Draw an event display of one event to a PNG."),
    "models": ("nuclassify.cli.models_cmd", "models", "List the named architectures with parameter counts."),
    "train": ("nuclassify.cli.train_cmd", "train", "Train a network on an HDF5 file into a run directory."),
    "evaluate": ("nuclassify.cli.evaluate_cmd", "evaluate", "Score a model (or trackfit) on labelled data."),
    "predict": ("nuclassify.cli.predict_cmd", "predict", "Write per-event predictions as CSV or HDF5."),
    "export": ("nuclassify.cli.export_cmd", "export", "Export a trained network to ONNX or a SavedModel, verified."),
    "evolve": ("nuclassify.cli.evolve_cmd", "evolve", "Evolve network architectures for a data file (MENNDL-style)."),
    "shift": ("nuclassify.cli.shift_cmd", "shift", "Score how far a data file lies from the training data."),
    "calibrate": ("nuclassify.cli.calibrate_cmd", "calibrate", "Fit temperature scaling for a run on labelled data."),
    "explain": ("nuclassify.cli.explain_cmd", "explain", "Draw where the evidence for a prediction lies."),
}
ALIASES: dict[str, str] = {"search": "evolve"}

EPILOG = """\b
Worked examples (one per command):
  nuclassify simulate minerva -n 20000 -o train.h5 --seed 1
  nuclassify inspect train.h5 --json
  nuclassify show train.h5 --event 3 -o event3.png
  nuclassify models
  nuclassify train --data train.h5 --valid-fraction 0.1 --arch epsilon --out runs/eps --epochs 3
  nuclassify evaluate --model runs/eps --data test.h5 --per-segment --plots plots/
  nuclassify predict --model runs/eps --data test.h5 > predictions.csv
  nuclassify export --model runs/eps -o eps.onnx
  nuclassify evolve --data train.h5 --valid valid.h5 --budget 30 --out runs/evo --epochs 2
  nuclassify shift --model runs/eps --reference heldout.h5 --data real.h5 --plot shift.png
  nuclassify calibrate --model runs/eps --data valid.h5
  nuclassify explain --model runs/eps --data test.h5 --event 86 -o explain.png

Run 'nuclassify COMMAND --help' for each command's options.
"""


class State:
    """Global options shared by every command (``ctx.obj``)."""

    def __init__(self, verbose: bool = False, quiet: bool = False) -> None:
        self.verbose = verbose
        self.quiet = quiet


_STATE = State()
_TF_LOG_LEVEL_SET_HERE = False  # cli() silenced TensorFlow's C++ chatter; a later -v undoes it

# Errors that only a write meets (a read-only file system, a full disk, a size limit, a quota): an
# OSError of these is reported as the write failure it is, naming the folder and the free space.
_ONLY_WRITES_FAIL_SO = frozenset({errno.EROFS, errno.ENOSPC, errno.EFBIG, errno.EDQUOT})

# Packages that only the "full" extra installs (pyproject.toml): a missing one means a light install.
_FULL_ONLY = frozenset({"keras", "tensorflow", "tensorboard", "matplotlib", "sklearn", "onnx", "tf2onnx", "jax",
                        "torch"})


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = ALIASES.get(cmd_name, cmd_name)
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        _accept_global_flags(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the static one-line help so that listing commands imports nothing.
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        rows += [(alias, f"Alias of '{target}'.") for alias, target in ALIASES.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="nuclassify")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and extra detail.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or chatter (results still print).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, quiet: bool) -> None:
    """Classify neutrino events with deep learning: MINERvA vertex segments, NOvA flavour.

    Simulate training data, inspect and display events, train multi-view CNNs, evaluate them
    segment by segment against a track-based baseline, and predict for shell pipelines.
    """
    _STATE.verbose = verbose
    _STATE.quiet = quiet
    if not verbose and "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        # TensorFlow/XLA C++ start-up chatter ("oneDNN custom operations...", "Could not find cuda
        # drivers") is noise to a user; -v keeps it. Must be set before TensorFlow is imported.
        global _TF_LOG_LEVEL_SET_HERE
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        _TF_LOG_LEVEL_SET_HERE = True
    ctx.obj = _STATE


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _STATE.verbose = True
        if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "2" and _TF_LOG_LEVEL_SET_HERE:
            del os.environ["TF_CPP_MIN_LOG_LEVEL"]


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _STATE.quiet = True


def _accept_global_flags(command: click.Command) -> None:
    """Let ``-v``/``-q`` follow the sub-command too (``nuclassify predict ... -v``), as people type them.

    They set the same global state as before the sub-command; a command (or a group such as
    ``simulate``, whose sub-commands get them in turn) is given them once.
    """
    targets = [command]
    if isinstance(command, click.Group):
        targets += list(command.commands.values())
    for target in targets:
        names = {opt for param in target.params for opt in getattr(param, "opts", [])}
        if "--verbose" in names or "-v" in names:
            continue
        target.params.append(click.Option(["-v", "--verbose"], is_flag=True, expose_value=False, is_eager=True,
                                          callback=_set_verbose, help="Show tracebacks (as 'nuclassify -v').",
                                          ))
        if "-q" not in names and "--quiet" not in names:
            target.params.append(click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, is_eager=True,
                                              callback=_set_quiet, help="No progress or chatter (as 'nuclassify -q')."))


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's own flush at exit cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests capture stdout)
        pass


def _flush_stdout() -> None:
    """Flush the results before exit: a full disk behind ``> file`` is one line, not lost output.

    A reader that went away (``| head``) is not an error worth a line: exit 1 quietly, as the
    Python documentation advises for SIGPIPE ("Note on SIGPIPE", signal module).
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(1)
    except OSError as exc:
        _silence_stdout()
        click.echo(f"nuclassify: error: stdout: {reason(exc)}; the output is incomplete", err=True)
        sys.exit(OutputError.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the group, turning library errors into one line and an exit status."""
    ignore_file_size_signal()  # past `ulimit -f`, writes fail with EFBIG and are reported (see _diskfaults)
    try:
        check_source_date_epoch()  # before SciPy's import reads it (see there)
        with terminate_as_interrupt():  # a batch system's SIGTERM ends any command as Ctrl-C does: temporaries removed
            status = cli.main(args=argv, prog_name="nuclassify", standalone_mode=False)
        # Outside standalone mode Click returns a command's ctx.exit(N) instead of exiting with it.
        if isinstance(status, int) and not isinstance(status, bool) and status != 0:
            sys.exit(status)
    except click.exceptions.Abort:
        click.echo("nuclassify: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:  # a bad option or argument: one line, as every other error
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `nuclassify` (click >= 8.2): the help is the answer
            exc.show()
            sys.exit(exc.exit_code)
        command = exc.ctx.command_path if exc.ctx is not None else "nuclassify"
        click.echo(f"nuclassify: error: {exc.format_message()} (see '{command} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"nuclassify: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except NuclassifyError as exc:
        if _STATE.verbose:
            traceback.print_exc()
        click.echo(f"nuclassify: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("nuclassify: interrupted (nothing half-written was kept)", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:
        if _STATE.verbose:
            traceback.print_exc()
        top = (exc.name or "").split(".")[0]
        hint = " (the light install nuclassify[onnx] runs .onnx models only): pip install 'nuclassify[full]'" \
            if top in _FULL_ONLY else ""
        click.echo(f"nuclassify: error: this needs the Python package {top or exc.name}, which is not installed{hint}",
                   err=True)
        sys.exit(1)
    except BrokenPipeError:  # stdout's reader went away (`| head`): nothing left to say to anyone
        _silence_stdout()
        sys.exit(1)
    except OSError as exc:  # a failure no writer or reader explained: still one line naming the file
        if _STATE.verbose:
            traceback.print_exc()
        if exc.filename is not None and exc.errno in _ONLY_WRITES_FAIL_SO:
            line = str(write_failure(os.fsdecode(exc.filename), exc))
        else:
            where = f"{os.fsdecode(exc.filename)}: " if exc.filename is not None else ""
            line = f"{where}{reason(exc)} (run with -v for the traceback)"
        click.echo(f"nuclassify: error: {line}", err=True)
        sys.exit(OutputError.exit_code)
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line unless -v
        if _STATE.verbose:
            traceback.print_exc()
        click.echo(f"nuclassify: error: {type(exc).__name__}: {exc} (run with -v for the traceback)", err=True)
        sys.exit(1)
    _flush_stdout()
    sys.exit(0)


if __name__ == "__main__":
    main()
