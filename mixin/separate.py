"""Separation with three CDAEs and soft masks: the Python API and ``python -m mixin.separate``.

    python -m mixin.separate INPUT [INPUT ...] --weights DIR --outdir OUT
                             [--instrumental] [--single-model] [--legacy] [--block-chunks N]

writes OUT/<input name without extension>/{harmonic,percussive,vocal}.wav (mono float32, 44.1 kHz, same
length as the input; no vocal.wav with --instrumental). --model-dir is the old name of --weights; the
flags every system's separate shares are in common/cli.py.

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

DEFAULT_BLOCK_CHUNKS = 2  # chunks per batched NSGT/CDAE call: as fast as 4 or 8 here, and lower peak memory
DEFAULT_PRECISION = "single"  # of the NSGT in separate(): see transform.BatchedNSGT


class CDAEBank:
    """The three CDAEs of a model dir, run together in one graph on a batch of magnitudes.

    grid(mags (n, 96, 1948) float32) -> {"percussive", "harmonic", "vocal": (n, 32, 390) float32}: each
    CDAE's output before its final nearest-neighbour upsampling (model.fused_inference), from which the
    soft masks are taken. __call__(mags) -> the same dict at (n, 96, 1948): the models' outputs.
    With instrumental=True the vocal model is neither loaded nor run and its output is zeros.
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

    def grid(self, mags: np.ndarray) -> dict[str, np.ndarray]:
        if self._run is None:
            from .model import fused_inference

            self._run = fused_inference(list(self.models.values()))
        mags = np.asarray(mags, dtype=np.float32)  # what Keras' predict did to the float64 |C|
        out = np.moveaxis(self._run(mags[..., None]).numpy(), -1, 0)  # (len(models), n, 32, 390)
        result = dict(zip(self.models, out))
        if self.instrumental:
            result["vocal"] = np.zeros_like(result["harmonic"])
        return result

    def __call__(self, mags: np.ndarray) -> dict[str, np.ndarray]:
        from .model import upsample_to_coefs

        return {c: upsample_to_coefs(out) for c, out in self.grid(mags).items()}

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
    """Complex coefficients of each output: {component: (n, 96, 1948) complex128}.

    outs: the CDAE outputs at (n, 96, 1948), or at (n, 32, 390) (CDAEBank.grid: the masks are per
    pixel, so they are taken on that grid and then upsampled, which gives the same numbers).
    """
    from .masks import apply_mask, single_model_coefs, soft_masks
    from .model import upsample_to_coefs

    def full(a):
        return a if a.shape[-2:] == COEF_SHAPE else upsample_to_coefs(a)

    if single_model:
        return {c: single_model_coefs(full(outs[c]), coefs, legacy=legacy) for c in COMPONENTS}
    masks = dict(zip(COMPONENTS, soft_masks(outs["percussive"], outs["harmonic"], outs["vocal"])))
    return {c: apply_mask(full(masks[c]), coefs) for c in COMPONENTS}


def n_processed_chunks(n_samples: int, legacy: bool) -> int:
    """ceil(N/44032) chunks; the original processed all but the last (quirk 1)."""
    n_chunks = int(np.ceil(n_samples / CHUNK_SIZE))
    return max(0, n_chunks - 1) if legacy else n_chunks


