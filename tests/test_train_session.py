"""fit leaves no global state behind: fits in one process train as they would each in a fresh process.

A search trains many candidates in one process; a leftover dtype policy, distribution or Keras
session from one fit must not change the next one's result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nuclassify.training import TrainConfig, fit

pytestmark = pytest.mark.slow
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
_ONE_FIT = """
import json, sys
from nuclassify.training import TrainConfig, fit
spec, data, out, precision = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
r = fit(spec, TrainConfig(data, out, epochs=2, valid_fraction=0.25, seed=4, precision=precision, quiet=True))
print(json.dumps(r.history))
"""
_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def _metrics(history: list[dict]) -> np.ndarray:
    return np.array([[row[k] for k in _KEYS] for row in history])


def test_fits_in_one_process_match_fits_in_separate_processes(tiny_minerva, tiny_spec, tmp_path):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("in-process tests run on the TensorFlow backend")
    # Separate processes (started together: they are independent).
    procs = [subprocess.Popen([sys.executable, "-c", _ONE_FIT, json.dumps(tiny_spec), str(tiny_minerva),
                               str(tmp_path / f"alone-{p}"), p], env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for p in ("fp32", "mixed")]
    # The same two fits, one after the other, in this process.
    policy_before = keras.config.dtype_policy().name
    together = [fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / f"together-{p}", epochs=2, valid_fraction=0.25,
                                           seed=4, precision=p, quiet=True)).history for p in ("fp32", "mixed")]
    assert keras.config.dtype_policy().name == policy_before  # the mixed fit's policy did not stay
    assert keras.distribution.distribution() is None
    # fp32 again after mixed: a policy or session left by the mixed fit would show here.
    again = fit(tiny_spec, TrainConfig(tiny_minerva, tmp_path / "again", epochs=2, valid_fraction=0.25, seed=4,
                                       quiet=True)).history
    np.testing.assert_allclose(_metrics(again), _metrics(together[0]), rtol=1e-5, atol=1e-6)
    alone = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        alone.append(json.loads(out.strip().splitlines()[-1]))
    for one, other in zip(together, alone, strict=True):
        np.testing.assert_allclose(_metrics(one), _metrics(other), rtol=1e-5, atol=1e-6)
    # The two precisions really differ (else the comparison could not tell them apart).
    assert not np.allclose(_metrics(together[0]), _metrics(together[1]), rtol=1e-5, atol=1e-6)
