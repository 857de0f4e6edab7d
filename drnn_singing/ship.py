"""`python -m drnn_singing.ship RUN_DIR|BAG_DIR EVAL_JSON [--dest drnn_singing/pretrained]`

Copies a run's best weights (without the optimizer state) and config into the shipped-model folder and writes manifest.json:
the exact training command, data, epochs, time, the test figures from `evaluate --json`, the
paper's figures, the weight file's size and SHA-256. Refuses files over 25 MB (the repository budget).
A bag folder (written by `drnn_singing.bag`) is shipped whole: its member files, config.json and bag.json, each
member's curve as history_member<k>.csv / loss_curve_member<k>.png, and a manifest with every member's command,
hyperparameters, epochs and dev figures (from its run's args.json and history.csv, or from the manifest of a model
folder such as the previously shipped one), the bag's dev figures and the SHA-256 of every file shipped.
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
from common.runs import copy_file_atomic, write_json_atomic

from . import params as P
from .quantize import INT8_NAME
from .separate import CONFIG_NAME, PRETRAINED_DIR, WEIGHTS_NAME, folder_weights_file

MAX_BYTES = 25 * 1000 * 1000


TRAINING_KEYS = ("command", "hyperparameters", "git_revision_at_training", "epochs_run", "best_epoch", "dev_at_best",
                 "training_time")


def _best_row(history: list[dict]) -> dict:
    return max(history, key=lambda r: float(r.get("val_gnsdr") or "nan") if r.get("val_gnsdr") not in (None, "", "nan") else -1e9)


def describe_run(run: Path) -> dict:
    """What a training run folder says of itself: command, hyperparameters, epochs, dev figures at the best epoch."""
    args = json.loads((run / "args.json").read_text())
    with open(run / "history.csv") as f:
        history = list(csv.DictReader(f))
    best = _best_row(history)
    return {
        "architecture": args["arch"], "parameters": args.get("parameters"), "gamma": args["gamma"],
        "command": args["command"],
        "hyperparameters": {k: args.get(k) for k in ("lr", "lr_patience", "clipnorm", "frames_per_batch",
                                                     "shifts_per_clip", "circular_step", "ema", "weight_decay",
                                                     "remix", "pitch_shift", "head_activation", "dropout", "epochs",
                                                     "patience", "seed", "threads")},
        "git_revision_at_training": args.get("git_revision"),
        "train_frames_per_epoch": args.get("train_frames_per_epoch"), "shifts_per_clip": args.get("shifts_per_clip"),
        "epochs_run": len(history), "best_epoch": int(best["epoch"]) + 1,
        "dev_at_best": {k: float(best[k]) for k in ("val_gnsdr", "val_gsir", "val_gsar") if k in best},
    }


def _data(evaluation: dict, run: dict | None = None) -> dict:
    return {"train": "MIR-1K, Huang's training split: 171 clips (abjones, amy), 0 dB unit-energy mix",
            "dev": "the 4 dev clips " + ", ".join(MIR1K_DEV_CLIPS) + " (model selection: best dev GNSDR)",
            "test": f"MIR-1K test subset: {evaluation['clips']} clips (every 5th of Huang's 825)",
            **({k: run[k] for k in ("train_frames_per_epoch", "shifts_per_clip")} if run else {})}


def _test_and_paper(evaluation: dict) -> dict:
    return {"test": {"clips": evaluation["clips"], "voice": evaluation["voice"], "music": evaluation["music"],
                     **({"stderr": evaluation["stderr"]} if "stderr" in evaluation else {})},
            "paper_drnn2_discrim_825_clips": dict(zip(("GNSDR", "GSIR", "GSAR"), P.PAPER_TABLE["DRNN-2 + discrim"]))}


def build_manifest(run: Path, evaluation: dict, weights: Path, extra: dict | None = None) -> dict:
    described = describe_run(run)
    return {
        "model": evaluation.get("model"),
        **{k: described[k] for k in ("architecture", "parameters", "gamma", "command", "hyperparameters",
                                     "git_revision_at_training")},
        "data": _data(evaluation, described),
        **{k: described[k] for k in ("epochs_run", "best_epoch", "dev_at_best")},
        **_test_and_paper(evaluation),
        "weights_file": {"name": weights.name, "bytes": weights.stat().st_size,
                         "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                         "dtype": ("int8 weight matrices with a float32 scale per output column, float32 vectors "
                                   "(drnn_singing/quantize.py)") if weights.suffix == ".npz" else "float32"},
        **(extra or {}),
    }


class ShipError(ValueError):
    """A run or bag that cannot be shipped; the message names the file and the fix."""


def describe_member(run: Path) -> dict:
    """A bag member's training, from its run folder or, for a shipped model folder, from its manifest."""
    if (run / "args.json").is_file() and (run / "history.csv").is_file():
        described = describe_run(run)
    elif (run / "manifest.json").is_file():
        described = json.loads((run / "manifest.json").read_text())
    else:
        raise ShipError(f"{run}: neither args.json + history.csv (a training run) nor manifest.json (a shipped model); "
                        f"bag the training run folders themselves")
    return {"run": str(run), **{k: described[k] for k in TRAINING_KEYS if k in described}}


def _member_curves(run: Path) -> dict:
    """{shipped-name suffix: bytes} of a member's history.csv and loss_curve.png (a bag member's own or a model's)."""
    curves = {}
    for name in ("history.csv", "loss_curve.png"):
        if (run / name).is_file():
            curves[name] = (run / name).read_bytes()
    return curves


