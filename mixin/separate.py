"""Separation with three CDAEs and soft masks: the Python API and ``python -m mixin.separate``.

    python -m mixin.separate INPUT [INPUT ...] --model-dir DIR --outdir OUT
                             [--instrumental] [--single-model] [--legacy] [--block-chunks N]

writes OUT/<input name without extension>/{harmonic,percussive,vocal}.wav (mono float32, 44.1 kHz, same
length as the input; no vocal.wav with --instrumental).

The computation is the original's (sevagh/MiXiN:mixin/mixin_model.py xtract_mixin): mono 44.1 kHz input,
zero-padded to a multiple of 44032, non-overlapping chunks each with its own Bark NSGT, |C| through the
percussive, harmonic and vocal CDAEs, masks M_j = j^2/(P^2+H^2+V^2+1e-7) on the complex C, inverse NSGT,
padding stripped, float32. Here chunks go through in blocks (one batched NSGT and one batched CDAE call
per block), which is what makes it fast and keeps memory bounded by the block, not the song.
``legacy=True`` also skips the last chunk as the original did (``range(n_chunks - 1)``, quirk 1).
"""
from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import numpy as np

from .params import CHUNK_SIZE, COEF_SHAPE, COMPONENTS, OUTPUT_ORDER, SAMPLE_RATE

DEFAULT_BLOCK_CHUNKS = 4  # chunks per batched NSGT/CDAE call (~25 MB of coefficients per block)


class CDAEBank:
    """The three CDAEs of a model dir, run together on a batch of magnitudes.

    __call__(mags (n, 96, 1948) float32) -> {"percussive", "harmonic", "vocal": (n, 96, 1948) float32};
    with instrumental=True the vocal model is neither loaded nor run and its output is zeros.
    """

    def __init__(self, model_dir=None, models: dict | None = None, instrumental: bool = False):
        from .model import find_model_file, load_cdae

        self.instrumental = instrumental
        needed = [c for c in COMPONENTS if not (instrumental and c == "vocal")]
        if models is None:
            if model_dir is None:
                raise ValueError("give model_dir (a folder with model_{harmonic,percussive,vocal}.h5) or models")
            models = {c: load_cdae(find_model_file(model_dir, c), name=f"cdae_{c}") for c in needed}
        missing = [c for c in needed if c not in models]
        if missing:
            raise ValueError(f"models for {missing} are missing")
        self.models = {c: models[c] for c in needed}
        self._run = None

    def _compiled(self):
        if self._run is None:
            import tensorflow as tf

            models = self.models

            @tf.function(input_signature=[tf.TensorSpec([None, *COEF_SHAPE, 1], tf.float32)])
            def run(x):
                return {c: m(x, training=False) for c, m in models.items()}

            self._run = run
        return self._run

    def __call__(self, mags: np.ndarray) -> dict[str, np.ndarray]:
        mags = np.asarray(mags, dtype=np.float32)  # what Keras' predict did to the float64 |C|
        outs = self._compiled()(mags[..., None])
        result = {c: outs[c].numpy()[..., 0] for c in self.models}
        if self.instrumental:
            result["vocal"] = np.zeros_like(result["harmonic"])
        return result

    def predict_one(self, mag: np.ndarray) -> dict[str, np.ndarray]:
        """The original's way: one ``predict`` call per model, batch 1, order P, H, V."""
        x = np.reshape(mag, (1, *COEF_SHAPE, 1))
        result = {c: np.reshape(m.predict(x, verbose=0), COEF_SHAPE) for c, m in self.models.items()}
        if self.instrumental:
            result["vocal"] = np.zeros_like(result["harmonic"])
        return result


def to_mono_float32(x: np.ndarray) -> np.ndarray:
    """(samples,) or (channels, samples) -> (samples,) float32, channels averaged (librosa.to_mono)."""
    x = np.asarray(x)
    if x.ndim == 2:
        if x.shape[0] > x.shape[1]:
            raise ValueError(f"expected (channels, samples), got shape {x.shape}; transpose the array")
        x = x.astype(np.float32).mean(axis=0, dtype=np.float32)
    elif x.ndim != 1:
        raise ValueError(f"expected a 1-D signal or (channels, samples), got shape {x.shape}")
    return x.astype(np.float32, copy=False)


def _reconstruct(coefs, outs, single_model, legacy):
    """Complex coefficients of each output: {component: (n, 96, 1948) complex128}."""
    from .masks import apply_mask, single_model_coefs, soft_masks

    if single_model:
        return {c: single_model_coefs(outs[c], coefs, legacy=legacy) for c in COMPONENTS}
    masks = dict(zip(COMPONENTS, soft_masks(outs["percussive"], outs["harmonic"], outs["vocal"])))
    return {c: apply_mask(masks[c], coefs) for c in COMPONENTS}


def n_processed_chunks(n_samples: int, legacy: bool) -> int:
    """ceil(N/44032) chunks; the original processed all but the last (quirk 1)."""
    n_chunks = int(np.ceil(n_samples / CHUNK_SIZE))
    return max(0, n_chunks - 1) if legacy else n_chunks


