"""Keras 3 models: Huang's DNN/DRNN-l/sRNN family, the 3 x LSTM(1000) variant, andabi's 3 x GRU(256).

Every model maps context features (batch, frames, context*bins) to the masked magnitudes
(batch, frames, 2*bins) = [music, voice] (Huang's order). The mask layer sits inside the model,
so the loss is computed on its outputs (TASLP's joint optimisation).
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

from . import params as P


class SoftMask(layers.Layer):
    """Huang's 'softabs' time-frequency mask (TASLP eq. 6, MATLAB opt=1).

    inputs: [raw (B, T, 2*bins), mixture magnitude z (B, T, bins)]
    output: (B, T, 2*bins) = [|a1|/(|a1|+|a2|+eps) * z, |a2|/(|a1|+|a2|+eps) * z]
    """

    def __init__(self, eps: float = P.MASK_EPS, **kwargs):
        super().__init__(**kwargs)
        self.eps = eps

    def call(self, inputs):
        raw, mixture = inputs
        a1, a2 = ops.split(ops.abs(raw), 2, axis=-1)
        denominator = a1 + a2 + self.eps
        return ops.concatenate([a1 / denominator * mixture, a2 / denominator * mixture], axis=-1)

    def get_config(self):
        return {**super().get_config(), "eps": self.eps}


class CenterFrame(layers.Layer):
    """(B, T, context*bins) -> (B, T, bins): the middle frame t of the [t-1, t, t+1] context."""

    def __init__(self, bins: int, context: int, **kwargs):
        super().__init__(**kwargs)
        self.bins, self.context = bins, context

    def call(self, x):
        start = (self.context // 2) * self.bins
        return x[..., start:start + self.bins]

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "context": self.context}


class Standardize(layers.Layer):
    """(B, T, bins) -> (x - mean) * scale per bin, with fixed statistics of the training mixtures
    (``data.input_statistics``; Open-Unmix's input mean/scale, here not trained). Stored with the
    weights (non-trainable), so a run folder needs nothing else. Before they are set: the identity."""

    def build(self, input_shape):
        bins = int(input_shape[-1])
        self.mean = self.add_weight(shape=(bins,), initializer="zeros", trainable=False, name="mean")
        self.scale = self.add_weight(shape=(bins,), initializer="ones", trainable=False, name="scale")

    def call(self, x):
        return (x - self.mean) * self.scale


def _glorot(fan_in: int, fan_out: int, seed=None):
    """U(-s, s), s = sqrt(6/(fan_in+fan_out)) (MATLAB initialize_weights.m)."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return keras.initializers.RandomUniform(-limit, limit, seed=seed)


class ReLURecurrence(layers.Layer):
    """Elman cell on a pre-projected input: h_t = relu(a_t + h_{t-1} U), a_t = W x_t + b (given).

    Used inside keras.layers.RNN; the input projection W x_t + b runs as one Dense over all frames
    (one large matrix product instead of one per time step: ~1.3x faster training on CPU here).
    """

    def __init__(self, units: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.seed = units, seed
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        # U ~ U(-s, s), s = sqrt(6/(3*units)) (MATLAB initialize_weights.m, "Ilya's modification")
        limit = math.sqrt(6.0 / (3 * self.units))
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), name="recurrent_kernel",
            initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed))

    def call(self, projected, states):
        h = ops.relu(projected + ops.matmul(states[0], self.recurrent_kernel))
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "seed": self.seed}


