"""Real-time factor of each mask_inference method on 60 s of audio.

    python benchmarks/mask_inference.py [--seconds 60] [--mir1k ROOT] [--threads 1]

The audio is MIR-1K test clips (mixtures) joined to the requested length when ``--mir1k`` points at
a MIR-1K folder, otherwise a synthetic mixture (a harmonic "voice" over noise bursts), 16 kHz mono.
Each method first runs once on 3 s (library warm-up, graph tracing), then is timed on the full
signal. RTF = processing seconds / audio seconds (below 1 = faster than real time).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RATE = 16000


def test_audio(seconds: float, mir1k_root: str | None) -> tuple[np.ndarray, str]:
    n = int(seconds * RATE)
    if mir1k_root:
        from common.datasets import iter_mir1k

        pieces, total = [], 0
        for track in iter_mir1k(mir1k_root, "test"):
            pieces.append(track.mixture[0])
            total += track.mixture.shape[-1]
            if total >= n:
                break
        return np.concatenate(pieces)[:n][None].astype(np.float32), f"MIR-1K test mixtures ({len(pieces)} clips)"
    rng = np.random.default_rng(0)
    t = np.arange(n) / RATE
    f0 = 220 * 2 ** (np.floor(t / 0.5) % 5 / 12)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(h * phase) / h for h in range(1, 10)) * 0.1
    bursts = rng.normal(size=n) * np.exp(-(np.arange(n) % 8000) / 1000) * 0.1
    return (voice + bursts)[None].astype(np.float32), "synthetic voice over noise bursts"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--mir1k", help="MIR-1K root (default: ../shared/data/mir1k when it exists)")
    p.add_argument("--methods", nargs="+", default=["deep", "repet", "hpss", "harmonic"])
    p.add_argument("--weights", help="deep model (default: the shipped one)")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0 = default)")
    args = p.parse_args(argv)
    default_root = Path(__file__).resolve().parents[2] / "shared" / "data" / "mir1k"
    root = args.mir1k or (str(default_root) if default_root.is_dir() else None)
    audio, what = test_audio(args.seconds, root)
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from mask_inference.separate import Separator

    print(f"{audio.shape[-1] / RATE:.0f} s of {what}, {RATE} Hz mono, {os.cpu_count()} CPU(s)")
    print("| method | seconds | real-time factor |")
    print("| --- | --- | --- |")
    for method in args.methods:
        separator = Separator(method, args.weights if method == "deep" else None)
        separator(audio[:, :3 * RATE], RATE)                 # warm-up
        started = time.perf_counter()
        separator(audio, RATE)
        elapsed = time.perf_counter() - started
        print(f"| {method} | {elapsed:.2f} | {elapsed / (audio.shape[-1] / RATE):.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
