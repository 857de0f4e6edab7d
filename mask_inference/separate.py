"""Separate vocals from accompaniment: ``python -m mask_inference.separate INPUT [INPUT ...] --method M --outdir OUT``.

Writes OUT/<name>/vocals.wav and OUT/<name>/accompaniment.wav (the input's rate and channel
count, float WAV). Methods:
  deep      the mask-inference network (the shipped MIR-1K model unless --weights): every channel is
            a separate batch element over the whole clip, BatchNorm in inference mode, soft mask on
            the mixture magnitude with the mixture phase (nussl DeepMaskEstimation, design §1.5);
            the input is resampled to the model's rate and the outputs back.
  repet     REPET with nussl's defaults (repet.py)
  hpss      librosa HPSS with vocals := harmonic, as the student did (hpss.py)
  harmonic  our harmonic-comb model on a pyin f0 track (harmonic.py)
Accompaniment: deep and harmonic give mixture - vocals (the student's time-domain residual); with
``--accompaniment masked`` deep uses (1 - mask) instead. REPET and HPSS give their second mask's output.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import params

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
WEIGHTS_NAME = "model.weights.h5"
CONFIG_NAME = "config.json"


class SeparationError(ValueError):
    """Missing or unusable model, bad method or options; the message names the file and the fix."""


@dataclass
class DeepModel:
    """Loaded mask-inference network(s) and the STFT/rate they were trained with.

    ``models`` holds one Keras model, or the members of a bag (config.json ``"members"``: weight files of one
    architecture trained with different seeds), whose vocal masks are averaged, as Demucs averages its bags.
    """
    models: list
    config: dict
    paths: list[Path]


def member_files(folder: Path, config: dict) -> list[Path]:
    """The weight files a model folder holds: config.json's ``members`` (a bag) or model.weights.h5."""
    members = config.get("members") or [WEIGHTS_NAME]
    if not isinstance(members, list) or not all(isinstance(m, str) and m for m in members):
        raise SeparationError(f"{folder / CONFIG_NAME}: 'members' must be a list of weight file names")
    return [folder / name for name in members]


def _read_config(config_file: Path, missing_ok: bool = False) -> dict:
    if missing_ok and not config_file.exists():
        return {}
    try:
        return json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SeparationError(f"{config_file}: unreadable model config ({err}); rerun training") from err


def load_deep_model(weights: str | Path | None = None) -> DeepModel:
    """Load weights (a run folder, a model or bag folder, or a ``.weights.h5`` with config.json beside it).

    None -> the shipped model in mask_inference/pretrained/.
    """
    path = Path(weights) if weights is not None else PRETRAINED_DIR
    folder = path if path.is_dir() else path.parent
    config_file = folder / CONFIG_NAME
    if not path.exists() or (path.is_dir() and not (path / WEIGHTS_NAME).exists()
                             and "members" not in _read_config(config_file, missing_ok=True)):
        if weights is None:
            raise SeparationError(f"the shipped model is missing ({path / WEIGHTS_NAME}); train one with "
                                  f"`python -m mask_inference.train --dataset mir1k --root ROOT --out DIR` "
                                  f"and pass --weights DIR")
        raise SeparationError(f"{path / WEIGHTS_NAME if path.is_dir() else path} does not exist; pass a training "
                              f"run folder or its {WEIGHTS_NAME}")
    if not config_file.exists():
        raise SeparationError(f"{config_file} is missing; the weights need the config.json written next to "
                              f"them by mask_inference.train")
    config = _read_config(config_file)
    files = member_files(folder, config) if path.is_dir() else [path]
    from .model import build_model

    models = []
    for weights_file in files:
        if not weights_file.exists():
            raise SeparationError(f"{weights_file} does not exist; {config_file} lists it as a bag member")
        model = build_model(num_bins=config.get("num_bins", params.NUM_BINS),
                            hidden_size=config.get("hidden_size", params.HIDDEN_SIZE),
                            num_layers=config.get("num_layers", params.NUM_LAYERS),
                            dropout=config.get("dropout", params.DROPOUT))
        try:
            model.load_weights(weights_file)
        except Exception as err:  # noqa: BLE001 - h5py/keras raise many types for a bad file
            raise SeparationError(f"{weights_file}: cannot load these weights into a model with "
                                  f"{config.get('num_layers')} BLSTM layer(s) ({str(err).splitlines()[0]}); "
                                  f"is it the right file?") from err
        models.append(model)
    return DeepModel(models, config, files)


