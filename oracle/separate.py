"""``python -m oracle.separate``: oracle ideal-ratio-mask estimates of a dataset's tracks.

Writes ``OUTDIR/<track>/<source>.wav`` (float32, the track's rate and channels) for every source
of each track, so ``python -m common.evaluate`` and the listening page treat it like any system.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    from common.cli import add_separate_arguments, parse_separate_args
    from common.datasets import add_musdb_format_argument

    parser = argparse.ArgumentParser(prog="python -m oracle.separate", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=("musdb", "mir1k", "stems"))
    parser.add_argument("--root", required=True, type=Path, help="dataset folder")
    parser.add_argument("--split", default="test", help="dataset split (default: test)")
    parser.add_argument("--alpha", type=float, default=2.0,
                        help="mask exponent: 2 = IRM2 (SiSEC oracle, default), 1 = IRM1")
    parser.add_argument("--limit", type=int, default=None, help="separate at most this many tracks")
    add_musdb_format_argument(parser)
    add_separate_arguments(parser, inputs=None, sources=("<source>",))
    args = parse_separate_args(parser, argv)

    from tqdm import tqdm

    from common.audio import save_audio
    from common.cli import run_cli
    from common.references import iter_tracks
    from oracle.irm import irm_separate

    outdir = Path(args.outdir)

    def run() -> None:
        done = 0
        for track in tqdm(iter_tracks(args.dataset, args.root, args.split, musdb_format=args.musdb_format),
                          desc="oracle IRM",
                          unit="track", total=args.limit, disable=args.quiet):
            estimates = irm_separate(track.mixture, track.sources, alpha=args.alpha)
            for name, audio in estimates.items():
                save_audio(outdir / track.name / f"{name}{args.suffix}", audio, track.rate, subtype=args.subtype)
            if args.plots:
                from common.plots import save_separation_figure

                save_separation_figure(outdir / track.name / "spectrograms.png", track.mixture, estimates,
                                       track.rate, title=f"oracle IRM{args.alpha:g}: {track.name}")
            done += 1
            if args.limit is not None and done >= args.limit:
                break
        if not args.quiet:
            print(f"wrote {done} track(s) to {outdir}")

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
