"""Bag trained DRNN runs into one model folder: ``python -m drnn_singing.bag RUN RUN ... --root MIR1K --out DIR``.

The runs must share one architecture (the config.json keys of params.ARCHITECTURE_DEFAULTS); they differ by their seed.
The folder holds each run's selected weights without the optimiser state as ``member<k>.weights.h5`` (each under
the repository's 25 MB per-file budget), a config.json listing them under ``members`` (``separate`` and ``evaluate``
then average the members' masked magnitudes, i.e. their soft masks) and ``bag.json`` with the dev GNSDR / GSIR /
GSAR of every member alone and of the bag, the figures the choice between one model and the bag is made on (the
4 dev clips, as every DRNN selection here; never the test clips).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from common.runs import write_json_atomic

from . import params as P

MAX_BYTES = 25 * 1000 * 1000


class BagError(ValueError):
    """Runs that cannot be bagged; the message names the run and the fix."""


def build_bag(runs: list[Path], out: Path, root, split: str = "dev", command: str | None = None) -> dict:
    """Write the bag folder ``out`` from ``runs`` and score each member and the bag on ``split`` -> bag.json's dict."""
    from .data import load_split
    from .evaluate import evaluate_clips
    from .separate import CONFIG_NAME, Separator, load_separator

    if len(runs) < 2:
        raise BagError("a bag needs at least two runs")
    separators = [load_separator(run) for run in runs]
    for run, sep in zip(runs, separators):
        if len(sep.models) != 1:
            raise BagError(f"{run} is itself a bag; pass the training run folders")
        mine, first = P.architecture_of(sep.config), P.architecture_of(separators[0].config)
        differ = [k for k in mine if mine[k] != first[k]]
        if differ:
            raise BagError(f"{run}/{CONFIG_NAME} differs from {runs[0]}/{CONFIG_NAME} in {', '.join(differ)}; "
                           f"only runs of one architecture can be bagged")
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for k, sep in enumerate(separators):
        name = f"member{k}.weights.h5"
        tmp = out / f"member{k}.tmp.weights.h5"
        sep.model.save_weights(str(tmp))          # weights alone: a compiled run's file also holds Adam's moments
        if tmp.stat().st_size > MAX_BYTES:
            size = tmp.stat().st_size
            tmp.unlink()
            raise BagError(f"{runs[k]}: its weights take {size / 1e6:.1f} MB, over the 25 MB per-file budget")
        os.replace(tmp, out / name)
        members.append(name)
    config = {**separators[0].config, "members": members}
    config["label"] = f"{config.get('label', config['arch'])}, bag of {len(members)}"
    write_json_atomic(out / CONFIG_NAME, config)

    clips = load_split(root, split)
    scored = {}
    for name, separator in [(str(run), sep) for run, sep in zip(runs, separators)] + [
            ("bag", Separator([s.model for s in separators], config))]:
        summary, _ = evaluate_clips(separator, clips)
        scored[name] = {metric: summary["voice"][metric] for metric in ("GNSDR", "GSIR", "GSAR")}
    report = {"runs": [str(run) for run in runs], "members": members, "split": split, "clips": len(clips),
              "voice": scored, **({"command": command} if command else {})}
    write_json_atomic(out / "bag.json", report)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m drnn_singing.bag", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="training run folders of one architecture")
    p.add_argument("--out", type=Path, required=True, help="bag folder (created; usable as --weights)")
    p.add_argument("--root", type=Path, required=True, help="MIR-1K folder (dev/ is scored)")
    p.add_argument("--split", default="dev", choices=["train", "dev"], help="the split the choice is made on")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0 = TF default)")
    args = p.parse_args(argv)
    command = "python -m drnn_singing.bag " + shlex.join(sys.argv[1:] if argv is None else argv)
    from common.cli import quiet_tensorflow

    quiet_tensorflow()
    from common.datasets import DatasetError

    from .separate import ModelFileError
    from .train import set_threads
    set_threads(args.threads)
    try:
        report = build_bag(args.runs, args.out, args.root, args.split, command)
    except (BagError, ModelFileError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, scores in report["voice"].items():
        print(f"{name}: {args.split} GNSDR {scores['GNSDR']:.2f}  GSIR {scores['GSIR']:.2f}  GSAR {scores['GSAR']:.2f}")
    print(f"bag of {len(report['members'])} written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
