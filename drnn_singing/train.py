"""`python -m drnn_singing.train --dataset mir1k --root ROOT [--arch A] [--gamma G] [--epochs N] [--resume] --out DIR`

Trains one architecture on Huang's MIR-1K training split (171 clips) with the discriminative loss,
checks the 4-clip dev split after every epoch (GNSDR, Huang's model-selection figure) and keeps the
best-dev weights in DIR/model.weights.h5 (+ DIR/config.json: a folder separate/evaluate can load).

Default optimiser: Adam on mini-batches of equal-length chunks (a deviation: Huang trains with
full-batch L-BFGS, 400 iterations, which `--optimizer lbfgs` runs through tensorflow-probability;
see lbfgs.py). Files in DIR: args.json, config.json, model.weights.h5 (best dev GNSDR),
last.weights.h5, history.csv, loss_curve.png, backup/ (resume state; removed when training ends).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from common import distribute
from common.runs import save_weights_atomic as _save_weights_atomic, write_json_atomic

from . import params as P

DEFAULT_ROOT = Path(os.environ.get("MIR1K_ROOT", "data/MIR-1K"))


class TrainingError(RuntimeError):
    """A run folder in a state that cannot be started or resumed."""


def set_threads(threads: int) -> None:
    """Limit TensorFlow's intra-op threads (0 = TF default); call before any TF op runs."""
    if threads > 0:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))


def default_gamma(arch: str) -> float:
    """0.1 for the LSTM variant (dev-chosen; the blog's 0.5 with --gamma 0.5), Huang's 0.05 otherwise (params.py)."""
    return P.GAMMA_LSTM if arch == "lstm3x1000" else P.GAMMA_HUANG


def new_run_defaults(arch: str, optimizer: str = "adam") -> dict:
    """The options a new run of ``arch`` takes where the command line leaves them open (params.py): for
    lstm3x1000 with Adam, gamma 0.1, linear heads, dropout 0.4, a weight average of momentum 0.999 and new
    mixtures (remix 0.5, pitch shift 2); for L-BFGS (a deterministic full-batch objective, no average) without
    dropout, average and new mixtures; Huang's networks and andabi's GRU their originals' (gamma 0.05, no dropout,
    no average, Huang's shifts only)."""
    lstm = arch == "lstm3x1000"
    adam_lstm = lstm and optimizer == "adam"
    return {"gamma": default_gamma(arch), "input_norm": False, "recurrent_input": "frame",
            "head_activation": P.LSTM_HEAD_ACTIVATION if lstm else "relu",
            "dropout": P.LSTM_DROPOUT if adam_lstm else 0.0, "ema": P.LSTM_EMA if adam_lstm else 0.0,
            "weight_decay": 0.0, "remix": P.LSTM_REMIX if adam_lstm else 0.0,
            "pitch_shift": P.LSTM_PITCH_SHIFT if adam_lstm else 0}


def resolve_defaults(args, out: Path) -> None:
    """Fill in the options left open on the command line (``None``: gamma, input, heads, dropout, ema, weight
    decay, remix, pitch shift). A new run takes ``new_run_defaults``; defaults change between versions, so a
    resumed run takes them from its own config.json and args.json, i.e. keeps what it started with (a key missing
    there means the value used before that option existed: raw input, frame input, ReLU heads, no dropout, no
    average, no decay, no augmentation beyond the shifts)."""
    fill = new_run_defaults(args.arch, args.optimizer)
    if args.resume and (out / "config.json").exists():
        started_with = json.loads((out / "config.json").read_text())
        record = json.loads((out / "args.json").read_text()) if (out / "args.json").exists() else {}
        fill = {**P.architecture_of(started_with), "gamma": started_with.get("gamma", fill["gamma"]),
                "dropout": started_with.get("dropout", 0.0), "ema": record.get("ema") or 0.0,
                "weight_decay": record.get("weight_decay") or 0.0, "remix": record.get("remix") or 0.0,
                "pitch_shift": record.get("pitch_shift") or 0}
    if args.gamma is None:
        args.gamma = fill["gamma"]
    if args.input_norm is None:
        args.input_norm = "standardize" if fill["input_norm"] else "none"
    for key in ("recurrent_input", "head_activation", "dropout", "ema", "weight_decay", "remix", "pitch_shift"):
        if getattr(args, key) is None:
            setattr(args, key, fill[key])


