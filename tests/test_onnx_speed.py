"""onnxruntime session settings for ``predict``/``evaluate`` from an ``.onnx`` (issue 12, performance).

The settings are chosen for speed on a shared CPU (no spin-waiting, all graph optimisations,
sequential executor); these tests pin them, and check that they change speed only, never the
probabilities. The model is a tiny conv net written with ``onnx.helper`` (no TensorFlow needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from nuclassify.evaluation._onnx import open_onnx, session_options  # noqa: E402


def _tiny_conv_net(path: Path) -> Path:
    """x (batch, 12, 10, 2) channels last -> Transpose -> Conv 3x3 (12 filters, not a multiple of the
    SIMD block, as in conv4) + Relu -> MaxPool (2,1) -> Flatten -> MatMul -> Softmax over 3 classes."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(12, 2, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(size=12).astype(np.float32), "b")
    dense = numpy_helper.from_array(rng.normal(size=(12 * 5 * 8, 3)).astype(np.float32) * 0.05, "dense")
    nodes = [
        helper.make_node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w", "b"], ["conv"], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("MaxPool", ["relu"], ["pool"], kernel_shape=[2, 1], strides=[2, 1]),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "dense"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 12, 10, 2])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        initializer=[w, b, dense])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return _tiny_conv_net(tmp_path_factory.mktemp("onnx") / "tiny.onnx")


def test_session_options_turn_off_spin_waiting_and_keep_every_optimisation():
    options = session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.intra_op_num_threads == 0  # onnxruntime's own choice: one per physical core
    pinned = session_options(3, spinning=True)
    assert pinned.intra_op_num_threads == 3
    assert pinned.get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_the_settings_change_speed_not_the_probabilities(tiny):
    """Same events through our session and through onnxruntime's defaults: the same probabilities.

    Tolerance 1e-6: the graph optimisations may reorder float32 sums (the NCHWc convolution
    accumulates in a different order than the reference kernel), which moves the last bits only.
    """
    x = np.random.default_rng(1).exponential(size=(37, 12, 10, 2)).astype(np.float32)
    plain = ort.InferenceSession(str(tiny), providers=["CPUExecutionProvider"])
    reference = plain.run(None, {"x": x})[0]
    for model in (open_onnx(tiny), open_onnx(tiny, threads=1), open_onnx(tiny, threads=2, spinning=True)):
        got = model.run({"x": x})[0]
        assert got.shape == (37, 3)
        np.testing.assert_allclose(got, reference, atol=1e-6, rtol=0)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_batches_are_fed_as_contiguous_float32_whatever_the_caller_passes(tiny):
    """A float64 or strided (view-reordered) batch gives the probabilities of its float32 copy."""
    x = np.random.default_rng(2).exponential(size=(8, 12, 10, 2))
    model = open_onnx(tiny)
    expected = model.run({"x": np.ascontiguousarray(x, dtype=np.float32)})[0]
    np.testing.assert_allclose(model.run({"x": x})[0], expected, atol=1e-7)
    strided = np.asfortranarray(x.astype(np.float32))
    np.testing.assert_allclose(model.run({"x": strided})[0], expected, atol=1e-7)
