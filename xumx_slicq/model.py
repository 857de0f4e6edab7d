"""The xumx-sliCQ v1 network in Keras 3: four targets x 70 per-block CDAEs (51 trained, 19 pass-through).

Source: sevagh/xumx-sliCQ@v1-release:xumx_slicq/model.py (OpenUnmixTimeBucketCDAE L145-255,
DummyTimeBucket L20-36, OpenUnmix L258-337); the facts are in ../shared/design/xumx_slicq.md §3
(cited "design §n").

Interface. ``build_model()`` returns an :class:`XUMXSliCQ` (a ``keras.Model``). Its call takes a list
of 70 float32 magnitude blocks, block b shaped (batch, 2, nf_b, S, M_b) (PyTorch's layout, as the
transform gives them; S >= 3) and returns ``{"vocals"|"drums"|"bass"|"other": [70 blocks of the same
shapes]}``: named outputs, never positional (the original returns (bass, vocals, other, drums),
design §3.3). Eager calls run through one ``tf.function`` per mode, traced once for any batch and S.

Per trained block and target (design §3.1), channels-last inside:
    (B, 2, nf, S, M) -> 50% overlap-add -> (B, nf, T, 2), T = (S+1)*M/2
    -> (x + input_mean[f]) * input_scale[f]
    -> Conv2d(2->25) BN ReLU -> Conv2d(25->55) BN ReLU       kernel (kf, kt), dilation (1, 2), no bias
    -> ConvTranspose2d(55->25) BN ReLU -> ConvTranspose2d(25->2) BN ReLU
    -> growth ConvTranspose2d(2->2, (1, 3), stride (1, 2), bias) -> (B, nf, 2T+1, 2) -> sigmoid
    -> crop time to S*M, reshape row-major to (S, M) -> mask * mix.

How it is computed (same numbers, fewer and larger operations). The four targets are independent
networks (own weights, no cross-target path), but one :class:`BlockNet` per block holds all four: their
weights are stacked on the output-channel axis and every convolution is one *grouped* convolution
(group g = target g). The dilation (1, 2) is removed by splitting the time frames into their even and
odd phases (:func:`to_phases`). The transposed convolutions are written as correlations with the
kernel flipped, so the stored deconvolution kernels are in that "correlation" layout; ``weights.py``
converts every weight to and from the original's PyTorch state dict. Without this, 204 separate
small networks made a 49,000-node graph (a minute to trace) and TensorFlow's dilated transposed
convolution fails on CPU without oneDNN.

Inference. An eager eval-mode call (``model(blocks)``) runs the :class:`~.frozen.InferencePlan` of
``frozen.py``: BatchNorm folded into the convolutions (:func:`fold_block`, from the current weights at
every call), the time phases on the channel axis, constant shapes, 2,907 graph nodes instead of the
training graph's 13,917. Same numbers as the training graph in eval mode within 1e-6 of each block's peak
(tests). ``model.use_plan = False`` restores the training graph. The separate command does not build this
model at all: :class:`~.frozen.FrozenNetwork` runs the same plan from the weights (``separate.load_network``).

Speed (this 2-core machine, 30 s stereo = S 148, batch 1). Plan: trace ~0.5-0.6 s, first call ~2.0-2.5 s
in all, then 1.2-1.3 s per forward, which is the time of the bare convolutions of the same shapes
(1.16-1.19 s: ``benchmarks/xumx_separate.py``); the load decides whether TensorFlow gets one core or two.
Training graph in eval mode: trace 7.4 s, first execution 9.8 s, then 2.9 s; eager
(``use_function=False``): ~9 s. Training: ``model(blocks, training=True)`` under a GradientTape
(BatchNorm in PyTorch's training semantics), unchanged; ``weights.export_state_dict(model, values=...)``
names gradients as the original's parameters.
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from .params import (BLOCKS, BN_EPSILON, BN_MOMENTUM, CHANNELS, DILATION, GROWTH_KERNEL, N_BLOCKS, NB_CHANNELS,
                     PARAMS_TOTAL, PARAMS_WITHOUT_INPUT_STATS, TARGETS, has_network, kernel_size)

import keras  # noqa: E402
from keras import ops  # noqa: E402

from .frozen import (BN_LAYERS, BN_PARTS, FrozenNetwork, InferencePlan, check_blocks,  # noqa: E402
                     fold_weights, join_targets, target_axes)

#: Names of the per-layer activations, in data-flow order, as in the reference
#: (../shared/reference/xumx_slicq/README.md, activations_vocals.npz).
ACTIVATION_NAMES = ("input", "ola", "norm", "conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "deconv1",
                    "bn3", "relu3", "deconv2", "bn4", "relu4", "growth", "sigmoid", "estimate")


#: The trainable weights that torchinfo (and the original README's 6,669,912) leaves out (design §3.4).
INPUT_STAT_WEIGHTS = ("input_mean", "input_scale")


_GROUPED_OK: bool | None = None

#: True: run the dilation-(1, 2) convolutions as undilated ones on the even/odd time phases
#: (:func:`to_phases`), which every TensorFlow build can run and differentiate. False: native dilated
#: convolutions (same numbers, ~15% fewer graph nodes, no measurable speed difference on 2 CPU cores;
#: their gradients need a GPU or oneDNN).
USE_PHASES = True


def grouped_conv_supported() -> bool:
    """Whether TensorFlow here can run *and differentiate* grouped convolutions (GPU, or CPU with oneDNN,
    TensorFlow's default on x86; plain-Eigen CPU builds run them forward only). Probed once."""
    if _GROUPED_OK is None:
        import threading

        import tensorflow as tf

        def probe():  # in a thread of its own: eager, outside any graph being traced
            global _GROUPED_OK
            try:
                x = tf.ones((1, 1, 2, 4))
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = tf.nn.conv2d(x, tf.ones((1, 1, 2, 4)), 1, "VALID")
                _GROUPED_OK = bool(np.all(tape.gradient(y, x).numpy() == 2.0))
            except Exception:  # InvalidArgumentError: "Gradients for grouped convolutions are not supported"
                _GROUPED_OK = False

        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
    return bool(_GROUPED_OK)


def _conv(x, kernel, groups: int, dilation: int = 1):
    """Valid grouped correlation, channels-last, dilation (1, ``dilation``): x (B, H, W, groups*in),
    kernel (kf, kt, in, groups*out); group g of the output sees only group g of the input.

    tf.nn.conv2d directly: Keras' ops.conv routes every grouped convolution through a per-call
    jit-compiled function (for old CPU builds), which re-compiles for every shape, and tf.nn.convolution
    wraps dilation in SpaceToBatchND. Where grouped gradients are unsupported (CPU without oneDNN), the
    groups run as separate convolutions (same numbers); the caller then also avoids dilation.
    """
    import tensorflow as tf

    dilations = [1, 1, dilation, 1]
    if groups == 1 or grouped_conv_supported():
        return tf.nn.conv2d(x, kernel, strides=1, padding="VALID", dilations=dilations)
    xs = tf.split(x, groups, axis=-1)
    ks = tf.split(kernel, groups, axis=-1)
    return tf.concat([tf.nn.conv2d(a, k, strides=1, padding="VALID", dilations=dilations)
                      for a, k in zip(xs, ks)], axis=-1)


def _conv_transpose(x, kernel, groups: int, dilation: int = 1):
    """ConvTranspose2d(stride 1, padding 0, dilation (1, ``dilation``)) as a correlation: pad by
    dilation*(k-1) on both sides, then correlate with the stored (already flipped) kernel.
    Output (H + kf - 1, W + dilation*(kt - 1)), as PyTorch's."""
    import tensorflow as tf

    kf, kt = kernel.shape[0], kernel.shape[1]
    x = tf.pad(x, [[0, 0], [kf - 1, kf - 1], [dilation * (kt - 1), dilation * (kt - 1)], [0, 0]])
    return _conv(x, kernel, groups, dilation)


def to_phases(x):
    """(B, H, W, C) -> (2B, H, W/2, C): the even then the odd time frames, stacked on the batch axis.

    All four CDAE convolutions have dilation (1, 2) (design §3.1), so they never mix even and odd
    frames: on each phase they are ordinary undilated convolutions with the same kernels. Every width in
    the CDAE is even (T = (S+1)*M/2 with M a multiple of 4, and each layer changes it by 2*(kt-1)), so
    the split is exact; BatchNorm statistics cover the same elements.
    """
    shape = ops.shape(x)
    h = ops.reshape(x, (shape[0], shape[1], -1, 2, shape[3]))
    h = ops.transpose(h, (3, 0, 1, 2, 4))
    return ops.reshape(h, (-1, shape[1], shape[2] // 2, shape[3]))


def from_phases(h, batch):
    """Inverse of :func:`to_phases`: (2B, H, W/2, C) -> (B, H, W, C); ``batch`` = B."""
    shape = ops.shape(h)
    h = ops.reshape(h, (2, batch, shape[1], shape[2], shape[3]))
    h = ops.transpose(h, (1, 2, 3, 0, 4))
    return ops.reshape(h, (batch, shape[1], 2 * shape[2], shape[3]))


def overlap_add(x, m: int):
    """50% overlap-add of slices (transforms.py overlap_add_slicq; design §2.7), channels-last.

    x: (B, nf, S, M, C) -> (B, nf, T, C), T = (S+1)*M/2: frames [a_0, b_0+a_1, ..., b_{S-1}] where a_i, b_i
    are the first and second halves of slice i.
    """
    nf, c = x.shape[1], x.shape[4]
    halves = ops.reshape(x, (ops.shape(x)[0], nf, -1, 2, m // 2, c))
    first, second = ops.unstack(halves, 2, axis=3)  # (B, nf, S, M/2, C) each
    pad_end = [[0, 0], [0, 0], [0, 1], [0, 0], [0, 0]]
    pad_start = [[0, 0], [0, 0], [1, 0], [0, 0], [0, 0]]
    y = ops.pad(first, pad_end) + ops.pad(second, pad_start)  # (B, nf, S+1, M/2, C)
    return ops.reshape(y, (ops.shape(x)[0], nf, -1, c))


def batch_norm(x, gamma, beta, moving_mean, moving_variance, training: bool):
    """BatchNorm2d over the last axis with PyTorch's semantics (eps 1e-5, momentum 0.1; design §3.6).

    Training: normalise with the biased batch variance, update the running variance with the unbiased
    one (quirk 14), in place on the variables; statistics of the global batch when replicated
    (layers.batch_moments). Inference: the running statistics.
    """
    if not training:
        return ops.batch_normalization(x, moving_mean, moving_variance, axis=-1, offset=beta, scale=gamma,
                                       epsilon=BN_EPSILON)
    from .layers import batch_moments  # over the global batch when training on several replicas

    mean, variance, count = batch_moments(x)
    unbiased = variance * count / ops.maximum(count - 1.0, 1.0)
    moving_mean.assign(moving_mean * (1.0 - BN_MOMENTUM) + mean * BN_MOMENTUM)
    moving_variance.assign(moving_variance * (1.0 - BN_MOMENTUM) + unbiased * BN_MOMENTUM)
    return ops.batch_normalization(x, mean, variance, axis=-1, offset=beta, scale=gamma, epsilon=BN_EPSILON)


class BlockNet(keras.layers.Layer):
    """Block b of every target: G independent CDAEs (OpenUnmixTimeBucketCDAE) sharing one graph.

    Weights (G targets, target g owns channel chunk g of the stacked axis, see :attr:`target_axes`):
      input_mean, input_scale (G, nf)                -> -mean and 1/std per frequency row (trained)
      conv1 (kf, kt, 2, G*25), conv2 (kf, kt, 25, G*55)           Conv2d weights, Keras layout
      deconv1 (kf, kt, 55, G*25), deconv2 (kf, kt, 25, G*2)      ConvTranspose2d weights as flipped
          correlation kernels: k[i, j, a, b] = w_torch[a, b, kf-1-i, kt-1-j]
      bn{1..4}_{gamma,beta,moving_mean,moving_variance} (G*C,)
      growth_kernel (G, 3, 2, 2) = w_torch[in, out, 0, tap] as [tap, in, out]; growth_bias (G*2,)
    """

    def __init__(self, block: int, n_targets: int = len(TARGETS), seed: int | None = None, init: bool = True,
                 **kwargs):
        kwargs.setdefault("name", f"b{block:02d}")
        super().__init__(**kwargs)
        _, nf, m = BLOCKS[block]
        self.block, self.nf, self.m, self.n_targets = block, nf, m, n_targets
        self.kernel = kernel_size(nf, m)
        self.seed = seed
        self.init = init  # False: kernels and growth bias start at zero (weights about to be loaded)
        #: variable name -> (axis, size of one target's chunk along it)
        self.target_axes = target_axes()

    def _uniform(self, bound: float, k: int):
        if not self.init:
            return "zeros"
        seed = None if self.seed is None else self.seed + k
        return keras.initializers.RandomUniform(-bound, bound, seed=seed)

    def build(self, input_shape=None):
        g, nf = self.n_targets, self.nf
        kf, kt = self.kernel
        c1, c2 = CHANNELS
        c0 = NB_CHANNELS
        add = self.add_weight
        # model.py L238-248: zeros / ones unless statistics are given; stored as -mean and 1/std
        self.input_mean = add(shape=(g, nf), initializer="zeros", name="input_mean")
        self.input_scale = add(shape=(g, nf), initializer="ones", name="input_scale")
        # PyTorch's default init U(+-1/sqrt(fan_in)); for ConvTranspose2d fan_in comes from weight dim 1
        # (the output channels) (design §3.5)
        self.conv1 = add(shape=(kf, kt, c0, g * c1), initializer=self._uniform((c0 * kf * kt) ** -0.5, 1),
                         name="conv1")
        self.conv2 = add(shape=(kf, kt, c1, g * c2), initializer=self._uniform((c1 * kf * kt) ** -0.5, 2),
                         name="conv2")
        self.deconv1 = add(shape=(kf, kt, c2, g * c1), initializer=self._uniform((c1 * kf * kt) ** -0.5, 3),
                           name="deconv1")
        self.deconv2 = add(shape=(kf, kt, c1, g * c0), initializer=self._uniform((c0 * kf * kt) ** -0.5, 4),
                           name="deconv2")
        growth_fan_in = NB_CHANNELS * GROWTH_KERNEL[0] * GROWTH_KERNEL[1]  # dim 1 of (2, 2, 1, 3) * 3 = 6
        self.growth_kernel = add(shape=(g, GROWTH_KERNEL[1], c0, c0), name="growth_kernel",
                                 initializer=self._uniform(growth_fan_in ** -0.5, 5))
        self.growth_bias = add(shape=(g * c0,), initializer=self._uniform(growth_fan_in ** -0.5, 6),
                               name="growth_bias")
        for bn, c in BN_LAYERS:
            for part, init in zip(BN_PARTS, ("ones", "zeros", "zeros", "ones")):
                setattr(self, f"{bn}_{part}", add(shape=(g * c,), initializer=init, name=f"{bn}_{part}",
                                                  trainable=not part.startswith("moving")))
        self.built = True

    # ----- per-target views (numpy), used by weights.py and the helpers below
    def split_targets(self, name: str, value) -> list:
        """One numpy array per target from the stacked ``value`` of weight ``name``."""
        axis, size = self.target_axes[name]
        value = np.asarray(value)
        parts = [np.take(value, range(t * size, (t + 1) * size), axis=axis) for t in range(self.n_targets)]
        return [np.squeeze(p, axis=axis) if size == 1 else p for p in parts]

    def join_targets(self, name: str, parts: Sequence) -> np.ndarray:
        """Inverse of :meth:`split_targets`."""
        return join_targets(name, parts)

    def variable(self, name: str):
        return getattr(self, name)

    # ----- forward
    def _bn(self, i: int, x, training: bool):
        name = BN_LAYERS[i][0]
        return batch_norm(x, *(getattr(self, f"{name}_{p}") for p in BN_PARTS), training=training)

    def _growth(self, h):
        """ConvTranspose2d(2, 2, (1, 3), stride (1, 2), bias) per target on (B, nf, T, G*2) -> (B, nf, 2T+2, G*2);
        frame 2T+1 is zero-padding (plus bias) that the crop drops. out[2u] = h[u] w0 + h[u-1] w2 and
        out[2u+1] = h[u] w1 (the definition of a stride-2 transposed convolution), as one grouped
        correlation with a 2-tap kernel on h padded by one frame at each end."""
        g, c = self.n_targets, NB_CHANNELS
        w0, w1, w2 = ops.unstack(self.growth_kernel, 3, axis=1)  # (G, in, out) per tap
        even = ops.stack([w2, w0], axis=1)  # taps on [h[u-1], h[u]]
        odd = ops.stack([ops.zeros_like(w1), w1], axis=1)
        k = ops.stack([even, odd], axis=3)  # (G, 2 taps, in, parity, out)
        k = ops.reshape(ops.transpose(k, (1, 2, 0, 3, 4)), (1, 2, c, g * 2 * c))
        h = ops.pad(h, [[0, 0], [0, 0], [1, 1], [0, 0]])
        y = _conv(h, k, g)  # (B, nf, T+1, G*2*2) channels (target, parity, out)
        shape = ops.shape(y)
        y = ops.reshape(y, (shape[0], shape[1], shape[2], g, 2, c))
        y = ops.transpose(y, (0, 1, 2, 4, 3, 5))  # (B, nf, T+1, parity, G, out)
        y = ops.reshape(y, (shape[0], shape[1], 2 * shape[2], g * c))
        return y + self.growth_bias

    def forward(self, x, training: bool = False, record: dict | None = None) -> list:
        """x: (B, 2, nf, S, M) magnitudes -> G estimates (B, 2, nf, S, M), one per target.

        ``record`` (optional) collects the activations of every target, channels-last (B, nf, W, G*C),
        ``growth``/``sigmoid`` cropped to 2T+1 frames as in the original."""
        g, nf, m = self.n_targets, self.nf, self.m
        shape = ops.shape(x)
        batch, n_slices = shape[0], shape[3]
        h = overlap_add(ops.transpose(x, (0, 2, 3, 4, 1)), m)  # (B, nf, T, 2), shared by the targets
        # (x + input_mean[f]) * input_scale[f] per target: channels (target, stereo channel)
        mean = ops.transpose(self.input_mean)[:, None, :, None]  # (nf, 1, G, 1)
        scale = ops.transpose(self.input_scale)[:, None, :, None]
        ola = h
        h = (h[:, :, :, None, :] + mean) * scale  # (B, nf, T, G, 2)
        h = ops.reshape(h, (batch, nf, -1, g * NB_CHANNELS))
        if record is not None:
            record["ola"], record["norm"] = ola, h

        phased = USE_PHASES
        d = 1 if phased else DILATION[1]

        def keep(name, value):
            if record is not None:
                record[name] = from_phases(value, batch) if phased else value
            return value

        if phased:
            h = to_phases(h)  # (2B, nf, T/2, G*2)
        h = keep("conv1", _conv(h, self.conv1, g, d))
        h = keep("bn1", self._bn(0, h, training))
        h = keep("relu1", ops.relu(h))
        h = keep("conv2", _conv(h, self.conv2, g, d))
        h = keep("bn2", self._bn(1, h, training))
        h = keep("relu2", ops.relu(h))
        h = keep("deconv1", _conv_transpose(h, self.deconv1, g, d))
        h = keep("bn3", self._bn(2, h, training))
        h = keep("relu3", ops.relu(h))
        h = keep("deconv2", _conv_transpose(h, self.deconv2, g, d))
        h = keep("bn4", self._bn(3, h, training))
        h = keep("relu4", ops.relu(h))
        if phased:
            h = from_phases(h, batch)
        h = self._growth(h)  # (B, nf, 2T+2, G*2)
        if record is not None:
            width = ops.shape(h)[2] - 1
            record["growth"] = h[:, :, :width]
            record["sigmoid"] = ops.sigmoid(record["growth"])
        # crop to S*M frames, cut row-major into slices (model.py L246-252), then mask * mix
        h = ops.sigmoid(ops.slice(h, (0, 0, 0, 0), (-1, -1, n_slices * m, -1)))
        h = ops.reshape(h, (batch, nf, n_slices, m, g, NB_CHANNELS))
        masks = ops.transpose(h, (4, 0, 5, 1, 2, 3))  # (G, B, 2, nf, S, M)
        return [mask * x for mask in ops.unstack(masks, g, axis=0)]

    def call(self, x, training=False):
        return self.forward(x, training=bool(training))


# ----- inference plan (eval mode only) -------------------------------------------------------------------

def fold_block(net: BlockNet) -> tuple:
    """:func:`fold_weights` of a built :class:`BlockNet`'s current variables."""
    return fold_weights({name: net.variable(name).numpy() for name in net.target_axes}, net.n_targets)


def inference_plan(model: "XUMXSliCQ") -> InferencePlan:
    """The eval-mode plan of a Keras model, re-folding its current weights at every call."""
    return InferencePlan(model.target_names, model.trained_blocks, lambda: [fold_block(net) for net in model.block_nets])


def freeze(model: "XUMXSliCQ") -> FrozenNetwork:
    """A :class:`~.frozen.FrozenNetwork` of a Keras model's current weights."""
    return FrozenNetwork({net.block: {name: net.variable(name).numpy() for name in net.target_axes}
                          for net in model.block_nets}, model.target_names)


def _block_specs():
    import tensorflow as tf

    return [tf.TensorSpec((None, NB_CHANNELS, nf, None, m), tf.float32) for _, nf, m in BLOCKS]


class XUMXSliCQ(keras.Model):
    """The four target networks (OpenUnmix, model.py L258-337), with named outputs.

    call(blocks, training=False): blocks = 70 float32 tensors (batch, 2, nf_b, S, M_b), S >= 3 ->
    {target: [70 tensors of the same shapes]}. Blocks 51-69 (first row >= max_bin = 243) return the
    input itself for every target (DummyTimeBucket, model.py L20-36; design §3.2). Eager calls
    dispatch to a tf.function (one trace per ``training`` value, for any batch and S); inside a graph
    (e.g. a caller's tf.function) the forward is inlined.
    """

    def __init__(self, targets: Sequence[str] = TARGETS, seed: int | None = None, use_function: bool = True,
                 init: bool = True, **kwargs):
        kwargs.setdefault("name", "xumx_slicq")
        super().__init__(**kwargs)
        self.target_names = tuple(targets)
        if len(set(self.target_names)) != len(self.target_names):
            raise ValueError(f"duplicate target names in {self.target_names}")
        self.trained_blocks = tuple(b for b in range(N_BLOCKS) if has_network(b))
        self.block_nets = [BlockNet(b, len(self.target_names), seed=None if seed is None else seed + 16 * b,
                                    init=init) for b in self.trained_blocks]
        self._net_of_block = {b: i for i, b in enumerate(self.trained_blocks)}
        self.use_function = use_function
        self._functions = {}
        #: eager eval-mode calls run the folded :class:`InferencePlan` (False: the training graph in eval mode)
        self.use_plan = True
        self._plan = None

    def build(self, input_shape=None):
        for net in self.block_nets:
            net.build()
        self.built = True

    def block_net(self, block: int) -> BlockNet | None:
        """The network of block ``block`` (all targets), or None for a pass-through block."""
        i = self._net_of_block.get(block)
        return None if i is None else self.block_nets[i]

    def target_index(self, target: str) -> int:
        if target not in self.target_names:
            raise KeyError(f"unknown target {target!r}; the targets are {', '.join(self.target_names)}")
        return self.target_names.index(target)

    def forward(self, blocks: Sequence, training: bool = False) -> dict:
        """The forward pass without input checks or tf.function dispatch."""
        out = {t: [] for t in self.target_names}
        for b, x in enumerate(blocks):
            net = self.block_net(b)
            estimates = [x] * len(self.target_names) if net is None else net.forward(x, training=training)
            for t, y in zip(self.target_names, estimates):
                out[t].append(y)
        return out

    def _function(self, training: bool):
        fn = self._functions.get(training)
        if fn is None:
            import tensorflow as tf

            def run(blocks):
                return self.forward(blocks, training=training)

            fn = tf.function(run, input_signature=[_block_specs()], autograph=False)
            self._functions[training] = fn
        return fn

    def call(self, blocks, training=False):
        import tensorflow as tf

        blocks = check_blocks(blocks)
        if self.use_function and tf.executing_eagerly():
            if not training and self.use_plan:
                if self._plan is None:
                    self._plan = inference_plan(self)
                return self._plan([ops.convert_to_tensor(x) for x in blocks])
            return self._function(bool(training))(blocks)
        return self.forward(blocks, training=bool(training))


def build_model(seed: int | None = None, shared_init: bool = True, targets: Sequence[str] = TARGETS,
                use_function: bool = True, init: bool = True) -> XUMXSliCQ:
    """A built model initialised as PyTorch initialises a new one (design §3.5).

    seed: makes the initial weights deterministic (None: Keras' global RNG).
    shared_init: every target starts as a copy of the vocals network, as in the original
    (``copy.deepcopy``, model.py L309-312; design §3.3); False gives each target its own draw.
    init: False skips the random draws and the vocals copy (kernels and growth bias start at zero; input
    statistics and BatchNorm as usual), for a model whose weights are loaded next (separate.load_model).
    """
    model = XUMXSliCQ(targets=targets, seed=seed, use_function=use_function, init=init)
    model.build()
    if len(model.target_names) == len(TARGETS):
        check_param_counts(model)
    if init and shared_init and "vocals" in model.target_names:
        copy_target_weights(model, "vocals")
    return model


def _weight_names(net: BlockNet) -> list:
    return list(net.target_axes)


def copy_target_weights(model: XUMXSliCQ, source: str = "vocals", targets: Sequence[str] | None = None) -> None:
    """Copy every weight (parameters and BN statistics) of ``source`` into ``targets`` (default: the rest)."""
    src = model.target_index(source)
    dst = [model.target_index(t) for t in (targets or [t for t in model.target_names if t != source])]
    for net in model.block_nets:
        for name in _weight_names(net):
            var = net.variable(name)
            parts = net.split_targets(name, var.numpy())
            for d in dst:
                parts[d] = parts[src]
            var.assign(net.join_targets(name, parts))


def get_target_weight(model: XUMXSliCQ, target: str, block: int, name: str) -> np.ndarray:
    """One target's share of a block's weight ``name`` (see :class:`BlockNet`), as numpy."""
    net = model.block_net(block)
    return net.split_targets(name, net.variable(name).numpy())[model.target_index(target)]


def set_input_statistics(model: XUMXSliCQ, target: str | None, per_block_mean: Sequence,
                         per_block_std: Sequence) -> None:
    """Store dataset statistics as input_mean = -mean and input_scale = 1/std (model.py L238-248;
    design §5 "Input statistics"; flooring the std is the caller's job, as in train.py).

    target: one target name, or None / "all" for every target.
    per_block_mean, per_block_std: 70 entries (those of pass-through blocks are ignored and may be None)
    or 51 (the trained blocks in order); entry b has nf_b values.
    """
    names = model.target_names if target in (None, "all") else (target,)
    idx = [model.target_index(t) for t in names]
    trained = list(model.trained_blocks)
    if len(per_block_mean) != len(per_block_std) or len(per_block_mean) not in (N_BLOCKS, len(trained)):
        raise ValueError(f"expected {N_BLOCKS} or {len(trained)} per-block means and stds, "
                         f"got {len(per_block_mean)} and {len(per_block_std)}")
    pick = (lambda b: b) if len(per_block_mean) == N_BLOCKS else trained.index
    for b in trained:
        nf = BLOCKS[b][1]
        mean = np.asarray(per_block_mean[pick(b)], dtype=np.float64).reshape(-1)
        std = np.asarray(per_block_std[pick(b)], dtype=np.float64).reshape(-1)
        if mean.shape != (nf,) or std.shape != (nf,):
            raise ValueError(f"block {b}: expected {nf} means and stds, got {mean.shape[0]} and {std.shape[0]}")
        if not np.all(std > 0):
            raise ValueError(f"block {b}: standard deviations must be > 0 (floor them first)")
        net = model.block_net(b)
        for name, value in (("input_mean", -mean), ("input_scale", 1.0 / std)):
            stacked = net.variable(name).numpy().copy()
            stacked[idx] = value.astype(np.float32)
            net.variable(name).assign(stacked)


def count_trainable(model: XUMXSliCQ, include_input_stats: bool = True) -> int:
    """Trainable parameters: 6,671,856, or 6,669,912 without input_mean/scale (design §3.4)."""
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights
               if include_input_stats or v.name not in INPUT_STAT_WEIGHTS)


def check_param_counts(model: XUMXSliCQ) -> None:
    """Raise AssertionError unless the model has the original's two counts (four targets)."""
    got = (count_trainable(model), count_trainable(model, include_input_stats=False))
    want = (PARAMS_TOTAL, PARAMS_WITHOUT_INPUT_STATS)
    if got != want:
        raise AssertionError(f"parameter counts {got} differ from the original's {want}")


def block_activations(model: XUMXSliCQ, target: str, block: int, x, training: bool = False) -> dict:
    """Per-layer activations of one block of one target, eager, as numpy arrays in the reference's layout.

    x: (B, 2, nf, S, M) magnitudes. Returns {name: array} for :data:`ACTIVATION_NAMES`: ``input`` and
    ``estimate`` as (B, 2, nf, S, M), the others NCHW (B, channels, nf, frames).
    """
    net = model.block_net(block)
    if net is None:
        raise ValueError(f"block {block} is a pass-through block (first row >= max_bin); it has no layers")
    g = model.target_index(target)
    x = ops.convert_to_tensor(np.asarray(x, dtype=np.float32))
    record: dict = {}
    estimates = net.forward(x, training=training, record=record)
    out = {"input": ops.convert_to_numpy(x)}
    for name in ACTIVATION_NAMES[1:-1]:
        value = ops.convert_to_numpy(record[name])
        if name != "ola":  # the OLA is shared; the rest has G chunks of channels
            c = value.shape[-1] // net.n_targets
            value = value[..., g * c:(g + 1) * c]
        out[name] = np.transpose(value, (0, 3, 1, 2))
    out["estimate"] = ops.convert_to_numpy(estimates[g])
    return out


def random_blocks(n_slices: int, batch: int = 1, seed: int = 0) -> list:
    """70 random non-negative float32 blocks (batch, 2, nf, S, M), for tests and benchmarks."""
    rng = np.random.default_rng(seed)
    return [rng.random((batch, NB_CHANNELS, nf, n_slices, m), dtype=np.float32) for _, nf, m in BLOCKS]


def bare_conv_function(model: XUMXSliCQ):
    """A tf.function(batch, S) that runs only the convolutions of every trained block (the grouped
    conv1, conv2, deconv1, deconv2 and growth of all targets, on zero inputs of the shapes the model
    gives them; no OLA, normalisation, BatchNorm, activations, crop or mask): the lower bound to compare
    the network stage of a separator benchmark with."""
    import tensorflow as tf

    nets = model.block_nets

    @tf.function(autograph=False)
    def run(batch, n_slices):
        total = []
        for net in nets:
            g, c = net.n_targets, NB_CHANNELS
            half_t = (n_slices + 1) * (net.m // 4)  # T/2 per phase
            h = tf.zeros(tf.stack([2 * batch, net.nf, half_t, g * c]))
            h = _conv(h, net.conv1, g)
            h = _conv(h, net.conv2, g)
            h = _conv_transpose(h, net.deconv1, g)
            h = _conv_transpose(h, net.deconv2, g)
            y = _conv(tf.zeros(tf.stack([batch, net.nf, 2 * half_t + 2, g * c])),
                      tf.zeros((1, 2, c, g * 2 * c)), g)
            total += [tf.reduce_sum(h), tf.reduce_sum(y)]
        return tf.add_n(total)

    def call(batch: int, n_slices: int):
        return run(tf.constant(batch, tf.int32), tf.constant(n_slices, tf.int32))

    return call


def time_forward(model: XUMXSliCQ, n_slices: int = 148, batch: int = 1, repeats: int = 3) -> dict:
    """Seconds per call for random input of ``n_slices`` slices: the model (first call, i.e. tracing
    included if not yet traced, and best of ``repeats``) and the bare convolutions
    (:func:`bare_conv_function`). S = 148 is 30 s of audio (params.n_slices(1_323_000))."""
    blocks = random_blocks(n_slices, batch)
    bare = bare_conv_function(model)
    result = {}
    for name, fn in (("model", lambda: model(blocks)), ("bare_convs", lambda: bare(batch, n_slices))):
        for i in range(repeats + 1):
            start = time.perf_counter()
            out = fn()
            _ = ops.convert_to_numpy(out["vocals"][1]) if isinstance(out, dict) else float(out)
            seconds = time.perf_counter() - start
            if i == 0:
                result[f"{name}_first_call_s"] = seconds
            else:
                result[f"{name}_s"] = min(seconds, result.get(f"{name}_s", math.inf))
    return result