def resume_epoch(out: Path) -> int:
    """The epoch a resumed Adam run restarts at: the "epoch" that Keras' BackupAndRestore recorded in
    out/backup/training_metadata.json and restores (0 when there is no backup)."""
    try:
        return int(json.loads((out / "backup" / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def dev_scores(model, config: dict, dev_clips) -> dict:
    """Huang's dev figures for the voice: {"val_gnsdr", "val_gsir", "val_gsar"} (NaN if not scorable)."""
    from common.bsseval import BSSEvalError

    from .evaluate import evaluate_clips
    from .separate import Separator
    try:
        summary, _ = evaluate_clips(Separator(model, config), dev_clips)
    except BSSEvalError as err:   # e.g. a ReLU recurrence that blows up over a whole clip
        print(f"  dev: not scored ({err}); this point is not selected", flush=True)
        return {"val_gnsdr": float("nan"), "val_gsir": float("nan"), "val_gsar": float("nan")}
    scores = {"val_gnsdr": summary["voice"]["GNSDR"], "val_gsir": summary["voice"]["GSIR"],
              "val_gsar": summary["voice"]["GSAR"]}
    print(f"  dev: GNSDR {scores['val_gnsdr']:.2f}  GSIR {scores['val_gsir']:.2f}  GSAR {scores['val_gsar']:.2f} dB",
          flush=True)
    return scores


def plot_history(out: Path, x_label: str = "epoch") -> None:
    """Draw out/loss_curve.png (loss, dev GNSDR against the paper's line) from out/history.csv."""
    import csv

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["epoch"]) + 1 for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key in ("loss", "val_loss"):
        if key in rows[0]:
            ax1.plot(steps, [float(r[key]) for r in rows], label=key)
    ax1.set_xlabel(x_label), ax1.set_ylabel("loss per frame"), ax1.legend()
    if "val_gnsdr" in rows[0]:
        ax2.plot(steps, [float(r["val_gnsdr"]) for r in rows], label="dev GNSDR (voice)")
        ax2.axhline(P.PAPER_TABLE["DRNN-2 + discrim"][0], ls=":", c="gray", label="paper DRNN-2+discrim (test)")
        ax2.set_xlabel(x_label), ax2.set_ylabel("dB"), ax2.legend()
    fig.tight_layout()
    tmp = out / "loss_curve.tmp.png"
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out / "loss_curve.png")


def make_callbacks(out: Path, dev_clips, patience: int, config: dict, lr_patience: int = P.LR_PATIENCE,
                   ema: bool = False, backup_every: int = 0):
    """Dev metrics, best/last checkpoints, early stopping, CSV log, loss-curve PNG, resume backup.

    ema: the optimizer keeps a moving average of the weights (``use_ema``); it is swapped into the model at
    the end of each epoch, after the resume backup (which keeps the training weights) and before the dev
    scores and checkpoints (which see the average), and swapped back when the next epoch begins.
    backup_every: also back up every N training steps (0: at epoch ends only); a run stopped mid-epoch resumes
    at the start of that epoch from the weights and optimiser state of its last backup."""
    import keras
    import numpy as np

    class Backup(keras.callbacks.BackupAndRestore):
        """Keras' resume backup, saved at every epoch end and, with backup_every, every N steps as well."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            # Keras 3.15 restores the epoch into the model but leaves its own counter at 0, so the step backups
            # of a resumed run's first epoch would record epoch 0 and a second resume would renumber from 0.
            self._current_epoch = getattr(self.model, "_initial_epoch", None) or 0

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if self.save_freq != "epoch":
                self._save_model()

    class DevMetrics(keras.callbacks.Callback):
        """Adds val_gnsdr / val_gsir / val_gsar (voice, dev clips, Huang's protocol) to the logs."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None and dev_clips:
                logs.update(dev_scores(self.model, config, dev_clips))

    class LossCurve(keras.callbacks.Callback):
        """Re-draws out/loss_curve.png from history.csv after each epoch."""

        def on_epoch_end(self, epoch, logs=None):
            plot_history(out)

    monitor, mode = ("val_gnsdr", "max") if dev_clips else ("loss", "min")
    best_so_far = _best_logged(out / "history.csv", monitor, mode)   # a resumed run keeps its best checkpoint
    logged = _logged(out / "history.csv", monitor)

    class ResumedEarlyStopping(keras.callbacks.EarlyStopping):
        """EarlyStopping that, on --resume, counts the epochs without a gain from history.csv (Keras starts at 0)."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self._set_monitor_op()
            for value, _ in logged:
                self.wait += 1
                if self._is_improvement(value, self.best):
                    self.best, self.wait = value, 0

    class ResumedPlateau(keras.callbacks.ReduceLROnPlateau):
        """ReduceLROnPlateau that, on --resume, replays history.csv: its best and wait as if never stopped, and the
        halving due at the end of the last logged epoch, which the epoch-end backup (saved first) does not hold."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            if not logged:
                return
            self._set_monitor_op()
            for i, (value, rate) in enumerate(logged):
                if self._is_improvement(value, self.best):
                    self.best, self.wait = value, 0
                else:
                    self.wait += 1
                if i + 1 < len(logged) and logged[i + 1][1] < rate:   # the rate was halved after this epoch
                    self.wait = 0
            if self.wait >= self.patience:
                current = float(np.asarray(self.model.optimizer.learning_rate))
                if current >= logged[-1][1] * (1 - 1e-6):             # not in the restored optimizer yet
                    self._reduce_optimizer_lr(self.model.optimizer, len(logged) - 1)
                self.wait = 0
    return [
        Backup(str(out / "backup"), save_freq=backup_every or "epoch"),
        keras.callbacks.TerminateOnNaN(),
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if ema else []),
        DevMetrics(),
        keras.callbacks.ModelCheckpoint(str(out / "model.weights.h5"), monitor=monitor, mode=mode,
                                        save_best_only=True, save_weights_only=True, verbose=1,
                                        initial_value_threshold=best_so_far),
        keras.callbacks.ModelCheckpoint(str(out / "last.weights.h5"), save_weights_only=True),
        ResumedEarlyStopping(monitor=monitor, mode=mode, patience=patience, verbose=1),
        ResumedPlateau(monitor=monitor, mode=mode, factor=0.5, patience=lr_patience, min_lr=1e-6, verbose=1),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
        LossCurve(),
    ], np


def _logged(history: Path, monitor: str) -> list[tuple[float, float]]:
    """(monitor value, learning rate) of each epoch in an existing history.csv, in order ([] if none)."""
    import csv
    if not history.exists():
        return []
    with open(history) as f:
        return [(float(r[monitor]), float(r["learning_rate"])) for r in csv.DictReader(f)
                if r.get(monitor) not in (None, "") and r.get("learning_rate") not in (None, "")]


def _best_logged(history: Path, monitor: str, mode: str):
    """Best value of `monitor` in an existing history.csv (None if there is none)."""
    import csv
    import math
    if not history.exists():
        return None
    with open(history) as f:
        values = [float(r[monitor]) for r in csv.DictReader(f) if r.get(monitor) not in (None, "")]
    values = [v for v in values if not math.isnan(v)]
    return (max(values) if mode == "max" else min(values)) if values else None


def check_run_folder(out: Path, resume: bool) -> None:
    """A fresh --out, or --resume on a folder with a backup; anything else is a one-line error."""
    started = (out / "args.json").exists()
    if started and not resume:
        raise TrainingError(f"{out} already holds a training run; pass --resume to continue it or choose a new --out")
    if resume and not started:
        raise TrainingError(f"{out} holds no training run to resume (no args.json); drop --resume to start one")
    if resume and not (out / "backup").exists():
        raise TrainingError(f"{out}: nothing to resume (no backup/ folder: the run has finished, or was stopped "
                            "before its first epoch ended); start a new run with a new --out")


def init_from(model, arch: str, hidden, layers: int, weights: Path, input_norm: bool = False,
              recurrent_input: str = "frame", head_activation: str = "relu") -> None:
    """Load a previous run's weights into `model` (warm start); the architectures must match."""
    from .separate import ModelFileError, resolve_weights
    weight_files, config = resolve_weights(None if str(weights) == "pretrained" else weights)
    if len(weight_files) != 1:
        raise TrainingError(f"{weights}: a bag of {len(weight_files)} models; --init-weights takes one of its "
                            f"weight files ({weight_files[0]} ...)")
    weights_file = weight_files[0]
    wanted = {"arch": arch, "hidden": hidden, "layers": layers, "input_norm": input_norm,
              "recurrent_input": recurrent_input, "head_activation": head_activation}
    held = P.architecture_of(config)
    if held != wanted:
        raise TrainingError(f"{weights_file}: holds {held}, but this run builds {wanted}; pass the same "
                            "--arch/--hidden/--layers/--input-norm/--recurrent-input/--head-activation or other --init-weights")
    try:
        model.load_weights(str(weights_file))
    except (ValueError, OSError) as err:
        raise ModelFileError(f"{weights_file}: cannot be loaded ({err})") from None
    print(f"initialised from {weights_file}", flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m drnn_singing.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mir1k", choices=["mir1k"])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                        help=f"MIR-1K folder (train/ dev/ test/, or the archive's Wavfile/); default $MIR1K_ROOT or "
                             f"{DEFAULT_ROOT} (download {P.MIR1K_URL})")
    parser.add_argument("--arch", default=P.DEFAULT_TRAIN_ARCH, choices=P.ARCHS)
    parser.add_argument("--gamma", type=float, default=None,
                        help="discriminative weight (0 = plain MSE); default 0.1 for lstm3x1000 (the blog's 0.5: "
                             "--gamma 0.5), 0.05 (Huang's code) otherwise")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--patience", type=int, default=20, help="early stopping on dev GNSDR (epochs)")
    parser.add_argument("--lr", type=float, default=P.ADAM_LEARNING_RATE, help="Adam learning rate")
    parser.add_argument("--lr-patience", type=int, default=P.LR_PATIENCE,
                        help="halve the learning rate after this many epochs without a dev gain")
    parser.add_argument("--clipnorm", type=float, default=1.0, help="gradient-norm clipping (ReLU RNNs; 0 = off)")
    parser.add_argument("--ema", type=float, default=None,
                        help="Adam only: keep an exponential moving average of the weights with this momentum "
                             "(0 = off); default 0.999 for lstm3x1000, 0 otherwise; dev scores, checkpoints and the "
                             "shipped weights are then the averaged ones")
    parser.add_argument("--weight-decay", type=float, default=None,
                        help="Adam only: decoupled weight decay (AdamW, Keras; each step w -= lr * decay * w), e.g. "
                             "0.01; default 0 (plain Adam)")
    parser.add_argument("--frames-per-batch", type=int, default=P.FRAMES_PER_BATCH)
    parser.add_argument("--shifts-per-clip", type=int, default=0,
                        help="circular shifts per clip and epoch: 0 = all of Huang's grid (2133 mixtures), "
                             "k = k random shifts of the grid")
    parser.add_argument("--remix", type=float, default=None, metavar="P",
                        help="Adam only: probability that a training mixture takes its music from another training "
                             "clip (random clip and offset) instead of its own shifted music; default 0.5 for "
                             "lstm3x1000, else 0 (Huang's shifts only); kept on --resume")
    parser.add_argument("--pitch-shift", type=int, default=None, metavar="SEMITONES",
                        help="Adam only: pitch-shift each training mixture's voice by a whole number of semitones "
                             "drawn from [-S, S] (librosa, computed once at start-up); default 2 for lstm3x1000, "
                             "else 0 (off); kept on --resume")
    parser.add_argument("--circular-step", type=int, default=P.CIRCULAR_STEP, help="shift step in samples (0 = no augmentation)")
    parser.add_argument("--input-norm", choices=["none", "standardize"], default=None,
                        help="lstm3x1000 / gru3x256 only: none (default) = the raw mixture magnitudes (the blog, "
                             "andabi); standardize = per-bin mean and std of the training mixtures removed (fixed, "
                             "stored with the weights), as Open-Unmix does")
    parser.add_argument("--recurrent-input", choices=["frame", "context"], default=None,
                        help="lstm3x1000 / gru3x256 only: frame (default) = the mixture frame t (the blog, andabi); "
                             "context = Huang's 3-frame features [t-1, t, t+1] as DRNN-2 reads them (one frame of "
                             "look-ahead; +4.1 M parameters for lstm3x1000)")
    parser.add_argument("--head-activation", choices=["relu", "linear"], default=None,
                        help="lstm3x1000 / gru3x256 only: relu = the blog's and andabi's ReLU heads (gru3x256's "
                             "default); linear = Huang's linear output, the mask taking |.| (a ReLU head at 0 passes "
                             "no gradient; lstm3x1000's default)")
    parser.add_argument("--dropout", type=float, default=None,
                        help="lstm3x1000 / gru3x256 only: dropout rate between the recurrent layers in training "
                             "(default 0.4 for lstm3x1000 with Adam, Open-Unmix's; 0 otherwise, the blog's and "
                             "andabi's); inference is unchanged")
    parser.add_argument("--hidden", type=int, default=None, help="units per layer (default: the architecture's)")
    parser.add_argument("--layers", type=int, default=P.N_HIDDEN_LAYERS)
    parser.add_argument("--limit-clips", type=int, default=None, help="use only the first N training clips")
    parser.add_argument("--no-dev", action="store_true", help="skip the dev split (select on training loss)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0 = TF default)")
    distribute.add_option(parser)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "lbfgs"],
                        help="adam (default; mini-batches, dev early stopping) or lbfgs (Huang's full-batch "
                             "L-BFGS through tensorflow-probability; slow on a CPU: one function evaluation is a "
                             "pass over the whole training set)")
    parser.add_argument("--lbfgs-iterations", type=int, default=None,
                        help="L-BFGS iterations (default 400, MATLAB MaxIter)")
    parser.add_argument("--lbfgs-history", type=int, default=None, help="L-BFGS history pairs (default 50, MATLAB Corr)")
    parser.add_argument("--eval-every", type=int, default=None,
                        help="L-BFGS: dev evaluation and checkpoints every N iterations (default 20, as MATLAB)")
    parser.add_argument("--init-weights", type=Path, default=None,
                        help="start from these weights (a model folder from train.py, or its .weights.h5; "
                             "'pretrained' = the shipped model) instead of a random initialisation")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    parser.add_argument("--backup-every", type=int, default=0, metavar="STEPS",
                        help="Adam: also save the resume backup every STEPS training steps (default 0: at epoch ends "
                             "only); for long epochs (lstm3x1000 with every shift: ~20 min per epoch on one CPU thread), "
                             "so that a stopped run loses at most STEPS steps; --resume restarts that epoch from them")
    parser.add_argument("--out", type=Path, required=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    return args


def train(args) -> Path:
    """Run training as described by the parsed arguments; returns the run folder."""
    out = args.out
    check_run_folder(out, args.resume)
    resolve_defaults(args, out)
    gamma = args.gamma
    try:   # before the slow imports; build_model makes the same check
        P.check_architecture(args.arch, args.input_norm == "standardize", args.recurrent_input, args.head_activation,
                             args.dropout)
    except ValueError as err:
        raise TrainingError(str(err)) from None
    if not 0 <= args.weight_decay < 1:
        raise TrainingError(f"--weight-decay must be in [0, 1) (e.g. 0.01), got {args.weight_decay}")
    if not 0 <= args.ema < 1:
        raise TrainingError(f"--ema must be in [0, 1) (a momentum such as 0.999), got {args.ema}")
    from .data import Augmentation
    try:
        augment = Augmentation(remix=args.remix, pitch=args.pitch_shift)
    except ValueError as err:
        raise TrainingError(f"--remix / --pitch-shift: {err}") from None
    if args.backup_every < 0:
        raise TrainingError(f"--backup-every must be 0 (epoch ends only) or a number of steps, got {args.backup_every}")
    if args.optimizer == "lbfgs":
        if args.ema:
            raise TrainingError("--ema applies to Adam; L-BFGS keeps no weight average (drop --ema)")
        if args.dropout:
            raise TrainingError("--dropout applies to Adam; L-BFGS needs a deterministic objective (drop --dropout)")
        if args.weight_decay:
            raise TrainingError("--weight-decay applies to Adam (drop --weight-decay)")
        if args.remix or args.pitch_shift:
            raise TrainingError("--remix and --pitch-shift draw new mixtures each epoch; L-BFGS needs a fixed "
                                "full batch (drop them)")
        from .lbfgs import check_available
        try:
            check_available()
        except ImportError as err:
            raise TrainingError(str(err)) from None
        distribute.refuse(args.distribute, "--optimizer lbfgs")
    from .losses import make_loss
    loss = make_loss(gamma)                      # validates gamma before the slow imports

    from .data import count_frames, load_split, training_dataset, validation_dataset
    train_clips = load_split(args.root, "train", args.limit_clips)
    dev_clips = [] if args.no_dev else load_split(args.root, "dev")
    mixtures, frames = count_frames(train_clips, args.shifts_per_clip, args.circular_step)
    print(f"train: {len(train_clips)} clips -> {mixtures} mixtures, {frames} frames per epoch; dev: {len(dev_clips)} clips",
          flush=True)

    set_threads(args.threads)
    strategy = distribute.make_strategy(args.distribute)   # before any other TensorFlow op
    out = distribute.output_folder(out, strategy, args.resume)   # the chief: --out; other workers: a temp folder
    import keras

    from .model import build_model
    keras.utils.set_random_seed(args.seed)
    label = f"{args.arch} + discrim (gamma {gamma:g})" if gamma else args.arch
    input_norm = args.input_norm == "standardize"
    config = {"arch": args.arch, "hidden": args.hidden, "layers": args.layers, "gamma": gamma, "label": label,
              "input_norm": input_norm, "recurrent_input": args.recurrent_input,
              "head_activation": args.head_activation, "dropout": args.dropout}
    with strategy.scope():
        model = build_model(args.arch, hidden=args.hidden, n_layers=args.layers, seed=args.seed,
                            input_norm=input_norm, recurrent_input=args.recurrent_input,
                            head_activation=args.head_activation, dropout=args.dropout)
        if input_norm and not args.resume:   # fixed statistics of the training mixtures (resume: in the weights)
            from .data import input_statistics
            model.get_layer("input_norm").set_weights(list(input_statistics(train_clips)))
        if args.init_weights is not None and not args.resume:   # before compile: no optimizer state to match
            init_from(model, args.arch, args.hidden, args.layers, args.init_weights, input_norm, args.recurrent_input,
                      args.head_activation)
        average = {"use_ema": True, "ema_momentum": args.ema} if args.ema else {}
        if args.weight_decay:   # a separate class, so that a run without decay keeps plain Adam's state layout
            optimizer = keras.optimizers.AdamW(args.lr, weight_decay=args.weight_decay, clipnorm=args.clipnorm or None,
                                               **average)
        else:
            optimizer = keras.optimizers.Adam(args.lr, clipnorm=args.clipnorm or None, **average)
        model.compile(optimizer=optimizer, loss=loss)
    print(f"{args.arch}: {model.count_params():,} parameters, gamma {gamma:g}", flush=True)

    out.mkdir(parents=True, exist_ok=True)
    if not args.resume:
        record = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "argv"}
        record.update(gamma=gamma, command=shlex.join(["python", "-m", "drnn_singing.train"] + args.argv),
                      git_revision=_git_revision(), started=time.strftime("%Y-%m-%d %H:%M:%S"),
                      train_mixtures=mixtures, train_frames_per_epoch=frames, parameters=model.count_params())
        write_json_atomic(out / "args.json", record)
    write_json_atomic(out / "config.json", config)

    if args.optimizer == "lbfgs":
        train_lbfgs(args, model, gamma, train_clips, dev_clips, config)
        return out
    if augment.pitch:
        print(f"pitch-shifting the {len(train_clips)} training voices by up to {augment.pitch} semitones ...", flush=True)
    train_ds = training_dataset(train_clips, args.shifts_per_clip, args.circular_step, args.frames_per_batch,
                                seed=args.seed, augment=augment,
                                first_epoch=resume_epoch(out) if args.resume else 0)
    train_ds = distribute.shard_by_data(train_ds)   # global batches; each worker keeps its slice of every batch
    # Keras' val_loss on one-clip batches cannot be split over replicas (a replica would score an empty
    # batch); the dev figures that select the model (DevMetrics) are computed on every worker alike.
    val_ds = validation_dataset(dev_clips) if dev_clips and strategy.num_replicas_in_sync == 1 else None
    callbacks, _ = make_callbacks(out, dev_clips, args.patience, config, args.lr_patience, ema=bool(args.ema),
                                  backup_every=args.backup_every)
    start = time.time()
    model.fit(train_ds, validation_data=val_ds, epochs=args.epochs, callbacks=callbacks,
              verbose=1 if sys.stdout.isatty() else 2)
    print(f"done in {time.time() - start:.0f} s; best weights: {out / 'model.weights.h5'}", flush=True)
    return out


