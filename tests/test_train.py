"""Training on the TensorFlow backend in-process: run directory, refusal, resume, NaN, labels."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from nuclassify.cli.main import cli
from nuclassify.errors import DataFileError, RunDirError, SpecError, UsageError
from nuclassify.models import load_model
from nuclassify.training import TrainConfig, TrainingDivergedError, fit, load_run, tf_config_from_ranks

pytestmark = pytest.mark.slow
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _keras_tf():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("in-process tests run on the TensorFlow backend")
    return keras


def _at_batch(epoch: int, batch: int, action):
    """A callback that calls ``action(callback)`` after batch ``batch`` (-1: the last) of epoch ``epoch``."""
    keras = _keras_tf()

    class AtBatch(keras.callbacks.Callback):
        current = 0

        def on_epoch_begin(self, e, logs=None):
            self.current = e

        def on_train_batch_end(self, b, logs=None):
            if self.current == epoch and b == (self.params["steps"] - 1 if batch == -1 else batch):
                action(self)

    return AtBatch()


def _raise_interrupt(callback):
    raise KeyboardInterrupt


def _sigterm(callback):
    os.kill(os.getpid(), signal.SIGTERM)


def _poison_output_kernel(callback):
    kernel = callback.model.get_layer("output").kernel
    kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))


def test_train_writes_a_complete_run_dir(tiny_minerva, tiny_spec, tmp_path):
    _keras_tf()
    out = tmp_path / "run"
    result = fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=2, valid_fraction=0.25, seed=3, quiet=True,
                                             class_weights="balanced", lr_schedule="cosine"))
    for name in ("model.keras", "best.keras", "last.keras", "spec.json", "history.csv", "run.json"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete" and meta["epochs_completed"] == 2
    assert meta["views"] == ["x", "u", "v"] and meta["input_shapes"]["u"] == [127, 5, 2]
    assert meta["target"] == "segment" and meta["n_classes"] == 11 and len(meta["class_names"]) == 11
    assert meta["layout"] == "minerva-2016" and meta["arch"] == "tiny" and meta["seed"] == 3
    assert len(meta["data"]["train"]["sha256"]) == 64 and meta["versions"]["keras"]
    assert meta["train_events"] == 72 and meta["valid_events"] == 24
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 3
    assert result.epochs_completed == 2 and result.best["metric"] == "val_loss"
    run = load_run(out)
    assert [t.name for t in run.model.inputs] == ["x", "u", "v"]
    from nuclassify.data import open_dataset

    with open_dataset(tiny_minerva) as ds:
        xs, _ = next(ds.batches(8))
    probs = np.asarray(run.model.predict(list(xs), verbose=0))
    assert probs.shape == (8, 11) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert load_run(out / "best.keras").meta["arch"] == "tiny"


def test_learns_the_toy_labels(tiny_minerva, tiny_spec, tmp_path):
    _keras_tf()
    result = fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "r", epochs=6, seed=0, quiet=True))
    assert result.history[-1]["accuracy"] > 0.5  # chance is 1/11


def test_non_empty_run_dir_is_refused_and_kept(tiny_minerva, tiny_spec, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("{}")
    with pytest.raises(RunDirError, match="holds another run; use --resume .* or --overwrite"):
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=1, quiet=True))
    assert (out / "run.json").read_text() == "{}"
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    proc = subprocess.run([sys.executable, "-m", "nuclassify", "train", "--data", str(tiny_minerva), "--arch",
                           str(spec_path), "--out", str(out)], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2
    # exactly one line: TensorFlow's native start-up chatter is muted without -v
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("nuclassify: error: ")
    assert "holds another run" in proc.stderr and "Traceback" not in proc.stderr


def test_overwrite_keeps_the_replaced_run_until_the_new_one_completes(tiny_minerva, tiny_spec, tmp_path):
    out = tmp_path / "run"
    fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=1, quiet=True, seed=1))
    old = {n: (out / n).read_bytes() for n in ("run.json", "model.keras", "history.csv")}
    # Ctrl-C during the replacement, after its first checkpoint: the old run is kept aside, the new one resumes
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=2, quiet=True, overwrite=True, backup_every=1, seed=2),
            callbacks=[_at_batch(0, 2, _raise_interrupt)])
    kept = out / ".replaced-run"
    assert {n: (kept / n).read_bytes() for n in old} == old
    assert not (out / "model.keras").exists() and (out / "resume" / "state.json").is_file()
    # a replacement that fails before its first checkpoint puts the old run back as it was
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=2, quiet=True, overwrite=True, seed=3),
            callbacks=[_at_batch(0, 0, _raise_interrupt)])
    assert {n: (out / n).read_bytes() for n in old} == old and not kept.exists()
    # a replacement that completes drops it
    fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=1, quiet=True, overwrite=True, seed=4))
    assert not kept.exists() and (out / "model.keras").read_bytes() != old["model.keras"]
    assert json.loads((out / "run.json").read_text())["seed"] == 4


def test_resume_after_interruption_continues_mid_epoch(tiny_minerva, tiny_spec, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=3, quiet=True, backup_every=1),
            callbacks=[_at_batch(1, 2, _raise_interrupt)])
    state = json.loads((out / "resume" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 3)  # batches 0-2 of epoch 1 were done and saved
    assert json.loads((out / "run.json").read_text())["epochs_completed"] == 1
    assert not (out / "model.keras").exists()
    with pytest.raises(RunDirError, match="incomplete run.*--resume"):
        load_run(out)
    with pytest.raises(RunDirError, match=r"stopped inside epoch 2, after completing 1; --epochs 1 would end on "
                                          r"that epoch's partial weights; resume with --epochs 2 or more"):
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=1, quiet=True, resume=True))  # nothing changed
    assert json.loads((out / "run.json").read_text())["status"] != "complete"
    result = fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=3, quiet=True, resume=True))
    assert [r["epoch"] for r in result.history] == [0, 1, 2]
    assert result.history[1]["resumed_at_step"] == 3
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    with pytest.raises(RunDirError, match="already completed 3 epoch"):
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=3, quiet=True, resume=True))
    other = json.loads(json.dumps(tiny_spec))
    other["head"][0]["units"] = 8
    with pytest.raises(RunDirError, match="cannot resume with different settings: architecture differs"):
        fit(other, TrainConfig(tiny_minerva, out, epochs=4, quiet=True, resume=True))


@pytest.mark.parametrize("when", ["mid-epoch", "epoch-end"])
def test_sigterm_saves_the_step_and_resume_finishes(tiny_minerva, tiny_spec, tmp_path, when):
    """SIGTERM (a batch system's notice) stops at the end of the current batch with the checkpoint there."""
    from nuclassify.training import TrainingInterrupted

    # epoch-end: during epoch 0's last batch, so that the epoch completes first
    term = _at_batch(1, 2, _sigterm) if when == "mid-epoch" else _at_batch(0, -1, _sigterm)

    out = tmp_path / "run"
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted, match="--resume") as info:
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=3, quiet=True), callbacks=[term])
    assert info.value.exit_code == 130
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is fit's only while it runs
    state = json.loads((out / "resume" / "state.json").read_text())
    meta = json.loads((out / "run.json").read_text())
    # The keeper runs before Term, so it sees the request one batch later (batch 3 done -> step 4).
    want = (1, 4) if when == "mid-epoch" else (1, 0)
    assert (state["epoch"], state["step"]) == want and "interrupted" not in state
    assert meta["status"] == "interrupted" and meta["epochs_completed"] == 1
    assert (meta["interrupted_at"]["epoch"], meta["interrupted_at"]["step"]) == want
    assert len((out / "history.csv").read_text().splitlines()) == 2  # header + epoch 0 only
    result = fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=3, quiet=True, resume=True))
    assert [r["epoch"] for r in result.history] == [0, 1, 2]
    assert result.history[1].get("resumed_at_step", 0) == want[1]
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_kill_9_mid_epoch_then_resume(tiny_minerva, tiny_spec, tmp_path):
    _keras_tf()
    out = tmp_path / "run"
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    script = textwrap.dedent(f"""
        import os, signal, keras
        from nuclassify.training import TrainConfig, fit
        class Kill(keras.callbacks.Callback):
            epoch = 0
            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch
            def on_train_batch_end(self, batch, logs=None):
                if self.epoch == 1 and batch == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
        fit({str(spec_path)!r}, TrainConfig({str(tiny_minerva)!r}, {str(out)!r}, epochs=2, quiet=True, backup_every=2),
            callbacks=[Kill()])
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    state = json.loads((out / "resume" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 4)  # the keeper saved after batch 3, before the kill
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "--data", str(tiny_minerva), "--arch", str(spec_path), "--out", str(out),
                              "--epochs", "2", "--resume", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["epochs_completed"] == 2 and summary["last_epoch"]["resumed_at_step"] == 4


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_minerva, tiny_spec, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match=r"NaN at epoch 2.*last good checkpoint .*last.keras \(epoch 1\)"):
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=3, quiet=True, backup_every=1),
            callbacks=[_at_batch(1, 1, _poison_output_kernel)])
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "stopped-nan" and meta["epochs_completed"] == 1
    assert not (out / "model.keras").exists()
    with pytest.raises(RunDirError, match=r"run: holds a run whose loss became NaN at epoch 2; start it again with "
                                          r"--overwrite \(with a lower --lr"):
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=3, quiet=True))  # the same call again is told what helps
    for name in ("last.keras", "best.keras", "resume/state.keras"):
        model = load_model(out / name, compile=False)
        assert all(np.all(np.isfinite(np.asarray(w))) for w in model.get_weights()), name


def test_data_without_labels_is_refused(tiny_unlabelled, tiny_spec, tmp_path):
    with pytest.raises(DataFileError, match="data without the labels the target needs: none of the 32 training"):
        fit(tiny_spec, TrainConfig(tiny_unlabelled, tmp_path / "run", epochs=1, quiet=True))
    assert not (tmp_path / "run").exists()


def test_events_without_a_label_are_left_out(tiny_minerva, tiny_spec, tmp_path):
    """A file with some events outside the label scheme trains on the rest and says how many it left out."""
    import shutil

    import h5py

    path = tmp_path / "partly.h5"
    shutil.copy(tiny_minerva, path)
    with h5py.File(path, "r+") as f:
        f["segments"][:10] = 0xFF
    result = fit(tiny_spec, TrainConfig(path, tmp_path / "run", epochs=1, quiet=True, valid_fraction=0.25))
    left = result.meta["left_out_without_label"]
    assert left["train"] + left["valid"] == 10
    assert result.train_events + result.valid_events == 96 - 10
    assert json.loads((tmp_path / "run" / "run.json").read_text())["left_out_without_label"] == left


def test_jax_loop_with_distribute_is_refused(tiny_minerva, tmp_path):
    with pytest.raises(UsageError, match="jax-loop trains on one device"):
        TrainConfig(tiny_minerva, tmp_path / "run", epochs=1, quiet=True, engine="jax-loop", distribute=True)
    assert not (tmp_path / "run").exists()


def test_views_the_data_lacks_are_named_with_the_data_file(tiny_minerva, tmp_path):
    with pytest.raises(SpecError, match=rf"^{tiny_minerva}: the architecture uses view\(s\) xz, yz but this "
                                        r"minerva-\S+ file has views x, u, v$"):
        fit("cvn", TrainConfig(tiny_minerva, tmp_path / "run", epochs=1, quiet=True))
    assert not (tmp_path / "run").exists()


def test_bad_spec_is_refused_before_anything_is_written(tiny_minerva, tmp_path):
    with pytest.raises(SpecError, match=r"column u layer 3 \(conv\): kernel 7x3 does not fit input 60x1"):
        fit("epsilon", TrainConfig(tiny_minerva, tmp_path / "run", epochs=1, quiet=True))
    assert not (tmp_path / "run").exists()


def test_tf_config_from_ranks():
    cfg = tf_config_from_ranks(["n1", "n1", "n2"], 2, port=3000)
    assert cfg == {"cluster": {"worker": ["n1:3000", "n1:3001", "n2:3002"]}, "task": {"type": "worker", "index": 2}}
    with pytest.raises(Exception, match="rank 3 out of range"):
        tf_config_from_ranks(["a"], 3)


def test_distribute_with_mirrored_strategy_on_cpu(tiny_minerva, tiny_spec, tmp_path):
    _keras_tf()
    result = fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "run", epochs=1, quiet=True, distribute=True))
    assert result.meta["distribution"]["strategy"] == "MirroredStrategy"
    assert math.isfinite(result.history[0]["loss"])


def test_same_seed_same_run(tiny_minerva, tiny_spec, tmp_path):
    _keras_tf()
    runs = [fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / name, epochs=2, seed=seed, quiet=True))
            for name, seed in (("a", 7), ("b", 7), ("c", 8))]
    losses = [[row["loss"] for row in r.history] for r in runs]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_damaged_model_file_is_one_clear_line_and_our_bugs_are_not_hidden(tiny_minerva, tiny_spec, tmp_path,
                                                                            monkeypatch):
    """load_run calls a damaged .keras a RunDirError; an unexpected error (a bug) keeps its own type."""
    import io
    import zipfile

    _keras_tf()
    from nuclassify.models import build

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"status": "complete", "arch": "tiny", "views": ["x", "u", "v"]}))
    (run / "spec.json").write_text(json.dumps(tiny_spec))
    good = tmp_path / "good.keras"
    build(tiny_spec, {"x": (127, 10, 2), "u": (127, 5, 2), "v": (127, 5, 2)}, 11).save(good)
    raw = good.read_bytes()
    broken_config = io.BytesIO()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken_config, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, b"{not json" if name == "config.json" else src.read(name))
    for damaged, why in ((raw[: len(raw) // 2], "not a .keras \\(zip\\) archive"),
                         (broken_config.getvalue(), "the file is damaged \\(JSONDecodeError")):
        (run / "model.keras").write_bytes(damaged)
        with pytest.raises(RunDirError, match=f"model.keras: cannot load model.*{why}") as info:
            load_run(run)
        assert "\n" not in str(info.value)
    (run / "model.keras").write_bytes(raw)
    assert load_run(run).model is not None

    def bug(*args, **kwargs):
        raise AttributeError("a bug of ours")

    # An edited run record is named by its field, and class counts must match the network (11 outputs):
    # a wrong class_names list used to give a CSV whose header and rows differed in length.
    record = {"status": "complete", "arch": "tiny", "views": ["x", "u", "v"],
              "input_shapes": {"x": [127, 10, 2], "u": [127, 5, 2], "v": [127, 5, 2]},
              "n_classes": 11, "class_names": [str(i) for i in range(11)], "layout": "minerva-2018"}
    for edit, needle in (({"class_names": ["a", "b", "c"]}, "class_names gives 3 classes but the network scores 11"),
                         ({"n_classes": 7}, "n_classes gives 7 classes but the network scores 11"),
                         ({"input_shapes": {"x": "80x100"}}, "input_shapes must be an object of view"),
                         ({"input_shapes": [[127, 10, 2]]}, "input_shapes must be"),
                         ({"data": "x"}, "data must be an object"),
                         ({"seed": "abc"}, "seed must be an integer"),
                         ({"valid_fraction": "lots"}, "valid_fraction must be a number"),
                         ({"layout": "banana"}, "layout must be one of")):
        (run / "run.json").write_text(json.dumps({**record, **edit}))
        with pytest.raises(RunDirError, match=f"run.json: damaged run record: {needle}"):
            load_run(run)
    (run / "run.json").write_text(json.dumps(record))
    assert load_run(run).meta["n_classes"] == 11

    monkeypatch.setattr("nuclassify.training._rundir._load_keras_model", bug)
    with pytest.raises(AttributeError, match="a bug of ours"):
        load_run(run)


def test_a_keras_file_outside_a_run_is_named(tmp_path):
    stray = tmp_path / "model.keras"
    stray.write_bytes(b"not a run")
    with pytest.raises(RunDirError, match=rf"^{stray}: not inside a run directory \(no run.json beside it\)"):
        load_run(stray)


def test_a_resume_after_a_kill_at_the_last_history_write_restores_the_history(tiny_minerva, tiny_spec, tmp_path):
    """The resume state is written before history.csv; killed between them in the last epoch, the run
    had every epoch in its state and one fewer in its history, and resuming (no epoch left to train)
    never rewrote it."""
    out = tmp_path / "run"
    fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=2, quiet=True))
    whole = (out / "history.csv").read_text()
    lines = whole.splitlines(keepends=True)
    assert len(lines) == 3  # header and two epochs
    (out / "history.csv").write_text("".join(lines[:2]))  # what the kill left
    meta = json.loads((out / "run.json").read_text())
    meta["status"] = "running"
    (out / "run.json").write_text(json.dumps(meta))
    fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=2, quiet=True, resume=True))
    assert (out / "history.csv").read_text() == whole
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_damaged_resume_state_and_run_record_are_named_in_one_line(tiny_minerva, tiny_spec, tmp_path):
    """A hand-edited or half-copied run directory: each damaged file is named before it steers anything
    ({} used to restart from epoch 0 silently; a truncated checkpoint said 'File not found')."""
    import shutil

    from nuclassify.training import load_run

    good = tmp_path / "good"
    fit(tiny_spec, TrainConfig(tiny_minerva, good, epochs=1, quiet=True))
    state_json = json.loads((good / "resume" / "state.json").read_text())
    cases = {
        "empty state": ("resume/state.json", "{}", r"state.json: damaged resume state \('epoch' is None"),
        "list state": ("resume/state.json", "[]", r"state.json: damaged resume state \(expected a JSON object"),
        "text step": ("resume/state.json", json.dumps({**state_json, "step": "3"}), r"'step' is '3'"),
        "bad history": ("resume/state.json", json.dumps({**state_json, "history": [1]}), r"'history' is not a list"),
        "truncated checkpoint": ("resume/state.keras", None, r"state.keras: damaged resume checkpoint"),
    }
    for name, (member, text, message) in cases.items():
        run = tmp_path / name.replace(" ", "_")
        shutil.copytree(good, run)
        if text is None:
            raw = (run / member).read_bytes()
            (run / member).write_bytes(raw[: len(raw) // 3])
        else:
            (run / member).write_text(text)
        before = (run / "run.json").read_bytes()
        with pytest.raises(RunDirError, match=message) as info:
            fit(tiny_spec, TrainConfig(tiny_minerva, run, epochs=2, quiet=True, resume=True))
        assert "\n" not in str(info.value), name
        assert (run / "run.json").read_bytes() == before, name  # refused before the record is touched
    for text, message in (("[]", "run.json: damaged run record: expected a JSON object, found list"),
                          (json.dumps({"status": "complete"}), "run.json: damaged run record: no list of the model")):
        run = tmp_path / f"record{len(text)}"
        shutil.copytree(good, run)
        (run / "run.json").write_text(text)
        with pytest.raises(RunDirError, match=message):
            load_run(run)
    run = tmp_path / "no_model"  # a complete run whose model file went: --resume would be refused
    shutil.copytree(good, run)
    (run / "model.keras").unlink()
    with pytest.raises(RunDirError, match=r"the run completed, but its model.keras is gone: load .*last.keras"):
        load_run(run)


def test_an_overwrite_killed_while_moving_the_old_run_aside_loses_none_of_it(tiny_minerva, tiny_spec, tmp_path):
    """--overwrite moves the old run's files one by one; a kill between two moves used to leave part
    of it in .replaced-run, and the next --overwrite then deleted the rest as an abandoned attempt."""
    from nuclassify.training._rundir import _STAGING_DIR

    out = tmp_path / "run"
    fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=1, quiet=True, seed=1))
    old = {n: (out / n).read_bytes() for n in ("run.json", "spec.json", "model.keras", "history.csv")}
    staging = out / _STAGING_DIR  # what a kill after the first two moves leaves
    staging.mkdir()
    for name in ("run.json", "spec.json"):
        (out / name).rename(staging / name)
    with pytest.raises(RunDirError, match="holds another run"):  # still a run, not a half set-up
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=1, quiet=True))
    with pytest.raises(KeyboardInterrupt):  # the next replacement fails before its first checkpoint
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=1, quiet=True, overwrite=True, seed=2),
            callbacks=[_at_batch(0, 0, _raise_interrupt)])
    assert {n: (out / n).read_bytes() for n in old} == old  # the old run, whole and in place
    assert not staging.exists() and not (out / ".replaced-run").exists()


def test_a_resume_removes_the_temporaries_a_killed_writer_left(tiny_minerva, tiny_spec, tmp_path):
    """A SIGKILL mid-save leaves '.model.keras.XXXXXXXX.tmp.keras' (a model's size) for good; a run
    that holds the folder again removes its own, and nothing that is not a run file's temporary."""
    out = tmp_path / "run"
    fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=1, quiet=True))
    stale = [out / ".model.keras.k2j4x_9a.tmp.keras", out / "resume" / ".state.json.ab12cd34.tmp"]
    other = [out / ".notes.txt.ab12cd34.tmp", out / "mine.tmp"]
    for path in stale + other:
        path.write_bytes(b"x" * 100)
    fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=2, quiet=True, resume=True))
    assert not any(p.exists() for p in stale) and all(p.exists() for p in other)


def test_an_interruption_skips_the_broken_epochs_validation(tiny_minerva, tiny_spec, tmp_path):
    """After the checkpoint at the interrupted batch, Keras used to run the whole validation pass of
    the broken epoch anyway (its result thrown away), which can outlast a batch system's grace time."""
    from nuclassify.training import TrainingInterrupted

    keras = _keras_tf()

    class Validations(keras.callbacks.Callback):
        count = 0

        def on_test_begin(self, logs=None):
            Validations.count += 1

    with pytest.raises(TrainingInterrupted):
        fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "run", epochs=2, quiet=True, valid_fraction=0.25,
                                   batch_size=4),
            callbacks=[_at_batch(0, 0, _sigterm), Validations()])
    state = json.loads((tmp_path / "run" / "resume" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (0, 2)  # saved where it stopped, inside epoch 0
    assert Validations.count == 0
