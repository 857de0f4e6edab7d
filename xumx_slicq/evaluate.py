"""The paper's evaluation of xumx-sliCQ: ``python -m xumx_slicq.evaluate --root MUSDB18HQ --weights RUN``.

    python -m xumx_slicq.evaluate --root ROOT [--split test|valid|train] --weights RUN
                                  [--wiener stft|slicq] [--legacy] [--tracks N] [--json OUT] [--outdir EST]

Protocol (sevagh/xumx-sliCQ@v1-release:xumx_slicq/evaluate.py; design §1.4, §7): every track of the
split separated whole (the Separator's 59.44 s chunks), then museval's BSSv4 on the four targets
together (``eval_mus_track`` with vocals, drums, bass, other: mode v4, 1 s windows and hops) through
``common.bsseval.bss_eval_v4``; per target the median over windows (NaN windows skipped), then the
median over tracks (museval's EvalStore/MethodStore aggregation); the median and the mean of the four
targets' SDR (the thesis quotes the median, v2 the mean). Printed next to the published table (§1.4).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from common.cli import quiet_tensorflow, run_cli
from common.datasets import add_musdb_format_argument

from .params import SAMPLE_RATE, TARGETS

METRICS = ("SDR", "SIR", "ISR", "SAR")

#: Published BSSv4 SDR medians on the 50 MUSDB18-HQ test tracks (design §1.4, recomputed from
#: sevagh/xumx_slicq_extra@98efdb7:mss_evaluation/eval-20220408/ per-track JSONs):
#: (vocals, drums, bass, other, median of 4, mean of 4).
PAPER_TABLE = {
    "xumx-sliCQ v1, sliCQT Wiener-EM": (3.839, 4.244, 3.566, 2.947, 3.70, 3.65),
    "xumx-sliCQ v1, STFT Wiener-EM": (3.768, 4.154, 3.570, 2.945, 3.67, 3.61),
    "UMX-HQ (open-unmix v1.0.0)": (6.160, 5.781, 5.033, 4.217, 5.41, 5.30),
    "X-UMX (NNabla x-umx.h5)": (6.785, 6.459, 5.354, 4.551, 5.91, 5.79),
}
PAPER_TRACKS = "the 50 tracks of the MUSDB18-HQ test set"


def score_track(references: dict[str, np.ndarray], estimates: dict[str, np.ndarray],
                rate: int = SAMPLE_RATE) -> dict[str, dict[str, np.ndarray]]:
    """BSSv4 of the four targets evaluated together (museval eval_mus_track without accompaniment).

    references/estimates: {target: (2, samples)}. Returns {target: {metric: (n_windows,) float64}}.
    """
    from common.bsseval import bss_eval_v4

    n = min(min(r.shape[-1] for r in references.values()), min(e.shape[-1] for e in estimates.values()))
    refs = np.stack([references[t][:, :n].T for t in TARGETS])
    ests = np.stack([estimates[t][:, :n].T for t in TARGETS])
    scores = bss_eval_v4(refs, ests, rate, window=1.0, hop=1.0)
    return {t: {m: scores[m][i] for m in METRICS} for i, t in enumerate(TARGETS)}


def aggregate(per_track: dict[str, dict[str, dict[str, np.ndarray]]]) -> dict:
    """Median over windows per track, then median over tracks: {target: {metric: value}}, plus the
    median and mean over the four targets of each metric ("median of 4", "mean of 4")."""
    from common.bsseval import framewise_median

    medians = {name: {t: framewise_median(s) for t, s in track.items()} for name, track in per_track.items()}
    table = {}
    for t in TARGETS:
        table[t] = {}
        for m in METRICS:
            values = np.array([medians[name][t][m] for name in medians], dtype=np.float64)
            table[t][m] = float(np.nanmedian(values)) if np.any(np.isfinite(values)) else float("nan")
    for label, fn in (("median of 4", np.median), ("mean of 4", np.mean)):
        table[label] = {m: float(fn([table[t][m] for t in TARGETS])) for m in METRICS}
    return {"aggregate": table, "per_track": {name: {t: {m: float(v) for m, v in s.items()}
                                                    for t, s in tr.items()} for name, tr in medians.items()}}


def format_table(table: dict, label: str, n_tracks: int, split: str) -> str:
    rows = ["| system | vocals | drums | bass | other | median of 4 | mean of 4 |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    ours = [table[t]["SDR"] for t in TARGETS] + [table["median of 4"]["SDR"], table["mean of 4"]["SDR"]]
    rows.append(f"| {label} (here, {n_tracks} tracks of {split}) | " + " | ".join(f"{v:.3f}" for v in ours) + " |")
    for name, values in PAPER_TABLE.items():
        rows.append(f"| {name} (paper) | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    detail = ["", "| target | SDR | SIR | ISR | SAR |", "| --- | --- | --- | --- | --- |"]
    for t in (*TARGETS, "median of 4", "mean of 4"):
        detail.append(f"| {t} | " + " | ".join(f"{table[t][m]:.3f}" for m in METRICS) + " |")
    return "\n".join(rows + detail)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m xumx_slicq.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="MUSDB18-HQ (WAV folders) or MUSDB18 (.stem.mp4) root")
    add_musdb_format_argument(p)
    p.add_argument("--split", choices=("test", "valid", "train"), default="test",
                   help="test: the 50 test tracks (the paper's table); valid/train: musdb's split of train/")
    p.add_argument("--weights", required=True, help="training run folder (model.weights.h5), a .weights.h5 "
                                                    "file, or a .npz in the original state-dict layout")
    p.add_argument("--wiener", choices=("stft", "slicq"), default="stft",
                   help="Wiener-EM on the STFT (the original evaluate.py's default) or on the sliCQT")
    p.add_argument("--legacy", action="store_true",
                   help="the original's rectangular STFT window (how the published STFT-mode figure was made)")
    p.add_argument("--tracks", type=int, default=None, help="only the first N tracks of the split")
    p.add_argument("--json", help="write the per-track and aggregated scores here")
    p.add_argument("--outdir", help="also write the estimates as OUTDIR/<track>/<target>.wav")
    p.add_argument("--quiet", action="store_true")
    return p


def evaluate(args, model=None) -> dict:
    """Separate and score the split; ``model``: an already loaded network (else ``args.weights`` is loaded)."""
    import itertools

    from common.audio import save_audio
    from common.bsseval import write_json
    from common.datasets import iter_musdb

    from .separate import Separator, load_model

    separator = Separator(model if model is not None else load_model(args.weights), wiener=args.wiener,
                          stft_window="boxcar" if args.legacy else "hann")
    subsets, split = ("test", None) if args.split == "test" else ("train", args.split)
    per_track, names, started = {}, [], time.perf_counter()
    for track in itertools.islice(iter_musdb(args.root, subsets, split, musdb_format=args.musdb_format),
                                  args.tracks):
        t0 = time.perf_counter()
        estimates = separator(track.mixture)
        if args.outdir:
            for t in TARGETS:
                save_audio(Path(args.outdir) / track.name / f"{t}.wav", estimates[t], SAMPLE_RATE)
        per_track[track.name] = score_track({t: track.sources[t] for t in TARGETS}, estimates, track.rate)
        names.append(track.name)
        if not args.quiet:
            sdr = {t: float(np.nanmedian(np.where(np.isinf(per_track[track.name][t]["SDR"]), np.nan,
                                                  per_track[track.name][t]["SDR"]))) for t in TARGETS}
            print(f"{track.name}: " + ", ".join(f"{t} {v:.2f}" for t, v in sdr.items())
                  + f" dB SDR ({time.perf_counter() - t0:.1f} s)", flush=True)
    if not per_track:
        from common.datasets import DatasetError

        raise DatasetError(f"{args.root}: no track in split {args.split}")
    result = aggregate(per_track)
    wiener = f"{args.wiener} Wiener-EM" + (", rectangular STFT window" if args.legacy and args.wiener == "stft" else "")
    result.update(split=args.split, tracks=names, weights=str(args.weights), wiener=args.wiener,
                  legacy_window=bool(args.legacy), protocol="BSSv4 (museval, 1 s windows and hops), median over "
                  "windows then over tracks", seconds=time.perf_counter() - started)
    print(f"\nxumx-sliCQ ({wiener}) on {len(names)} track(s) of MUSDB {args.split}; the paper's rows are "
          f"{PAPER_TRACKS}, so the rows are comparable only when this is the whole test split.\n")
    print(format_table(result["aggregate"], f"xumx-sliCQ, {wiener}", len(names), args.split))
    if args.json:
        write_json(args.json, result)
    return result


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    quiet_tensorflow()
    from .separate import WeightsError

    return run_cli(lambda: (evaluate(args), 0)[1], errors=(WeightsError,))


if __name__ == "__main__":
    sys.exit(main())
