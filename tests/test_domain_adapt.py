"""Domain-adversarial training (``train --domain-adapt``): the reversal layer, the head, the feed, the CLI.

References: the gradient-reversal layer is Ganin et al., JMLR 17 (2016) 59 (arXiv 1505.07818),
eq. 12: forward R(x) = x, backward dR/dx = -lambda I. MINERvA's domain classifier is dense
1024-1024-1 with loss weight 0.1 (Perdue et al., arXiv 1808.08332). Gradients are compared to
float32 precision (rtol 1e-6).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nuclassify.errors import SpecError, UsageError
from nuclassify.training import TrainConfig

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
BACKENDS = ["tensorflow", "jax", "torch"]

_GRAD_SCRIPT = textwrap.dedent("""
    import json, numpy as np, keras
    from nuclassify.models._layers import GradientReversal
    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(3, 5)).astype("float32")
    w = rng.normal(size=(3, 5)).astype("float32")

    def grad_of(layer):
        if backend == "tensorflow":
            import tensorflow as tf
            x = tf.constant(x0)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x)
                s = tf.reduce_sum(y * w)
            return tape.gradient(s, x).numpy(), y.numpy()
        if backend == "jax":
            import jax, jax.numpy as jnp
            return (np.asarray(jax.grad(lambda x: jnp.sum(layer(x) * w))(jnp.asarray(x0))),
                    np.asarray(layer(jnp.asarray(x0))))
        import torch
        x = torch.tensor(x0, requires_grad=True)
        y = layer(x)
        (y * torch.tensor(w)).sum().backward()
        return x.grad.numpy(), y.detach().numpy()

    grad, out = grad_of(GradientReversal(0.7))
    ramped = GradientReversal(0.7, ramp_steps=10)
    ramped.build((3, 5))
    ramped.step.assign(3.0)  # 30% of the ramp done
    grad_ramp, _ = grad_of(ramped)
    print(json.dumps({"backend": backend, "x": x0.tolist(), "w": w.tolist(), "out": out.tolist(),
                      "grad": grad.tolist(), "grad_ramp": grad_ramp.tolist(),
                      "step_after": float(np.asarray(ramped.step.value))}))