def train_lbfgs(args, model, gamma: float, train_clips, dev_clips, config: dict) -> None:
    """Huang's full-batch L-BFGS (lbfgs.py): dev every --eval-every iterations, best-dev weights kept.

    The training set is fixed for the whole run (the same mixtures in every evaluation: all of
    Huang's circular shifts with --shifts-per-clip 0). Resume state: out/backup/state.json (the
    iteration reached) with out/last.weights.h5.
    """
    import csv
    import shutil

    from . import lbfgs
    from .data import training_dataset
    from .losses import discriminative_loss
    out, backup = args.out, args.out / "backup"
    iterations = args.lbfgs_iterations or lbfgs.LBFGS_ITERATIONS
    start = 0
    if args.resume:
        state = json.loads((backup / "state.json").read_text())
        model.load_weights(str(out / "last.weights.h5"))
        start = int(state["iteration"])
        print(f"resuming L-BFGS at iteration {start} (the curvature history restarts)", flush=True)
    dataset = training_dataset(train_clips, args.shifts_per_clip, args.circular_step, args.frames_per_batch,
                               seed=args.seed, fixed=True)
    objective = lbfgs.FullBatchObjective(model, lambda y, e: discriminative_loss(y, e, gamma), dataset)
    history, fields = out / "history.csv", ["epoch", "loss", "evaluations", "val_gnsdr", "val_gsir", "val_gsar"]
    key, mode = ("val_gnsdr", "max") if dev_clips else ("loss", "min")
    best = _best_logged(history, key, mode)
    clock = time.time()

    def on_segment(segment: lbfgs.Segment) -> bool:
        nonlocal best
        row = {"epoch": segment.iteration - 1, "loss": segment.loss, "evaluations": segment.evaluations}
        row.update(dev_scores(model, config, dev_clips) if dev_clips else {})
        value = row[key]
        improved = value == value and (best is None or (value > best if mode == "max" else value < best))
        print(f"L-BFGS iteration {segment.iteration}/{iterations}: loss {segment.loss:.5f}, "
              f"{segment.evaluations} evaluations, {time.time() - clock:.0f} s", flush=True)
        if improved:
            best = value
            _save_weights_atomic(model, out / "model.weights.h5")
            print(f"  {key} improved to {value:.4f}: saved {out / 'model.weights.h5'}", flush=True)
        new_file = not history.exists()
        with open(history, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, restval="")
            if new_file:
                writer.writeheader()
            writer.writerow(row)
        plot_history(out, "L-BFGS iteration")
        _save_weights_atomic(model, out / "last.weights.h5")
        backup.mkdir(exist_ok=True)
        write_json_atomic(backup / "state.json", {"iteration": segment.iteration})
        return False

    segment = lbfgs.minimize(model, objective, iterations, args.lbfgs_history or lbfgs.LBFGS_HISTORY,
                             args.eval_every or lbfgs.LBFGS_EVAL_EVERY, start, on_segment)
    why = "converged" if segment.converged else "line search failed" if segment.failed else "iterations done"
    shutil.rmtree(backup, ignore_errors=True)
    print(f"L-BFGS stopped at iteration {segment.iteration} ({why}) after {time.time() - clock:.0f} s; "
          f"best weights: {out / 'model.weights.h5'}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    from common.cli import quiet_tensorflow

    quiet_tensorflow()  # TensorFlow's start-up log stays off the terminal
    from common.datasets import DatasetError

    from .features import FeatureError
    from .separate import ModelFileError
    try:
        train(args)
    except (DatasetError, FeatureError, TrainingError, ModelFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"error: interrupted; continue with the same command plus --resume (from the last finished epoch "
              f"saved in {args.out / 'backup'})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
