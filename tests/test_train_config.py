"""TrainConfig: options checked once in one line each; subsets and digests for a search; run.json from it."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nuclassify.errors import RunDirError, UsageError
from nuclassify.training import TrainConfig, file_digest
from nuclassify.training._checks import resume_conflicts


@pytest.mark.parametrize(("options", "message"), [
    ({"batch_size": 0}, "batch size must be >= 1, got 0"),
    ({"batch_size": 2.5}, "batch size must be an integer or None, got 2.5"),
    ({"epochs": 0}, "epochs must be >= 1, got 0"),
    ({"epochs": True}, "epochs must be an integer, got True"),
    ({"seed": -1}, "seed must be >= 0, got -1"),
    ({"valid_fraction": 1.0}, r"valid fraction must be in \[0, 1\), got 1"),
    ({"valid": "v.h5", "valid_fraction": 0.1}, "either a validation file or a validation fraction"),
    ({"early_stopping": 0}, "early-stopping patience must be >= 1, got 0"),
    ({"backup_every": -1}, "backup every must be >= 0, got -1"),
    ({"backup_seconds": -5}, r"backup seconds must be >= 0 \(0: off\), got -5"),
    ({"precision": "fp16"}, "precision must be one of fp32, mixed, got 'fp16'"),
    ({"progress": "fancy"}, "progress must be one of auto, bar, lines, none, got 'fancy'"),
    ({"target": ""}, "target must be a label target's name or None, got ''"),
    ({"port": 0}, "port must be >= 1, got 0"),
    ({"max_events": 0}, "max events must be >= 1, got 0"),
    ({"valid_indices": [1]}, "valid_indices needs train_indices"),
    ({"train_indices": [0, 1], "valid_indices": [1, 2]}, r"share 1 event\(s\) \(first: 1\)"),
    ({"train_indices": [0, 1], "valid_indices": [2], "valid_fraction": 0.2}, "valid_indices excludes"),
    ({"train_indices": [0, 1], "max_events": 5}, "either max_events or train_indices"),
    ({"train_indices": [[0, 1]]}, "train_indices must be a 1-D array of integer event indices"),
    ({"train_indices": [0, -3]}, "train_indices must be >= 0, got -3"),
    ({"digests": {"test": {}}}, "digests: unknown role 'test'"),
    ({"engine": "jax-loop", "distribute": True}, "jax-loop trains on one device"),
    ({"checkpoints": "some"}, "checkpoints must be one of all, best, got 'some'"),
    ({"checkpoints": "best", "resume": True}, "resume needs the resume checkpoint"),
])
def test_bad_options_are_refused_in_one_line(options, message):
    with pytest.raises(UsageError, match=message) as info:
        TrainConfig("train.h5", "run", **options)
    assert "\n" not in str(info.value)


def test_config_is_frozen_normalised_and_recorded(tmp_path):
    idx = np.arange(10, 20, dtype=np.int32)
    config = TrainConfig(str(tmp_path / "t.h5"), tmp_path / "run", epochs=np.int64(3), train_indices=idx,
                         valid_indices=[0, 1, 2], backup_every=0, backup_seconds=0, class_weights="none")
    assert config.epochs == 3 and type(config.epochs) is int  # numpy integers welcome, stored plain
    assert config.train_indices.dtype == np.int64 and not config.train_indices.flags.writeable
    idx[0] = 99  # the config holds its own copy
    assert config.train_indices[0] == 10
    assert config.backup_steps is None and config.backup_interval_s is None  # 0 means off, explicitly
    assert config.weighting is None and not config.holds_out
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 4
    record = json.loads(json.dumps(config.record()))  # JSON-ready as it is
    assert record["train_data"] == str(tmp_path / "t.h5") and record["out_dir"] == str(tmp_path / "run")
    assert record["train_indices"]["count"] == 10 and len(record["train_indices"]["sha256"]) == 64
    assert record["valid_indices"]["count"] == 3 and "digests" not in record
    assert record["class_weights"] is None and record["valid_fraction"] is None
    assert TrainConfig("t.h5", "r").resolved_batch_size({"training": {"batch_size": 32}}) == 32
    assert TrainConfig("t.h5", "r").resolved_batch_size({}) == 256
    assert TrainConfig("t.h5", "r", batch_size=8).resolved_batch_size({"training": {"batch_size": 32}}) == 8
    assert dataclasses.replace(config, seed=5).seed == 5


def test_resume_refuses_other_subsets():
    base = {"arch": "tiny", "data": {}, "train_indices": {"count": 3, "sha256": "a" * 64}}
    other = {**base, "train_indices": {"count": 3, "sha256": "b" * 64}}
    assert resume_conflicts(base, dict(base), {}, {}) == []
    problems = resume_conflicts(base, other, {}, {})
    assert problems == ["train_indices differs (run: 3 events, sha256 aaaaaaaaaaaa, now: 3 events, sha256 "
                        "bbbbbbbbbbbb)"]
    assert resume_conflicts({**base, "max_events": 10}, {**base, "max_events": 20}, {}, {})
    # The sample of events: a run recorded before the key existed trained on all of them.
    assert resume_conflicts(base, {**base, "sample": "all"}, {}, {}) == []
    assert resume_conflicts(base, {**base, "sample": "muon-track"}, {}, {}) == [
        "sample differs (run: all, now: muon-track)"]
    # An edited spec under its old name is named as edited, not as "run: tiny, now: tiny".
    edited = resume_conflicts(base, dict(base), {"name": "tiny", "layers": [1]}, {"name": "tiny", "layers": [2]})
    assert edited == ["architecture differs (the spec 'tiny' has changed since the run began: its run.json holds "
                      "the one it was trained with)"]
    assert resume_conflicts(base, {**base, "arch": "big"}, {"a": 1}, {"a": 2}) == [
        "architecture differs (run: tiny, now: big)"]


def test_cli_batch_size_zero_is_refused_in_one_line(tiny_minerva, tmp_path):
    """It used to be replaced by the spec's default (``batch_size or ...``)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "nuclassify", "train", "--data", str(tiny_minerva), "--arch", "epsilon", "--out",
           str(out), "--batch-size", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["nuclassify: error: batch size must be >= 1, got 0"]
    assert not out.exists()


