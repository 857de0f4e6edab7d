"""The student's evaluation protocol: ``python -m mask_inference.evaluate --dataset mir1k --root ROOT --split test``.

For every test track and method: separate the mixture (mask_inference.separate.Separator), score
vocals and accompaniment with SI-SDR / SI-SIR / SI-SAR (common.bsseval.si_bss_eval = nussl's
BSSEvalScale: zero-mean, per channel, references = {vocals, accompaniment}), take the nanmedian over
channels, then (nussl's report_card, design §2.9) the median over tracks per source, and "overall" =
the median over all (track, source) rows. Printed values are truncated to 2 decimals, as nussl
prints them, next to the project's published medians (50 MUSDB18 7-s excerpts, design §1.9).

--json OUT.json holds {method: {"vocals": {metric: median}, "accompaniment": {...}, "overall": {...}}}, and with
deep and repet both run, "deep_minus_repet": the lead in median vocal SI-SDR with its paired bootstrap standard
error; per-track scores, timings and the settings go to OUT.tracks.json beside it.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import params


def iter_tracks(dataset: str, root, split: str, mix: str = "sum", limit: int | None = None,
                musdb_format: str = "auto"):
    """Yield (name, mixture (C, S), {"vocals": (C, S), "accompaniment": (C, S)}, rate).

    musdb_format: the MUSDB release, "wav" | "stems" | "auto" (common.datasets.detect_musdb_layout)."""
    from common.datasets import iter_mir1k, iter_musdb

    if dataset == "mir1k":
        for track in iter_mir1k(root, split, mix=mix, limit=limit):
            yield track.name, track.mixture, dict(track.sources), track.rate
        return
    subsets = "test" if split == "test" else "train"
    musdb_split = None if split == "test" else split
    tracks = iter_musdb(root, subsets=subsets, split=musdb_split, musdb_format=musdb_format)
    for count, track in enumerate(tracks):
        if limit is not None and count >= limit:
            break
        backing = sum(track.sources[k] for k in ("bass", "drums", "other"))  # SumSources, cell 28
        yield track.name, track.mixture, {"vocals": track.sources["vocals"], "accompaniment": backing}, track.rate


def score(references: dict, vocals: np.ndarray, accompaniment: np.ndarray) -> dict:
    """{source: {metric: nanmedian over channels}} for one track."""
    from common.bsseval import si_bss_eval

    refs = np.stack([references["vocals"], references["accompaniment"]])
    ests = np.stack([vocals, accompaniment])
    result = si_bss_eval(refs, ests)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i, source in enumerate(params.SOURCES):
            out[source] = {m: float(np.nanmedian(result[m][i])) for m in params.METRICS}
    return out


def aggregate(per_track: dict) -> dict:
    """{source or "overall": {metric: median}} from {track: {source: {metric: value}}} (NaN ignored)."""
    summary = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for source in params.SOURCES:
            summary[source] = {m: float(np.nanmedian([t[source][m] for t in per_track.values()]))
                               for m in params.METRICS}
        summary["overall"] = {m: float(np.nanmedian([t[s][m] for t in per_track.values()
                                                     for s in params.SOURCES])) for m in params.METRICS}
    return summary


def truncate(value: float) -> str:
    """nussl's report_card truncates (not rounds) to 2 decimals."""
    if value is None or not math.isfinite(value):
        return "nan"
    return f"{math.trunc(value * 100) / 100:.2f}"


def format_table(summary: dict, tracks: int, what: str) -> str:
    """Markdown table: one row per method and metric, here vs published for each column."""
    lines = [f"Medians over {tracks} tracks of {what} (dB); in brackets the project's published medians "
             f"(50 MUSDB18 7-s excerpts).",
             "",
             "| method | metric | vocals | accompaniment | overall |",
             "| --- | --- | --- | --- | --- |"]
    for method, result in summary.items():
        for metric in params.METRICS:
            cells = []
            for column in (*params.SOURCES, "overall"):
                here = truncate(result[column][metric])
                published = params.PUBLISHED.get(method, {}).get(column, {}).get(metric)
                cells.append(here + (f" ({published:.2f})" if published is not None else ""))
            lines.append(f"| {method} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate(dataset: str, root, split: str, methods: list[str], weights=None, mix: str = "sum",
             limit: int | None = None, progress: bool = True, accompaniment: str = "residual",
             window: int | None = None, musdb_format: str = "auto") -> dict:
    """Run the protocol; returns {"summary": {method: ...}, "tracks": {method: {track: ...}}, "seconds": ...}."""
    from tqdm import tqdm

    from .separate import Separator

    separators = {m: Separator(m, weights if m == "deep" else None, accompaniment,
                               **({"window": window} if window and m in ("repet", "hpss") else {}))
                  for m in methods}
    per_track = {m: {} for m in methods}
    seconds = {m: 0.0 for m in methods}
    audio_seconds = 0.0
    tracks = iter_tracks(dataset, root, split, mix=mix, limit=limit, musdb_format=musdb_format)
    for name, mixture, references, rate in tqdm(tracks, desc=f"evaluating {dataset} {split}", unit="track",
                                                disable=not progress):
        audio_seconds += mixture.shape[-1] / rate
        for method, separator in separators.items():
            started = time.perf_counter()
            vocals, backing = separator(mixture, rate)
            seconds[method] += time.perf_counter() - started
            per_track[method][name] = score(references, vocals, backing)
    if not audio_seconds:
        raise ValueError(f"no {dataset} tracks found for split {split!r} under {root}")
    summary = {m: aggregate(per_track[m]) for m in methods}
    lead = deep_lead(per_track, dataset, split) if "deep" in methods and "repet" in methods else None
    return {"summary": summary, "deep_minus_repet": lead, "tracks": per_track, "seconds": seconds,
            "audio_seconds": audio_seconds, "count": len(next(iter(per_track.values())))}


