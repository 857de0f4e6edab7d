"""Real-time factor of drnn_singing separation (processing seconds per second of audio).

    python -m benchmarks.drnn_separate [--weights W] [--seconds 30] [--threads 2]

Times separate_signal() (STFT, network over the whole signal, mixture-phase ISTFT) on a noise-like
signal of `seconds` at 16 kHz; without a shipped model (or --weights) a randomly initialised drnn2
of the same shape is timed (the cost does not depend on the weights).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from drnn_singing.model import build_model
    from drnn_singing.separate import ModelFileError, Separator, load_separator, separate_signal
    try:
        separator, what = load_separator(args.weights), args.weights or "shipped drnn2"
    except ModelFileError:
        separator, what = Separator(build_model("drnn2"), {"arch": "drnn2"}), "random drnn2 (no model file)"
    x = np.random.default_rng(0).standard_normal(int(16000 * args.seconds)).astype(np.float32) * 0.1
    separate_signal(separator, x)                 # warm-up (tracing)
    start = time.perf_counter()
    for _ in range(args.repeats):
        separate_signal(separator, x)
    elapsed = (time.perf_counter() - start) / args.repeats
    print(f"{what}: {args.seconds:g} s of audio in {elapsed:.2f} s -> real-time factor {elapsed / args.seconds:.3f} "
          f"({args.threads} threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
