"""``python -m demo``: synthesise data, separate, evaluate, print the table (no download).

Every stage is the command a user would type (printed before it runs), so the demo doubles as a
walk-through. Outputs land in ``--out`` (default ``demo_out/``); a rerun starts afresh.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path


def stages(out: Path) -> list[tuple[str, list[str]]]:
    """(title, argv) of each stage, in order."""
    py = sys.executable
    data, est = out / "data", out / "estimates"
    return [
        ("synthesise a MUSDB18-HQ-layout dataset",
         [py, "-m", "data_prep.synth", "--layout", "musdb", "--out", str(data / "musdb"),
          "--tracks", "4", "--seconds", "8", "--seed", "0"]),
        ("oracle ideal ratio mask (IRM2) on the test tracks",
         [py, "-m", "oracle.separate", "--dataset", "musdb", "--root", str(data / "musdb"),
          "--split", "test", "--outdir", str(est / "oracle_irm2")]),
        ("evaluate (BSS Eval v3 + SI-SDR, median over tracks)",
         [py, "-m", "common.evaluate", "--dataset", "musdb", "--root", str(data / "musdb"),
          "--split", "test", "--estimates", f"oracle_irm2={est / 'oracle_irm2'}",
          "--json", str(out / "scores.json"), "--csv", str(out / "scores.csv")]),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo_out"))
    args = parser.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    plan = stages(args.out)
    start = time.perf_counter()
    for i, (title, argv_) in enumerate(plan, 1):
        print(f"\n[{i}/{len(plan)}] {title}\n$ {' '.join(argv_)}", flush=True)
        t0 = time.perf_counter()
        if subprocess.run(argv_).returncode != 0:
            print(f"demo: stage {i} ({title}) failed; see the message above", file=sys.stderr)
            return 1
        print(f"    done in {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s; scores in {args.out / 'scores.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