# --- subsets and digests through fit (TensorFlow backend, in process) -------------------------------------------

def _fit(spec, config, **kw):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("in-process tests run on the TensorFlow backend")
    from nuclassify.training import fit

    return fit(spec, config, **kw)


@pytest.mark.slow
def test_max_events_and_index_subsets(tiny_minerva, tiny_spec, tmp_path):
    result = _fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "a", max_events=48, valid_fraction=0.25, quiet=True))
    assert (result.train_events, result.valid_events) == (36, 12)
    assert result.meta["max_events"] == 48
    config = TrainConfig(tiny_minerva, tmp_path / "b", train_indices=np.arange(0, 64), valid_indices=np.arange(64, 80),
                         quiet=True)
    result = _fit(tiny_spec, config)
    assert (result.train_events, result.valid_events) == (64, 16) and result.best["metric"] == "val_loss"
    meta = json.loads((tmp_path / "b" / "run.json").read_text())
    assert meta["train_indices"]["count"] == 64 and meta["valid_indices"]["count"] == 16
    assert meta["data"]["valid"] is None and isinstance(meta["data"]["train"]["provenance"], dict)
    # A resumed run must train on the same events.
    moved = dataclasses.replace(config, train_indices=np.arange(1, 64), resume=True, epochs=2)
    with pytest.raises(RunDirError, match="cannot resume with different settings: train_indices differs"):
        _fit(tiny_spec, moved)
    # An index beyond the file is refused in one line, before RUN_DIR is made.
    with pytest.raises(UsageError, match=r"train_indices: event index 96 out of range \(.*tiny.h5 has 96 events\)"):
        _fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "c", train_indices=[0, 96], quiet=True))
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_given_digests_are_used_not_recomputed(tiny_minerva, tiny_spec, tmp_path, monkeypatch):
    digest = file_digest(tiny_minerva)

    def no_hashing(path):
        raise AssertionError(f"fit hashed {path} again")

    monkeypatch.setattr("nuclassify.training._fit.file_digest", no_hashing)
    result = _fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "run", digests={"train": digest}, quiet=True,
                                         max_events=32))
    assert result.meta["data"]["train"]["sha256"] == digest["sha256"]
    stale = {**digest, "size": digest["size"] + 1}
    with pytest.raises(UsageError, match=r"digests\['train'\] is stale"):
        _fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "r2", digests={"train": stale}, quiet=True))
    elsewhere = {**digest, "path": str(tmp_path / "other.h5")}
    with pytest.raises(UsageError, match=r"digests\['train'\] is for .*other.h5, not for the train file"):
        _fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "r3", digests={"train": elsewhere}, quiet=True))


@pytest.mark.slow
def test_lean_checkpoints_write_best_keras_only(tiny_minerva, tiny_spec, tmp_path):
    """A search's candidates write best.keras and the small records only (and no TensorBoard logs)."""
    lean = _fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "lean", epochs=2, valid_fraction=0.25, quiet=True,
                                       checkpoints="best", tensorboard=False))
    full = _fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "full", epochs=2, valid_fraction=0.25, quiet=True))
    assert sorted(p.name for p in (tmp_path / "lean").iterdir()) == ["best.keras", "history.csv", "run.json",
                                                                      "spec.json"]
    assert lean.model_path == tmp_path / "lean" / "best.keras"
    assert {"model.keras", "last.keras", "resume"} <= {p.name for p in (tmp_path / "full").iterdir()}
    assert [r["val_loss"] for r in lean.history] == pytest.approx(
        [r["val_loss"] for r in full.history], rel=1e-5)  # the same training, only fewer files
    assert lean.meta["tensorboard"] == "off" and lean.meta["checkpoints"] == "best"
