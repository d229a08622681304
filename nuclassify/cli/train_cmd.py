"""``nuclassify train``: one :class:`~nuclassify.training.TrainConfig`, one call of
:func:`~nuclassify.training.fit`, its result printed."""

from __future__ import annotations

import contextlib
import os
import sys

import click

from nuclassify._runlock import break_stale_lock, refuse_if_busy
from nuclassify.cli._output import get_output, start_backend_quietly
from nuclassify.errors import UsageError
from nuclassify.training import DEFAULT_PORT


@click.command("train")
@click.option("--data", "data", required=True, type=click.Path(dir_okay=False), help="Training HDF5 file.")
@click.option("--valid", "valid", type=click.Path(dir_okay=False), default=None, help="Validation HDF5 file.")
@click.option("--valid-fraction", type=float, default=None, help="Hold out this fraction of --data instead.")
@click.option("--arch", required=True, help="Named spec (see `nuclassify models`) or a spec .json file.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run directory to write.")
@click.option("--epochs", type=int, default=1, show_default=True, help="Total epochs (also when resuming).")
@click.option("--batch-size", type=int, default=None, help="Events per step [default: the spec's].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds weights, dropout and shuffling.")
@click.option("--precision", type=click.Choice(["fp32", "mixed"]), default="fp32", show_default=True)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace the run in --out.")
@click.option("--target", default=None, help="Label target [default: the file's, e.g. segment].")
@click.option("--early-stopping", type=int, default=None, metavar="N", help="Stop after N epochs without improvement.")
@click.option("--lr-schedule", type=click.Choice(["none", "cosine", "plateau"]), default="none", show_default=True)
@click.option("--class-weights", type=click.Choice(["none", "balanced"]), default="none", show_default=True)
@click.option("--distribute", is_flag=True, help="Data-parallel over local GPUs or MPI ranks (see README).")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="Base port for multi-worker TF_CONFIG.")
@click.option("--engine", type=click.Choice(["fit", "jax-loop"]), default="fit", show_default=True,
              help="Keras model.fit, or a jitted JAX training step (KERAS_BACKEND=jax).")
@click.option("--backup-every", type=int, default=0, show_default=True,
              help="Steps between mid-epoch resume checkpoints (0: by time only).")
@click.option("--backup-seconds", type=float, default=300.0, show_default=True,
              help="Also save a mid-epoch resume checkpoint after this many seconds (0: never).")
@click.option("--domain-adapt", "domain_adapt", type=click.Path(dir_okay=False), default=None, metavar="UNLABELLED.h5",
              help="Domain-adversarial training (MINERvA's DANN): also feed this unlabelled file of the same layout.")
@click.option("--domain-weight", type=float, default=None,
              help="Weight of the domain loss [default: the spec's domain_head weight, else 0.1].")
@click.option("--domain-ramp", "domain_ramp", is_flag=True, default=None,
              help="Raise the reversed gradient's weight from 0 to 1 over the run (Ganin et al.'s schedule) "
                   "instead of full weight from the first step [default: the spec's domain_head ramp, else off].")
@click.option("--break-lock", is_flag=True,
              help="Remove a lock record left in --out by a writer on another host that is known to be dead.")
@click.option("--sample", type=click.Choice(["all", "muon-track"]), default="all", show_default=True,
              help="Train and validate on these events only. muon-track: MINERvA events with a muon track, the "
                   "only ones the experiment's lattices hold (as evaluate --sample).")
@click.option("--json", "json_mode", is_flag=True, help="Print the result as one JSON object; no progress bar.")
@click.option("--ensemble", type=click.IntRange(2, 64), default=None, metavar="K",
              help="Train K members (seeds SEED..SEED+K-1) into OUT/members/m0..; predict/evaluate average them.")
