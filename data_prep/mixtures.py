"""``python -m data_prep.mixtures``: write each track's mixture as ``OUT/<track>.wav``.

A MIR-1K clip stores its two sources on two channels, so the file itself is not the mixture a
separator should hear; this writes the mixtures (MIR-1K: left + right, or Huang's 0 dB mix) so any
system's ``separate`` CLI can run on them and name its outputs after the track.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    from common.datasets import add_musdb_format_argument

    parser = argparse.ArgumentParser(prog="python -m data_prep.mixtures", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=("musdb", "mir1k", "stems"))
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--mir1k-mix", default="sum", choices=("sum", "0db"))
    parser.add_argument("--out", required=True, type=Path)
    add_musdb_format_argument(parser)
    args = parser.parse_args(argv)

    from common.audio import save_audio
    from common.cli import run_cli
    from common.references import iter_tracks

    def run() -> None:
        count = 0
        for track in iter_tracks(args.dataset, args.root, args.split, mir1k_mix=args.mir1k_mix,
                                 musdb_format=args.musdb_format):
            save_audio(args.out / f"{track.name}.wav", track.mixture, track.rate)
            count += 1
        print(f"wrote {count} mixture(s) to {args.out}")

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
