"""Bag several trained mask-inference runs into one model folder: ``python -m mask_inference.bag RUN RUN ... --out DIR``.

The runs must share one architecture (config.json); they differ by their seed. The bag folder holds each run's
selected weights as ``member<k>.weights.h5``, a config.json listing them under ``members`` (``separate`` and
``evaluate`` then average the members' vocal masks) and ``bag.json`` with every member's and the bag's L1 on the
same fixed validation mixtures that training selects on (``--val-mixtures`` of ``--val-split``, the tutorial mixer's
default settings, as ``mask_inference.train`` builds them), so that the choice between one model and the bag is made
on dev data. A run is a training run folder, a model folder (config.json and model.weights.h5) or one weight file
of a model folder (e.g. ``mask_inference/pretrained/member0.weights.h5``, a member of the shipped bag).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from common.runs import write_json_atomic

ARCHITECTURE_KEYS = ("num_layers", "dropout", "hidden_size", "num_bins", "window", "hop", "rate")


class BagError(ValueError):
    """Runs that cannot be bagged; the message names the run and the fix."""


def read_run(run: Path) -> tuple[dict, dict, Path]:
    """(config, training args or {} where args.json is absent, weights) of a run or model folder, or of one
    ``.weights.h5`` file with its folder's config.json (e.g. a member of the shipped bag)."""
    folder, weights = (run.parent, run) if run.name.endswith(".weights.h5") else (run, run / "model.weights.h5")
    for needed in (folder / "config.json", weights):
        if not needed.exists():
            raise BagError(f"{needed} is missing; {run} is not a finished mask_inference.train run "
                           f"(finish it, or resume it with --resume) nor a model folder's weight file")
    args = json.loads((folder / "args.json").read_text()) if (folder / "args.json").exists() else {}
    return json.loads((folder / "config.json").read_text()), args, weights


def l1_loss(estimates: np.ndarray, targets: np.ndarray) -> float:
    """Mean absolute error of masked magnitudes, the training loss (torch.nn.L1Loss, mean over all elements)."""
    return float(np.mean(np.abs(estimates.astype(np.float64) - targets)))


def dev_losses(deep, mixtures: np.ndarray, vocals: np.ndarray, batch: int = 10) -> dict:
    """L1 of each member and of the bag (mean mask) on (N, frames, bins) mixture and vocal magnitudes."""
    member_estimates = [[] for _ in deep.models]
    bag_estimates = []
    for start in range(0, len(mixtures), batch):
        x = mixtures[start:start + batch]
        masks = [np.asarray(m.predict_on_batch(x)["mask"], dtype=np.float32) for m in deep.models]
        for k, mask in enumerate(masks):
            member_estimates[k].append(mask * x)
        bag_estimates.append(np.mean(masks, axis=0) * x)
    return {"members": [l1_loss(np.concatenate(e), vocals) for e in member_estimates],
            "bag": l1_loss(np.concatenate(bag_estimates), vocals)}


def build_bag(runs: list[Path], out: Path, dataset: str, root: str, val_split: str | None = None,
              val_mixtures: int = 40, musdb_format: str = "auto") -> dict:
    """Copy the runs' weights into ``out`` as a bag, score members and bag on the validation mixtures -> bag.json."""
    from . import data
    from .separate import load_deep_model

    if len(runs) < 2:
        raise BagError("a bag needs at least two runs")
    read = [read_run(run) for run in runs]
    first_config = read[0][0]
    for run, (config, _, _) in zip(runs[1:], read[1:]):
        differ = [k for k in ARCHITECTURE_KEYS if config.get(k) != first_config.get(k)]
        if differ:
            raise BagError(f"{run}/config.json differs from {runs[0]}/config.json in {', '.join(differ)}; "
                           f"only runs of one architecture can be bagged")
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for k, (_, _, weights) in enumerate(read):
        name = f"member{k}.weights.h5"
        tmp = out / (name + ".tmp")
        shutil.copyfile(weights, tmp)
        os.replace(tmp, out / name)
        members.append(name)
    config = {key: first_config[key] for key in ARCHITECTURE_KEYS if key in first_config}
    config["members"] = members
    write_json_atomic(out / "config.json", config)

    split = val_split or ("dev" if dataset == "mir1k" else "valid")
    songs = (data.mir1k_songs(root, split) if dataset == "mir1k"
             else data.musdb_songs(root, split, musdb_format=musdb_format))
    count = val_mixtures
    mixer = data.Mixer(songs, data.MixerConfig())
    mixtures, vocals = data.validation_arrays(mixer, count)
    losses = dev_losses(load_deep_model(out), mixtures, vocals)
    report = {"runs": [str(run) for run in runs], "members": members,
              "seeds": [args.get("seed") for _, args, _ in read],
              "validation": f"{count} fixed mixtures of the {dataset} '{split}' split (seeds 0..{count - 1})",
              "member_l1": losses["members"], "bag_l1": losses["bag"],
              "training_best_l1": [_summary_best(run) for run in runs]}
    write_json_atomic(out / "bag.json", report)
    return report


def _summary_best(run: Path):
    summary = run / "summary.json"
    return json.loads(summary.read_text()).get("best_val_loss") if summary.exists() else None


def main(argv=None) -> int:
    from common.datasets import add_musdb_format_argument

    p = argparse.ArgumentParser(prog="python -m mask_inference.bag", description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="finished mask_inference.train run folders or member .weights.h5 files (one architecture)")
    p.add_argument("--out", required=True, help="bag folder (created; usable as --weights)")
    p.add_argument("--dataset", choices=("mir1k", "musdb"), required=True, help="the runs' dataset")
    p.add_argument("--root", required=True, help="dataset root (MIR-1K folder or MUSDB18 root)")
    p.add_argument("--val-split", help="mir1k: dev (default); musdb: valid (default)")
    p.add_argument("--val-mixtures", type=int, default=40, help="fixed validation mixtures (the converge recipe's)")
    add_musdb_format_argument(p)
    args = p.parse_args(argv)
    from common.cli import quiet_tensorflow

    quiet_tensorflow()
    from common.datasets import DatasetError

    from .data import DataError
    from .separate import SeparationError
    try:
        report = build_bag([Path(r) for r in args.runs], Path(args.out), args.dataset, args.root, args.val_split,
                           args.val_mixtures, args.musdb_format)
    except (BagError, DataError, DatasetError, SeparationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for run, loss in zip(report["runs"], report["member_l1"]):
        print(f"{run}: validation L1 {loss:.4e}")
    print(f"bag of {len(report['members'])}: validation L1 {report['bag_l1']:.4e} ({report['validation']}); "
          f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