def ship_bag(bag_dir: Path, evaluation: dict, dest: Path, extra: dict | None = None) -> dict:
    """Ship a drnn_singing.bag folder to ``dest`` (see the module doc) -> the manifest written."""
    bag = json.loads((bag_dir / "bag.json").read_text())
    config = json.loads((bag_dir / CONFIG_NAME).read_text())
    runs = [Path(run) for run in bag["runs"]]
    # read everything about the members first: a member may be the model now in dest, which is replaced below
    members = [describe_member(run) for run in runs]
    curves = [_member_curves(run) for run in runs]
    for name in config["members"]:
        size = (bag_dir / name).stat().st_size
        if size > MAX_BYTES:
            raise ShipError(f"{bag_dir / name} takes {size / 1e6:.1f} MB, over the 25 MB per-file budget")
    dest.mkdir(parents=True, exist_ok=True)
    files = {}

    def put(name: str, data: bytes) -> None:
        tmp = dest / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(dest / name)
        files[name] = hashlib.sha256(data).hexdigest()

    for name in config["members"] + [CONFIG_NAME, "bag.json"]:
        put(name, (bag_dir / name).read_bytes())
    for k, member_curves in enumerate(curves):
        for name, data in member_curves.items():
            stem, suffix = name.rsplit(".", 1)
            put(f"{stem}_member{k}.{suffix}", data)
    for stale in (WEIGHTS_NAME, INT8_NAME, "history.csv", "loss_curve.png"):     # the single model this bag replaces
        (dest / stale).unlink(missing_ok=True)
    for k, member in enumerate(members):
        member.update(file=config["members"][k], dev=bag["voice"].get(bag["runs"][k]))
    manifest = {
        "model": evaluation.get("model") or config.get("label"),
        "architecture": config["arch"], "gamma": config.get("gamma"), "bag_of": len(members),
        "command": [m.get("command") for m in members] + ([bag["command"]] if "command" in bag else []),
        "members": members,
        "bag_dev": {"clips": bag["clips"], "split": bag["split"], "voice": bag["voice"]["bag"]},
        "selection": f"bag or single model chosen on the {bag['clips']} {bag['split']} clips' GNSDR (bag.json)",
        "data": _data(evaluation),
        **_test_and_paper(evaluation),
        "files": files,
        **(extra or {}),
    }
    write_json_atomic(dest / "manifest.json", manifest)
    return manifest


def read_extra(path: Path | None) -> dict | None:
    """The JSON object of ``--extra`` (a file), or None; ShipError naming the file when it is not one."""
    if path is None:
        return None
    try:
        extra = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ShipError(f"--extra {str(path)[:80]}: not a readable JSON file ({type(err).__name__}); write the "
                        "object to a file and pass its path") from None
    if not isinstance(extra, dict):
        raise ShipError(f"--extra {path}: holds a {type(extra).__name__}, not a JSON object")
    return extra


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drnn_singing.ship", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="training run folder (args.json, history.csv, model.weights.h5) or a drnn_singing.bag folder")
    parser.add_argument("evaluation", type=Path, help="JSON written by `evaluate --json` for this run")
    parser.add_argument("--dest", type=Path, default=PRETRAINED_DIR)
    parser.add_argument("--extra", type=Path, default=None, help="JSON object merged into the manifest (e.g. timing)")
    args = parser.parse_args(argv)
    try:
        extra = read_extra(args.extra)
    except ShipError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if (args.run / "bag.json").is_file():
        if not args.evaluation.is_file():
            print(f"error: {args.evaluation} is missing; write it with `python -m drnn_singing.evaluate --weights "
                  f"{args.run} --json {args.evaluation}`", file=sys.stderr)
            return 2
        try:
            manifest = ship_bag(args.run, json.loads(args.evaluation.read_text()), args.dest, extra)
        except ShipError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"shipped the bag of {manifest['bag_of']} in {args.run} -> {args.dest}")
        return 0
    weights = folder_weights_file(args.run)
    int8 = weights.name == INT8_NAME      # quantize.py's folder
    for needed in (weights, args.run / CONFIG_NAME, args.run / "args.json", args.run / "history.csv", args.evaluation):
        if not needed.is_file():
            print(f"error: {needed} is missing", file=sys.stderr)
            return 2
    evaluation = json.loads(args.evaluation.read_text())
    args.dest.mkdir(parents=True, exist_ok=True)
    stripped = args.dest / ("stripped." + weights.name)
    if int8:                   # weights alone already
        shutil.copyfile(weights, stripped)
    else:
        # Keras 3 weight checkpoints of a compiled model also hold Adam's two moments (3x the size):
        # re-save the weights alone from an uncompiled model (values unchanged).
        from .separate import load_separator
        load_separator(args.run).model.save_weights(str(stripped))
    size = stripped.stat().st_size
    if size > MAX_BYTES:
        stripped.unlink()
        hint = "" if int8 else f"; store it in 8 bits with `python -m drnn_singing.quantize {args.run} OUT_DIR` and ship OUT_DIR"
        print(f"error: the weights of {args.run} take {size / 1e6:.1f} MB, over the 25 MB budget{hint}", file=sys.stderr)
        return 2
    for stale in (WEIGHTS_NAME, INT8_NAME):     # a model folder holds one weights file
        (args.dest / stale).unlink(missing_ok=True)
    stripped.replace(args.dest / weights.name)
    for name in (CONFIG_NAME, "history.csv", "loss_curve.png"):
        if (args.run / name).exists():
            copy_file_atomic(args.run / name, args.dest / name)
    manifest = build_manifest(args.run, evaluation, args.dest / weights.name, extra)
    write_json_atomic(args.dest / "manifest.json", manifest)
    print(f"shipped {weights} -> {args.dest} ({manifest['weights_file']['bytes'] / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
