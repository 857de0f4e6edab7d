"""The four xumx-sliCQ networks in eval mode, from fixed weights, without Keras: the separator's engine.

``model.py`` holds the trainable Keras model (:class:`~.model.XUMXSliCQ`); its eager eval-mode calls and
the separate command both run the :class:`InferencePlan` here. This module imports TensorFlow only
inside its functions and never Keras, so that weights can be read and folded (numpy) while another
thread imports TensorFlow (``separate.main``).

The plan (:func:`plan_block`): BatchNorm folded into the convolutions (:func:`fold_weights`), the
dilation-(1, 2) time phases on the channel axis, the four targets as groups of one convolution,
constant shapes: 2,907 graph nodes for the 51 trained blocks instead of the training graph's 13,917.
Stacked weights (the layout of a ``model.BlockNet``'s variables, :func:`target_axes`): target g owns
chunk g of the stacked axis.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Callable, Mapping, Sequence

import numpy as np

from .params import BLOCKS, BN_EPSILON, CHANNELS, N_BLOCKS, NB_CHANNELS, TARGETS, has_network, kernel_size

#: Smallest number of slices the trained blocks accept: with S = 2 the M = 16 block has T = 24 OLA
#: frames and the second encoder conv has nothing left (design §3.1 "Minimum length", quirk 11).
MIN_SLICES = 3

#: The four BatchNorm2d layers: (name, channels per target) (model.py L185-228).
BN_LAYERS = (("bn1", CHANNELS[0]), ("bn2", CHANNELS[1]), ("bn3", CHANNELS[0]), ("bn4", NB_CHANNELS))
BN_PARTS = ("gamma", "beta", "moving_mean", "moving_variance")


def target_axes() -> dict:
    """{weight name: (axis, size of one target's chunk along it)} of a :class:`~.model.BlockNet`'s stacked weights,
    in the order ``BlockNet.build`` creates them."""
    c1, c2 = CHANNELS
    axes = {"input_mean": (0, 1), "input_scale": (0, 1), "conv1": (3, c1), "conv2": (3, c2),
            "deconv1": (3, c1), "deconv2": (3, NB_CHANNELS), "growth_kernel": (0, 1),
            "growth_bias": (0, NB_CHANNELS)}
    for bn, c in BN_LAYERS:
        for part in BN_PARTS:
            axes[f"{bn}_{part}"] = (0, c)
    return axes


def join_targets(name: str, parts: Sequence) -> np.ndarray:
    """Per-target arrays of weight ``name`` -> the stacked array a :class:`~.model.BlockNet` holds."""
    axis, size = target_axes()[name]
    parts = [np.expand_dims(p, axis) if size == 1 else np.asarray(p) for p in parts]
    return np.concatenate(parts, axis=axis)


def fold_weights(val: Mapping[str, np.ndarray], n_targets: int) -> tuple:
    """The eval-mode weights of one block, folded for :func:`plan_block` (numpy float32, computed in float64).

    val: the block's stacked weights by name (:func:`target_axes`; a :class:`~.model.BlockNet`'s variables).

    BatchNorm with running statistics after a bias-free convolution is an affine map per output channel,
    s = gamma / sqrt(var + eps), t = beta - mean * s, so conv(x, k) then BN equals conv(x, k * s) + t.
    The time phases ride on the channel axis here (channels (phase, target, c), 2G groups), so every
    kernel and bias is tiled twice. Returns (mean, scale, k1, t1, k2, t2, k3, t3, k4, t4, kg, tg):
    mean, scale (nf, 1, 1, G, 1); k* (kf, kt, in, 2*G*out); t* (2*G*out,); kg (1, 2, 2, G*2*2) with
    output channels (target, parity, out), tg (G*2*2,).
    """
    g, c = n_targets, NB_CHANNELS
    val = {name: np.asarray(val[name], dtype=np.float64) for name in target_axes()}
    out = [val["input_mean"].T[:, None, None, :, None], val["input_scale"].T[:, None, None, :, None]]
    for conv, (bn, _) in zip(("conv1", "conv2", "deconv1", "deconv2"), BN_LAYERS):
        s = val[f"{bn}_gamma"] / np.sqrt(val[f"{bn}_moving_variance"] + BN_EPSILON)
        t = val[f"{bn}_beta"] - val[f"{bn}_moving_mean"] * s
        k = val[conv] * s
        out += [np.concatenate([k, k], axis=-1), np.concatenate([t, t])]
    # growth ConvTranspose2d(stride (1, 2)) as a 2-tap correlation on h padded by one frame each side:
    # out[2u] = h[u-1] w2 + h[u] w0, out[2u+1] = h[u] w1 (see BlockNet._growth)
    w0, w1, w2 = (val["growth_kernel"][:, i] for i in range(3))          # (G, in, out) each
    even = np.stack([w2, w0], axis=1)                                     # (G, tap, in, out)
    odd = np.stack([np.zeros_like(w1), w1], axis=1)
    k = np.stack([even, odd], axis=3)                                     # (G, tap, in, parity, out)
    out.append(np.transpose(k, (1, 2, 0, 3, 4)).reshape(1, 2, c, g * 2 * c))
    bias = val["growth_bias"].reshape(g, 1, c)
    out.append(np.broadcast_to(bias, (g, 2, c)).reshape(-1))
    return tuple(np.ascontiguousarray(w, dtype=np.float32) for w in out)


def plan_block(x, weights: tuple, kernel: tuple, m: int, n_targets: int):
    """Eval-mode forward of one block for every target, with the weights of :func:`fold_block`.

    x: (B, 2, nf, S, M) with a static batch B -> the G estimates stacked, (G, B, 2, nf, S, M). The same numbers as
    ``BlockNet.forward(x, training=False)`` (to float rounding) in 31 graph ops plus 13 constants: every
    reshape has a constant shape (S is the only unknown and always the one -1), the even/odd time phases of
    the dilation-(1, 2) convolutions are a free reshape of the time axis into channels (a frame 2v+p sits
    at position v in channel chunk p; 2G groups), BatchNorm is in the kernels and biases, and the
    transposed convolutions' zero padding is the convolutions' own explicit padding.
    """
    import tensorflow as tf

    mean, scale, k1, t1, k2, t2, k3, t3, k4, t4, kg, tg = weights
    g, c = n_targets, NB_CHANNELS
    batch, nf = x.shape[0], x.shape[2]
    kf, kt = kernel
    groups = 2 * g                                                       # (phase, target)
    # 50% overlap-add (overlap_add): slice halves a_i, b_i; frames [a_0, b_0 + a_1, ..., b_{S-1}]
    first, second = tf.split(x, 2, axis=4)                               # (B, 2, nf, S, M/2) each
    h = tf.pad(first, [[0, 0], [0, 0], [0, 0], [0, 1], [0, 0]]) + tf.pad(second, [[0, 0], [0, 0], [0, 0], [1, 0], [0, 0]])
    h = tf.reshape(h, (batch, c, nf, -1, 2, 1))                          # (B, stereo, nf, T/2, phase, 1)
    h = tf.transpose(h, (0, 2, 3, 4, 5, 1))                              # (B, nf, T/2, phase, 1, stereo)
    h = tf.reshape((h + mean) * scale, (batch, nf, -1, groups * c))     # channels (phase, target, stereo)

    def conv(h, k, t, pad: bool):
        # ConvTranspose2d(stride 1) = correlation with the flipped kernel on the zero-padded input
        padding = [[0, 0], [kf - 1, kf - 1], [kt - 1, kt - 1], [0, 0]] if pad else "VALID"
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, k, strides=1, padding=padding), t))

    h = conv(h, k1, t1, False)
    h = conv(h, k2, t2, False)
    h = conv(h, k3, t3, True)
    h = conv(h, k4, t4, True)                                            # (B, nf, T/2, (phase, G, 2))
    h = tf.reshape(h, (batch, nf, -1, g * c))                            # back to frames: (B, nf, T, G*2)
    y = tf.nn.conv2d(h, kg, strides=1, padding=[[0, 0], [0, 0], [1, 1], [0, 0]])  # one zero frame each side
    y = tf.nn.bias_add(y, tg)                                            # (B, nf, T+1, (G, parity, 2))
    # growth frame 2u+parity; keep the first S*M frames (u < S*M/2 = T+1 - (M/2+1)), cut into (S, M)
    y = tf.sigmoid(y[:, :, :-(m // 2 + 1)])
    y = tf.reshape(y, (batch, nf, -1, m // 2, g, 2, c))                  # (B, nf, S, M/2, G, parity, out)
    y = tf.transpose(y, (4, 0, 6, 1, 2, 3, 5))                           # (G, B, out, nf, S, M/2, parity)
    return tf.reshape(y, (g, batch, c, nf, -1, m)) * x                   # masks * mixture


#: Whether Grappler optimises the plan's graph. Off (measured on 2 shared cores, 30 s song): the first
#: call takes ~0.5-0.8 s less (2.3-2.8 s against 2.8-3.6 s) and later calls the same within noise (conv,
#: bias and ReLU then run unfused; the convolutions dominate). The switch is this thread's function-call
#: options, set for the duration of each plan call and restored afterwards (:func:`_grappler_off`).
OPTIMIZE_PLAN = False


@contextmanager
def _grappler_off():
    """Graph optimisations off for the functions this thread calls inside the block, through the
    thread-local function-call options (TensorFlow's eager context; the process-wide optimizer option would
    make every other tf.function, e.g. a training step, re-instantiate after the call). The previous
    options object is put back afterwards. Without that internal API: nothing changes (Grappler runs)."""
    try:
        from tensorflow.core.protobuf import config_pb2
        from tensorflow.python.eager import context

        ctx = context.context()
        before = ctx.function_call_options
        config = config_pb2.ConfigProto.FromString(before.config_proto_serialized)
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        options = context.FunctionCallOptions(executor_type=before.executor_type, config_proto=config)
    except Exception:  # noqa: BLE001 -- an internal API; fall back to the default behaviour
        yield
        return
    ctx.function_call_options = options
    try:
        yield
    finally:
        ctx.function_call_options = before


class InferencePlan:
    """Eval-mode forward of the four networks as one tf.function per batch size.

    target_names, trained_blocks: as the model's; fold(): the folded weights of the trained blocks
    (:func:`fold_weights`), called at every call, so that a model's weight changes are always seen (~0.1 s;
    training's validation calls go through here too). Only the 51 trained blocks run (the 19 pass-through
    blocks return their input tensors). The graph holds 2,907 nodes (663 of them the inputs and folded
    weights) against 13,917 for the training graph, so it traces in ~0.5 s instead of 7.4 s; S is dynamic,
    the batch static (one trace per batch size). It runs with Grappler off (:data:`OPTIMIZE_PLAN`).
    """

    def __init__(self, target_names: Sequence[str], trained_blocks: Sequence[int], fold: Callable[[], list]):
        self.target_names, self.trained_blocks, self.fold = tuple(target_names), tuple(trained_blocks), fold
        self._functions: dict = {}

    def _function(self, batch: int, weights: list):
        fn = self._functions.get(batch)
        if fn is None:
            import tensorflow as tf

            shapes = [BLOCKS[b][1:] for b in self.trained_blocks]            # (nf, M)
            g = len(self.target_names)

            def run(xs, ws):
                return [plan_block(x, w, kernel_size(nf, m), m, g) for x, w, (nf, m) in zip(xs, ws, shapes)]

            spec = [[tf.TensorSpec((batch, NB_CHANNELS, nf, None, m), tf.float32) for nf, m in shapes],
                    [[tf.TensorSpec(w.shape, tf.float32) for w in ws] for ws in weights]]
            fn = tf.function(run, input_signature=spec, autograph=False)
            self._functions[batch] = fn
        return fn

    def trace(self, batch: int = 1) -> None:
        """Trace the function for ``batch`` now (any S), e.g. on a thread while the caller computes the input."""
        if self.trained_blocks:
            self._function(batch, [list(w) for w in self.fold()]).get_concrete_function()

    def __call__(self, blocks: Sequence) -> dict:
        """blocks: 70 float32 tensors (B, 2, nf, S, M) (checked by the caller) -> {target: [70 tensors]}."""
        import tensorflow as tf

        weights = [list(w) for w in self.fold()]
        xs = [blocks[b] for b in self.trained_blocks]
        batch = int(xs[0].shape[0]) if xs else 0
        results = []
        if xs:
            fn = self._function(batch, weights)
            with nullcontext() if OPTIMIZE_PLAN else _grappler_off():
                results = fn(xs, weights)
        out = {t: list(blocks) for t in self.target_names}
        for b, stacked in zip(self.trained_blocks, results):
            for t, y in zip(self.target_names, tf.unstack(stacked)):
                out[t][b] = y
        return out


class FrozenNetwork:
    """The four networks in eval mode from fixed weights, without a Keras model (separate.load_network).

    Building the Keras model (1,200 variables) and assigning a state dict takes ~1.4 s of a command-line
    run; folding the same arrays takes ~0.1 s, and the forward is the model's own :class:`InferencePlan`.
    ``stacked``: {block: {weight name: stacked array}} for the 51 trained blocks (the layout of a
    :class:`~.model.BlockNet`'s variables: ``weights.stacked_from_state_dict``, ``weights.read_keras_weights``).
    Call: as :class:`~.model.XUMXSliCQ` in eval mode, 70 blocks (batch, 2, nf, S, M) -> {target: [70 tensors]}.
    """

    def __init__(self, stacked: Mapping[int, Mapping[str, np.ndarray]], targets: Sequence[str] = TARGETS):
        self.target_names = tuple(targets)
        self.trained_blocks = tuple(b for b in range(N_BLOCKS) if has_network(b))
        folded = [fold_weights(stacked[b], len(self.target_names)) for b in self.trained_blocks]
        self._plan = InferencePlan(self.target_names, self.trained_blocks, lambda: folded)

    def trace(self, batch: int = 1) -> None:
        """Trace the eval function for ``batch`` ahead of the first call (:meth:`InferencePlan.trace`)."""
        self._plan.trace(batch)

    def __call__(self, blocks) -> dict:
        import tensorflow as tf

        return self._plan([tf.convert_to_tensor(x) for x in check_blocks(blocks)])


def check_blocks(blocks) -> list:
    """70 blocks of shape (batch, 2, nf_b, S, M_b) with one S >= 3 (cast to float32), else a one-line
    ValueError."""
    blocks = list(blocks)
    if len(blocks) != N_BLOCKS:
        raise ValueError(f"expected a list of {N_BLOCKS} sliCQT magnitude blocks, got {len(blocks)}")
    slices = set()
    for b, x in enumerate(blocks):
        if getattr(x.dtype, "name", None) != "float32":   # numpy dtype or tf.DType
            import tensorflow as tf

            blocks[b] = tf.cast(x, tf.float32)
    for b, (x, (_, nf, m)) in enumerate(zip(blocks, BLOCKS)):
        shape = tuple(x.shape)
        if len(shape) != 5 or shape[1] != NB_CHANNELS or shape[2] != nf or shape[4] != m:
            raise ValueError(f"block {b}: expected shape (batch, {NB_CHANNELS}, {nf}, S, {m}), got {shape}")
        slices.add(shape[3])
    known = {s for s in slices if s is not None}
    if len(known) > 1:
        raise ValueError(f"all blocks must have the same number of slices S, got {sorted(known)}")
    if known and min(known) < MIN_SLICES:
        raise ValueError(f"S = {min(known)} slices is too short for the network (needs S >= {MIN_SLICES}, "
                         "i.e. at least 9031 samples); pad the input")
    return blocks