def _hidden_layer(x, units: int, fan_in: int, recurrent: bool, name: str, seed: int):
    """One ReLU hidden layer; Elman recurrence h_t = relu(W x_t + b + U h_{t-1}) when `recurrent`.

    The recurrent state starts at zero for every sequence (MATLAB: no recurrent term at t = 1).
    """
    if not recurrent:
        return layers.Dense(units, activation="relu", kernel_initializer=_glorot(fan_in, units, seed),
                            bias_initializer="zeros", name=name)(x)
    # Input weights of a recurrent layer: U(+-sqrt(6/(fan_in + 2*fan_out))) (MATLAB initialize_weights.m)
    limit = math.sqrt(6.0 / (fan_in + 2 * units))
    projected = layers.Dense(units, activation=None, name=f"{name}_input",
                             kernel_initializer=keras.initializers.RandomUniform(-limit, limit, seed=seed),
                             bias_initializer="zeros")(x)
    return layers.RNN(ReLURecurrence(units, seed=seed + 100), return_sequences=True, name=name)(projected)


class ForgetGateBias(keras.initializers.Initializer):
    """LSTM bias (4*units,) in gate order [i, f, c, o]: ones on the forget quarter, zeros elsewhere.

    Keras' `unit_forget_bias=True` with the default zero bias_initializer
    (keras-team/keras:keras/src/layers/rnn/lstm.py, LSTMCell.build).
    """

    def __call__(self, shape, dtype=None):
        units = shape[-1] // 4
        return ops.concatenate([ops.zeros((units,), dtype), ops.ones((units,), dtype),
                                ops.zeros((2 * units,), dtype)])

    def get_config(self):
        return {}


class LSTMRecurrence(layers.Layer):
    """LSTM cell on a pre-projected input: only the recurrent product runs per time step.

    projected: (B, 4*units) = x_t W + b for one frame (W, b in a Dense over all frames);
    states: [h (B, units), c (B, units)]. Same math as keras.layers.LSTM (implementation 2,
    keras-team/keras:keras/src/layers/rnn/lstm.py, LSTMCell.call): z = x_t W + b + h_{t-1} U,
    [i, f, g, o] = split(z, 4), i, f, o = sigmoid, g = tanh, c_t = f c_{t-1} + i g, h_t = o tanh(c_t).
    U (units, 4*units) is orthogonal-initialised as in Keras.
    """

    def __init__(self, units: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.seed = units, seed
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, 4 * self.units), name="recurrent_kernel",
            initializer=keras.initializers.Orthogonal(seed=self.seed))

    def call(self, projected, states):
        h, c = states
        z = projected + ops.matmul(h, self.recurrent_kernel)
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "seed": self.seed}


def projected_lstm(x, units: int, name: str, seed: int | None = None):
    """keras.layers.LSTM(units, return_sequences=True) as Dense(4*units) over all frames + RNN.

    x: (B, T, features) -> (B, T, units). Layers `{name}_input` (kernel glorot-uniform, bias
    ForgetGateBias) and `{name}` (RNN of LSTMRecurrence); the same weights as Keras' LSTM
    (kernel, recurrent_kernel, bias), so the parameter count is unchanged. State starts at zero.
    Training on CPU (benchmarks/drnn_train.py, 2 threads): ~1.4x keras.layers.LSTM; RNN(unroll=True)
    and compile(jit_compile=True) were slower here, so neither is used.
    """
    projected = layers.Dense(4 * units, name=f"{name}_input",
                             kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                             bias_initializer=ForgetGateBias())(x)
    cell = LSTMRecurrence(units, seed=None if seed is None else seed + 100)
    return layers.RNN(cell, return_sequences=True, name=name)(projected)


def recurrent_layers(arch: str, n_layers: int = P.N_HIDDEN_LAYERS) -> tuple[int, ...]:
    """1-based indices of the recurrent hidden layers of a Huang-family architecture."""
    if arch == "dnn":
        return ()
    if arch == "srnn":
        return tuple(range(1, n_layers + 1))
    if arch.startswith("drnn") and arch[4:].isdigit() and 1 <= int(arch[4:]) <= n_layers:
        return (int(arch[4:]),)
    raise ValueError(f"unknown Huang-family architecture {arch!r}; choose from {P.ARCHS}")


