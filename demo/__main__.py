"""``python -m demo``: synthesise data, separate, evaluate, print the table (no download).

Every stage is the command a user would type (printed before it runs), so the demo doubles as a
walk-through. Outputs land in ``--out`` (default ``demo_out/``); a rerun starts afresh.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def stages(out: Path) -> list[tuple[str, list[str]]]:
    """(title, argv) of each stage, in order: data, each system trained briefly and run on held-out
    tracks, the baselines and the oracle, evaluation, and the listening pages."""
    py = [sys.executable, "-m"]
    data, est, runs = out / "data", out / "estimates", out / "runs"
    stems, heldout, mir1k = data / "stems", data / "stems_heldout", data / "mir1k"
    heldout_mixes = [str(heldout / f"synth_{i:03d}" / "mix.wav") for i in range(2)]
    mixtures = data / "mir1k_test_mixtures"
    mir1k_test = f"GLOB:{mixtures}/*.wav"  # expanded when the stage runs
    mir1k_systems = ["oracle_irm2", "drnn2", "deep_mask", "repet", "hpss", "harmonic"]
    return [
        ("synthesise training stems (6 tracks x 4 s) and held-out stems (2 x 6 s), MiXiN's layout",
         py + ["data_prep.synth", "--layout", "stems", "--out", str(stems), "--tracks", "6",
               "--seconds", "4", "--seed", "0"]),
        ("", py + ["data_prep.synth", "--layout", "stems", "--out", str(heldout), "--tracks", "2",
                   "--seconds", "6", "--seed", "1"]),
        ("synthesise a MIR-1K-layout dataset (6 train, 2 dev, 4 test clips of 6 s, 16 kHz)",
         py + ["data_prep.synth", "--layout", "mir1k", "--out", str(mir1k), "--tracks", "12",
               "--seconds", "6", "--seed", "2"]),
        ("write the MIR-1K test mixtures (left + right) for the separators",
         py + ["data_prep.mixtures", "--dataset", "mir1k", "--root", str(mir1k), "--out", str(mixtures)]),
        ("MiXiN: train the three CDAEs for 3 epochs",
         py + ["mixin.train", "--stems", str(stems), "--workdir", str(runs / "mixin"), "--epochs", "3",
               "--batch-size", "8", "--quiet"]),
        ("MiXiN: separate the held-out tracks",
         py + ["mixin.separate", *heldout_mixes, "--model-dir", str(runs / "mixin" / "models"),
               "--outdir", str(est / "stems" / "mixin"), "--name-from-folder", "--quiet"]),
        ("oracle IRM2 on the held-out stems",
         py + ["oracle.separate", "--dataset", "stems", "--root", str(heldout), "--outdir",
               str(est / "stems" / "oracle_irm2")]),
        ("DRNN-2 (Huang et al.): train briefly on the MIR-1K layout",
         py + ["drnn_singing.train", "--root", str(mir1k), "--arch", "drnn2", "--hidden", "256",
               "--epochs", "3", "--out", str(runs / "drnn2")]),
        ("DRNN-2: separate the test clips",
         py + ["drnn_singing.separate", mir1k_test, "--weights", str(runs / "drnn2"),
               "--outdir", str(est / "mir1k" / "drnn2")]),
        ("deep mask inference: train a few hundred steps",
         py + ["mask_inference.train", "--dataset", "mir1k", "--root", str(mir1k), "--out",
               str(runs / "deep_mask"), "--recipe", "original"]),
        ("deep mask inference: separate the test clips",
         py + ["mask_inference.separate", mir1k_test, "--method", "deep", "--weights",
               str(runs / "deep_mask"), "--outdir", str(est / "mir1k" / "deep_mask")]),
        *[(f"{m} baseline: separate the test clips",
           py + ["mask_inference.separate", mir1k_test, "--method", m, "--outdir",
                 str(est / "mir1k" / m)]) for m in ("repet", "hpss", "harmonic")],
        ("oracle IRM2 on the MIR-1K test clips",
         py + ["oracle.separate", "--dataset", "mir1k", "--root", str(mir1k), "--outdir",
               str(est / "mir1k" / "oracle_irm2")]),
        ("evaluate the held-out stems (BSS Eval v3 + SI-SDR, median over tracks)",
         py + ["common.evaluate", "--dataset", "stems", "--root", str(heldout), "--estimates",
               *[f"{n}={est / 'stems' / n}" for n in ("oracle_irm2", "mixin")],
               "--json", str(out / "scores_stems.json"), "--csv", str(out / "scores_stems.csv")]),
        ("evaluate the MIR-1K test clips",
         py + ["common.evaluate", "--dataset", "mir1k", "--root", str(mir1k), "--estimates",
               *[f"{n}={est / 'mir1k' / n}" for n in mir1k_systems],
               "--json", str(out / "scores_mir1k.json"), "--csv", str(out / "scores_mir1k.csv")]),
        ("listening page: MIR-1K test clips, every system side by side",
         py + ["common.listening", "--dataset", "mir1k", "--reference", str(mir1k), "--estimates",
               *[f"{n}={est / 'mir1k' / n}" for n in mir1k_systems], "--paper-metric",
               "deep_mask=si", "repet=si", "hpss=si", "harmonic=si", "--out", str(out / "page_mir1k")]),
        ("listening page: held-out stems (MiXiN and the oracle)",
         py + ["common.listening", "--dataset", "stems", "--reference", str(heldout), "--estimates",
               *[f"{n}={est / 'stems' / n}" for n in ("oracle_irm2", "mixin")], "--paper-metric",
               "mixin=v4", "--out", str(out / "page_stems")]),
    ]


def _expand(argv: list[str]) -> list[str]:
    """Replace ``GLOB:<pattern>`` items by the sorted files they match (known only at run time)."""
    out: list[str] = []
    for item in argv:
        if item.startswith("GLOB:"):
            pattern = Path(item[5:])
            out += sorted(str(p) for p in pattern.parent.glob(pattern.name))
        else:
            out.append(item)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo_out"))
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    plan = stages(args.out)
    start = time.perf_counter()
    for i, (title, argv_) in enumerate(plan, 1):
        argv_ = _expand(argv_)
        shown = " ".join(a.replace(sys.executable, "python") for a in argv_)
        print(f"\n[{i}/{len(plan)}] {title}\n$ {shown}" if title else f"$ {shown}", flush=True)
        t0 = time.perf_counter()
        if subprocess.run(argv_).returncode != 0:
            print(f"demo: stage {i} ({title}) failed; see the message above", file=sys.stderr)
            return 1
        print(f"    done in {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s")
    print(f"scores: {args.out / 'scores_mir1k.json'} and {args.out / 'scores_stems.json'}")
    for page in ("page_mir1k", "page_stems"):
        print(f"listening page: {(args.out / page / 'index.html').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
