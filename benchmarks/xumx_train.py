"""Training throughput of xumx-sliCQ v1 vs the bare convolutions of the same shapes.

    python -m benchmarks.xumx_train [--batch 4] [--steps 3] [--threads 0] [--json OUT]

Measures, in one process:
* the train step of ``xumx_slicq.train`` (forward in training mode, backward, torch-Adam update, and
  the SI-SDR term through the inverse sliCQT in numpy) on random 1 s excerpts, in 1 s excerpts per
  second, after one warm-up step (tracing); the sliCQT of the batch (tf.data's work) is timed apart;
* the bare convolutions such a step runs: every block's grouped conv1, conv2, deconv1, deconv2 and
  growth convolution of all four targets forward, then their gradients with respect to input and
  kernel, on inputs of the step's shapes (no OLA, normalisation, BatchNorm, masks, loss or update);
* the ratio of the two throughputs (1.0 = the training loop costs no more than its convolutions);
* the time one epoch of the original recipe would take here: 86 x 64 = 5,504 excerpts at the measured
  throughput plus the validation pass (14 full tracks, ~14 x 4 min at the measured eval-mode speed).
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EPOCH_EXCERPTS = 86 * 64          # design §5: 86 training tracks x 64 samples per track
VALID_SECONDS = 14 * 240.0        # 14 validation tracks of ~4 minutes (MUSDB18 tracks average ~3.9 min)


def bare_train_function(model, batch: int, n_slices: int):
    """tf.function: forward and backward (input and kernel gradients) of the bare grouped convolutions."""
    import tensorflow as tf

    from xumx_slicq.model import NB_CHANNELS, _conv, _conv_transpose

    nets = model.block_nets
    inputs = []
    for net in nets:
        half_t = (n_slices + 1) * (net.m // 4)
        inputs.append((tf.random.normal((2 * batch, net.nf, half_t, net.n_targets * NB_CHANNELS)),
                       tf.random.normal((batch, net.nf, 2 * half_t + 2, net.n_targets * NB_CHANNELS)),
                       tf.Variable(tf.random.normal((1, 2, NB_CHANNELS, net.n_targets * 2 * NB_CHANNELS)))))

    @tf.function(autograph=False)
    def run():
        total = []
        for net, (x, xg, kg) in zip(nets, inputs):
            g = net.n_targets
            kernels = [net.conv1, net.conv2, net.deconv1, net.deconv2, kg]
            with tf.GradientTape() as tape:
                tape.watch([x, xg])
                h = _conv(x, net.conv1, g)
                h = _conv(h, net.conv2, g)
                h = _conv_transpose(h, net.deconv1, g)
                h = _conv_transpose(h, net.deconv2, g)
                y = _conv(xg, kg, g)
                loss = tf.reduce_sum(h) + tf.reduce_sum(y)
            grads = tape.gradient(loss, [x, xg] + kernels)
            total += [tf.reduce_sum(gr) for gr in grads]
        return tf.add_n(total)

    return run


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.xumx_train", description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=4, help="excerpts per step (the recipe: 32)")
    p.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from xumx_slicq import data
    from xumx_slicq.model import build_model
    from xumx_slicq.optim import TorchAdam
    from xumx_slicq.params import TARGETS, n_slices
    from xumx_slicq.train import Trainer

    t0 = time.perf_counter()
    model = build_model(seed=0)
    optimizer = TorchAdam()
    optimizer.build(model.trainable_variables)
    build_s = time.perf_counter() - t0
    trainer = Trainer(model, optimizer, tf.distribute.get_strategy())
    rng = np.random.default_rng(0)
    length = 44100
    stems = (0.1 * rng.standard_normal((args.batch, 4, 2, length))).astype(np.float32)
    mix = stems.sum(1)
    t0 = time.perf_counter()
    mix_c, xmag, ymag = data.batched_transform(mix, stems)
    transform_s = time.perf_counter() - t0
    batch = (tuple(mix_c), tuple(xmag), tuple(tuple(ymag[t]) for t in TARGETS), stems)

    t0 = time.perf_counter()
    trainer.step(batch)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        mse, _ = trainer.step(batch)
    np.asarray(mse)
    step_s = (time.perf_counter() - t0) / args.steps

    bare = bare_train_function(model, args.batch, n_slices(length))
    t0 = time.perf_counter()
    float(bare())
    bare_first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        value = bare()
    float(value)
    bare_s = (time.perf_counter() - t0) / args.steps

    # eval-mode forward speed on 30 s (validation runs whole tracks, batch 1)
    from xumx_slicq.model import random_blocks

    blocks = random_blocks(n_slices(30 * 44100), 1)
    forward = tf.function(lambda xs: model.forward(xs, training=False)["vocals"][1], autograph=False)
    forward(blocks)
    t0 = time.perf_counter()
    np.asarray(forward(blocks))
    eval_30s = time.perf_counter() - t0

    excerpts_per_s = args.batch / (step_s + transform_s)
    result = {
        "batch": args.batch, "build_s": build_s, "first_step_s": first_s, "step_s": step_s,
        "transform_per_batch_s": transform_s, "excerpts_per_s": excerpts_per_s,
        "bare_convs_first_call_s": bare_first_s, "bare_convs_s": bare_s,
        "bare_excerpts_per_s": args.batch / bare_s,
        "ratio_to_bare": (args.batch / step_s) / (args.batch / bare_s),
        "eval_forward_30s_audio_s": eval_30s,
        "epoch_estimate_s": EPOCH_EXCERPTS / excerpts_per_s + VALID_SECONDS / 30 * eval_30s,
    }
    for key, value in result.items():
        print(f"{key:28s} {value:.4g}" if isinstance(value, float) else f"{key:28s} {value}")
    print(f"one epoch of the recipe here: ~{result['epoch_estimate_s'] / 3600:.1f} h "
          f"({EPOCH_EXCERPTS} excerpts + validation; the original: ~350 s on an RTX 3080 Ti)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