def build_model(arch: str = "drnn2", bins: int = P.N_BINS, context: int = P.CONTEXT,
                hidden: int | None = None, n_layers: int = P.N_HIDDEN_LAYERS, seed: int = 0,
                input_norm: bool = False, recurrent_input: str = "frame", head_activation: str = "relu",
                dropout: float = 0.0) -> keras.Model:
    """Build an architecture of params.ARCHS.

    bins/context/hidden/n_layers default to the paper's values (513, 3, 1000 or the variant's
    width, 3); tests pass tiny values. Output (B, T, 2*bins), masked, [music, voice].
    input_norm: the recurrent stacks (lstm3x1000, gru3x256) see the mixture frame standardised per bin
    (:class:`Standardize`, 2*bins non-trainable weights) instead of the raw magnitudes.
    recurrent_input: what the recurrent stacks read: "frame" (the mixture frame t, as the blog and andabi)
    or "context" (Huang's [t-1, t, t+1] features, context*bins wide, as DRNN-2 reads them: one frame of
    look-ahead for a network that otherwise sees only the past).
    head_activation: the recurrent stacks' two Dense heads: "relu" (the blog, andabi) or "linear" (Huang's
    output layer; the mask takes |.|). Under the mask a ReLU head at 0 passes no gradient to either head
    (the other's mask is then 1 whatever its value), so those time-frequency points stop teaching.
    dropout: the recurrent stacks only: dropout on the output of every recurrent layer but the last, in
    training only (Open-Unmix's placement: torch.nn.LSTM(dropout=0.4) between its 3 layers); the weights and
    the inference graph are those of dropout 0.
    """
    if arch not in P.ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(P.ARCHS)}")
    P.check_architecture(arch, input_norm, recurrent_input, head_activation, dropout)
    features = keras.Input(shape=(None, context * bins), name="features")
    mixture = CenterFrame(bins, context, name="mixture_magnitude")(features)

    if arch in P.RECURRENT_STACKS:
        # Blog / andabi: recurrent stack on the mixture frame, one Dense(bins, relu) head per source,
        # then the mask (ReLU outputs are >= 0, so |.| changes nothing).
        units = hidden or (P.LSTM_UNITS if arch == "lstm3x1000" else P.ANDABI_GRU_UNITS)
        x = Standardize(name="input_norm")(mixture) if input_norm else mixture
        x = features if recurrent_input == "context" else x
        for i in range(n_layers):
            if arch == "lstm3x1000":   # Keras' LSTM math, input product hoisted out of the time loop
                x = projected_lstm(x, units, name=f"lstm{i + 1}", seed=seed + i + 1)
            else:
                x = layers.GRU(units, return_sequences=True, name=f"gru{i + 1}")(x)
            if dropout and i < n_layers - 1:
                x = layers.Dropout(dropout, seed=seed + 50 + i, name=f"dropout{i + 1}")(x)
        activation = "relu" if head_activation == "relu" else None
        heads = [layers.Dense(bins, activation=activation, name=f"head_{source}")(x) for source in P.SOURCE_ORDER]
        raw = layers.Concatenate(name="heads")(heads)
    else:
        units = hidden or P.HIDDEN
        recurrent = recurrent_layers(arch, n_layers)
        x, fan_in = features, context * bins
        for i in range(1, n_layers + 1):
            x = _hidden_layer(x, units, fan_in, i in recurrent, f"hidden{i}", seed + i)
            fan_in = units
        raw = layers.Dense(2 * bins, activation=None, kernel_initializer=_glorot(units, 2 * bins, seed + 9),
                           bias_initializer="zeros", name="output")(x)   # linear (MATLAB outputnonlinear=0)
    masked = SoftMask(name="soft_mask")([raw, mixture])
    return keras.Model(features, masked, name=arch)


CUSTOM_OBJECTS = {"SoftMask": SoftMask, "CenterFrame": CenterFrame, "ReLURecurrence": ReLURecurrence, "Standardize": Standardize,
                  "LSTMRecurrence": LSTMRecurrence, "ForgetGateBias": ForgetGateBias}
