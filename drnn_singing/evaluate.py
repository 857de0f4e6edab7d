"""`python -m drnn_singing.evaluate --dataset mir1k --root ROOT --split test [--weights W] [--json OUT.json]`

Huang's protocol (posenhuang/deeplearningsourceseparation:codes/mir1k/test_mir1k_general_kl_bss3.m):
unit-energy sources mixed at 0 dB, the whole clip as one sequence, mixture-phase resynthesis,
references cropped to the resynthesised length, BSS Eval v3 (512-tap filter, via common.bsseval)
of [music, voice] estimates against [music, voice] references, NSDR = SDR(estimate) - SDR(mixture)
with the mixture scored against that source alone, and global figures weighted by the original
clip length (GNSDR, GSIR, GSAR).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import features as F
from . import params as P

SOURCES = {"music": 0, "voice": 1}   # Huang's output order


def clip_metrics(separator, clip, backend: str = "fast", compute_permutation: bool = False) -> dict:
    """One data.Clip -> {"name", "length", "voice": {SDR, SIR, SAR, NSDR}, "music": {...}}.

    compute_permutation: let BSS Eval pick the estimate order (MATLAB's bss_eval_sources does);
    the scores stay indexed by reference (MATLAB's BSS_3_EVAL.m re-indexed them by perm a second
    time, wrong whenever a swap wins: that bug is not reproduced).
    """
    from common.bsseval import bss_eval_sources
    from .separate import separate_magnitudes
    mixture = clip.music + clip.voice
    music_mag, voice_mag, spec = separate_magnitudes(separator, mixture)
    estimates = np.stack([F.resynthesize(music_mag, spec), F.resynthesize(voice_mag, spec)])
    n = estimates.shape[1]                                  # 1024 + (T-1)*512 <= clip length
    references = np.stack([clip.music[:n], clip.voice[:n]])
    scores = bss_eval_sources(references, estimates, backend=backend, compute_permutation=compute_permutation,
                              label=clip.name)
    out = {"name": clip.name, "length": int(clip.music.size)}
    for source, j in SOURCES.items():
        mixture_sdr = bss_eval_sources(references[j:j + 1], mixture[None, :n], backend=backend,
                                       label=clip.name)["SDR"][0]
        out[source] = {"SDR": float(scores["SDR"][j]), "SIR": float(scores["SIR"][j]),
                       "SAR": float(scores["SAR"][j]), "NSDR": float(scores["SDR"][j] - mixture_sdr)}
    return out


def summarize(per_clip: list[dict], population: int | None = None) -> dict:
    """Per-clip metrics -> {"clips": N, "voice": {GNSDR, GSIR, GSAR}, "music": {...}} (length-weighted).

    With ``population`` (clips in the full split these were drawn from), also "stderr": the same
    keys holding each figure's sampling standard error (common.bsseval.global_weighted_stderr).
    """
    from common.bsseval import global_weighted, global_weighted_stderr
    lengths = [c["length"] for c in per_clip]
    out, stderr = {"clips": len(per_clip)}, {"population": population}
    for source in SOURCES:
        values = {f"G{k}": [c[source][k] for c in per_clip] for k in ("NSDR", "SIR", "SAR")}
        out[source] = {key: global_weighted(v, lengths) for key, v in values.items()}
        if population is not None:
            stderr[source] = {key: global_weighted_stderr(v, lengths, population) for key, v in values.items()}
    if population is not None:
        out["stderr"] = stderr
    return out


def evaluate_clips(separator, clips, backend: str = "fast", progress: bool = False,
                   compute_permutation: bool = False, population: int | None = None) -> tuple[dict, list[dict]]:
    """Evaluate data.Clip objects -> (summary, per-clip list); population as in :func:`summarize`."""
    iterator = clips
    if progress:
        from tqdm import tqdm
        iterator = tqdm(clips, desc="evaluate", unit="clip")
    per_clip = [clip_metrics(separator, clip, backend, compute_permutation) for clip in iterator]
    return summarize(per_clip, population), per_clip


def paper_table(summary: dict, label: str) -> str:
    """Markdown table: this run's voice figures under the paper's Table II rows."""
    lines = ["| model | GNSDR | GSIR | GSAR |", "| --- | --- | --- | --- |"]
    for name, (nsdr, sir, sar) in P.PAPER_TABLE.items():
        lines.append(f"| paper: {name} (825 clips) | {nsdr:.2f} | {sir:.2f} | {sar:.2f} |")
    v = summary["voice"]
    lines.append(f"| **here: {label} ({summary['clips']} clips)** | {v['GNSDR']:.2f} | {v['GSIR']:.2f} | {v['GSAR']:.2f} |")
    m = summary["music"]
    lines.append(f"| here, music: {label} | {m['GNSDR']:.2f} | {m['GSIR']:.2f} | {m['GSAR']:.2f} |")
    se = summary.get("stderr")
    if se and 2 <= summary["clips"] < se["population"]:
        v = se["voice"]
        lines.append(f"\n{summary['clips']} of the split's {se['population']} clips: sampling standard error of "
                     f"the voice figures {v['GNSDR']:.2f} / {v['GSIR']:.2f} / {v['GSAR']:.2f} dB "
                     f"(how far the full split's figures may lie from these)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drnn_singing.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mir1k", choices=["mir1k"])
    parser.add_argument("--root", type=Path, required=True, help="MIR-1K folder (train/ dev/ test/ or Wavfile/)")
    parser.add_argument("--split", default="test", choices=["train", "dev", "test"])
    parser.add_argument("--weights", type=Path, default=None,
                        help="model folder from train.py or bag.py, or one .weights.h5 (default: the shipped model)")
    parser.add_argument("--limit", type=int, default=None, help="first N clips only")
    parser.add_argument("--backend", default="fast", choices=["fast", "mir_eval"],
                        help="BSS Eval v3 implementation in common.bsseval (same numbers within 0.01 dB)")
    parser.add_argument("--compute-permutation", action="store_true",
                        help="let BSS Eval choose the estimate order (MATLAB did); default: the known order")
    parser.add_argument("--json", type=Path, default=None, help="write the summary + per-clip metrics here")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0 = TF default)")
    args = parser.parse_args(argv)
    from common.cli import quiet_tensorflow

    quiet_tensorflow()  # TensorFlow's start-up log stays off the terminal

    from common.bsseval import BSSEvalError, write_json
    from common.datasets import MIR1K_SPLIT_CLIPS, DatasetError
    from .separate import ModelFileError, load_separator
    from .train import set_threads
    set_threads(args.threads)
    try:
        from .data import load_split
        separator = load_separator(args.weights)
        clips = load_split(args.root, args.split, args.limit)
        start = time.time()
        summary, per_clip = evaluate_clips(separator, clips, args.backend, progress=sys.stderr.isatty(),
                                           compute_permutation=args.compute_permutation,
                                           population=max(MIR1K_SPLIT_CLIPS[args.split], len(clips)))
    except (DatasetError, ModelFileError, F.FeatureError, BSSEvalError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    label = separator.config.get("label", separator.config["arch"])
    print(f"MIR-1K {args.split}: {summary['clips']} clips, {time.time() - start:.0f} s")
    print(paper_table(summary, label))
    if args.json:
        write_json(args.json, {**summary, "split": args.split, "weights": str(args.weights or "shipped"),
                               "model": label, "per_clip": per_clip})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