def separate(x: np.ndarray, model_dir=None, models=None, instrumental: bool = False,
             single_model: bool = False, legacy: bool = False, block_chunks: int = DEFAULT_BLOCK_CHUNKS,
             progress: bool = False, bank: CDAEBank | None = None, overlap: bool = True,
             precision: str = DEFAULT_PRECISION):
    """Separate a mono 44.1 kHz signal into (harmonic, percussive, vocal), float32, each x's length.

    x: (samples,) or (channels, samples) (averaged to mono), any float dtype (taken as float32, as the
    original's librosa input). model_dir: folder with model_{harmonic,percussive,vocal}.h5/.keras, or
    models: {component: keras model}, or bank: a ready CDAEBank. instrumental: no vocal model, vocal is
    zeros. single_model: each network's magnitude with the mixture phase instead of masks.
    legacy: skip the last chunk and use the original's single-model bug, as sevagh/MiXiN did.
    overlap: run the numpy stages (NSGT, masks, inverse NSGT) of neighbouring blocks in a second
    thread while TensorFlow runs the CDAEs of this block; the result is the same either way.
    precision: "single" (default) runs the NSGT and its inverse in float32/complex64: about twice as
    fast, outputs within float32 rounding of "double", the original's float64 transform (max
    difference 1.4e-6 at an output peak of 0.38 on benchmarks/mixin_separate.py's signal). "double" with ``legacy=True`` and TF_ENABLE_ONEDNN_OPTS=0 is bit-identical to the
    original's outputs (tests/test_mixin.py, README).
    """
    from .masks import apply_grid_masks, soft_masks
    from .transform import batched_nsgt, chunk_signal

    x = to_mono_float32(x)
    bank = bank or CDAEBank(model_dir=model_dir, models=models, instrumental=instrumental)
    n = x.shape[0]
    outputs = {c: np.zeros(n, dtype=np.float32) for c in COMPONENTS}
    n_chunks = n_processed_chunks(n, legacy)
    nsgt = batched_nsgt(precision)
    step = max(1, int(block_chunks))
    blocks = [(b0, min(b0 + step, n_chunks)) for b0 in range(0, n_chunks, step)]
    # masked coefficients of a block, reused (synthesise runs one block at a time) and FFT'd in place
    workspace = np.empty(len(COMPONENTS) * min(step, n_chunks) * COEF_SHAPE[0] * COEF_SHAPE[1], nsgt.complex_dtype)

    def analyse(block):  # -> (b, 96, 1948) complex coefficients and their float32 magnitudes
        coefs = nsgt.forward(chunk_signal(x, *block))
        return coefs, np.abs(coefs).astype(np.float32, copy=False)

    def synthesise(block, coefs, outs):  # masks, one inverse NSGT for the three outputs, write back
        if single_model:
            rec = _reconstruct(coefs, outs, single_model, legacy)
            masked = np.concatenate([rec[c] for c in COMPONENTS])
        else:  # the soft masks on the CDAEs' (32, 390) grid, applied without upsampling them
            masks = soft_masks(outs["percussive"], outs["harmonic"], outs["vocal"])  # COMPONENTS order
            masked = apply_grid_masks(masks, coefs, out=workspace).reshape(-1, *COEF_SHAPE)  # (3b, 96, 1948)
        signal = nsgt.backward(masked, overwrite=True)  # (3b, 44032) float32 or float64
        lo, hi = block[0] * CHUNK_SIZE, min(block[1] * CHUNK_SIZE, n)
        for comp, sig in zip(COMPONENTS, np.split(signal, len(COMPONENTS))):
            outputs[comp][lo:hi] = sig.reshape(-1)[: hi - lo]

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(blocks), unit="block", desc="separating", leave=False)
    if overlap and len(blocks) > 1:
        from concurrent.futures import ThreadPoolExecutor

        # One worker runs, in order, analyse(i + 1) and synthesise(i - 1) while the main thread is in
        # the CDAE graph of block i (TensorFlow releases the GIL, numpy's FFTs and copies too). At most
        # two blocks besides the current one are alive, so memory stays bounded by the block size.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mixin-nsgt") as pool:
            done = []
            ahead = pool.submit(analyse, blocks[0])
            for i, block in enumerate(blocks):
                coefs, mags = ahead.result()
                if i + 1 < len(blocks):
                    ahead = pool.submit(analyse, blocks[i + 1])
                done.append(pool.submit(synthesise, block, coefs, bank.grid(mags)))
                del coefs, mags
                while done and done[0].done():
                    done.pop(0).result()  # re-raises a worker's error here
                if bar is not None:
                    bar.update()
            for future in done:
                future.result()
    else:
        for block in blocks:
            coefs, mags = analyse(block)
            synthesise(block, coefs, bank.grid(mags))
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
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
    from common.cli import add_separate_arguments

    p = argparse.ArgumentParser(prog="python -m mixin.separate", description=__doc__.split("\n\n")[0])
    add_separate_arguments(p, inputs="audio files (any rate; mono-mixed, resampled to 44.1 kHz)",
                           weights="folder with model_{harmonic,percussive,vocal}.h5 (original) or .keras "
                                   "(mixin.train); --model-dir is the old name",
                           weights_required=True, weights_aliases=("--model-dir",),
                           sources=("harmonic", "percussive", "vocal"))
    p.add_argument("--instrumental", action="store_true", help="no vocal model: harmonic and percussive only")
    p.add_argument("--single-model", action="store_true",
                   help="each network's magnitude with the mixture phase instead of soft masks")
    p.add_argument("--legacy", action="store_true",
                   help="reproduce the original exactly: skip the last chunk, buggy --single-model phase, "
                        "float64 NSGT (the default path runs it in float32)")
    p.add_argument("--first-prefix", action="store_true",
                   help="name outputs by the part of the input name before the first '_' (as the original)")
    p.add_argument("--block-chunks", type=int, default=DEFAULT_BLOCK_CHUNKS,
                   help=f"chunks per batched NSGT/CDAE call (memory vs speed; default {DEFAULT_BLOCK_CHUNKS})")
    return p


def main(argv=None) -> int:
    from common.cli import CLIError, output_names, parse_separate_args, quiet_tensorflow, run_batch, run_cli

    parser = build_parser()
    args = parse_separate_args(parser, argv)
    if args.block_chunks < 1:
        parser.error("--block-chunks must be at least 1")
    quiet_tensorflow()
    from common.audio import load_audio, save_audio

    from .model import ModelFileError

    outdir = Path(args.outdir)

    def run() -> int:
        names = output_names(args.inputs, args.name_from_folder,
                             rename=(lambda name: name.split("_")[0]) if args.first_prefix else None)
        bank = CDAEBank(model_dir=args.weights, instrumental=args.instrumental)

        def process(path: str, name: str) -> str:
            x, _ = load_audio(path, sr=SAMPLE_RATE, mono=True)
            h, p, v = separate(x[0], bank=bank, single_model=args.single_model, legacy=args.legacy,
                               block_chunks=args.block_chunks, progress=not args.quiet,
                               precision="double" if args.legacy else DEFAULT_PRECISION)  # --legacy: exact
            estimates = {"harmonic": h, "percussive": p, "vocal": v}
            if args.instrumental:
                del estimates["vocal"]
            for source, audio in estimates.items():
                save_audio(outdir / name / f"{source}{args.suffix}", audio, SAMPLE_RATE, subtype=args.subtype)
            if args.plots:
                from common.plots import save_separation_figure

                save_separation_figure(outdir / name / "spectrograms.png", x, estimates,
                                       SAMPLE_RATE, title=f"MiXiN: {name}")
            return f"{path} -> {outdir / name}/{{{','.join(estimates)}}}{args.suffix}"

        return run_batch(args.inputs, names, process, quiet=args.quiet, outdir=outdir)

    return run_cli(run, errors=(ModelFileError, CLIError))


class _CallableModule(types.ModuleType):
    """``mixin.separate`` is both this module and the function: calling the module separates."""

    def __call__(self, *args, **kwargs):
        return separate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    from common.cli import exit_now

    exit_now(main())
