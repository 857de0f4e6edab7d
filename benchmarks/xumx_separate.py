"""xumx-sliCQ separation speed and memory.

    python -m benchmarks.xumx_separate [--weights ../shared/reference/xumx_slicq/weights.npz]
                                       [--seconds 30] [--long-minutes 3] [--repeats 3]

1. In one process, per Wiener mode: the Separator on `--seconds` of stereo music (the real MUSDB sample
   tiled, or synthetic music when ../shared is absent): real-time factor, the share of time in the
   transform, the networks and the Wiener-EM; beside it the bare per-block convolutions of the same
   shapes (the four conv layers and the growth layer of the 4 x 51 block networks, as raw TensorFlow
   ops in one graph, each target with its own kernels: the limit the networks can approach) and the ratio
   of the whole separation to them.
2. Per mode, `python -m xumx_slicq.separate` on the `--seconds` song in a subprocess, start-up included
   as a user sees it, against the original's Separator timed on 2 cores like these with seeded weights
   (../shared/design/xumx_slicq.md §6.3: construction 2.2 s, then 3.7 s (STFT-WEM) and 7.6 s (sliCQT-WEM)
   per 5 s of stereo audio, i.e. 2.2 + 0.74 x seconds and 2.2 + 1.52 x seconds). Bar: >= 3x.
3. Peak resident memory of the CLI on a `--long-minutes` song (bounded by the 59.44 s chunk).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED = REPO.parent / "shared"
ORIGINAL_START_S = 2.2                          # original Separator construction, 2 cores (design §6.3)
ORIGINAL_RTF = {"stft": 3.7 / 5, "slicq": 7.6 / 5}


def music(seconds: float) -> np.ndarray:
    """(2, n) float32 at 44.1 kHz: the MUSDB sample mixture tiled, or synthetic music without ../shared."""
    n = int(seconds * 44100)
    wav = SHARED / "data" / "musdb_sample" / "test" / "Music Delta - 80s Rock" / "mixture.wav"
    if wav.is_file():
        import soundfile as sf

        m, _ = sf.read(wav, dtype="float32", always_2d=True)
        return np.ascontiguousarray(np.tile(m.T, (1, n // len(m) + 1))[:, :n])
    rng = np.random.default_rng(0)
    t = np.arange(n) / 44100
    x = 0.2 * np.sin(2 * np.pi * 110 * t) + 0.1 * np.sin(2 * np.pi * 880 * t) * (np.sin(2 * np.pi * t) > 0)
    x = x + 0.05 * rng.standard_normal(n) * (np.sin(2 * np.pi * 4 * t) > 0.95)
    return np.stack([x, np.roll(x, 300)]).astype(np.float32)


def bare_convolutions(n_slices: int):
    """A function running the 4 x 51 block networks' convolutions as raw ops (no BN, no Keras layers)."""
    import tensorflow as tf

    from xumx_slicq import params

    rng = np.random.default_rng(0)
    plans = []
    for b, (_, nf, m) in enumerate(params.BLOCKS):
        if not params.has_network(b):
            continue
        kf, kt = params.kernel_size(nf, m)
        t = params.ola_frames(n_slices, m)
        x = tf.constant(rng.random((1, nf, t, 2), dtype=np.float32))
        for _ in params.TARGETS:
            # every target its own kernels: with shared ones, Grappler's common-subexpression elimination
            # merges the four targets' identical convolutions into one (an earlier version timed 1/4 of the work)
            k = [tf.constant(rng.uniform(-0.1, 0.1, s).astype(np.float32)) for s in
                 ((kf, kt, 2, 25), (kf, kt, 25, 55), (kf, kt, 25, 55), (kf, kt, 2, 25), (1, 3, 2, 2))]
            plans.append((x, k))

    # inputs and kernels are arguments, not constants: Grappler would otherwise fold the whole graph away
    @tf.function
    def run(plans):
        total = 0.0
        for x, k in plans:                             # 4 targets x 51 blocks
            h1 = tf.nn.relu(tf.nn.conv2d(x, k[0], 1, "VALID", dilations=(1, 2)))
            h2 = tf.nn.relu(tf.nn.conv2d(h1, k[1], 1, "VALID", dilations=(1, 2)))
            h3 = tf.nn.relu(tf.nn.conv2d_transpose(h2, k[2], tf.shape(h1), 1, "VALID", dilations=(1, 2)))
            h4 = tf.nn.relu(tf.nn.conv2d_transpose(h3, k[3], tf.shape(x), 1, "VALID", dilations=(1, 2)))
            shape = tf.stack([1, tf.shape(x)[1], 2 * tf.shape(x)[2] + 1, 2])
            g = tf.sigmoid(tf.nn.conv2d_transpose(h4, k[4], shape, (1, 2), "VALID"))
            total += tf.reduce_sum(g)
        return total

    return lambda: run(plans)


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_w = SHARED / "reference" / "xumx_slicq" / "weights.npz"
    ap.add_argument("--weights", default=str(default_w) if default_w.is_file() else None,
                    help="state dict .npz or training run (default: the seeded reference weights; random "
                         "weights when ../shared is absent, which time the same)")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--long-minutes", type=float, default=3.0, help="0 skips the memory measurement")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from common.cli import quiet_tensorflow

    quiet_tensorflow()
    from xumx_slicq import params
    from xumx_slicq.model import build_model, freeze, random_blocks
    from xumx_slicq.separate import Separator, load_network

    keras_model = None if args.weights else build_model()      # random weights without ../shared
    model = load_network(args.weights) if args.weights else freeze(keras_model)
    x = music(args.seconds)
    s = params.n_slices(x.shape[-1])
    print(f"{args.seconds:.0f} s of stereo audio ({s} slices); load average {os.getloadavg()[0]:.1f}; "
          f"min / median of {args.repeats} runs")
    bare = bare_convolutions(s)
    bare()
    t_bare = timed(bare, args.repeats)
    print(f"  bare per-block convolutions (4 x 51 networks): {min(t_bare):.2f} / {statistics.median(t_bare):.2f} s")
    blocks = random_blocks(s)
    model(blocks)
    t_net = timed(lambda: model(blocks), args.repeats)
    print(f"  the four networks (eval mode, traced): {min(t_net):.2f} / {statistics.median(t_net):.2f} s, "
          f"{min(t_net) / min(t_bare):.2f}x the bare convolutions")
    for mode in ("stft", "slicq"):
        sep = Separator(model, wiener=mode)
        sep(x[:, :44100])                                  # warm-up: graph tracing for these shapes
        sep(x)
        sep.timings.clear()
        t = timed(lambda: sep(x), args.repeats)
        shares = {k: v / sum(sep.timings.values()) for k, v in sep.timings.items()}
        print(f"  {mode:5s} Wiener-EM: {min(t):.2f} / {statistics.median(t):.2f} s, real-time factor "
              f"{min(t) / args.seconds:.3f}; {min(t) / min(t_bare):.2f}x the bare convolutions; time in "
              + ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items()))

    with tempfile.TemporaryDirectory() as tmp:
        import soundfile as sf

        song = Path(tmp) / "song.wav"
        sf.write(song, x.T, 44100, subtype="FLOAT")
        weights = args.weights
        if weights is None:
            from xumx_slicq.weights import export_state_dict

            weights = str(Path(tmp) / "random.npz")
            np.savez(weights, **export_state_dict(keras_model))
        # what every TensorFlow command pays before any work (it varies with the machine's load): the
        # interpreter, `import tensorflow` (which imports Keras) and the exit; and the same import without
        # Keras, as xumx_slicq.separate does it
        for what, code in (("import tensorflow", "import tensorflow"),
                           ("the same without Keras", "from common.cli import import_tensorflow_without_keras as "
                                                      "i; i()")):
            floor = timed(lambda: subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                                                 stderr=subprocess.DEVNULL), args.repeats)
            print(f"  python -c, {what}, alone: {min(floor):.1f} / {statistics.median(floor):.1f} s")
        for mode in ("stft", "slicq"):
            cmd = [sys.executable, "-m", "xumx_slicq.separate", str(song), "--weights", weights, "--outdir",
                   str(Path(tmp) / "out"), "--wiener", mode, "--quiet"]
            t = timed(lambda: subprocess.run(cmd, check=True, cwd=REPO), args.repeats)
            original = ORIGINAL_START_S + ORIGINAL_RTF[mode] * args.seconds
            print(f"  CLI, {mode:5s} mode, {args.seconds:.0f} s song incl. start-up: {min(t):.1f} / "
                  f"{statistics.median(t):.1f} s; original {original:.1f} s -> {original / min(t):.1f}x faster "
                  f"(bar 3x: {original / min(t) >= 3})")
        if args.long_minutes > 0:
            long = Path(tmp) / "long.wav"
            sf.write(long, music(60 * args.long_minutes).T, 44100, subtype="FLOAT")
            for mode in ("stft", "slicq"):
                # a fresh interpreter per measurement: RUSAGE_CHILDREN keeps the largest child so far
                code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
                        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)")
                out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "xumx_slicq.separate",
                                      str(long), "--weights", weights, "--outdir", str(Path(tmp) / "out"),
                                      "--wiener", mode, "--quiet"], check=True, cwd=REPO, capture_output=True,
                                     text=True)
                print(f"  {args.long_minutes:.0f}-minute song, {mode:5s} mode: peak RSS "
                      f"{int(out.stdout.split()[-1])} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
