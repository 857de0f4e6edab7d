"""MiXiN separation speed and memory.

    python benchmarks/mixin_separate.py --model-dir ../shared/data/mixin_pretrained [--seconds 60] [--long-minutes 10]

1. Separates `--seconds` of audio with the project's default path (batched NSGT + one CDAE call per block
   of chunks) and with a straightforward per-chunk loop like the original's (nsgt's own transform,
   `model.predict` with batch 1, per model and chunk), in one run: speed ratio, max |difference|
   between the outputs, real-time factor.
2. Separates a `--long-minutes` input through `python -m mixin.separate` in a subprocess and reports
   its peak resident memory (getrusage of the child).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def test_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise bursts + tones, float32 mono 44.1 kHz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 44100)
    t = np.arange(n) / 44100
    x = 0.1 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 1760 * t)
    x += 0.1 * rng.standard_normal(n) * (np.sin(2 * np.pi * 2 * t) > 0.9)
    return x.astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", default=str(REPO.parent / "shared" / "data" / "mixin_pretrained"))
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--long-minutes", type=float, default=10.0, help="0 to skip the memory measurement")
    args = ap.parse_args()

    from mixin.separate import CDAEBank, separate, separate_per_chunk

    bank = CDAEBank(model_dir=args.model_dir)
    x = test_signal(args.seconds)
    separate(x[: 44032 * 4], bank=bank)  # warm-up (graph tracing)
    separate_per_chunk(x[:44032], bank)

    t0 = time.perf_counter()
    fast = separate(x, bank=bank)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = separate_per_chunk(x, bank)
    t_slow = time.perf_counter() - t0
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(fast, slow))
    peak = max(float(np.max(np.abs(b))) for b in slow)
    print(f"{args.seconds:.0f} s of audio ({int(np.ceil(len(x) / 44032))} chunks)")
    print(f"  default (batched blocks): {t_fast:7.2f} s   real-time factor {t_fast / args.seconds:.3f}")
    print(f"  per-chunk batch-1 loop:   {t_slow:7.2f} s   real-time factor {t_slow / args.seconds:.3f}")
    print(f"  speed-up: {t_slow / t_fast:.1f}x")
    print(f"  max |default - loop| = {diff:.2e} (output peak {peak:.2f}); identical up to float32 CNN "
          f"noise: {diff < 1e-5}")

    if args.long_minutes > 0:
        import soundfile as sf

        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "long.wav"
            with sf.SoundFile(wav, "w", 44100, 1, subtype="FLOAT") as f:
                for _ in range(int(args.long_minutes)):
                    f.write(test_signal(60.0))
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mixin.separate", str(wav), "--model-dir", args.model_dir,
                            "--outdir", str(Path(tmp) / "out"), "--quiet"], check=True, cwd=REPO)
            dt = time.perf_counter() - t0
            rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"{args.long_minutes:.0f}-minute input via the CLI: {dt:.1f} s (incl. start-up), "
                  f"peak RSS {rss_mb:.0f} MB (< 2048 MB: {rss_mb < 2048})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