""")


def _installed(backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_reversal_is_identity_forward_and_minus_lambda_backward(backend):
    """d/dx sum(w * R(x)) = -0.7 w exactly (the identity's gradient is w), on each backend.

    With Ganin's ramp at 30% of its steps the factor is 0.7 (2 / (1 + exp(-3)) - 1) = 0.6329; a
    call outside training leaves the step count alone.
    """
    _installed(backend)
    proc = subprocess.run([sys.executable, "-c", _GRAD_SCRIPT], env={**ENV, "KERAS_BACKEND": backend},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["backend"] == backend
    np.testing.assert_allclose(got["out"], got["x"], rtol=1e-6)
    np.testing.assert_allclose(got["grad"], -0.7 * np.asarray(got["w"]), rtol=1e-6)
    np.testing.assert_allclose(got["grad_ramp"], -0.7 * (2 / (1 + np.exp(-3.0)) - 1) * np.asarray(got["w"]),
                               rtol=1e-5)
    assert got["step_after"] == 3.0


def test_domain_head_exists_only_in_the_training_model(tiny_spec, tmp_path):
    import keras

    from nuclassify.models import build, count_params, load_model
    from nuclassify.models._build import inference_model
    from nuclassify.models._spec import domain_head_params

    shapes = {"x": (127, 10, 2), "u": (127, 5, 2), "v": (127, 5, 2)}
    spec = {**tiny_spec, "domain_head": {"units": [32, 8], "weight": 0.1}}
    plain = build(spec, shapes, 11)
    train = build(spec, shapes, 11, domain_head=True)
    assert len(plain.outputs) == 1 and plain.count_params() == count_params(spec, shapes, 11)
    assert train.output_names == ["output", "domain"]
    # penultimate width 16 (tiny head): 16*32+32 + 32*8+8 + 8*1+1 = 817 parameters more
    assert domain_head_params(spec, 16) == 817
    assert train.count_params() == count_params(spec, shapes, 11) + 817
    assert "domain_reversal" in [layer.name for layer in train.layers]
    infer = inference_model(train)
    assert infer.output_names == ["output"] and infer.count_params() == plain.count_params()
    xs = [np.random.default_rng(1).random((2, *shapes[v])).astype("float32") for v in ("x", "u", "v")]
    np.testing.assert_allclose(infer.predict(xs, verbose=0), train.predict(xs, verbose=0)[0], rtol=1e-6)
    # A saved training model loads back as the inference model, or whole for a resume.
    train.save(tmp_path / "t.keras")
    assert load_model(tmp_path / "t.keras").output_names == ["output"]
    whole = load_model(tmp_path / "t.keras", keep_domain_head=True)
    assert whole.output_names == ["output", "domain"]
    assert whole.get_layer("domain_reversal").scale == 1.0
    keras.backend.clear_session()


@pytest.mark.parametrize("bad, match", [
    ({"units": [0]}, "units must be a list of positive integers"),
    ({"weight": -1}, "weight must be a number > 0"),
    ({"units": [8], "lambda": 1}, "domain_head must be an object with keys ramp, units, weight"),
    ({"ramp": 1}, "ramp must be true or false"),
])
def test_bad_domain_head_is_refused(tiny_spec, bad, match):
    from nuclassify.models import validate_spec

    with pytest.raises(SpecError, match=match):
        validate_spec({**tiny_spec, "domain_head": bad})


def test_options_are_checked_before_anything_runs(tmp_path):
    with pytest.raises(UsageError, match="--domain-weight needs --domain-adapt"):
        TrainConfig("a.h5", tmp_path / "r", domain_weight=0.2)
    with pytest.raises(UsageError, match="--domain-weight must be > 0"):
        TrainConfig("a.h5", tmp_path / "r", domain_adapt="b.h5", domain_weight=0)
    with pytest.raises(UsageError, match="engine fit"):
        TrainConfig("a.h5", tmp_path / "r", domain_adapt="b.h5", engine="jax-loop")
    with pytest.raises(UsageError, match="--domain-ramp needs --domain-adapt"):
        TrainConfig("a.h5", tmp_path / "r", domain_ramp=True)


def test_paired_batch_masks_the_target_class_loss_and_labels_domains():
    from nuclassify.training._domain import paired_item, valid_item

    x = {"x": np.zeros((3, 2, 2, 1), np.float32)}
    tx = {"x": np.ones((5, 2, 2, 1), np.float32)}
    merged, (labels, domain), (w_class, w_domain) = paired_item(x, np.array([1, 2, 1]), tx,
                                                                np.array([1.0, 0.5, 3.0], np.float32))
    assert merged["x"].shape[0] == 8 and merged["x"][3:].min() == 1 and merged["x"][:3].max() == 0
    assert domain[:, 0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    # Keras divides the weighted sum by the batch (8): source weights x 8/3 keep it the source mean.
    np.testing.assert_allclose(w_class, [0.5 * 8 / 3, 3 * 8 / 3, 0.5 * 8 / 3, 0, 0, 0, 0, 0], rtol=1e-6)
    assert w_domain.tolist() == [1.0] * 8 and labels[3:].tolist() == [0] * 5
    _, (_, vd), (vw, vdw) = valid_item(x, np.array([1, 2, 1]))
    assert vd.shape == (3, 1) and vw.tolist() == [1, 1, 1] and vdw.tolist() == [0, 0, 0]


def test_target_stream_is_a_pure_function_of_the_global_step(tiny_unlabelled):
    """A resume at global step p draws the batches an uninterrupted run draws from p on."""
    from nuclassify.data import open_dataset
    from nuclassify.training._domain import DomainStream

    with open_dataset(tiny_unlabelled) as ds:
        stream = DomainStream(ds, np.arange(ds.n_events), 6, ["x", "u", "v"], seed=4)
        assert stream.n_steps == 6  # 32 events in batches of 6
        it = stream.from_position(0)
        first = [next(it)["x"] for _ in range(15)]  # runs on into the target file's third epoch
        later = stream.from_position(9)
        for k in range(9, 15):
            np.testing.assert_array_equal(next(later)["x"], first[k])
        assert not np.array_equal(first[0], first[6])  # each epoch is shuffled anew


def test_wrong_layout_file_is_refused_in_one_line(tiny_minerva, tiny_spec, tmp_path):
    from conftest import make_minerva_file

    wide = make_minerva_file(tmp_path / "wide.h5", n=8, width=12)
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    proc = subprocess.run([sys.executable, "-m", "nuclassify", "train", "--data", str(tiny_minerva), "--arch",
                           str(spec_path), "--out", str(tmp_path / "run"), "--domain-adapt", str(wide)],
                          env={**ENV, "KERAS_BACKEND": "jax"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nuclassify: error: --domain-adapt ")
    assert str(wide) in lines[0] and "layout" in lines[0] and "views" in lines[0]
    assert not (tmp_path / "run").exists()  # refused before a run directory was made


def _at_batch(epoch: int, batch: int, action):
    import keras

    class AtBatch(keras.callbacks.Callback):
        current = -1

        def on_epoch_begin(self, e, logs=None):
            self.current = e

        def on_train_batch_end(self, b, logs=None):
            if self.current == epoch and b == batch:
                action()

    return AtBatch()


@pytest.mark.slow
def test_domain_adapt_trains_records_and_resumes_after_sigterm(tiny_minerva, tiny_unlabelled, tiny_spec, tmp_path):
    """TensorFlow in this process: SIGTERM mid-epoch, resume, finish; the domain file is in run.json.

    With Ganin's ramp: the reversal layer's count of training steps is saved with the resume state,
    so a resumed run continues the ramp where it stopped instead of starting it again.
    """
    os.environ["KERAS_BACKEND"] = "tensorflow"
    from nuclassify.training import TrainingInterrupted, fit, load_run

    out = tmp_path / "run"
    config = TrainConfig(tiny_minerva, out, epochs=2, valid_fraction=0.25, seed=1, quiet=True,
                         domain_adapt=tiny_unlabelled, domain_weight=0.2, batch_size=8, domain_ramp=True)
    term = _at_batch(1, 1, lambda: os.kill(os.getpid(), signal.SIGTERM))
    with pytest.raises(TrainingInterrupted, match="--resume"):
        fit(tiny_spec, config, callbacks=[term])
    state = json.loads((out / "resume" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 3)  # the keeper sees the request one batch later
    from nuclassify.models import load_model

    saved = load_model(out / "resume" / "state.keras", keep_domain_head=True).get_layer("domain_reversal")
    assert saved.ramp_steps == 2 * 9  # 2 epochs of 72 training events in batches of 8
    assert float(np.asarray(saved.step.value)) == 9 + 3  # the steps trained: epoch 0, then 3 of epoch 1
    meta = json.loads((out / "run.json").read_text())
    domain = meta["data"]["domain"]
    assert domain["path"] == str(tiny_unlabelled) and len(domain["sha256"]) == 64 and "provenance" in domain
    assert meta["domain_adapt"] == str(tiny_unlabelled) and meta["domain_weight"] == 0.2
    assert json.loads((out / "spec.json").read_text())["domain_head"] == {"units": [1024, 1024], "weight": 0.2,
                                                                         "ramp": True}
    # Another unlabelled file: refused, not silently mixed in.
    from conftest import make_minerva_file

    other = make_minerva_file(tmp_path / "other.h5", n=32, unlabelled=True, seed=9)
    from nuclassify.errors import RunDirError

    with pytest.raises(RunDirError, match="--domain-adapt data differs"):
        fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=2, valid_fraction=0.25, seed=1, quiet=True,
                                   domain_adapt=other, domain_weight=0.2, resume=True, batch_size=8,
                                   domain_ramp=True))
    result = fit(tiny_spec, TrainConfig(tiny_minerva, out, epochs=2, valid_fraction=0.25, seed=1, quiet=True,
                                        domain_adapt=tiny_unlabelled, domain_weight=0.2, resume=True, batch_size=8,
                                        domain_ramp=True))
    assert [r["epoch"] for r in result.history] == [0, 1] and result.history[1]["resumed_at_step"] == 3
    row = result.history[-1]
    assert {"accuracy", "val_accuracy", "loss", "val_loss", "domain_loss", "class_loss"} <= row.keys()
    # The total loss is the class loss plus 0.2 x the domain loss (Keras' running means, float32). Batches
    # of 8 divide the 72 training, 24 validation and 32 target events: on TensorFlow Keras averages the
    # per-output losses per batch, unweighted by a short final batch's size, and the identity would not hold.
    assert row["loss"] == pytest.approx(row["class_loss"] + 0.2 * row["domain_loss"], rel=1e-4)
    assert row["val_domain_loss"] == 0.0  # validation is source-only
    for which in ("model", "best", "last"):  # what predict, evaluate and export load: class probabilities only
        assert load_run(out, which=which).model.output_names == ["output"]

    for name in ("model.keras", "best.keras", "last.keras"):  # the files themselves, not only what loaders make of them
        assert load_model(out / name, keep_domain_head=True).output_names == ["output"]
    assert "domain" in load_model(out / "resume" / "state.keras", keep_domain_head=True).output_names


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_domain_adapt_cli_on_other_backends(backend, tiny_minerva, tiny_unlabelled, tiny_spec, tmp_path):
    """The same command on JAX and PyTorch (TensorFlow: the test above), each in its own process, ramped."""
    _installed(backend)
    spec_path = tmp_path / "tiny.json"
    spec_path.write_text(json.dumps(tiny_spec))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "nuclassify", "train", "--data", str(tiny_minerva), "--arch", str(spec_path),
           "--out", str(out), "--epochs", "1", "--valid-fraction", "0.25", "--json", "--domain-adapt",
           str(tiny_unlabelled), "--domain-ramp"]
    proc = subprocess.run(cmd, env={**ENV, "KERAS_BACKEND": backend}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["backend"] == backend and summary["epochs_completed"] == 1
    last = summary["last_epoch"]
    assert np.isfinite(last["domain_loss"]) and last["loss"] == pytest.approx(
        last["class_loss"] + 0.1 * last["domain_loss"], rel=1e-4)
    proc = subprocess.run(cmd + ["--epochs", "2", "--resume"], env={**ENV, "KERAS_BACKEND": backend},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["epochs_completed"] == 2
