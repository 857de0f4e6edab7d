"""The tutorial's MaskInference network in Keras 3.

source-separation/tutorial:common/models.py (MaskInference.build, as called in
ZeroAda/EIE3510-Music-Separation:Test_and_Deep_Learning_Method.ipynb cell 28), built from nussl's
blocks (nussl/nussl:nussl/ml/networks/modules/blocks.py):

    mixture magnitude (B, T, 257)
      -> AmplitudeToDB: 20 log10(max(|X|, 1e-4))             (B, T, 257), floor -80 dB
      -> BatchNorm over the 257 frequencies                    (B, T, 257)
      -> BLSTM(50) x num_layers [Dropout between layers]       (B, T, 100)
      -> Dense(257, sigmoid) = mask                            (B, T, 257)
      -> estimate = mask * mixture magnitude                   (B, T, 257)

The model's outputs are {"estimates", "mask"}; training uses "estimates" (L1 against the vocal
magnitude).
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

from . import params


@keras.saving.register_keras_serializable(package="mask_inference")
class AmplitudeToDB(layers.Layer):
    """nussl AmplitudeToDB(ref=1, amin=1e-4): 10 log10(max(x^2, amin^2)) - 10 log10(max(amin^2, ref^2))."""

    def __init__(self, amin: float = params.DB_AMIN, ref: float = params.DB_REF, **kwargs):
        super().__init__(**kwargs)
        self.amin = float(amin)
        self.ref = float(ref)

    def call(self, magnitude):
        power = ops.maximum(ops.square(magnitude), self.amin ** 2)
        ref_db = 10.0 * math.log10(max(self.amin ** 2, self.ref ** 2))
        return 10.0 * ops.log10(power) - ref_db

    def get_config(self):
        return {**super().get_config(), "amin": self.amin, "ref": self.ref}


@keras.saving.register_keras_serializable(package="mask_inference")
class ForgetBias(keras.initializers.Initializer):
    """LSTM bias initialiser: zeros except the forget-gate slice [n/4, n/2) = ``value``.

    nussl zeroes both PyTorch biases and sets each forget slice to 1 (effective 2); Keras' LSTM has
    one bias with gate order i, f, c, o (the same as PyTorch's i, f, g, o).
    """

    def __init__(self, value: float = params.FORGET_BIAS):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        units = shape[0] // 4
        return ops.concatenate([ops.zeros((units,), dtype=dtype),
                                ops.full((units,), self.value, dtype=dtype),
                                ops.zeros((2 * units,), dtype=dtype)])

    def get_config(self):
        return {"value": self.value}


def xavier_normal(seed=None):
    """torch.nn.init.xavier_normal_: untruncated normal, std = sqrt(2 / (fan_in + fan_out))."""
    return keras.initializers.VarianceScaling(1.0, "fan_avg", "untruncated_normal", seed=seed)


def build_model(num_bins: int = params.NUM_BINS, hidden_size: int = params.HIDDEN_SIZE,
                num_layers: int = params.NUM_LAYERS, dropout: float = params.DROPOUT,
                bidirectional: bool = params.BIDIRECTIONAL, seed: int | None = None) -> keras.Model:
    """Mask-inference model: input (B, T, num_bins) magnitude -> {"estimates", "mask"} (B, T, num_bins).

    num_layers=1, dropout=0 is what the student trained; num_layers=2, dropout=0.3 is what the
    report describes. Dropout acts only between stacked recurrent layers, as torch.nn.LSTM does.
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    seed_gen = (lambda i: None) if seed is None else (lambda i: seed + i)
    magnitude = keras.Input(shape=(None, num_bins), name="mix_magnitude")
    x = AmplitudeToDB(name="amplitude_to_db")(magnitude)
    x = layers.BatchNormalization(axis=-1, momentum=params.BN_MOMENTUM, epsilon=params.BN_EPSILON,
                                  name="batch_norm")(x)
    for i in range(num_layers):
        if i > 0 and dropout > 0:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
        def make_lstm(k: int, go_backwards: bool = False):
            return layers.LSTM(hidden_size, return_sequences=True, unit_forget_bias=False,
                               go_backwards=go_backwards,
                               kernel_initializer=xavier_normal(seed_gen(10 * i + 2 * k)),
                               recurrent_initializer=xavier_normal(seed_gen(10 * i + 2 * k + 1)),
                               bias_initializer=ForgetBias(), name=f"lstm_{i}_{k}")
        if bidirectional:
            x = layers.Bidirectional(make_lstm(0), backward_layer=make_lstm(1, go_backwards=True),
                                     merge_mode="concat", name=f"blstm_{i}")(x)
        else:
            x = make_lstm(0)(x)
    mask = layers.Dense(num_bins, activation="sigmoid", kernel_initializer=xavier_normal(seed_gen(100)),
                        bias_initializer="zeros", name="mask")(x)
    estimates = layers.Multiply(name="estimates")([mask, magnitude])
    return keras.Model(magnitude, {"estimates": estimates, "mask": mask}, name="mask_inference")


def expected_param_count(num_layers: int) -> tuple[int, int]:
    """(total, trainable) Keras parameter counts from design §6, for 1 or 2 BLSTM layers."""
    table = {1: (params.KERAS_PARAMS_1_LAYER, params.KERAS_TRAINABLE_1_LAYER),
             2: (params.KERAS_PARAMS_2_LAYERS, params.KERAS_TRAINABLE_2_LAYERS)}
    return table[num_layers]


def torch_equivalent_param_count(model: keras.Model) -> int:
    """Parameters PyTorch would count: trainable weights + one extra bias per LSTM direction."""
    extra = sum(layer.cell.units * 4 for layer in _lstm_layers(model))
    return int(sum(int(ops.size(w)) for w in model.trainable_weights)) + extra


def _lstm_layers(model):
    for layer in model.layers:
        if isinstance(layer, layers.Bidirectional):
            yield layer.forward_layer
            yield layer.backward_layer
        elif isinstance(layer, layers.LSTM):
            yield layer
