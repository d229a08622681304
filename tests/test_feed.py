"""The training feed: every step sees exactly the data layer's batch for (seed, epoch, step).

Resume relies on this, and so does a fair comparison of runs: Keras peeks at items, restarts its
iterators and reads ahead across epoch boundaries, and none of that may change the order.
"""

from __future__ import annotations

import numpy as np
import pytest

from nuclassify.data import open_dataset
from nuclassify.training._feed import StreamSpec, make_feed

pytestmark = pytest.mark.slow
BATCH = 10  # 96 events -> 10 steps, the last one short


@pytest.fixture()
def stream(tiny_minerva):
    ds = open_dataset(tiny_minerva)
    yield StreamSpec(ds, np.arange(ds.n_events), BATCH, "segment", ["x", "u", "v"], shuffle=True, seed=3)
    ds.close()


def _labels(stream, epochs, start_epoch=0, start_step=0):
    out = []
    for e in range(start_epoch, start_epoch + epochs):
        out += [y for _, y in stream.stream(e, start_step if e == start_epoch else 0)]
    return np.concatenate(out)


def test_items_are_a_pure_function_of_their_index(stream):
    feed = make_feed(stream, epoch=1, start_step=3)
    n = stream.n_steps
    try:
        order = list(range(25)) + [17, 0, 1, 24, 5]  # in order across two epoch ends, then jumps
        for i in order:
            x, y = feed[i]
            epoch, step = 1 + (3 + i) // n, (3 + i) % n
            want_x, want_y = next(stream.stream(epoch, step))
            np.testing.assert_array_equal(y, want_y)
            np.testing.assert_array_equal(x["u"], want_x["u"])
        assert feed.num_batches is None  # endless: fit gets steps_per_epoch
    finally:
        feed.close()
    # The shuffle really differs between epochs, so a batch from the wrong epoch would be caught.
    assert not np.array_equal(_labels(stream, 1, 0), _labels(stream, 1, 1))


def test_validation_feed_is_one_epoch(stream):
    feed = make_feed(stream, epoch=0, endless=False)
    try:
        assert feed.num_batches == stream.n_steps
        with pytest.raises(IndexError):
            feed[stream.n_steps]
    finally:
        feed.close()


def test_class_weights_become_sample_weights(stream):
    feed = make_feed(stream, epoch=0, class_weight={c: float(c + 1) for c in range(11)})
    try:
        _, y, w = feed[2]
        np.testing.assert_array_equal(w, y + 1.0)
    finally:
        feed.close()


def test_keras_fit_trains_on_the_batches_in_order(stream, tiny_spec):
    """Record the labels each train step sees (eager metric) through model.fit over three epochs."""
    keras = pytest.importorskip("keras")
    from nuclassify.models import build

    seen: list[np.ndarray] = []

    class Recorder(keras.metrics.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            seen.append(np.asarray(keras.ops.convert_to_numpy(y_true)).reshape(-1))

        def result(self):
            return keras.ops.convert_to_tensor(0.0)

    model = build(tiny_spec, dict(stream.ds.view_shapes), 11)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=[Recorder()],
                  run_eagerly=True)
    feed = make_feed(stream, epoch=0, start_step=4)
    try:  # a resumed partial epoch (steps 4..9 of epoch 0): its own fit call, as training does it
        model.fit(feed, epochs=1, steps_per_epoch=stream.n_steps - 4, verbose=0, shuffle=False)
    finally:
        feed.close()
    feed = make_feed(stream, epoch=1)
    try:
        model.fit(feed, epochs=3, initial_epoch=1, steps_per_epoch=stream.n_steps, verbose=0, shuffle=False)
    finally:
        feed.close()
    np.testing.assert_array_equal(np.concatenate(seen), _labels(stream, 3, 0, 4))