@click.pass_context
def train(ctx: click.Context, data: str, valid: str | None, valid_fraction: float | None, arch: str, out: str,
          epochs: int, batch_size: int | None, seed: int, precision: str, resume: bool, overwrite: bool,
          target: str | None, early_stopping: int | None, lr_schedule: str, class_weights: str, distribute: bool,
          port: int, engine: str, backup_every: int, backup_seconds: float, break_lock: bool,
          json_mode: bool, ensemble: int | None = None, domain_adapt: str | None = None,
          domain_weight: float | None = None, domain_ramp: bool | None = None, sample: str = "all") -> None:
    """Train a network on an HDF5 file into a run directory (streamed from disk, resumable).

    RUN_DIR receives model.keras, best.keras, last.keras, spec.json, history.csv, run.json
    (data hashes, seed, versions, timings) and TensorBoard logs. A killed run continues with
    --resume; KERAS_BACKEND=jax or torch selects another backend.

    \b
    Examples:
      nuclassify train --data train.h5 --valid-fraction 0.1 --arch epsilon --out runs/eps --epochs 3
      nuclassify train --data train.h5 --valid valid.h5 --arch conv4 --out runs/c4 --epochs 8 --resume
      KERAS_BACKEND=jax nuclassify train --data nova.h5 --arch cvn --out runs/cvn --engine jax-loop
      nuclassify train --data sim.h5 --valid-fraction 0.1 --arch epsilon --out runs/dann --domain-adapt data.h5
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, not ours
    from nuclassify.training import TrainConfig, fit

    output = get_output(ctx, json_mode)
    # Every option is checked here, before the backend starts: a bad value costs no start-up time.
    # 0 for --backup-every / --backup-seconds means "off", which the config spells None.
    config = TrainConfig(data, out, valid=valid, valid_fraction=valid_fraction, epochs=epochs, batch_size=batch_size,
                         seed=seed, precision=precision, resume=resume, overwrite=overwrite, target=target,
                         early_stopping=early_stopping, lr_schedule=lr_schedule, class_weights=class_weights,
                         distribute=distribute, quiet=output.quiet,
                         backup_every=None if backup_every == 0 else backup_every,
                         backup_seconds=None if backup_seconds == 0 else backup_seconds, engine=engine, port=port,
                         domain_adapt=domain_adapt, domain_weight=domain_weight,
                         domain_ramp=domain_ramp, sample=sample)
    if not distribute:  # at once, before the backend's seconds of start-up (ranks > 0 write elsewhere: fit checks)
        refuse_if_busy(out, break_lock=break_lock)
    elif break_lock:
        break_stale_lock(out)
    if ensemble is None and resume:
        from nuclassify.evaluation import is_ensemble_dir, read_ensemble

        if is_ensemble_dir(out):  # (its members are runs; OUT itself has no spec or checkpoint to resume)
            k = read_ensemble(out)["ensemble"]["k"]
            raise UsageError(f"--out {out} holds an ensemble of {k}; resume it with --resume --ensemble {k}")
    start_backend_quietly(output.verbose)
    if ensemble is not None:  # K ordinary runs in OUT/members, recorded in OUT/run.json (nuclassify.trust)
        from nuclassify.trust import train_ensemble

        with contextlib.redirect_stdout(sys.stderr):
            ens = train_ensemble(arch, config, ensemble)
        if json_mode:
            output.json(ens.to_dict())
        else:
            output.result(ens.summary())
        return
    # Keras writes its progress bar to stdout; keep stdout for the result. Off a terminal the
    # config's progress "auto" writes plain lines to stderr instead (see training._progress).
    with contextlib.redirect_stdout(sys.stderr):
        result = fit(arch, config)
    last = result.history[-1] if result.history else {}
    summary = {
        "run_dir": str(result.run_dir), "model": str(result.model_path), "arch": result.meta.get("arch"),
        "target": result.meta.get("target"), "backend": result.meta.get("backend"),
        "epochs_completed": result.epochs_completed, "stopped_early": result.stopped_early,
        "train_events": result.train_events, "valid_events": result.valid_events,
        "events_per_s": result.events_per_s, "elapsed_s": result.elapsed_s, "best": result.best,
        "last_epoch": last,
        "left_out_without_label": result.meta.get("left_out_without_label"),
    }
    left = summary["left_out_without_label"] or {}
    if any(left.values()):
        output.info(f"left out {left.get('train', 0)} training and {left.get('valid', 0)} validation events without "
                    f"a '{summary['target']}' label (outside the label scheme, e.g. nu-e elastic for NOvA flavours)")
    if json_mode:
        output.json(summary)
        return
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k in ("loss", "accuracy", "val_loss",
                                                                          "val_accuracy"))
    output.result(f"trained {summary['arch']} on {result.train_events} events for {result.epochs_completed} "
                  f"epoch(s) ({summary['backend']}, {result.events_per_s:.0f} ev/s): {metrics}")
    output.result(f"run directory: {result.run_dir} (model.keras, best.keras, history.csv, run.json)")
