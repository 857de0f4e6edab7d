"""MiXiN separation speed and memory.

    python benchmarks/mixin_separate.py [--model-dir ../shared/data/mixin_pretrained] [--seconds 60]
                                        [--repeats 3] [--long-minutes 10]

1. Separates `--seconds` of audio with the project's default path (`mixin.separate`: batched NSGT, the
   CDAEs in one graph, the numpy stages of neighbouring blocks overlapped with the networks) and with a
   straightforward per-chunk loop like the original's (nsgt's own transform, `model.predict` with batch
   1, per model and chunk), `--repeats` times, alternating, in one run. Per run: real-time factor
   (seconds of compute per second of audio), CPU seconds of the default path, and the speed ratio of
   the two; then min/median over the runs, the load average, and whether the bar is met (issue 14:
   real-time factor <= 0.05 and ratio >= 15). Also the max |difference| between the two outputs.
2. Separates a `--long-minutes` input through `python -m mixin.separate` in a subprocess and reports
   its wall time and peak resident memory (getrusage of the child).

The machine is shared: wall times vary with its load, which is printed with the figures.
"""
from __future__ import annotations

import argparse
import os
import resource
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

RTF_BAR, RATIO_BAR = 0.05, 15.0  # issue 14


def test_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise bursts + tones, float32 mono 44.1 kHz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 44100)
    t = np.arange(n) / 44100
    x = 0.1 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 1760 * t)
    x += 0.1 * rng.standard_normal(n) * (np.sin(2 * np.pi * 2 * t) > 0.9)
    return x.astype(np.float32)


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", default=str(REPO.parent / "shared" / "data" / "mixin_pretrained"))
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--long-minutes", type=float, default=10.0, help="0 to skip the memory measurement")
    args = ap.parse_args()

    from mixin.separate import CDAEBank, separate, separate_per_chunk

    bank = CDAEBank(model_dir=args.model_dir)
    x = test_signal(args.seconds)
    separate(x[: 44032 * 8], bank=bank)  # warm-up (graph tracing)
    separate_per_chunk(x[:44032], bank)

    print(f"{args.seconds:.0f} s of audio ({int(np.ceil(len(x) / 44032))} chunks), {os.cpu_count()} CPUs, "
          f"{load()}")
    rtf, ratio = [], []
    for run in range(1, args.repeats + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        fast = separate(x, bank=bank)
        t_fast, c_fast = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        slow = separate_per_chunk(x, bank)
        t_slow = time.perf_counter() - t0
        rtf.append(t_fast / args.seconds)
        ratio.append(t_slow / t_fast)
        print(f"  run {run}: default {t_fast:6.2f} s (RTF {rtf[-1]:.3f}, {c_fast:.2f} CPU-s)   per-chunk loop "
              f"{t_slow:6.2f} s (RTF {t_slow / args.seconds:.3f})   ratio {ratio[-1]:5.1f}x   {load()}",
              flush=True)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(fast, slow))
    peak = max(float(np.max(np.abs(b))) for b in slow)
    ok = min(rtf) <= RTF_BAR and max(ratio) >= RATIO_BAR
    print(f"  real-time factor min {min(rtf):.3f} median {statistics.median(rtf):.3f}; ratio min {min(ratio):.1f}x "
          f"median {statistics.median(ratio):.1f}x max {max(ratio):.1f}x")
    print(f"  bar (RTF <= {RTF_BAR}, ratio >= {RATIO_BAR:.0f}x, best run): {'met' if ok else 'NOT met'}; "
          f"median run: {'met' if statistics.median(rtf) <= RTF_BAR and statistics.median(ratio) >= RATIO_BAR else 'NOT met'}")
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
                  f"peak RSS {rss_mb:.0f} MB (< 2048 MB: {rss_mb < 2048}), {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
