"""Train MiXiN's three CDAEs from stems folders: ``python -m mixin.train``.

    python -m mixin.train --stems DIR [DIR ...] --workdir W [--epochs N] [--batch-size B]
                          [--components percussive harmonic vocal] [--resume] [--split track|legacy-pool]
                          [--seed S] [--distribute none|mirrored|multiworker]

Settings of the original (sevagh/MiXiN:mixin/mixin_model.py, train_util.py): MAE loss, Adam(1e-3),
batch 64, up to 100 epochs, early stopping on val_loss with patience 2, best-val-loss checkpoint; one
model per component trained in the order percussive, harmonic, vocal.

Layout of the work dir:
    W/models/model_<c>.keras        best-val-loss weights (what `mixin.separate --model-dir W/models` loads)
    W/models/args.json              this run's arguments
    W/models/history_<c>.json, loss_<c>.png   per-epoch losses and the loss curve
    W/checkpoints/<c>/last.keras, state.json  last epoch (weights + optimizer) and the epoch counter /
                                              early-stopping state, for --resume
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from common import distribute
from common.runs import write_json_atomic

from .params import BATCH_SIZE, COMPONENTS, EARLY_STOPPING_PATIENCE, EPOCHS, LEARNING_RATE, SEGMENT_DURATION


class TrainingError(RuntimeError):
    """A training run cannot start or continue (one-line message with the fix)."""


def _save_model(model, path: Path) -> None:
    """Atomic Keras save (the temporary name must end in .keras too)."""
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def plot_losses(history: list[dict], path: Path, component: str) -> None:
    from common.plots import save_loss_curve

    save_loss_curve(path, [h["epoch"] + 1 for h in history],
                    {"train": [h["loss"] for h in history],
                     "validation": [h["val_loss"] for h in history]},
                    f"MiXiN {component} CDAE: MAE loss", "epoch", "MAE")


def _make_state_callback(component: str, model_path: Path, ckpt_dir: Path, models_dir: Path,
                         state: dict, patience: int):
    """Early stopping (Keras' EarlyStopping semantics: monitor val_loss, min_delta 0), best checkpoint,
    last checkpoint and epoch counter, written at every epoch end so an interrupted run resumes."""
    import keras

    class ResumableTraining(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            entry = {"epoch": epoch, **{k: float(v) for k, v in logs.items()}}
            state["history"].append(entry)
            current = entry.get("val_loss")
            state["wait"] += 1
            if current is not None and (state["best"] is None or current < state["best"]):
                state["best"], state["best_epoch"], state["wait"] = current, epoch, 0
                _save_model(self.model, model_path)
            _save_model(self.model, ckpt_dir / "last.keras")
            state["epoch"] = epoch
            if state["wait"] >= patience and epoch > 0:
                self.model.stop_training = True
                state["stopped_early"] = True
            write_json_atomic(ckpt_dir / "state.json", state)
            write_json_atomic(models_dir / f"history_{component}.json", state["history"])
            plot_losses(state["history"], models_dir / f"loss_{component}.png", component)

    return ResumableTraining()


def train_component(component: str, index, cfg, args, extra_callbacks=(), strategy=None) -> dict:
    """Train one CDAE under ``strategy`` (default: TensorFlow's current one); returns its final state dict."""
    import keras
    import tensorflow as tf

    from .data import count_examples, make_dataset, plan_examples
    from .model import build_cdae, compile_cdae

    workdir = Path(args.workdir)
    models_dir, ckpt_dir = workdir / "models", workdir / "checkpoints" / component
    models_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    model_path = models_dir / f"model_{component}.keras"
    state_path = ckpt_dir / "state.json"

    if state_path.exists():
        if not args.resume:
            raise TrainingError(f"{workdir}: holds a run already ({state_path}); pass --resume to continue "
                                "it or choose a new --workdir")
        state = json.loads(state_path.read_text())
    else:
        state = {"component": component, "epoch": -1, "best": None, "best_epoch": None, "wait": 0,
                 "history": [], "stopped_early": False, "done": False}
    if state.get("done"):
        print(f"[{component}] already trained (best val_loss {state['best']:.5f} at epoch "
              f"{state['best_epoch'] + 1}); skipping")
        return state

    plans = {s: plan_examples(index, component, s, mode=args.split, n_pool=args.n_pool)
             for s in ("train", "validation")}
    counts = {s: count_examples(p) for s, p in plans.items()}
    if counts["train"] == 0 or counts["validation"] == 0:
        raise TrainingError(f"{component}: {counts['train']} training and {counts['validation']} validation "
                            "chunks; give more or longer tracks (or a shorter --segment-duration)")
    print(f"[{component}] {counts['train']} training chunks, {counts['validation']} validation chunks")
    # global batches; under --distribute each worker keeps its slice of every batch
    train_ds = distribute.shard_by_data(make_dataset(index, component, plans["train"], cfg, args.batch_size))
    val_ds = distribute.shard_by_data(make_dataset(index, component, plans["validation"], cfg, args.batch_size))

    last = ckpt_dir / "last.keras"
    strategy = strategy or tf.distribute.get_strategy()
    if args.resume and last.exists() and state["epoch"] >= 0:
        with strategy.scope():
            model = keras.models.load_model(last)  # weights and optimizer state
        print(f"[{component}] resuming after epoch {state['epoch'] + 1}")
    else:
        with strategy.scope():
            model = compile_cdae(build_cdae(name=f"cdae_{component}"), learning_rate=args.learning_rate)
    initial_epoch = state["epoch"] + 1
    if initial_epoch < args.epochs and not state.get("stopped_early"):
        cb = _make_state_callback(component, model_path, ckpt_dir, models_dir, state, args.patience)
        model.fit(train_ds, validation_data=val_ds, epochs=args.epochs, initial_epoch=initial_epoch,
                  shuffle=False, callbacks=[cb, *extra_callbacks], verbose=1 if not args.quiet else 2)
    if args.save_last:  # the original's artifact: last-epoch weights (quirk 12)
        _save_model(keras.models.load_model(last), model_path)
    state["done"] = True
    write_json_atomic(state_path, state)
    print(f"[{component}] best val_loss {state['best']:.5f} at epoch {state['best_epoch'] + 1} -> {model_path}")
    return state


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mixin.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--stems", nargs="+", required=True, metavar="DIR",
                   help="folders of stems; every folder holding audio files is one track")
    p.add_argument("--workdir", required=True, help="where models, curves and checkpoints go")
    p.add_argument("--epochs", type=int, default=EPOCHS, help=f"maximum epochs (default {EPOCHS})")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"default {BATCH_SIZE}")
    p.add_argument("--learning-rate", type=float, default=LEARNING_RATE, help=f"Adam, default {LEARNING_RATE}")
    p.add_argument("--patience", type=int, default=EARLY_STOPPING_PATIENCE,
                   help=f"early-stopping patience on val_loss (default {EARLY_STOPPING_PATIENCE})")
    p.add_argument("--components", nargs="+", choices=COMPONENTS, default=list(COMPONENTS),
                   help="which CDAEs to train (always in the order percussive, harmonic, vocal)")
    p.add_argument("--resume", action="store_true", help="continue the run in --workdir from its last checkpoint")
    p.add_argument("--split", choices=("track", "legacy-pool"), default="track",
                   help="track: split whole tracks 80/10/10 (default); legacy-pool: the original's "
                        "per-pool-batch chunk split (leaks between train and validation)")
    p.add_argument("--n-pool", type=int, default=8, help="batch size of --split legacy-pool (the original: cpu count)")
    p.add_argument("--segment-duration", type=float, default=SEGMENT_DURATION, help="seconds (default 30)")
    p.add_argument("--segment-offset", type=int, default=0, help="skip segment indices below this")
    p.add_argument("--segment-limit", type=int, default=None, help="at most this many segment indices per track")
    p.add_argument("--track-limit", type=int, default=None, help="use only the first N tracks")
    p.add_argument("--legacy-data", action="store_true",
                   help="drop the last full segment of each track and the last chunk of each segment (original)")
    p.add_argument("--legacy-stems", action="store_true",
                   help="the original's stem rules (whole-path matching, last drum file only, index -1 fallback)")
    p.add_argument("--save-last", action="store_true",
                   help="save the last-epoch weights as the model, as the original did (default: best epoch)")
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the weight initialisation (default: none, as the original)")
    distribute.add_option(p)
    return p


