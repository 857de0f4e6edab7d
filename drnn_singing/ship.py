"""`python -m drnn_singing.ship RUN_DIR EVAL_JSON [--dest drnn_singing/pretrained]`

Copies a run's best weights (without the optimizer state) and config into the shipped-model folder and writes manifest.json:
the exact training command, data, epochs, time, the test figures from `evaluate --json`, the
paper's figures, the weight file's size and SHA-256. Refuses files over 25 MB (the repository budget).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path

from common.datasets import MIR1K_DEV_CLIPS

from . import params as P
from .separate import CONFIG_NAME, PRETRAINED_DIR, WEIGHTS_NAME

MAX_BYTES = 25 * 1000 * 1000


def build_manifest(run: Path, evaluation: dict, weights: Path, extra: dict | None = None) -> dict:
    args = json.loads((run / "args.json").read_text())
    with open(run / "history.csv") as f:
        history = list(csv.DictReader(f))
    best = max(history, key=lambda r: float(r.get("val_gnsdr") or "nan") if r.get("val_gnsdr") not in (None, "", "nan") else -1e9)
    return {
        "model": evaluation.get("model"),
        "architecture": args["arch"], "parameters": args.get("parameters"), "gamma": args["gamma"],
        "command": args["command"],
        "hyperparameters": {k: args.get(k) for k in ("lr", "lr_patience", "clipnorm", "frames_per_batch",
                                                     "shifts_per_clip", "circular_step", "ema", "epochs", "patience",
                                                     "seed", "threads")},
        "git_revision_at_training": args.get("git_revision"),
        "data": {"train": "MIR-1K, Huang's training split: 171 clips (abjones, amy), 0 dB unit-energy mix",
                 "dev": "the 4 dev clips " + ", ".join(MIR1K_DEV_CLIPS) + " (model selection: best dev GNSDR)",
                 "test": f"MIR-1K test subset: {evaluation['clips']} clips (every 5th of Huang's 825)",
                 "train_frames_per_epoch": args.get("train_frames_per_epoch"),
                 "shifts_per_clip": args.get("shifts_per_clip")},
        "epochs_run": len(history), "best_epoch": int(best["epoch"]) + 1,
        "dev_at_best": {k: float(best[k]) for k in ("val_gnsdr", "val_gsir", "val_gsar") if k in best},
        "test": {"clips": evaluation["clips"], "voice": evaluation["voice"], "music": evaluation["music"],
                 **({"stderr": evaluation["stderr"]} if "stderr" in evaluation else {})},
        "paper_drnn2_discrim_825_clips": dict(zip(("GNSDR", "GSIR", "GSAR"), P.PAPER_TABLE["DRNN-2 + discrim"])),
        "weights_file": {"name": WEIGHTS_NAME, "bytes": weights.stat().st_size,
                         "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "dtype": "float32"},
        **(extra or {}),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drnn_singing.ship", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="training run folder (args.json, history.csv, model.weights.h5)")
    parser.add_argument("evaluation", type=Path, help="JSON written by `evaluate --json` for this run")
    parser.add_argument("--dest", type=Path, default=PRETRAINED_DIR)
    parser.add_argument("--extra", type=Path, default=None, help="JSON object merged into the manifest (e.g. timing)")
    args = parser.parse_args(argv)
    weights = args.run / WEIGHTS_NAME
    for needed in (weights, args.run / CONFIG_NAME, args.run / "args.json", args.run / "history.csv", args.evaluation):
        if not needed.is_file():
            print(f"error: {needed} is missing", file=sys.stderr)
            return 2
    evaluation = json.loads(args.evaluation.read_text())
    extra = json.loads(args.extra.read_text()) if args.extra else None
    args.dest.mkdir(parents=True, exist_ok=True)
    # Keras 3 weight checkpoints of a compiled model also hold Adam's two moments (3x the size):
    # re-save the weights alone from an uncompiled model (values unchanged).
    from .separate import load_separator
    separator = load_separator(args.run)
    stripped = args.dest / ("stripped." + WEIGHTS_NAME)
    separator.model.save_weights(str(stripped))
    size = stripped.stat().st_size
    if size > MAX_BYTES:
        stripped.unlink()
        print(f"error: the weights of {args.run} take {size / 1e6:.1f} MB, over the 25 MB budget", file=sys.stderr)
        return 2
    stripped.replace(args.dest / WEIGHTS_NAME)
    for name in (CONFIG_NAME, "history.csv", "loss_curve.png"):
        if (args.run / name).exists():
            shutil.copyfile(args.run / name, args.dest / (name + ".tmp"))
            (args.dest / (name + ".tmp")).replace(args.dest / name)
    manifest = build_manifest(args.run, evaluation, args.dest / WEIGHTS_NAME, extra)
    (args.dest / "manifest.json.tmp").write_text(json.dumps(manifest, indent=2) + "\n")
    (args.dest / "manifest.json.tmp").replace(args.dest / "manifest.json")
    print(f"shipped {weights} -> {args.dest} ({manifest['weights_file']['bytes'] / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
