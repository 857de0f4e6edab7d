"""Training throughput of drnn_singing models vs the same matrix products run bare.

    python -m benchmarks.drnn_train [--archs drnn2 lstm3x1000] [--sequences 16] [--frames 100] [--threads 2]

For each architecture: frames per second of Keras train steps (forward, backward, Adam update) on
random batches of `sequences` x `frames`, and of the matrix products such a step needs, run bare
in one tf.function in the same process (per layer: the forward product and the two backward
products; for recurrent layers the per-time-step products with the recurrent matrix).
The ratio says how close the training loop comes to the machine's matrix-product speed.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _time(fn, repeats: int) -> float:
    fn()                                   # warm-up / tracing
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def matmul_shapes(arch: str, rows: int, batch: int, frames: int):
    """[(m, k, n, times)] of the products in one training step (forward + 2 backward each)."""
    if arch == "lstm3x1000":
        dense = [(rows, 513, 4000), (rows, 1000, 4000), (rows, 1000, 4000), (rows, 1000, 1026)]
        recurrent = [(batch, 1000, 4000)] * 3
    else:
        from drnn_singing.model import recurrent_layers
        dense = [(rows, 1539, 1000), (rows, 1000, 1000), (rows, 1000, 1000), (rows, 1000, 1026)]
        recurrent = [(batch, 1000, 1000)] * len(recurrent_layers(arch))
    return [(m, k, n, 1) for m, k, n in dense] + [(m, k, n, frames) for m, k, n in recurrent]


def bare_step(shapes):
    """A tf.function running every product of `shapes` forward and backward (3 matmuls each)."""
    import tensorflow as tf
    # Each repetition (time step) gets its own x and dy slice, as in a real recurrence (h_t and
    # dz_t differ per step). With one shared x/dy, the `times` products were identical ops that
    # Grappler's common-subexpression elimination merged into one: 100 recurrent steps timed the
    # same as 1, so the baseline counted only the dense products (lstm3x1000, 1 thread: 564 vs 567
    # ms/step; with distinct operands 2312 ms/step).
    tensors = [(tf.random.normal((t, m, k)), tf.random.normal((k, n)), tf.random.normal((t, m, n)), t)
               for m, k, n, t in shapes]

    @tf.function
    def step():
        total = 0.0
        for xs, w, dys, times in tensors:
            for i in range(times):
                x, dy = xs[i], dys[i]
                y = tf.matmul(x, w)                       # forward
                dx = tf.matmul(dy, w, transpose_b=True)   # gradient wrt input
                dw = tf.matmul(x, dy, transpose_a=True)   # gradient wrt weights
                total += y[0, 0] + dx[0, 0] + dw[0, 0]
        return total
    return lambda: step().numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["drnn2", "lstm3x1000"])
    parser.add_argument("--sequences", type=int, default=16)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from drnn_singing.losses import make_loss
    from drnn_singing.model import build_model
    from drnn_singing.train import default_gamma
    b, t = args.sequences, args.frames
    print(f"batch {b} x {t} frames, {args.threads} intra-op threads")
    print("| arch | parameters | train frames/s | bare-matmul frames/s | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for arch in args.archs:
        model = build_model(arch)
        model.compile(keras.optimizers.Adam(1e-4), make_loss(default_gamma(arch)))
        x = np.abs(np.random.default_rng(0).standard_normal((b, t, 1539))).astype(np.float32) * 0.05
        y = np.abs(np.random.default_rng(1).standard_normal((b, t, 1026))).astype(np.float32) * 0.05
        train_s = _time(lambda: model.train_on_batch(x, y), args.repeats)
        bare_s = _time(bare_step(matmul_shapes(arch, b * t, b, t)), args.repeats)
        print(f"| {arch} | {model.count_params():,} | {b * t / train_s:.0f} | {b * t / bare_s:.0f} | "
              f"{bare_s / train_s:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
