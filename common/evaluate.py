"""``python -m common.evaluate``: score any system's output folders against a dataset's references.

Works on folders alone (``<dir>/<track>/<target>.wav``, the Open-Unmix/Spleeter convention), so it
never imports a system. Per track and target it computes BSS Eval v3 SDR/SIR/SAR (the fast path of
:mod:`common.bsseval`, or ``mir_eval`` with ``--backend mir_eval``) and SI-SDR/SI-SIR/SI-SAR
(nussl's BSSEvalScale conventions), writes per-track JSON, and prints the median over tracks.

Estimates and references are compared in mono (channel mean) when their channel counts differ, at
the reference's rate, cropped to the shorter of the two.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

METRICS = ("SDR", "SIR", "SAR", "SI-SDR", "SI-SIR", "SI-SAR")


def parse_named_dirs(items: list[str]) -> dict[str, Path]:
    """``["NAME=DIR", ...]`` (or bare ``DIR``, named after the folder) -> {name: Path}."""
    named: dict[str, Path] = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep:
            name, folder = Path(item).name, item
        named[name] = Path(folder)
    return named


def score_track(references: dict[str, np.ndarray], estimates: dict[str, np.ndarray],
                backend: str = "fast") -> dict[str, dict[str, float]]:
    """Scores of one track: target -> metric -> value (NaN where undefined).

    references, estimates: target -> float32 (channels, samples), same rate, same targets.
    BSS Eval v3 runs on the channel-mean mono signals of all targets jointly; SI metrics per
    channel, then the median over channels (nussl's aggregation). A silent estimate scores NaN.
    """
    from common.bsseval import bss_eval_sources, si_bss_eval

    targets = sorted(estimates)
    arrays = [references[t] for t in targets] + [estimates[t] for t in targets]
    if len({a.shape[0] for a in arrays}) > 1:  # mixed channel counts: compare in mono
        arrays = [a.mean(axis=0, keepdims=True) for a in arrays]
    n = min(a.shape[1] for a in arrays)
    refs_mc = np.stack([a[:, :n] for a in arrays[:len(targets)]])  # (targets, channels, n)
    ests_mc = np.stack([a[:, :n] for a in arrays[len(targets):]])
    scores: dict[str, dict[str, float]] = {t: {} for t in targets}

    si = si_bss_eval(refs_mc, ests_mc)
    for i, t in enumerate(targets):
        for key in ("SI-SDR", "SI-SIR", "SI-SAR"):
            scores[t][key] = float(np.nanmedian(si[key][i])) if np.any(np.isfinite(si[key][i])) \
                else float("nan")

    # BSS Eval v3 is undefined for a silent reference or estimate: that target gets NaN and the
    # others are scored among themselves (their interference space then lacks the silent target).
    refs_mono, ests_mono = refs_mc.mean(axis=1), ests_mc.mean(axis=1)
    scored = [i for i in range(len(targets))
              if np.any(refs_mono[i] != 0) and np.any(ests_mono[i] != 0)]
    for t in targets:
        scores[t].update(SDR=float("nan"), SIR=float("nan"), SAR=float("nan"))
    if scored:
        bss = bss_eval_sources(refs_mono[scored], ests_mono[scored], backend=backend)
        for k, i in enumerate(scored):
            for key in ("SDR", "SIR", "SAR"):
                scores[targets[i]][key] = float(bss[key][k])
    return scores


def evaluate_folders(dataset: str, root, split: str, systems: dict[str, Path],
                     backend: str = "fast", mir1k_mix: str = "sum", limit: int | None = None,
                     progress: bool = True, musdb_format: str = "auto") -> dict:
    """Score every system's folder on the tracks it has (musdb_format: the MUSDB release, auto-detected).

    Returns ``{"tracks": {system: {track: {target: {metric: value}}}},
    "summary": {system: {target: {metric: median over tracks}}}}``.
    """
    from tqdm import tqdm

    from common.audio import load_audio
    from common.references import estimate_files, iter_tracks, reference_for

    per_track: dict[str, dict] = {name: {} for name in systems}
    tracks = iter_tracks(dataset, root, split, mir1k_mix=mir1k_mix, musdb_format=musdb_format)
    for count, track in enumerate(tqdm(tracks, desc="evaluating", unit="track", disable=not progress)):
        if limit is not None and count >= limit:
            break
        for system, folder in systems.items():
            track_dir = folder / track.name
            if not track_dir.is_dir():
                continue
            references, estimates = {}, {}
            for wav in estimate_files(track_dir):
                reference = reference_for(track, wav.stem)
                if reference is None:
                    continue
                estimate, _ = load_audio(wav, sr=track.rate, max_channels=None)
                references[wav.stem], estimates[wav.stem] = reference, estimate
            if estimates:
                per_track[system][track.name] = score_track(references, estimates, backend)
    return {"tracks": per_track, "summary": summarize(per_track)}


def summarize(per_track: dict) -> dict:
    """Median over tracks (NaN ignored) per system, target and metric."""
    summary: dict[str, dict] = {}
    for system, tracks in per_track.items():
        by_target: dict[str, dict[str, list]] = {}
        for scores in tracks.values():
            for target, metrics in scores.items():
                for key, value in metrics.items():
                    by_target.setdefault(target, {}).setdefault(key, []).append(value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            summary[system] = {t: {k: float(np.nanmedian(v)) for k, v in m.items()}
                               for t, m in sorted(by_target.items())}
        for target in summary[system]:
            summary[system][target]["tracks"] = len(tracks)
    return summary


def summary_rows(summary: dict) -> list[dict]:
    """Flatten a summary into table rows: system, target, tracks, then the metrics."""
    rows = []
    for system, targets in summary.items():
        for target, metrics in targets.items():
            row = {"system": system, "target": target, "tracks": metrics.get("tracks", "")}
            row.update({k: metrics.get(k, float("nan")) for k in METRICS})
            rows.append(row)
    return rows


def main(argv=None) -> int:
    from common.datasets import add_musdb_format_argument

    parser = argparse.ArgumentParser(prog="python -m common.evaluate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=("musdb", "mir1k", "stems"))
    parser.add_argument("--root", required=True, type=Path, help="dataset folder with the references")
    parser.add_argument("--split", default="test")
    parser.add_argument("--estimates", required=True, nargs="+", metavar="NAME=DIR",
                        help="output folders of the systems, <DIR>/<track>/<target>.wav")
    parser.add_argument("--backend", default="fast", choices=("fast", "mir_eval"),
                        help="BSS Eval v3 implementation (mir_eval for the paper-faithful figure)")
    parser.add_argument("--mir1k-mix", default="sum", choices=("sum", "0db"))
    add_musdb_format_argument(parser)
    parser.add_argument("--limit", type=int, default=None, help="evaluate at most N tracks")
    parser.add_argument("--json", type=Path, help="write per-track scores and the summary here")
    parser.add_argument("--csv", type=Path, help="write the summary table here")
    args = parser.parse_args(argv)

    from common.bsseval import markdown_table, write_csv, write_json
    from common.cli import run_cli

    systems = parse_named_dirs(args.estimates)
    for name, folder in systems.items():
        if not folder.is_dir():
            print(f"error: {folder}: estimates folder of '{name}' not found", file=sys.stderr)
            return 2

    def run() -> None:
        result = evaluate_folders(args.dataset, args.root, args.split, systems,
                                  backend=args.backend, mir1k_mix=args.mir1k_mix, limit=args.limit,
                                  musdb_format=args.musdb_format)
        rows = summary_rows(result["summary"])
        columns = ["system", "target", "tracks", *METRICS]
        print(f"\nMedian over tracks ({args.dataset} {args.split}; dB)\n")
        print(markdown_table(rows, columns))
        if args.json:
            write_json(args.json, result)
        if args.csv:
            write_csv(args.csv, rows, columns)

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
