"""``python -m benchmarks.bsseval``: the fast BSS Eval v3 path against mir_eval, timed in one run.

Two workloads, each scored by both backends of :func:`common.bsseval.bss_eval_sources`:

1. real MIR-1K clips (``../shared/data/mir1k/test``, whole clips, 16 kHz; references = left
   accompaniment and right voice), or synthetic clips of MIR-1K-like lengths when the folder is
   absent; estimates are made imperfect (filtered target + leakage of the other source + noise);
2. 2 sources x 30 s at 44.1 kHz (synthetic coloured noise, estimates made the same way).

Prints per-workload wall-clock times (best of ``--repeats``), the speed ratio mir_eval / fast
(wall clock, and CPU time over all threads, which a busy machine disturbs less) and the largest
|fast - mir_eval| over SDR, SIR and SAR.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIR1K = Path(os.environ.get("MSS_SHARED", REPO.parent / "shared")) / "data" / "mir1k"


def _imperfect(references: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Estimates: FIR-filtered target + 20% of the other sources (filtered) + 5% white noise."""
    from scipy.signal import lfilter

    estimates = np.empty_like(references)
    total = references.sum(axis=0)
    for j, reference in enumerate(references):
        scale = np.sqrt(np.mean(reference ** 2))
        estimates[j] = (lfilter([1.0, -0.4, 0.1], [1.0], reference)
                        + 0.2 * lfilter([0.5, 0.5], [1.0], total - reference)
                        + 0.05 * scale * rng.standard_normal(reference.size))
    return estimates


def _coloured_sources(rng: np.random.Generator, n_src: int, n_samples: int) -> np.ndarray:
    from scipy.signal import lfilter

    sources = rng.standard_normal((n_src, n_samples))
    for j in range(n_src):
        sources[j] = lfilter([1.0], [1.0, -0.9 + 0.5 * j], sources[j])
    return sources


def mir1k_pairs(root: Path, count: int, rng) -> tuple[list, str]:
    """(references, estimates) for ``count`` MIR-1K test clips, or synthetic stand-ins."""
    import soundfile as sf

    clips = sorted((root / "test").glob("*.flac")) + sorted((root / "test").glob("*.wav"))
    if clips:
        step = max(1, len(clips) // count)
        pairs = []
        for clip in clips[::step][:count]:
            audio, _ = sf.read(clip, dtype="float64", always_2d=True)
            references = audio.T.copy()                  # (2, samples): accompaniment, voice
            pairs.append((references, _imperfect(references, rng)))
        return pairs, f"{len(pairs)} MIR-1K test clips from {root} (16 kHz, whole clips)"
    pairs = []
    for _ in range(count):
        n = int(rng.uniform(3, 12) * 16000)              # MIR-1K clips last 3-12 s
        references = _coloured_sources(rng, 2, n)
        pairs.append((references, _imperfect(references, rng)))
    return pairs, f"{count} synthetic 16 kHz clips of 3-12 s (no MIR-1K at {root})"


def time_backend(pairs, backend: str, repeats: int, permutation: bool):
    """Best wall-clock and CPU (all threads) times over ``repeats`` passes, last pass's scores."""
    from common.bsseval import bss_eval_sources

    best, best_cpu, scores = float("inf"), float("inf"), []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        scores = [bss_eval_sources(r, e, backend=backend, compute_permutation=permutation)
                  for r, e in pairs]
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, scores


def compare(name: str, pairs, repeats: int, mir_eval_repeats: int, permutation: bool) -> dict:
    fast_s, fast_cpu, fast = time_backend(pairs, "fast", repeats, permutation)
    slow_s, slow_cpu, slow = time_backend(pairs, "mir_eval", mir_eval_repeats, permutation)
    worst = 0.0
    for a, b in zip(fast, slow):
        if not np.array_equal(a["perm"], b["perm"]):
            worst = float("inf")
        for key in ("SDR", "SIR", "SAR"):
            same_inf = np.isinf(a[key]) & (a[key] == b[key])
            with np.errstate(invalid="ignore"):
                worst = max(worst, float(np.max(np.where(same_inf, 0, np.abs(a[key] - b[key])))))
    return {"workload": name, "fast_s": fast_s, "mir_eval_s": slow_s, "ratio": slow_s / fast_s,
            "cpu_ratio": slow_cpu / fast_cpu, "max_diff_db": worst}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bsseval",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--mir1k", type=Path, default=DEFAULT_MIR1K,
                        help="MIR-1K root with test/ (default: ../shared/data/mir1k)")
    parser.add_argument("--clips", type=int, default=10, help="MIR-1K clips to score (10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the 44.1 kHz case")
    parser.add_argument("--repeats", type=int, default=5, help="passes of the fast path (best kept)")
    parser.add_argument("--mir-eval-repeats", type=int, default=2, help="passes of mir_eval")
    parser.add_argument("--permutation", action="store_true",
                        help="also search the estimate order (compute_permutation=True)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="limit BLAS threads for both backends (default: library default)")
    args = parser.parse_args(argv)

    from common.bsseval import markdown_table

    limits = contextlib.nullcontext()
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(limits=args.blas_threads, user_api="blas")

    rng = np.random.default_rng(0)
    clip_pairs, clip_note = mir1k_pairs(args.mir1k, args.clips, rng)
    long_refs = _coloured_sources(rng, 2, int(args.seconds * 44100))
    long_pairs = [(long_refs, _imperfect(long_refs, rng))]
    long_note = f"2 sources x {args.seconds:g} s at 44.1 kHz (synthetic)"

    with limits:
        # warm-up: FFT plans, LAPACK and mir_eval imports stay out of the timings
        warm = [(r[:, :16000], e[:, :16000]) for r, e in clip_pairs[:1]]
        time_backend(warm, "fast", 1, args.permutation)
        time_backend(warm, "mir_eval", 1, args.permutation)
        results = [compare(clip_note, clip_pairs, args.repeats, args.mir_eval_repeats,
                           args.permutation),
                   compare(long_note, long_pairs, args.repeats, args.mir_eval_repeats,
                           args.permutation)]

    print(f"BSS Eval v3 bss_eval_sources, compute_permutation={args.permutation}, "
          f"BLAS threads: {args.blas_threads or 'library default'}, "
          f"best of {args.repeats} (fast) / {args.mir_eval_repeats} (mir_eval) passes\n")
    rows = [{"workload": r["workload"], "fast (s)": r["fast_s"], "mir_eval (s)": r["mir_eval_s"],
             "speed ratio": r["ratio"], "CPU-time ratio": r["cpu_ratio"],
             "max abs diff (dB)": r["max_diff_db"]} for r in results]
    for row in rows:
        row["max abs diff (dB)"] = f"{row['max abs diff (dB)']:.2e}"
    print(markdown_table(rows, ["workload", "fast (s)", "mir_eval (s)", "speed ratio",
                                "CPU-time ratio", "max abs diff (dB)"], precision=3))
    worst = max(r["max_diff_db"] for r in results)
    slowest = min(r["ratio"] for r in results)
    print(f"speed ratio (mir_eval / fast, wall clock): {slowest:.1f}x at worst; "
          f"largest metric difference: {worst:.2e} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
