"""Train the mask-inference model: ``python -m mask_inference.train --dataset mir1k --root ROOT --out DIR``.

Recipes:
  original  the student's cell 28: L1 on masked magnitudes, Adam 1e-3, batch 10, 5-s mono excerpts
            from the on-the-fly mixer, 300 iterations in one epoch, final weights kept (nussl's
            best.model.pth after one epoch is the final model). Run here as 3 chunks of 100 steps
            so that an interruption loses at most 100 steps; validation does not touch the weights.
  converge  the same model, loss and optimiser, trained until the validation loss stops improving:
            chunks of 200 steps, validation on fixed mixtures of the held-out split (MIR-1K dev,
            MUSDB valid), learning rate halved after 4 chunks without improvement, early stop
            after 10, and the weights with the lowest validation loss kept.

Output folder: args.json, checkpoints/{last.keras, state.json}, best.weights.h5, model.weights.h5
(the selected weights), config.json (what separate needs), history.csv, loss_curve.png.
``--resume`` continues from checkpoints/last.keras, including the optimiser state and the position
in the (deterministic) mixture sequence.
"""
from __future__ import annotations

import argparse
import gc
import csv
import json
import os
import sys
import time
from pathlib import Path

from common import distribute
from common.runs import save_weights_atomic, write_json_atomic

from . import params

RECIPES = {
    "original": dict(steps_per_epoch=100, epochs=3, patience=0, lr_patience=0, val_mixtures=10,
                     select="last"),
    "converge": dict(steps_per_epoch=200, epochs=60, patience=10, lr_patience=4, val_mixtures=40,
                     select="best"),
}


class TrainError(RuntimeError):
    """A training run that cannot start or continue; the message says what to do."""


def parse_args(argv=None) -> argparse.Namespace:
    from common.datasets import add_musdb_format_argument

    p = argparse.ArgumentParser(prog="python -m mask_inference.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=("mir1k", "musdb"), required=True)
    p.add_argument("--root", required=True, help="dataset root (MIR-1K folder or MUSDB18 root)")
    p.add_argument("--out", required=True, help="run folder (created)")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="converge")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--steps-per-epoch", type=int, help="override the recipe's chunk length (steps)")
    p.add_argument("--epochs", type=int, help="override the recipe's number of chunks")
    p.add_argument("--patience", type=int, help="early-stopping patience in chunks (0 = off)")
    p.add_argument("--lr-patience", type=int, help="halve the learning rate after this many chunks "
                                                   "without improvement (0 = off)")
    p.add_argument("--val-mixtures", type=int, help="fixed validation mixtures")
    p.add_argument("--select", choices=("best", "last"), help="which weights model.weights.h5 holds")
    p.add_argument("--batch-size", type=int, default=params.BATCH_SIZE)
    p.add_argument("--learning-rate", type=float, default=params.LEARNING_RATE)
    p.add_argument("--num-layers", type=int, default=params.NUM_LAYERS,
                   help="BLSTM layers (1 = trained by the student; 2 = the report's description)")
    p.add_argument("--dropout", type=float, default=params.DROPOUT, help="between BLSTM layers (report: 0.3)")
    p.add_argument("--hidden-size", type=int, default=params.HIDDEN_SIZE)
    p.add_argument("--augment-prob", type=float, default=params.AUGMENT_PROB,
                   help="probability of the shared pitch-shift/time-stretch augmentation")
    p.add_argument("--excerpt-seconds", type=float, default=params.EXCERPT_SECONDS,
                   help="length of the training excerpts (the original: 5 s)")
    p.add_argument("--train-split", default="train", help="mir1k: train; musdb: train")
    p.add_argument("--val-split", default=None, help="mir1k: dev (default); musdb: valid (default)")
    add_musdb_format_argument(p)
    p.add_argument("--musdb-stems", action="store_const", const="stems", dest="musdb_format",
                   help="the same as --musdb-format stems (kept for older command lines)")
    p.add_argument("--seed", type=int, default=None, help="seed of the weight initialisation (the original: none)")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0 = TF default)")
    distribute.add_option(p)
    p.add_argument("--ema", type=float, default=0.0,
                   help="keep a moving average of the weights with this momentum (e.g. 0.998); validation, the "
                        "best weights and model.weights.h5 use the average (0 = off, the original)")
    p.add_argument("--max-minutes", type=float, default=0.0,
                   help="stop after the first chunk that ends past this wall-clock budget (0 = none)")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras progress display")
    args = p.parse_args(argv)
    for key, value in RECIPES[args.recipe].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.val_split is None:
        args.val_split = "dev" if args.dataset == "mir1k" else "valid"
    if args.steps_per_epoch < 1 or args.epochs < 1 or args.batch_size < 1:
        p.error("--steps-per-epoch, --epochs and --batch-size must be >= 1")
    if args.excerpt_seconds <= 0.5:
        p.error("--excerpt-seconds must be above 0.5")
    if not 0 <= args.ema < 1:
        p.error(f"--ema must be in [0, 1) (a momentum such as 0.998), got {args.ema}")
    return args