def separate(x: np.ndarray, model_dir=None, models=None, instrumental: bool = False,
             single_model: bool = False, legacy: bool = False, block_chunks: int = DEFAULT_BLOCK_CHUNKS,
             progress: bool = False, bank: CDAEBank | None = None):
    """Separate a mono 44.1 kHz signal into (harmonic, percussive, vocal), float32, each x's length.

    x: (samples,) or (channels, samples) (averaged to mono), any float dtype (taken as float32, as the
    original's librosa input). model_dir: folder with model_{harmonic,percussive,vocal}.h5/.keras, or
    models: {component: keras model}, or bank: a ready CDAEBank. instrumental: no vocal model, vocal is
    zeros. single_model: each network's magnitude with the mixture phase instead of masks.
    legacy: skip the last chunk and use the original's single-model bug, as sevagh/MiXiN did.
    """
    from .transform import batched_nsgt, chunk_signal

    x = to_mono_float32(x)
    bank = bank or CDAEBank(model_dir=model_dir, models=models, instrumental=instrumental)
    n = x.shape[0]
    outputs = {c: np.zeros(n, dtype=np.float32) for c in COMPONENTS}
    n_chunks = n_processed_chunks(n, legacy)
    nsgt = batched_nsgt()
    starts = range(0, n_chunks, max(1, int(block_chunks)))
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, unit="block", desc="separating", leave=False)
    for b0 in starts:
        b1 = min(b0 + block_chunks, n_chunks)
        coefs = nsgt.forward(chunk_signal(x, b0, b1))  # (b, 96, 1948) complex128
        outs = bank(np.abs(coefs))
        for comp, c_out in _reconstruct(coefs, outs, single_model, legacy).items():
            signal = nsgt.backward(c_out).reshape(-1)  # float64, (b * 44032,)
            lo = b0 * CHUNK_SIZE
            hi = min(b1 * CHUNK_SIZE, n)
            outputs[comp][lo:hi] = signal[: hi - lo]
        del coefs, outs
    return tuple(outputs[c] for c in OUTPUT_ORDER)


def separate_per_chunk(x: np.ndarray, bank: CDAEBank, single_model: bool = False, legacy: bool = False):
    """The original's straightforward loop: nsgt's own transform, one chunk at a time, batch-1 predict.

    Same result as :func:`separate` (used as the baseline of benchmarks/mixin_separate.py and in tests).
    """
    from .transform import backward_chunk, forward_chunk

    x = to_mono_float32(x)
    n = x.shape[0]
    n_chunks = int(np.ceil(n / CHUNK_SIZE))
    padded = np.concatenate((x, np.zeros(n_chunks * CHUNK_SIZE - n)))  # float64, as the original
    out = {c: np.zeros_like(padded) for c in COMPONENTS}
    for k in range(n_processed_chunks(n, legacy)):
        sl = slice(k * CHUNK_SIZE, (k + 1) * CHUNK_SIZE)
        coefs = forward_chunk(padded[sl])
        outs = bank.predict_one(np.abs(coefs))
        for comp, c_out in _reconstruct(coefs, outs, single_model, legacy).items():
            out[comp][sl] = backward_chunk(c_out)
    return tuple(out[c][:n].astype(np.float32) for c in OUTPUT_ORDER)


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mixin.separate", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files (any rate; mono-mixed, resampled to 44.1 kHz)")
    p.add_argument("--model-dir", required=True,
                   help="folder with model_{harmonic,percussive,vocal}.h5 (original) or .keras (mixin.train)")
    p.add_argument("--outdir", required=True, help="output folder; writes OUTDIR/<name>/<source>.wav")
    p.add_argument("--instrumental", action="store_true", help="no vocal model: harmonic and percussive only")
    p.add_argument("--single-model", action="store_true",
                   help="each network's magnitude with the mixture phase instead of soft masks")
    p.add_argument("--legacy", action="store_true",
                   help="reproduce the original exactly: skip the last chunk, buggy --single-model phase")
    p.add_argument("--first-prefix", action="store_true",
                   help="name outputs by the part of the input name before the first '_' (as the original)")
    p.add_argument("--name-from-folder", action="store_true",
                   help="name outputs after the input's folder (for <track>/mix.wav or <track>/mixture.wav layouts)")
    p.add_argument("--block-chunks", type=int, default=DEFAULT_BLOCK_CHUNKS,
                   help=f"chunks per batched NSGT/CDAE call (memory vs speed; default {DEFAULT_BLOCK_CHUNKS})")
    p.add_argument("--plots", action="store_true",
                   help="also write OUTDIR/<name>/spectrograms.png (input and estimates, one colour range)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from common.audio import AudioError, load_audio, save_audio

    from .model import ModelFileError

    if args.block_chunks < 1:
        print("error: --block-chunks must be at least 1", file=sys.stderr)
        return 2
    try:
        bank = CDAEBank(model_dir=args.model_dir, instrumental=args.instrumental)
        for path in args.inputs:
            x, _ = load_audio(path, sr=SAMPLE_RATE, mono=True)
            name = Path(path).resolve().parent.name if args.name_from_folder else Path(path).stem
            if args.first_prefix:
                name = name.split("_")[0]
            h, p, v = separate(x[0], bank=bank, single_model=args.single_model, legacy=args.legacy,
                               block_chunks=args.block_chunks, progress=not args.quiet)
            estimates = {"harmonic": h, "percussive": p, "vocal": v}
            if args.instrumental:
                del estimates["vocal"]
            for source, audio in estimates.items():
                save_audio(Path(args.outdir) / name / f"{source}.wav", audio, SAMPLE_RATE, subtype="FLOAT")
            if args.plots:
                from common.plots import save_separation_figure

                save_separation_figure(Path(args.outdir) / name / "spectrograms.png", x, estimates,
                                       SAMPLE_RATE, title=f"MiXiN: {name}")
            if not args.quiet:
                print(f"{path} -> {Path(args.outdir) / name}/{{{','.join(estimates)}}}.wav")
    except (AudioError, ModelFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


class _CallableModule(types.ModuleType):
    """``mixin.separate`` is both this module and the function: calling the module separates."""

    def __call__(self, *args, **kwargs):
        return separate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