def average_mask(deep: DeepModel, magnitude: np.ndarray) -> np.ndarray:
    """Mean vocal mask of the model's members: magnitude (B, frames, bins) -> mask (B, frames, bins) float32."""
    masks = [np.asarray(model.predict_on_batch(magnitude)["mask"], dtype=np.float32) for model in deep.models]
    return masks[0] if len(masks) == 1 else np.mean(masks, axis=0)


def deep_mask(deep: DeepModel, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Soft vocal mask of (channels, samples) at the model's rate -> (mask, complex STFT), (C, bins, frames)."""
    from . import stft

    window, hop = deep.config.get("window", params.DEEP_WINDOW), deep.config.get("hop", params.DEEP_HOP)
    spec = stft.stft(audio, window, hop)
    magnitude = np.abs(spec).swapaxes(-1, -2).astype(np.float32)        # (C, frames, bins)
    return average_mask(deep, magnitude).swapaxes(-1, -2), spec


def separate_deep(audio: np.ndarray, rate: int, deep: DeepModel, accompaniment: str = "residual"):
    """Deep mask inference on (channels, samples) -> (vocals, accompaniment), each (channels, samples)."""
    from common.audio import resample

    from . import stft

    model_rate = int(deep.config.get("rate", 16000))
    window, hop = deep.config.get("window", params.DEEP_WINDOW), deep.config.get("hop", params.DEEP_HOP)
    x = resample(audio, rate, model_rate) if rate != model_rate else audio
    mask, spec = deep_mask(deep, x)
    vocals = stft.istft(spec * mask, x.shape[-1], window, hop)
    if accompaniment == "masked":
        backing = stft.istft(spec * (1.0 - mask), x.shape[-1], window, hop)
    else:
        backing = x - vocals
    if rate != model_rate:
        vocals, backing = (_fit(resample(y, model_rate, rate), audio.shape[-1]) for y in (vocals, backing))
        if accompaniment == "residual":
            backing = audio - vocals
    return vocals.astype(np.float32), backing.astype(np.float32)


def _fit(y: np.ndarray, length: int) -> np.ndarray:
    if y.shape[-1] >= length:
        return y[..., :length]
    return np.pad(y, ((0, 0), (0, length - y.shape[-1])))


class Separator:
    """``Separator(method, weights=None)(audio (C, S), rate) -> (vocals, accompaniment)`` (C, S) float32."""

    def __init__(self, method: str, weights: str | Path | None = None, accompaniment: str = "residual",
                 **options):
        if method not in params.METHODS:
            raise SeparationError(f"unknown method {method!r}; choose one of {', '.join(params.METHODS)}")
        if accompaniment not in ("residual", "masked"):
            raise SeparationError(f"accompaniment must be 'residual' or 'masked', got {accompaniment!r}")
        self.method = method
        self.accompaniment = accompaniment
        self.options = options
        self.deep = load_deep_model(weights) if method == "deep" else None

    def __call__(self, audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None]
        if audio.ndim != 2 or audio.shape[-1] == 0:
            raise SeparationError(f"audio must be (channels, samples) with samples > 0, got shape {audio.shape}")
        if not np.all(np.isfinite(audio)):
            raise SeparationError("audio holds NaN or Inf samples")
        if self.method == "deep":
            return separate_deep(audio, rate, self.deep, self.accompaniment)
        if self.method == "repet":
            from .repet import separate_repet
            return separate_repet(audio, rate, **self.options)
        if self.method == "hpss":
            from .hpss import separate_hpss
            return separate_hpss(audio, rate, **self.options)
        from .harmonic import separate_harmonic
        return separate_harmonic(audio, rate, **self.options)


def separate_file(separator: Separator, path, folder: str | Path, subtype: str = "FLOAT", plots: bool = False,
                  suffix: str = ".wav") -> Path:
    """Separate one audio file into folder/{vocals,accompaniment}<suffix> (plus spectrograms.png with
    ``plots``); returns the folder."""
    from common.audio import load_audio, save_audio

    audio, rate = load_audio(path)
    vocals, backing = separator(audio, rate)
    folder = Path(folder)
    save_audio(folder / f"vocals{suffix}", vocals, rate, subtype=subtype)
    save_audio(folder / f"accompaniment{suffix}", backing, rate, subtype=subtype)
    if plots:
        from common.plots import save_separation_figure

        save_separation_figure(folder / "spectrograms.png", audio, {"vocals": vocals, "accompaniment": backing},
                               rate, title=f"{separator.method}: {folder.name}")
    return folder


def separate_files(inputs: list[str], method: str, outdir: str | Path, weights=None,
                   accompaniment: str = "residual", subtype: str = "FLOAT", plots: bool = False,
                   suffix: str = ".wav", **options) -> list[Path]:
    """Separate every input file into outdir/<name>/{vocals,accompaniment}.wav (plus
    spectrograms.png with ``plots``); returns the track folders. The first failure raises (the
    command line goes on past it instead: common.cli.run_batch)."""
    from common.cli import CLIError, output_names

    try:
        names = output_names(inputs)
    except CLIError as err:
        raise SeparationError(str(err)) from None
    separator = Separator(method, weights, accompaniment, **options)
    return [separate_file(separator, path, Path(outdir) / name, subtype, plots, suffix)
            for path, name in zip(inputs, names)]


def build_parser() -> argparse.ArgumentParser:
    from common.cli import add_separate_arguments

    p = argparse.ArgumentParser(prog="python -m mask_inference.separate", description=__doc__.split("\n")[0])
    add_separate_arguments(p, inputs="audio files (WAV/FLAC/...; mono or stereo)",
                           weights="deep: training run folder, bag folder or model.weights.h5 (default: the shipped model)",
                           sources=("vocals", "accompaniment"))
    p.add_argument("--method", choices=params.METHODS, default="deep", help="default: deep")
    p.add_argument("--accompaniment", choices=("residual", "masked"), default="residual",
                   help="deep: mixture - vocals (the original, default) or the (1 - mask) estimate")
    p.add_argument("--window", type=int, help="repet/hpss STFT window, hop = window / 4 (default: nussl's "
                                              "rule, 512 at 16 kHz, 2048 at 44.1 kHz)")
    return p


def main(argv=None) -> int:
    from common.cli import (CLIError, output_names, parse_separate_args, quiet_tensorflow, run_batch,
                            run_cli)

    p = build_parser()
    args = parse_separate_args(p, argv)
    if args.window is not None and (args.method not in ("repet", "hpss") or args.window < 16):
        p.error("--window applies to --method repet or hpss and must be >= 16")
    quiet_tensorflow()

    def run() -> int:
        names = output_names(args.inputs, args.name_from_folder)
        options = {"window": args.window} if args.window else {}
        separator = Separator(args.method, args.weights, args.accompaniment, **options)

        def process(path: str, name: str) -> str:
            return str(separate_file(separator, path, Path(args.outdir) / name, args.subtype, args.plots,
                                     args.suffix))

        return run_batch(args.inputs, names, process, quiet=args.quiet, errors=(SeparationError, ValueError),
                         outdir=args.outdir, desc=f"separating ({args.method})")

    return run_cli(run, errors=(SeparationError, CLIError))


if __name__ == "__main__":
    from common.cli import exit_now

    exit_now(main())