def load_songs(args):
    from . import data

    if args.dataset == "mir1k":
        return data.mir1k_songs(args.root, args.train_split), data.mir1k_songs(args.root, args.val_split)
    musdb_split = "train" if args.train_split == "train" else args.train_split
    return (data.musdb_songs(args.root, musdb_split, musdb_format=args.musdb_format),
            data.musdb_songs(args.root, args.val_split, musdb_format=args.musdb_format))


def plot_history(history: list[dict], path: Path) -> None:
    from common.plots import save_loss_curve

    save_loss_curve(path, [h["step"] for h in history],
                    {"training L1 (chunk mean)": [h["loss"] for h in history],
                     "validation L1": [h["val_loss"] for h in history]},
                    "deep mask inference", "iteration", "L1 on masked magnitudes", log_y=True)


def model_config(args, rate: int) -> dict:
    return {"num_layers": args.num_layers, "dropout": args.dropout, "hidden_size": args.hidden_size,
            "num_bins": params.NUM_BINS, "window": params.DEEP_WINDOW, "hop": params.DEEP_HOP, "rate": rate}


def train(args) -> Path:
    """Run (or resume) training as described by ``args``; returns the path of model.weights.h5."""
    import keras

    from . import data
    from .model import build_model

    # threads, the strategy (the first TensorFlow op), the global batch, this worker's folder
    strategy, out = distribute.start(args.distribute, args.out, args.resume, args.batch_size, args.threads)
    ckpt_dir = out / "checkpoints"
    last_path, state_path = ckpt_dir / "last.keras", ckpt_dir / "state.json"
    if last_path.exists() and not args.resume:
        raise TrainError(f"{out} already holds a run (checkpoints/last.keras); pass --resume to continue it "
                         f"or choose another --out")
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    train_songs, val_songs = load_songs(args)
    mixer_cfg = data.MixerConfig(duration=args.excerpt_seconds, augment_prob=args.augment_prob)
    train_mixer = data.Mixer(train_songs, mixer_cfg)
    val_mixer = data.Mixer(val_songs, mixer_cfg)
    if train_mixer.rate != val_mixer.rate:
        raise TrainError(f"training ({train_mixer.rate} Hz) and validation ({val_mixer.rate} Hz) rates differ")
    print(f"training songs: {len(train_songs)} ({args.dataset} {args.train_split}), validation songs: "
          f"{len(val_songs)} ({args.val_split}), rate {train_mixer.rate} Hz, {train_mixer.frames} frames "
          f"per {args.excerpt_seconds:g}-s excerpt", flush=True)
    val_x, val_y = data.validation_arrays(val_mixer, args.val_mixtures)

    state = {"epoch": 0, "best_val": None, "best_epoch": None, "wait": 0, "lr_wait": 0, "history": [],
             "stopped_early": False}
    if args.resume and last_path.exists():
        try:
            with strategy.scope():
                train_model = keras.models.load_model(last_path, compile=True)
            state = json.loads(state_path.read_text())
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint gets the same advice
            raise TrainError(f"cannot resume from {last_path}: {str(err).splitlines()[0]}; delete {ckpt_dir} "
                             f"to start again") from err
        print(f"resuming after chunk {state['epoch']} (iteration {state['epoch'] * args.steps_per_epoch})",
              flush=True)
    else:
        if args.resume:
            print(f"nothing to resume in {out}; starting a new run", flush=True)
        if args.seed is not None:
            keras.utils.set_random_seed(args.seed)
        with strategy.scope():
            full = build_model(hidden_size=args.hidden_size, num_layers=args.num_layers, dropout=args.dropout,
                               seed=args.seed)
            train_model = keras.Model(full.input, full.output["estimates"], name="mask_inference_train")
            average = {"use_ema": True, "ema_momentum": args.ema} if args.ema else {}
            train_model.compile(optimizer=keras.optimizers.Adam(args.learning_rate, beta_1=params.ADAM_BETA_1,
                                                                beta_2=params.ADAM_BETA_2,
                                                                epsilon=params.ADAM_EPSILON, **average),
                                loss=keras.losses.MeanAbsoluteError())  # torch.nn.L1Loss: mean of all elements
    distribute.sync_batch_norm(train_model, strategy)   # BatchNorm over the global batch (several replicas)
    write_json_atomic(out / "args.json", vars(args))
    config = model_config(args, train_mixer.rate)
    write_json_atomic(out / "config.json", config)

    # With --ema, Keras swaps the average in for validation (SwapEMAWeights runs after Keeper, so Keeper sees the
    # training weights in the model and the average in the optimizer, as last.keras must hold them to resume).
    swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=True) if args.ema else None

    class Keeper(keras.callbacks.Callback):
        """Checkpoint, best weights, history, loss curve, LR halving and early stopping, per chunk."""

        def save_best(self):
            if swap is None:
                save_weights_atomic(self.model, out / "best.weights.h5")
                return
            # The validation loss was that of the average, so the average is what is kept. Keras offers no public
            # swap outside its callback's hooks; its own swap is an exact exchange, so two calls restore the state.
            swap.set_model(self.model)
            swap._swap_variables()
            try:
                save_weights_atomic(self.model, out / "best.weights.h5")
            finally:
                swap._swap_variables()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            val = float(logs["val_loss"])
            state["epoch"] = epoch + 1
            state["history"].append({"epoch": epoch + 1, "step": (epoch + 1) * args.steps_per_epoch,
                                     "loss": float(logs["loss"]), "val_loss": val,
                                     "learning_rate": float(self.model.optimizer.learning_rate.numpy()),
                                     "time": time.time()})
            if state["best_val"] is None or val < state["best_val"]:
                state.update(best_val=val, best_epoch=epoch + 1, wait=0, lr_wait=0)
                self.save_best()
            else:
                state["wait"] += 1
                state["lr_wait"] += 1
                if args.lr_patience and state["lr_wait"] >= args.lr_patience:
                    lr = float(self.model.optimizer.learning_rate.numpy()) * 0.5
                    self.model.optimizer.learning_rate.assign(lr)
                    state["lr_wait"] = 0
                    print(f"\nlearning rate halved to {lr:g}", flush=True)
                if args.patience and state["wait"] >= args.patience:
                    self.model.stop_training = True
                    state["stopped_early"] = True
                    print(f"\nearly stop: no improvement for {args.patience} chunks", flush=True)
            if args.max_minutes and time.time() - started > 60 * args.max_minutes:
                self.model.stop_training = True
                print(f"\ntime budget of {args.max_minutes:g} min reached after chunk {epoch + 1}; "
                      f"--resume with a larger --max-minutes continues", flush=True)
            tmp = ckpt_dir / "last.tmp.keras"
            self.model.save(tmp)
            os.replace(tmp, last_path)
            write_json_atomic(state_path, state)
            _write_history(out, state["history"])
            plot_history(state["history"], out / "loss_curve.png")

    started = time.time()
    start_index = state["epoch"] * args.steps_per_epoch * args.batch_size
    if not state.get("stopped_early") and state["epoch"] < args.epochs:
        dataset = data.make_dataset(train_mixer, args.batch_size, start=start_index,
                                    stop=args.epochs * args.steps_per_epoch * args.batch_size)
        dataset = distribute.shard_by_data(dataset)   # global batches, each worker keeps its slice
        train_model.fit(dataset, steps_per_epoch=args.steps_per_epoch, epochs=args.epochs,
                        initial_epoch=state["epoch"], validation_data=(val_x, val_y),
                        validation_batch_size=args.batch_size,
                        callbacks=[Keeper()] + ([swap] if swap is not None else []), verbose=args.verbose,
                        shuffle=False)
        # Release the pipeline now: after early stopping its prefetch thread may still be inside
        # numpy_function, and tearing it down at interpreter exit can deadlock.
        del dataset
        gc.collect()
    elif swap is not None:
        swap.set_model(train_model)      # nothing left to train: hold the average, as fit leaves the model
        swap._swap_variables()
    source = out / "best.weights.h5" if args.select == "best" else None
    if source is not None and source.exists():
        train_model.load_weights(source)
    final = save_weights_atomic(train_model, out / "model.weights.h5")
    summary = {"iterations": state["epoch"] * args.steps_per_epoch, "best_epoch": state["best_epoch"],
               "best_val_loss": state["best_val"], "selected": args.select,
               "final_val_loss": state["history"][-1]["val_loss"] if state["history"] else None}
    write_json_atomic(out / "summary.json", summary)
    print(f"done: {summary['iterations']} iterations, best validation L1 {summary['best_val_loss']:.4g} "
          f"after chunk {summary['best_epoch']}; weights ({args.select}) in {final}", flush=True)
    return final


def _write_history(out: Path, history: list[dict]) -> None:
    tmp = out / "history.tmp.csv"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["epoch", "step", "loss", "val_loss", "learning_rate", "time"])
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, out / "history.csv")


def main(argv=None) -> int:
    args = parse_args(argv)
    from common.cli import quiet_tensorflow

    quiet_tensorflow()  # TensorFlow's start-up log stays off the terminal
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from common.audio import AudioError
        from common.datasets import DatasetError

        from .data import DataError
        known = (TrainError, DataError, DatasetError, AudioError, distribute.DistributeError)
    except ImportError as err:  # common not importable: report it plainly
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        train(args)
    except known as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: continue with the same command plus --resume (checkpoints in {args.out})",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
