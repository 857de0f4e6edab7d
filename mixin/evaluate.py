"""The README's BSSv4 comparison: ``python -m mixin.evaluate --root MUSDB_ROOT --model-dir DIR``.

Protocol of sevagh/Music-Separation-TF (Makefile, evaluation/bssv4_eval.py; mixin.md §7.2): MUSDB18-HQ
test subset, the first 5 tracks, 15-s segments with indices 2..5 (``--segment-offset 2 --segment-limit 6``,
the last full segment never taken), mono (channel mean); targets harmonic = bass + other, percussive =
drums, vocal = vocals; the vocal task's mix is the sum of all four, the HPSS task's has no vocals. Each
segment is scored with BSSv4 (museval, 1-s windows, through common.bsseval), the nan-median is taken over
windows, then over segments. Printed next to the published figures (mixin.md §7.1).
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from .params import SAMPLE_RATE

METRICS = ("SDR", "ISR", "SIR", "SAR")
# sevagh/MiXiN:.github/bssv4_results_musdb18hq.png (vocal task), mixin.md §7.1
PUBLISHED = {
    "MiXiN (published)": {"harmonic": (0.27, 16.31, -0.32, 10.81), "percussive": (2.76, 5.19, 9.41, 1.61),
                          "vocal": (0.45, 1.03, 7.43, -0.19)},
    "Open-Unmix umxhq (published)": {"harmonic": (6.70, 13.97, 11.71, 7.89),
                                     "percussive": (5.87, 10.12, 13.93, 5.55),
                                     "vocal": (7.77, 15.13, 14.39, 8.49)},
}


def segment_indices(n_samples: int, seg: int, offset: int, limit: int) -> list[int]:
    """range(min(total_segs - 1, limit)) minus indices below offset (MSTF prepare_data / MiXiN stems.py)."""
    total = n_samples // seg
    return [s for s in range(max(0, min(total - 1, limit))) if s >= offset]


def mono(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).mean(axis=0, dtype=np.float32)


def evaluate(root, model_dir, n_tracks: int = 5, segment_seconds: float = 15.0, segment_offset: int = 2,
             segment_limit: int = 6, task: str = "vocal", subset: str = "test", instrumental: bool = False,
             single_model: bool = False, legacy: bool = False, progress: bool = True,
             musdb_format: str = "auto") -> dict:
    """Returns {"per_segment": [...], "summary": {target: {metric: nan-median}}}.

    musdb_format: "wav" (MUSDB18-HQ, the original's data), "stems" (MUSDB18 .stem.mp4) or "auto" (detect).
    """
    from common.bsseval import bss_eval_v4, framewise_median, sisec_median
    from common.datasets import iter_musdb

    from .separate import CDAEBank, separate

    bank = CDAEBank(model_dir=model_dir, instrumental=instrumental or task == "hpss")
    targets = ("harmonic", "percussive", "vocal") if task == "vocal" and not instrumental else ("harmonic", "percussive")
    seg = int(segment_seconds * SAMPLE_RATE)
    per_segment, all_scores = [], []
    for i, track in enumerate(iter_musdb(root, subsets=subset, musdb_format=musdb_format)):
        if i >= n_tracks:
            break
        src = {k: mono(v) for k, v in track.sources.items()}
        refs_full = {"harmonic": src["bass"] + src["other"], "percussive": src["drums"], "vocal": src["vocals"]}
        for s in segment_indices(len(src["drums"]), seg, segment_offset, segment_limit):
            sl = slice(s * seg, (s + 1) * seg)
            refs = {k: v[sl] for k, v in refs_full.items()}
            mix = refs["harmonic"] + refs["percussive"] + (refs["vocal"] if task == "vocal" else 0)
            h, p, v = separate(mix, bank=bank, single_model=single_model, legacy=legacy)
            ests = {"harmonic": h, "percussive": p, "vocal": v}
            R = np.stack([refs[t] for t in targets])[..., None]
            E = np.stack([ests[t] for t in targets])[..., None]
            try:
                scores = bss_eval_v4(R, E, SAMPLE_RATE)
            except ValueError as err:  # museval refuses an all-silent reference
                print(f"warning: {track.name} segment {s} skipped ({err})", file=sys.stderr)
                continue
            all_scores.append(scores)
            medians = framewise_median(scores)  # nan-median over 1-s windows
            row = {"track": track.name, "segment": s}
            for j, t in enumerate(targets):
                row[t] = {m: float(medians[m][j]) for m in METRICS}
            per_segment.append(row)
            if progress:
                print(f"{track.name} seg {s}: " + "  ".join(f"{t} SDR {row[t]['SDR']:.2f}" for t in targets))
    if all_scores:  # nan-median over windows, then over segments (MSTF evaluation/bssv4_eval.py)
        agg = sisec_median(all_scores)
        summary = {t: {m: float(agg[m][j]) for m in METRICS} for j, t in enumerate(targets)}
    else:
        summary = {t: {m: math.nan for m in METRICS} for t in targets}
    return {"per_segment": per_segment, "summary": summary, "targets": list(targets)}


def table(summary: dict) -> str:
    lines = ["| Target | System | SDR | ISR | SIR | SAR |", "| --- | --- | --- | --- | --- | --- |"]
    for t in summary:
        lines.append(f"| {t} | here | " + " | ".join(f"{summary[t][m]:.2f}" for m in METRICS) + " |")
        for name, figs in PUBLISHED.items():
            if t in figs:
                lines.append(f"| {t} | {name} | " + " | ".join(f"{v:.2f}" for v in figs[t]) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from common.datasets import add_musdb_format_argument

    p = argparse.ArgumentParser(prog="python -m mixin.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True, help="MUSDB18-HQ root (test/<track>/{mixture,drums,...}.wav) or "
                                                "MUSDB18 root (test/<track>.stem.mp4)")
    p.add_argument("--model-dir", required=True, help="model_{harmonic,percussive,vocal}.h5/.keras")
    p.add_argument("--tracks", type=int, default=5, help="first N tracks of the subset (default 5)")
    p.add_argument("--segment-seconds", type=float, default=15.0, help="default 15")
    p.add_argument("--segment-offset", type=int, default=2, help="first segment index (default 2)")
    p.add_argument("--segment-limit", type=int, default=6, help="segment indices below this (default 6)")
    p.add_argument("--task", choices=("vocal", "hpss"), default="vocal",
                   help="vocal: mix with vocals (the README figure); hpss: mix without vocals")
    p.add_argument("--subset", default="test", help="MUSDB subset (default test)")
    p.add_argument("--instrumental", action="store_true", help="separate without the vocal model")
    p.add_argument("--single-model", action="store_true", help="network magnitudes with the mixture phase")
    p.add_argument("--legacy", action="store_true", help="the original's computation (skipped last chunk)")
    p.add_argument("--out", help="write the scores as JSON here")
    add_musdb_format_argument(p)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from common.cli import quiet_tensorflow

    quiet_tensorflow()  # TensorFlow's start-up log stays off the terminal
    from common.audio import AudioError
    from common.datasets import DatasetError

    from .model import ModelFileError

    try:
        result = evaluate(args.root, args.model_dir, args.tracks, args.segment_seconds, args.segment_offset,
                          args.segment_limit, args.task, args.subset, args.instrumental, args.single_model,
                          args.legacy, musdb_format=args.musdb_format)
    except (AudioError, DatasetError, ModelFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not result["per_segment"]:
        print("error: no segment was scored; the tracks are shorter than (offset + 2) segments "
              "(lower --segment-offset / --segment-seconds)", file=sys.stderr)
        return 2
    print(f"\nBSSv4, nan-median over windows then over {len(result['per_segment'])} segments:\n")
    print(table(result["summary"]))
    if args.out:
        from common.bsseval import write_json

        write_json(args.out, {**result, "args": vars(args)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