def deep_lead(per_track: dict, dataset: str, split: str) -> dict:
    """The deep model's lead over REPET in median vocal SI-SDR, with its paired bootstrap standard error.

    On a MIR-1K split the error is finite-population corrected for the split's full size (165 of 825 test clips),
    so it says how far the lead may be from the same comparison on every clip of the split.
    """
    from common.bsseval import median_difference_stderr
    from common.datasets import MIR1K_SPLIT_CLIPS

    names = sorted(per_track["deep"])
    deep = [per_track["deep"][n]["vocals"]["SI-SDR"] for n in names]
    repet = [per_track["repet"][n]["vocals"]["SI-SDR"] for n in names]
    population = max(MIR1K_SPLIT_CLIPS.get(split, 0), len(names)) if dataset == "mir1k" else None
    resamples = 4000
    return {"vocals_si_sdr_median_difference": float(np.nanmedian(deep) - np.nanmedian(repet)),
            "bootstrap_standard_error": median_difference_stderr(deep, repet, population, resamples),
            "clips": len(names), "population": population, "resamples": resamples}


def main(argv=None) -> int:
    from common.datasets import add_musdb_format_argument

    p = argparse.ArgumentParser(prog="python -m mask_inference.evaluate", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=("mir1k", "musdb"), required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--methods", nargs="+", choices=params.METHODS, default=list(params.METHODS))
    p.add_argument("--weights", help="deep model (default: the shipped one)")
    p.add_argument("--mix", choices=("sum", "0db"), default="sum",
                   help="MIR-1K mixture: the stored channels summed, or Huang's unit-energy 0 dB mix")
    p.add_argument("--accompaniment", choices=("residual", "masked"), default="residual")
    p.add_argument("--limit", type=int, help="only the first N tracks (sorted by name)")
    p.add_argument("--json", help="write the medians here (per-track scores to <stem>.tracks.json)")
    p.add_argument("--window", type=int, help="repet/hpss STFT window, hop = window / 4 (default: nussl's "
                                              "rule, 512 at 16 kHz, 2048 at 44.1 kHz)")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0 = default)")
    add_musdb_format_argument(p)
    args = p.parse_args(argv)
    from common.cli import quiet_tensorflow

    quiet_tensorflow()  # TensorFlow's start-up log stays off the terminal
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.threads and "deep" in args.methods:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from common.audio import AudioError
    from common.bsseval import BSSEvalError
    from common.datasets import DatasetError

    from .separate import SeparationError

    try:
        result = evaluate(args.dataset, args.root, args.split, args.methods, args.weights, args.mix,
                          args.limit, accompaniment=args.accompaniment, window=args.window,
                          musdb_format=args.musdb_format)
    except (SeparationError, AudioError, DatasetError, BSSEvalError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    what = f"{args.dataset} {args.split}" + (f" (mix={args.mix})" if args.dataset == "mir1k" else "")
    lead = result["deep_minus_repet"]
    print(format_table(result["summary"], result["count"], what))
    print()
    if lead is not None:
        of = f"{lead['clips']} of {lead['population']}" if lead["population"] else f"{lead['clips']}"
        print(f"deep minus REPET, median vocal SI-SDR: {lead['vocals_si_sdr_median_difference']:+.2f} dB "
              f"(bootstrap standard error {lead['bootstrap_standard_error']:.2f} dB, {of} clips)")
    for method, secs in result["seconds"].items():
        print(f"{method}: {secs:.1f} s for {result['audio_seconds']:.0f} s of audio "
              f"(real-time factor {secs / result['audio_seconds']:.3f})")
    if args.json:
        from common.bsseval import write_json

        out = Path(args.json)
        write_json(out, {**result["summary"], **({"deep_minus_repet": lead} if lead else {})})
        details = {"settings": vars(args), "count": result["count"], "audio_seconds": result["audio_seconds"],
                   "seconds": result["seconds"], "tracks": result["tracks"]}
        write_json(out.with_name(out.stem + ".tracks.json"), details)
    return 0


if __name__ == "__main__":
    sys.exit(main())
