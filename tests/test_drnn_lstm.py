"""drnn_singing's projected LSTM (Dense input projection + recurrent-only cell) vs keras.layers.LSTM."""
from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BINS, HIDDEN, BATCH, FRAMES = 8, 6, 2, 7


def _projected_model():
    import keras

    from drnn_singing.model import projected_lstm
    inputs = keras.Input(shape=(FRAMES, BINS))
    return keras.Model(inputs, projected_lstm(inputs, HIDDEN, name="lstm", seed=3))


def test_matches_keras_lstm_with_copied_weights():
    import keras
    reference = keras.layers.LSTM(HIDDEN, return_sequences=True)
    x = np.random.default_rng(0).standard_normal((BATCH, FRAMES, BINS)).astype(np.float32)
    reference(x)                                       # builds the weights
    # non-trivial bias on every gate, so a gate-order mix-up cannot pass unnoticed
    bias = np.random.default_rng(1).standard_normal(4 * HIDDEN).astype(np.float32)
    reference.cell.bias.assign(bias)
    expected = np.asarray(reference(x))

    model = _projected_model()
    dense, rnn = model.get_layer("lstm_input"), model.get_layer("lstm")
    dense.kernel.assign(reference.cell.kernel)
    dense.bias.assign(reference.cell.bias)
    rnn.cell.recurrent_kernel.assign(reference.cell.recurrent_kernel)
    assert model.count_params() == reference.count_params() == 4 * (BINS * HIDDEN + HIDDEN * HIDDEN + HIDDEN)
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=1e-5, rtol=0)


def test_initialisation_matches_keras_lstm():
    """Forget-gate quarter of the bias starts at 1, the other gates at 0; U orthogonal."""
    model = _projected_model()
    bias = model.get_layer("lstm_input").bias.numpy()
    assert bias.shape == (4 * HIDDEN,)
    np.testing.assert_array_equal(bias[HIDDEN:2 * HIDDEN], 1.0)
    np.testing.assert_array_equal(np.delete(bias, np.s_[HIDDEN:2 * HIDDEN]), 0.0)
    u = model.get_layer("lstm").cell.recurrent_kernel.numpy()          # (units, 4*units): orthonormal rows
    np.testing.assert_allclose(u @ u.T, np.eye(HIDDEN), atol=1e-5)


def test_lstm_model_trains_and_reloads(tmp_path):
    import keras

    from drnn_singing.losses import make_loss
    from drnn_singing.model import CUSTOM_OBJECTS, build_model
    keras.utils.set_random_seed(0)   # heads unseeded; lr 1e-3 cut the loss >= 24% for seeds 0-5
    model = build_model("lstm3x1000", bins=BINS, hidden=HIDDEN, context=3)
    rng = np.random.default_rng(2)
    x = np.abs(rng.standard_normal((4, 10, 3 * BINS))).astype(np.float32)
    # reachable targets: a fixed split of the mixture (centre) frame, as the soft mask produces
    mixture, split = x[..., BINS:2 * BINS], rng.uniform(0.1, 0.9, BINS).astype(np.float32)
    y = np.concatenate([mixture * split, mixture * (1 - split)], axis=-1)
    model.compile(keras.optimizers.Adam(1e-3), make_loss(0.0))
    before = float(model.evaluate(x, y, verbose=0))
    for _ in range(20):
        model.train_on_batch(x, y)
    after = float(model.evaluate(x, y, verbose=0))
    assert np.isfinite(after) and after < 0.9 * before

    path = tmp_path / "lstm.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False)
    np.testing.assert_allclose(np.asarray(reloaded(x)), np.asarray(model(x)), atol=1e-6)
