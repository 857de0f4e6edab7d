"""`python -m drnn_singing.separate INPUT [INPUT ...] [--weights W] --outdir OUT`

Writes OUT/<name>/vocals.wav and OUT/<name>/accompaniment.wav (16 kHz, mono, float WAV; --format
and --subtype choose FLAC or PCM). Flags shared by every system's separate: common/cli.py.
Any input rate and channel count: resampled to 16 kHz and downmixed (channel mean).
Without --weights the shipped drnn2 + discriminative model (drnn_singing/pretrained/) is used.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from . import features as F
from . import params as P
from .quantize import INT8_NAME, load_int8

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
WEIGHTS_NAME = "model.weights.h5"
CONFIG_NAME = "config.json"
# A training mixture is two unit-energy sources over a clip of mean length 8.01 s (128,160 samples),
# so its RMS is about sqrt(2/128160). Inputs of any level are scaled to it before the network and
# scaled back after (here; Huang only processed MIR-1K clips, always at this level).
REFERENCE_RMS = float(np.sqrt(2.0 / 128160))
# Frames per network call for long inputs: 400 frames = 12.8 s, just over the longest MIR-1K clip
# (12.03 s), so the recurrence never runs longer than on the clips it was checked on (here; Huang
# ran each clip as one sequence). The recurrent state restarts at zero in each block.
BLOCK_FRAMES = 400


class ModelFileError(ValueError):
    """A missing or unreadable model folder / weights file."""


def folder_weights_file(folder: Path) -> Path:
    """The one model's weights in a run or model folder: model.weights.h5, or quantize.py's model.int8.npz."""
    int8_only = (folder / INT8_NAME).is_file() and not (folder / WEIGHTS_NAME).is_file()
    return folder / (INT8_NAME if int8_only else WEIGHTS_NAME)


def resolve_weights(weights=None) -> tuple[list[Path], dict]:
    """--weights -> (weight files, config dict).

    A folder holds config.json and model.weights.h5 (or model.int8.npz, written by quantize.py), or, for a bag,
    the weight files config.json lists under ``members`` (one architecture, different seeds; their outputs are
    averaged). A .weights.h5 file is one model with the config.json beside it (so one member of a bag can be run
    alone). None = the shipped model.
    """
    path = Path(weights) if weights is not None else PRETRAINED_DIR
    folder = path if path.is_dir() else path.parent
    config_file = folder / CONFIG_NAME
    hint = ("the shipped model is missing from drnn_singing/pretrained/; restore it from git or train one "
            "with `python -m drnn_singing.train`") if weights is None else "pass a model folder written by train.py"
    single = folder_weights_file(path).name
    if not path.exists() or (path.is_dir() and not config_file.is_file() and not (path / single).is_file()):
        raise ModelFileError(f"{path / WEIGHTS_NAME if path.is_dir() else path}: no model weights file; {hint}")
    if not config_file.is_file():
        raise ModelFileError(f"{config_file}: missing (it says which architecture the weights hold); "
                             "keep config.json beside the weights written by train.py")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{config_file}: unreadable ({err}); rewrite it or retrain") from None
    if not path.is_dir():
        if "members" in config:                   # one member of a bag, run alone
            config = {k: v for k, v in config.items() if k != "members"}
            config["label"] = f"{config.get('label', config.get('arch'))}: {path.name} alone"
        return [path], config
    members = config.get("members") or [single]
    if not isinstance(members, list) or not all(isinstance(m, str) and m for m in members):
        raise ModelFileError(f"{config_file}: 'members' must be a list of weight file names")
    files = [path / name for name in members]
    for weights_file in files:
        if not weights_file.is_file():
            what = "lists it as a bag member" if "members" in config else "has no weights beside it"
            raise ModelFileError(f"{weights_file}: no model weights file; {config_file} {what}; {hint}")
    return files, config


class Separator:
    """Trained model(s) and a compiled whole-sequence predictor.

    __call__(features (T, context*513)) -> masked magnitudes (T, 1026) = [music, voice]. With several models (a bag)
    the masked magnitudes are averaged, i.e. the soft masks are, since every member's two outputs sum to the mixture.
    """

    def __init__(self, models, config: dict):
        import tensorflow as tf
        self.models = list(models) if isinstance(models, (list, tuple)) else [models]
        self.model, self.config = self.models[0], config
        inputs = self.model.input_shape[-1]
        members = self.models

        def predict(x):
            outputs = [m(x, training=False) for m in members]
            return outputs[0] if len(outputs) == 1 else tf.add_n(outputs) / len(outputs)

        self._predict = tf.function(predict, reduce_retracing=True,
                                    input_signature=[tf.TensorSpec((1, None, inputs), tf.float32)])

    def __call__(self, feats: np.ndarray, block_frames: int = 0) -> np.ndarray:
        if block_frames <= 0 or feats.shape[0] <= block_frames:
            return self._predict(feats[None].astype(np.float32)).numpy()[0]
        parts = [self._predict(feats[None, s:s + block_frames].astype(np.float32)).numpy()[0]
                 for s in range(0, feats.shape[0], block_frames)]
        return np.concatenate(parts, axis=0)


def load_separator(weights=None) -> Separator:
    """Build the architecture named in config.json and load its weights, one model per bag member
    (float16 files are upcast; model.int8.npz files are dequantised)."""
    from .model import build_model
    weight_files, config = resolve_weights(weights)
    models = []
    for weights_file in weight_files:
        arch = P.architecture_of(config)
        model = build_model(arch["arch"], hidden=arch["hidden"], n_layers=arch["layers"] or P.N_HIDDEN_LAYERS,
                            input_norm=bool(arch["input_norm"]), recurrent_input=arch["recurrent_input"],
                            head_activation=arch["head_activation"])
        try:
            if weights_file.suffix == ".npz":
                load_int8(model, weights_file)
            else:
                model.load_weights(str(weights_file))
        except Exception as err:  # h5py/keras raise many types for truncated or mismatched files
            raise ModelFileError(f"{weights_file}: cannot be loaded into a {config['arch']} model "
                                 f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); retrain or restore it") from None
        models.append(model)
    return Separator(models, config)


def separate_magnitudes(separator: Separator, mixture: np.ndarray, block_frames: int = 0):
    """mixture (samples,) at 16 kHz -> (music magnitude (T, 513), voice magnitude (T, 513), mixture STFT)."""
    spec = F.stft(mixture)
    out = separator(F.add_context(np.abs(spec)), block_frames)
    return out[:, :P.N_BINS], out[:, P.N_BINS:], spec


def separate_signal(separator: Separator, mixture: np.ndarray, block_frames: int = BLOCK_FRAMES,
                    normalize: bool = True, masks: dict | None = None) -> dict[str, np.ndarray]:
    """mixture (samples,) at 16 kHz -> {"accompaniment", "vocals"}: (samples,) float32 each.

    Mixture-phase resynthesis; samples past the last full frame (and the attenuated edges) are
    what the uncentred framing leaves: the outputs are zero-padded to the input length. A silent
    input gives silent outputs; an input shorter than one frame is zero-padded (half a frame in
    front) and the outputs cropped back to its length.
    """
    mixture = np.asarray(mixture, np.float32)
    length = mixture.size
    if not np.any(mixture):  # silence (or nothing): both sources are silent, as in the other systems
        if masks is not None:
            masks.update(accompaniment=np.zeros((P.N_BINS, 1), np.float32), vocals=np.zeros((P.N_BINS, 1), np.float32))
        return {"accompaniment": np.zeros(length, np.float32), "vocals": np.zeros(length, np.float32)}
    offset = 0
    if length < P.N_FFT:
        # Shorter than one frame: half a frame of zeros in front and enough behind that every input
        # sample lies where two sin^2 windows overlap-add to one; cropped back below.
        offset = P.N_FFT // 2
        total = P.N_FFT + P.HOP * int(np.ceil(length / P.HOP))
        mixture = np.pad(mixture, (offset, total - offset - length))
    scale = 1.0
    if normalize:
        rms = float(np.sqrt(np.mean(np.square(mixture, dtype=np.float64))))
        scale = REFERENCE_RMS / rms
    music, voice, spec = separate_magnitudes(separator, mixture * scale, block_frames)
    if masks is not None:  # the soft masks the network applied, (513, T) each, for plots
        total = music + voice + P.MASK_EPS
        masks.update(accompaniment=(music / total).T, vocals=(voice / total).T)
    out = {}
    for name, mag in (("accompaniment", music), ("vocals", voice)):
        wave = F.resynthesize(mag, spec)[offset:offset + length] / scale
        out[name] = np.pad(wave, (0, length - wave.size)).astype(np.float32)
    return out


def build_parser() -> argparse.ArgumentParser:
    from common.cli import add_separate_arguments

    parser = argparse.ArgumentParser(prog="python -m drnn_singing.separate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_separate_arguments(parser, inputs="audio files (any rate, any channel count)",
                           weights="model folder from train.py or bag.py, or one .weights.h5 file; default: the "
                                   "shipped model", sources=("vocals", "accompaniment"))
    parser.add_argument("--block-frames", type=int, default=BLOCK_FRAMES,
                        help=f"frames per network call (memory bound for long files; default {BLOCK_FRAMES})")
    return parser


def main(argv=None) -> int:
    from common.cli import CLIError, output_names, parse_separate_args, quiet_tensorflow, run_batch, run_cli

    args = parse_separate_args(build_parser(), argv)
    quiet_tensorflow()
    from common.audio import load_audio, save_audio

    outdir = Path(args.outdir)

    def run() -> int:
        names = output_names(args.inputs, args.name_from_folder)
        separator = load_separator(args.weights)

        def process(path: str, name: str) -> str:
            audio, _ = load_audio(path, sr=P.SAMPLE_RATE, mono=True, max_channels=64)
            masks = {} if args.plots else None
            sources = separate_signal(separator, audio[0], args.block_frames, masks=masks)
            for source, wave in sources.items():
                save_audio(outdir / name / f"{source}{args.suffix}", wave, P.SAMPLE_RATE, subtype=args.subtype)
            if args.plots:
                from common.plots import save_separation_figure

                save_separation_figure(outdir / name / "spectrograms.png", audio, sources,
                                       P.SAMPLE_RATE, masks=masks, title=f"DRNN: {name}")
            return f"{path} -> {outdir / name}/{{vocals,accompaniment}}{args.suffix}"

        return run_batch(args.inputs, names, process, quiet=args.quiet, errors=(F.FeatureError,), outdir=outdir)

    return run_cli(run, errors=(ModelFileError, CLIError))


if __name__ == "__main__":
    from common.cli import exit_now

    exit_now(main())
