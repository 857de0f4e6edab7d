"""Train xumx-sliCQ v1 with the original recipe: ``python -m xumx_slicq.train --root MUSDB18HQ --out RUN``.

The recipe (sevagh/xumx-sliCQ@5d0e2ae:scripts/train.py, pretrained-model/xumx_slicq.json; design §5):
random-track-mix 1 s excerpts (gain U[0.25, 1.25], channel swap), 64 samples per training track per
epoch (86 tracks: 172 batches of 32), input statistics from the full training mixtures, torch's Adam
(lr 1e-3, coupled L2 1e-5 on all parameters), ReduceLROnPlateau(factor 0.3, patience 80, cooldown 10)
on the validation loss (musdb's 14 validation tracks, full length, batch 1), the best-validation
weights kept, 1000 epochs with early-stopping patience 1000 (effectively none).

Loss (``losses``): mean of the per-target block MSEs (the original's list-concatenation quirk; ``--cl-sum``
for X-UMX's intended sums) + 0.1 x the negative SI-SDR of the 14 combinations through the inverse sliCQT
with the mixture phase, which carries no gradient (it is computed in numpy, inside the step through
``tf.numpy_function``). The reported train loss of an epoch is the mean over its batches.

RUN folder:
    args.json            the command's arguments
    stats.npz            the input statistics (per block mean/std; also inside the weights)
    model.weights.h5     the best-validation weights (what ``xumx_slicq.separate --weights RUN`` loads)
    history.json         losses per epoch (train, valid, its two terms), learning rate, times, best epoch
    loss_curve.png       train and validation loss per epoch
    checkpoints/         last.weights.h5, optimizer.npz, state.json: ``--resume`` continues from here

``--distribute mirrored|multiworker`` (common.distribute) runs the same command on several GPUs or
machines: the global batch is split over replicas, gradients all-reduced, BatchNorm statistics taken
over the global batch.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from common import distribute
from common.runs import save_weights_atomic as _save_weights, write_json_atomic, write_npz_atomic
from common.cli import quiet_tensorflow, run_cli
from common.datasets import add_musdb_format_argument

from . import params
from .params import N_BLOCKS, TARGETS

quiet_tensorflow()


class TrainError(ValueError):
    """A training run that cannot start or continue as asked (one line, says the fix)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m xumx_slicq.train", description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="MUSDB18-HQ (WAV folders) or MUSDB18 (.stem.mp4) root")
    add_musdb_format_argument(p)
    p.add_argument("--out", required=True, help="run folder (created)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--epochs", type=int, default=1000, help="total epochs of the run (original: 1000)")
    p.add_argument("--patience", type=int, default=1000, help="early-stopping patience in epochs (original: 1000)")
    p.add_argument("--batch-size", type=int, default=params.BATCH_SIZE, help="global batch (original: 32)")
    p.add_argument("--lr", type=float, default=params.LR)
    p.add_argument("--weight-decay", type=float, default=params.WEIGHT_DECAY, help="coupled L2 (torch Adam)")
    p.add_argument("--lr-decay-patience", type=int, default=params.LR_DECAY_PATIENCE)
    p.add_argument("--lr-decay-gamma", type=float, default=params.LR_DECAY_GAMMA)
    p.add_argument("--lr-decay-cooldown", type=int, default=params.LR_DECAY_COOLDOWN)
    p.add_argument("--seq-dur", type=float, default=params.SEQ_DUR, help="excerpt seconds (original: 1.0)")
    p.add_argument("--samples-per-track", type=int, default=params.SAMPLES_PER_TRACK)
    p.add_argument("--mcoef", type=float, default=params.MCOEF, help="weight of the SI-SDR term")
    p.add_argument("--cl-sum", action="store_true",
                   help="combination loss on summed magnitudes (X-UMX's intent) instead of the original's "
                        "list concatenation (= mean of the four per-target MSEs)")
    p.add_argument("--seed", type=int, default=params.SEED)
    p.add_argument("--max-batches", type=int, default=None,
                   help="stop each epoch after this many batches (trials and tests; the recipe runs all)")
    p.add_argument("--train-subset", choices=("train", "test"), default="train",
                   help="train: musdb's training split of train/ (86 tracks, the recipe); test: the test/ folder "
                        "(trials on a folder without train/, e.g. a few sample tracks)")
    p.add_argument("--valid-subset", choices=("valid", "test"), default="valid",
                   help="valid: musdb's 14 validation tracks of train/ (the recipe); test: the test/ folder")
    p.add_argument("--valid-tracks", type=int, default=None,
                   help="validate on the first N validation tracks only (trials; the recipe uses all 14)")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0 = default)")
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    distribute.add_option(p)
    return p