def run(args, extra_callbacks=()) -> dict:
    """Train the requested components (order percussive, harmonic, vocal); returns {component: state}."""
    from .data import DataConfig, index_stems

    strategy, folder = distribute.start(args.distribute, args.workdir, args.resume, args.batch_size)
    if str(folder) != str(args.workdir):  # a non-chief worker: the same run, written to its temporary folder
        args = argparse.Namespace(**{**vars(args), "workdir": str(folder)})
    if args.seed is not None:
        import keras
        keras.utils.set_random_seed(args.seed)
    cfg = DataConfig(segment_duration=args.segment_duration, segment_offset=args.segment_offset,
                     segment_limit=args.segment_limit, track_limit=args.track_limit,
                     legacy=args.legacy_data, legacy_stems=args.legacy_stems)
    workdir = Path(args.workdir)
    (workdir / "models").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    index = index_stems(args.stems, cfg)
    print(f"{len(index.tracks)} tracks, {len(index.testcases)} testcases ({time.time() - t0:.1f} s to index)")
    write_json_atomic(workdir / "models" / "args.json", {**vars(args), "tracks": [str(t.folder) for t in index.tracks]})
    states = {}
    for component in COMPONENTS:
        if component in args.components:
            states[component] = train_component(component, index, cfg, args, extra_callbacks, strategy)
    return states


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from common.cli import quiet_tensorflow

    quiet_tensorflow()  # TensorFlow's start-up log stays off the terminal
    from common.cli import run_cli

    return run_cli(lambda: run(args), errors=(TrainingError, ValueError),  # ValueError: also DistributeError
                   on_interrupt=f"continue with the same command plus --resume (work dir {args.workdir})")


if __name__ == "__main__":
    sys.exit(main())