# ----------------------------------------------------------------------------------------------- files

def _save_optimizer(optimizer, path: Path) -> None:
    write_npz_atomic(path, {f"v{i:05d}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})


def _load_optimizer(optimizer, path: Path) -> None:
    with np.load(path) as z:
        values = [z[f"v{i:05d}"] for i in range(len(z.files))]
    if len(values) != len(optimizer.variables):
        raise TrainError(f"{path}: {len(values)} optimizer variables, the model needs {len(optimizer.variables)}; "
                         f"delete {path.parent} to start again")
    for var, value in zip(optimizer.variables, values):
        var.assign(value)


# ------------------------------------------------------------------------------------------- the steps

def _block_specs(dtype, batch=None, n_slices=None):
    import tensorflow as tf

    return [tf.TensorSpec((batch, 2, nf, n_slices, m), dtype) for _, nf, m in params.BLOCKS]


def make_pipeline(sampler, epoch: int, batch_size: int, limit_batches: int | None):
    """tf.data: excerpts -> batches -> sliCQT (numpy, in tf.data's thread) ->
    (mixture blocks complex64, mixture magnitudes, target magnitudes (4 x 70), stems (B, 4, 2, L))."""
    import tensorflow as tf

    from . import data
    from .transform import get_slicqt

    slicqt = get_slicqt()
    n_slices = slicqt.n_slices(sampler.length)
    limit = None if limit_batches is None else limit_batches * batch_size

    def transform(mix, stems):
        mix_c, xmag, ymag = data.batched_transform(mix, stems, slicqt)
        return (*mix_c, *xmag, *[b for name in TARGETS for b in ymag[name]])

    tout = [tf.complex64] * N_BLOCKS + [tf.float32] * (N_BLOCKS * (1 + len(TARGETS)))

    def tf_transform(mix, stems):
        out = tf.numpy_function(transform, [mix, stems], tout, stateful=False)
        blocks = []
        for i, t in enumerate(out):
            _, nf, m = params.BLOCKS[i % N_BLOCKS]
            t.set_shape((None, 2, nf, n_slices, m))
            blocks.append(t)
        n = N_BLOCKS
        ymag = tuple(tuple(blocks[n * (2 + k): n * (3 + k)]) for k in range(len(TARGETS)))
        return tuple(blocks[:n]), tuple(blocks[n: 2 * n]), ymag, stems

    ds = data.train_dataset(sampler, epoch, batch_size, limit)
    return ds.map(tf_transform).prefetch(1)


class Trainer:
    """The model, the optimiser, the compiled train step and the validation loss."""

    def __init__(self, model, optimizer, strategy, cl_sum: bool = False, mcoef: float = params.MCOEF):
        self.model, self.optimizer, self.strategy = model, optimizer, strategy
        self.cl_sum, self.mcoef = cl_sum, mcoef
        self._step = None

    def gradients(self, xmag, ymag, sdr_check=None):
        """Train-mode forward (BatchNorm statistics updated) and the gradient of the loss.

        xmag: 70 mixture magnitude blocks; ymag: {target: 70 blocks} or 4 sequences in TARGETS order.
        Returns (mse terms (14,), predictions {target: 70 blocks}, gradients of the trainable variables).
        The SI-SDR term is computed from the predictions outside the tape (numpy), so the gradient of
        the loss is that of its MSE term (loss.py: the SDR term is under torch.no_grad()).
        sdr_check: (mixture blocks, stems (B, 4, 2, L)): also return the gradients of the whole loss,
        mcoef * sdr_term + mse_term with the SDR term made as in the step, {variable path: array};
        they must equal the first ones (tests).
        """
        import tensorflow as tf

        from . import losses

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if not isinstance(ymag, dict):
            ymag = {name: list(ymag[k]) for k, name in enumerate(TARGETS)}
        with tf.GradientTape(persistent=sdr_check is not None) as tape:
            preds = self.model.forward(list(xmag), training=True)
            mse = losses.mse_terms(preds, ymag, cl_sum=self.cl_sum)
            mse_term = tf.reduce_sum(mse) / float(len(losses.COMBINATIONS))
            scaled = mse_term / float(replicas)   # the all-reduce sums the replicas' gradients
        variables = self.model.trainable_variables
        grads = tape.gradient(scaled, variables)
        if sdr_check is None:
            return mse, preds, grads
        with tape:
            total = self.mcoef * tf.reduce_mean(_sdr_tensor(sdr_check[0], preds, sdr_check[1])) + mse_term
        total_grads = tape.gradient(total, variables, unconnected_gradients="zero")
        del tape
        return mse, preds, grads, {v.path: np.asarray(g) for v, g in zip(variables, total_grads)}

    def replica_step(self, mix_c, xmag, ymag, stems):
        """One optimiser step on this replica's slice; returns (mse terms (14,), sdr terms (14,))."""
        mse, preds, grads = self.gradients(xmag, ymag)
        self.optimizer.apply(grads, self.model.trainable_variables)
        return mse, _sdr_tensor(mix_c, preds, stems)

    def step(self, batch):
        import tensorflow as tf

        if self._step is None:
            strategy = self.strategy

            def dist_step(mix_c, xmag, ymag, stems):
                mse, sdr = strategy.run(self.replica_step, args=(mix_c, xmag, ymag, stems))
                return (strategy.reduce("MEAN", mse, axis=None), strategy.reduce("MEAN", sdr, axis=None))

            self._step = tf.function(dist_step, autograph=False)
        return self._step(*batch)

    def validation_loss(self, track_iter, progress=None) -> dict:
        """Mean over tracks of the loss terms, each track whole, batch 1, eval mode (train.py valid())."""
        from . import losses
        from .data import SOURCES
        from .transform import get_slicqt

        slicqt = get_slicqt()
        results = []
        for mix, stems in track_iter:
            mix_c = slicqt.forward(mix[None].astype(np.float32))
            xmag = [np.abs(b) for b in mix_c]
            preds = self.model(xmag, training=False)
            preds = {k: [np.asarray(v) for v in vs] for k, vs in preds.items()}
            stem_blocks = slicqt.forward(stems[None].astype(np.float32))
            ymag = {name: [np.abs(b[:, i]) for b in stem_blocks] for i, name in enumerate(SOURCES)}
            mse = np.asarray(losses.mse_terms(preds, ymag, cl_sum=self.cl_sum))
            sdr = losses.sdr_terms(preds, mix_c, {name: stems[None, i] for i, name in enumerate(SOURCES)},
                                   mix.shape[-1], slicqt)
            results.append(losses.combine(sdr, mse, self.mcoef))
            if progress is not None:
                progress(results[-1])
        return {k: float(np.mean([r[k] for r in results])) for k in results[0]}


def _sdr_tensor(mix_c, preds, stems):
    """The 14 SI-SDR terms as a tensor, computed in numpy (tf.numpy_function: no gradient)."""
    import tensorflow as tf

    from . import losses

    sdr = tf.numpy_function(_sdr_numpy, [*mix_c, *[b for name in TARGETS for b in preds[name]], stems],
                            tf.float32, stateful=False)
    sdr.set_shape((len(losses.COMBINATIONS),))
    return sdr


def _sdr_numpy(*arrays) -> np.ndarray:
    """tf.numpy_function body: (70 mixture blocks, 4 x 70 predictions in TARGETS order, stems (B, 4, 2, L))."""
    from . import losses

    n = N_BLOCKS
    mix_c = arrays[:n]
    preds = {name: arrays[n * (1 + k): n * (2 + k)] for k, name in enumerate(TARGETS)}
    stems = arrays[-1]
    return losses.sdr_terms(preds, mix_c, {name: stems[:, k] for k, name in enumerate(TARGETS)}, stems.shape[-1])


def _subset(name: str) -> tuple[str, str | None]:
    """--train-subset / --valid-subset -> (musdb subsets, split)."""
    return {"train": ("train", "train"), "valid": ("train", "valid"), "test": ("test", None)}[name]


def validation_tracks(root, musdb_format: str = "auto", limit: int | None = None, subset: str = "valid"):
    """(mixture (2, L), stems (4, 2, L) in SOURCES order) per validation track: the supplied mixture and
    the musdb targets, whole (data.py MUSDBDataset with seq_duration None), decoded one at a time."""
    import itertools

    from common.datasets import iter_musdb

    from .data import SOURCES

    subsets, split = _subset(subset)
    for track in itertools.islice(iter_musdb(root, subsets, split, musdb_format=musdb_format), limit):
        yield track.mixture, np.stack([track.sources[s] for s in SOURCES])


# ------------------------------------------------------------------------------------------------ train

_SESSIONS: dict = {}


def _session(args, strategy):
    """(model, optimiser, Trainer) freshly initialised for ``args``: the first run of a process builds
    and traces them; a later run in the same process (tests, sweeps) with the same settings reuses the
    traced step, with the initial weights restored and the optimiser state zeroed."""
    import keras

    from .model import build_model
    from .optim import TorchAdam

    key = (id(strategy), args.seed, bool(args.cl_sum), float(args.mcoef), float(args.weight_decay))
    if key not in _SESSIONS:
        # train.py: torch.manual_seed(42), random.seed(42). Only here: tf.random.set_seed also clears
        # TensorFlow's cache of instantiated functions, and re-instantiating the traced step costs a minute.
        keras.utils.set_random_seed(args.seed)
        with strategy.scope():
            model = build_model(seed=args.seed)   # the vocals network copied into the others (model.py L309-312)
            optimizer = TorchAdam(learning_rate=args.lr, l2=args.weight_decay)
            optimizer.build(model.trainable_variables)
        # The network has no Keras BatchNormalization layer (this is a no-op): its PyTorch-semantics
        # BatchNorm takes global-batch statistics itself (layers.batch_moments).
        distribute.sync_batch_norm(model, strategy)
        trainer = Trainer(model, optimizer, strategy, cl_sum=args.cl_sum, mcoef=args.mcoef)
        _SESSIONS[key] = (model, optimizer, trainer, [np.asarray(w) for w in model.weights])
    model, optimizer, trainer, initial = _SESSIONS[key]
    for var, value in zip(model.weights, initial):
        var.assign(value)
    for var in optimizer.variables:
        var.assign(np.zeros(var.shape, dtype=var.dtype))
    optimizer.learning_rate.assign(args.lr)
    return model, optimizer, trainer

def train(args) -> Path:
    """Run (or resume) the recipe; returns the path of the best weights."""
    strategy, out = distribute.start(args.distribute, args.out, args.resume, args.batch_size, args.threads)
    import tqdm

    from common.datasets import iter_musdb
    from common.plots import save_loss_curve

    from . import data
    from .model import set_input_statistics
    from .optim import TorchPlateau

    ckpt = out / "checkpoints"
    state_path, last_path, opt_path = ckpt / "state.json", ckpt / "last.weights.h5", ckpt / "optimizer.npz"
    resuming = args.resume and state_path.exists()
    if state_path.exists() and not args.resume:
        raise TrainError(f"{out} already holds a run (checkpoints/state.json); pass --resume to continue it "
                         f"or choose another --out")
    if args.resume and not resuming:
        print(f"nothing to resume in {out}; starting a new run", flush=True)
    train_tracks = data.list_tracks(args.root, *_subset(args.train_subset), args.musdb_format)
    valid_tracks = data.list_tracks(args.root, *_subset(args.valid_subset), args.musdb_format)
    if args.valid_tracks is not None:
        valid_tracks = valid_tracks[: args.valid_tracks]
    sampler = data.TrainSampler(train_tracks, seq_dur=args.seq_dur, samples_per_track=args.samples_per_track,
                                seed=args.seed)
    n_batches = -(-len(sampler) // args.batch_size)
    if args.max_batches:
        n_batches = min(n_batches, args.max_batches)
    ckpt.mkdir(parents=True, exist_ok=True)   # only once the data are found
    print(f"{len(train_tracks)} training tracks ({len(sampler)} excerpts of {args.seq_dur:g} s per epoch, "
          f"{n_batches} batches of {args.batch_size}), {len(valid_tracks)} validation tracks", flush=True)

    model, optimizer, trainer = _session(args, strategy)
    plateau = TorchPlateau(lr=args.lr, factor=args.lr_decay_gamma, patience=args.lr_decay_patience,
                           cooldown=args.lr_decay_cooldown)
    if resuming:
        state = json.loads(state_path.read_text())
        try:
            model.load_weights(str(last_path))
        except (ValueError, OSError) as err:
            raise TrainError(f"cannot resume from {last_path}: {str(err).splitlines()[0]}; delete {ckpt} to "
                             f"start again") from None
        _load_optimizer(optimizer, opt_path)
        plateau.load_state_dict(state["plateau"])
        print(f"resuming after epoch {state['epoch']} (best valid {state['best_loss']:.5f} at epoch "
              f"{state['best_epoch']})", flush=True)
    else:
        stats_path = out / "stats.npz"
        if stats_path.exists():
            means, stds = data.load_statistics(stats_path)
        else:
            bar = tqdm.tqdm(total=len(train_tracks), desc="input statistics", disable=args.quiet)
            means, stds = data.input_statistics(
                (t.mixture for t in iter_musdb(args.root, *_subset(args.train_subset),
                                                musdb_format=args.musdb_format)), progress=lambda: bar.update())
            bar.close()
            data.save_statistics(stats_path, means, stds)
        set_input_statistics(model, None, means, stds)
        state = {"epoch": 0, "train_loss_history": [], "valid_loss_history": [], "train_terms": [],
                 "valid_terms": [], "lr_history": [], "train_time_history": [], "best_loss": None,
                 "best_epoch": 0, "num_bad_epochs": 0, "stopped_early": False}
    write_json_atomic(out / "args.json", vars(args))

    epochs = tqdm.trange(state["epoch"] + 1, args.epochs + 1, desc="epochs", disable=args.quiet)
    for epoch in epochs:
        if state["stopped_early"]:
            break
        optimizer.learning_rate.assign(plateau.lr)
        start = time.time()
        pipeline = distribute.shard_by_data(make_pipeline(sampler, epoch, args.batch_size, args.max_batches))
        batches = strategy.experimental_distribute_dataset(pipeline)
        terms = []
        bar = tqdm.tqdm(batches, total=n_batches, desc=f"epoch {epoch} training", leave=False,
                        disable=args.quiet)
        first_s = None
        for batch in bar:
            mse, sdr = trainer.step(batch)
            terms.append(_loss_terms(sdr, mse, args.mcoef))
            if first_s is None:
                first_s = time.time() - start   # includes tracing the step in a new process
            bar.set_postfix(loss=f"{terms[-1]['loss']:.4f}")
        bar.close()
        del batches, pipeline
        if not terms:
            raise TrainError("the training pipeline gave no batch; check --root and --max-batches")
        train_terms = {k: float(np.mean([t[k] for t in terms])) for k in terms[0]}
        valid_start = time.time()
        vbar = tqdm.tqdm(total=len(valid_tracks), desc=f"epoch {epoch} validation", leave=False,
                         disable=args.quiet)
        valid = trainer.validation_loss(
            validation_tracks(args.root, args.musdb_format, args.valid_tracks, args.valid_subset),
            progress=lambda _: vbar.update())
        vbar.close()
        lr_used = plateau.lr
        plateau.step(valid["loss"])
        # utils.EarlyStopping(mode="min", min_delta=0, patience): the first value sets best
        improved = state["best_loss"] is None or valid["loss"] < state["best_loss"]
        if improved:
            state["best_loss"], state["best_epoch"], state["num_bad_epochs"] = valid["loss"], epoch, 0
            _save_weights(model, out / "model.weights.h5")
        else:
            state["num_bad_epochs"] += 1
            if state["num_bad_epochs"] >= args.patience:
                state["stopped_early"] = True
        state["epoch"] = epoch
        state["train_loss_history"].append(train_terms["loss"])
        state["valid_loss_history"].append(valid["loss"])
        state["train_terms"].append(train_terms)
        state["valid_terms"].append(valid)
        state["lr_history"].append(lr_used)
        state["train_time_history"].append(time.time() - start)
        state.setdefault("epoch_parts", []).append({"first_batch_s": first_s,
                                                    "validation_s": time.time() - valid_start})
        state["plateau"] = plateau.state_dict()
        _save_weights(model, last_path)
        _save_optimizer(optimizer, opt_path)
        write_json_atomic(state_path, state)
        write_json_atomic(out / "history.json", {k: v for k, v in state.items() if k != "plateau"})
        save_loss_curve(out / "loss_curve.png", list(range(1, epoch + 1)),
                        {"train": state["train_loss_history"], "valid": state["valid_loss_history"]},
                        title="xumx-sliCQ: 0.1 x (-SI-SDR) + block MSE", xlabel="epoch", ylabel="loss")
        line = (f"epoch {epoch}: train {train_terms['loss']:.5f} valid {valid['loss']:.5f} "
                f"(mse {valid['mse_term']:.5f}, sdr {valid['sdr_term']:.3f}) lr {lr_used:.3g} "
                f"{time.time() - start:.1f} s{' *' if improved else ''}")
        if args.quiet:
            print(line, flush=True)
        else:
            epochs.write(line)
        if state["stopped_early"]:
            print(f"early stop: no improvement for {args.patience} epochs", flush=True)
    return out / "model.weights.h5"


def _loss_terms(sdr, mse, mcoef) -> dict:
    from . import losses

    return losses.combine(np.asarray(sdr), np.asarray(mse), mcoef)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from common.datasets import DatasetError

    from .data import DataError

    def action() -> int:
        best = train(args)
        print(f"best weights: {best}")
        return 0

    return run_cli(action, errors=(TrainError, DataError, DatasetError, distribute.DistributeError),
                   on_interrupt=f"continue with the same command plus --resume (checkpoints in {args.out})")


if __name__ == "__main__":
    sys.exit(main())
