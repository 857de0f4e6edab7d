"""Separation into vocals, drums, bass and other: the Python API and ``python -m xumx_slicq.separate``.

    python -m xumx_slicq.separate INPUT [INPUT ...] --weights W --outdir OUT
                                  [--wiener stft|slicq] [--legacy] [--niter N] [--residual] [--softmask]

writes OUT/<input name>/{vocals,drums,bass,other}.wav (stereo float32, 44.1 kHz, as long as the input).

The computation is the original's Separator (sevagh/xumx-sliCQ@v1-release:xumx_slicq/model.py
Separator.forward, design §6), chunk by chunk (2,621,440 samples, no overlap, as v1-release):
X = sliCQT(mix); the four networks give magnitudes Y_j from |X|; then either

- ``wiener="stft"`` (the original's default): y_j = isliCQT(Y_j e^{i angle X}); STFT (4096/1024) of the
  mixture and of each y_j; Wiener-EM on |STFT(y_j)| in windows of 300 frames; inverse STFT; or
- ``wiener="slicq"``: Wiener-EM on the sliCQT itself (each row's R_j over the whole chunk), then isliCQT.

Mono input is duplicated to stereo and more than two channels keep the first two (utils.preprocess);
other rates are resampled to 44.1 kHz. Inputs shorter than 9031 samples (which crash the original) are
zero-padded and the outputs cropped back.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .params import (CHUNK_SAMPLES, MIN_SAMPLES, NB_CHANNELS, NITER, SAMPLE_RATE, TARGETS,
                     WIENER_WIN_LEN)

WIENER_MODES = ("stft", "slicq")
HALVES = (slice(0, 2), slice(2, None))   # the sources in two groups, one per thread
WEIGHTS_NAME = "model.weights.h5"


class WeightsError(ValueError):
    """No usable weights at the given path; the message names it and says how to get some."""


NO_WEIGHTS = ("xumx-sliCQ has no trained model here (the original's pretrained weights cannot be obtained): "
              "train one with `python -m xumx_slicq.train --root MUSDB18HQ --out RUN` and pass --weights RUN, "
              "or pass a .npz in the original PyTorch state-dict layout")


def _weights_file(weights) -> Path:
    """--weights (a run folder, a .weights.h5 or a .npz state dict) -> the file, or WeightsError."""
    if weights is None:
        raise WeightsError(NO_WEIGHTS)
    path = Path(weights)
    if path.is_dir():
        candidates = [path / WEIGHTS_NAME] if (path / WEIGHTS_NAME).is_file() else sorted(path.glob("*.npz"))
        if len(candidates) != 1:
            raise WeightsError(f"{path}: expected {WEIGHTS_NAME} (a training run) or one .npz state dict in "
                               f"this folder, found {len(candidates) or 'none'}; {NO_WEIGHTS}")
        path = candidates[0]
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found; {NO_WEIGHTS}")
    if path.suffix != ".npz" and not path.name.endswith(".weights.h5"):
        raise WeightsError(f"{path}: unknown weights format (expected a .weights.h5 or a .npz state dict)")
    return path


def load_model(weights):
    """The four-target Keras network (trainable) with trained weights.

    weights: a training run folder (holding ``model.weights.h5``), a Keras ``.weights.h5`` file, or a
    ``.npz`` in the original PyTorch state-dict layout (keys ``bucketed_unmixes_<target>.<block>...``).
    """
    path = _weights_file(weights)
    from .model import build_model

    model = build_model(init=False)   # weights are loaded next: no random initialisation
    if path.suffix == ".npz":
        from .weights import load_state_dict

        load_state_dict(model, path)
    else:
        try:
            model.load_weights(str(path))
        except (ValueError, OSError) as err:
            raise WeightsError(f"{path}: not xumx-sliCQ weights ({str(err).splitlines()[0]})") from None
    return model


def load_network(weights):
    """The four networks for separation only (:class:`~.frozen.FrozenNetwork`): the same weights and outputs
    as :func:`load_model` in eval mode, without building the Keras model (~0.1 s instead of ~1.4 s, a large
    part of a command-line run). ``weights`` as for :func:`load_model`; a ``.weights.h5`` whose layout
    :func:`~.weights.read_keras_weights` does not recognise goes through the Keras model."""
    path = _weights_file(weights)
    network = _read_network(path)
    if network is None:
        from .model import freeze

        network = freeze(load_model(path))
    return network


def _read_network(path: Path):
    """A FrozenNetwork straight from the file (numpy and h5py only: no TensorFlow or Keras import, so it runs
    before TensorFlow is imported), or None for an .h5 that only Keras can read."""
    from .frozen import FrozenNetwork
    from .weights import frozen_from_state_dict, read_keras_weights

    if path.suffix == ".npz":
        return frozen_from_state_dict(path)
    stacked = read_keras_weights(path)
    return FrozenNetwork(stacked) if stacked is not None else None


def to_stereo(audio: np.ndarray) -> np.ndarray:
    """(channels, samples) -> (2, samples) float32: mono duplicated, channels beyond two dropped."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.shape[0] == 1:
        audio = np.repeat(audio, NB_CHANNELS, axis=0)
    return np.ascontiguousarray(audio[:NB_CHANNELS])


class Separator:
    """xumx-sliCQ inference, chunk by chunk.

    __call__(audio (channels, samples) float at 44.1 kHz) -> {target: (2, samples) float32}, targets in
    params.TARGETS order (plus "residual" with ``residual=True``).

    wiener: "stft" or "slicq"; stft_window: "hann" (default) or "boxcar" (the original's, ``--legacy``);
    niter: EM iterations (the original always ran 1); chunk_samples: independent chunks of this many
    samples (the original's 2,621,440; memory grows with it).
    """

    def __init__(self, model, wiener: str = "stft", stft_window: str = "hann", niter: int = NITER,
                 residual: bool = False, softmask: bool = False, chunk_samples: int = CHUNK_SAMPLES,
                 wiener_win_len: int = WIENER_WIN_LEN):
        if wiener not in WIENER_MODES:
            raise ValueError(f"wiener must be one of {WIENER_MODES}, got {wiener!r}")
        if chunk_samples < MIN_SAMPLES:
            raise ValueError(f"chunk_samples must be at least {MIN_SAMPLES}")
        from .transform import get_slicqt

        self.model = model
        self.slicqt = get_slicqt()
        self.wiener, self.stft_window, self.niter = wiener, stft_window, int(niter)
        self.residual, self.softmask = residual, softmask
        self.chunk_samples, self.wiener_win_len = int(chunk_samples), int(wiener_win_len)
        self.names = TARGETS + (("residual",) if residual else ())
        self.timings: dict[str, float] = defaultdict(float)   # seconds per stage, summed over calls

    @contextmanager
    def _stage(self, name: str):
        start = time.perf_counter()
        yield
        self.timings[name] += time.perf_counter() - start

    # ---- one chunk -------------------------------------------------------------------------------

    def magnitudes(self, blocks: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
        """The networks on |X|: 70 complex blocks (2, nf, S, M) -> {target: 70 blocks (2, nf, S, M)}."""
        mags = [np.abs(b)[None] for b in blocks]
        out = self.model(mags)
        return {t: [np.asarray(b)[0] for b in out[t]] for t in TARGETS}

    def separate_chunk(self, audio: np.ndarray) -> np.ndarray:
        """(2, L) float32 -> (sources, 2, L) float32, sources in ``self.names`` order.

        The per-source steps (inverse sliCQT, STFT, inverse STFT) and the Wiener windows run on one thread
        per core (``wiener.map_threads``): numpy and scipy release the GIL in them."""
        from .wiener import map_threads, wiener

        length = audio.shape[-1]
        if length < MIN_SAMPLES:  # the original crashes below this (S = 2); pad, then crop
            audio = np.pad(audio, ((0, 0), (0, MIN_SAMPLES - length)))
        n = audio.shape[-1]
        with self._stage("transform"):
            x = self.slicqt.forward(audio)                               # 70 x (2, nf, S, M) complex64
        with self._stage("networks"):
            ymag = self.magnitudes(x)
        if self.wiener == "slicq":
            with self._stage("wiener"):
                v = [np.stack([ymag[t][b] for t in TARGETS]) for b in range(len(x))]   # (4, 2, nf, S, M)
                y = wiener([vb.reshape(*vb.shape[:3], -1) for vb in v],
                           [xb.reshape(*xb.shape[:2], -1) for xb in x], self.niter, softmask=self.softmask,
                           residual=self.residual)
                blocks = [yb.reshape(yb.shape[0], *xb.shape) for yb, xb in zip(y, x)]
            with self._stage("transform"):                            # (sources, 2, n), two halves on two threads
                out = np.concatenate(map_threads(lambda part: self.slicqt.backward([b[part] for b in blocks], n),
                                                 HALVES))
        else:
            from .stft import istft, stft
            from .wiener import mix_phase

            with self._stage("transform"):
                phases = [mix_phase(xb) for xb in x]

                def inverse(targets):  # isliCQT of the mix-phase estimates of some targets: (len, 2, n)
                    return self.slicqt.backward([np.stack([ymag[t][b] for t in targets]) * phase
                                                 for b, phase in enumerate(phases)], n)

                y0 = np.concatenate(map_threads(inverse, [TARGETS[part] for part in HALVES]))  # (4, 2, n)
            with self._stage("wiener"):
                mix = stft(audio, self.stft_window)                   # (2, F, T)
                v = np.concatenate(map_threads(lambda part: np.abs(stft(y0[part], self.stft_window)),
                                               HALVES))                 # (4, 2, F, T)
                spec = np.empty((len(self.names),) + mix.shape, dtype=mix.dtype)
                windows = [slice(start, start + self.wiener_win_len)
                           for start in range(0, mix.shape[-1], self.wiener_win_len)]

                def filter_window(win):  # each window its own Wiener call (and scale factor), as the original
                    spec[..., win] = wiener(v[..., win], mix[..., win], self.niter, softmask=self.softmask,
                                            residual=self.residual)

                map_threads(filter_window, windows)
                out = np.concatenate(map_threads(lambda part: istft(spec[part], n, self.stft_window), HALVES))
        return np.ascontiguousarray(out[..., :length], dtype=np.float32)

    # ---- a whole signal --------------------------------------------------------------------------

    def __call__(self, audio: np.ndarray, progress: bool = False) -> dict[str, np.ndarray]:
        audio = to_stereo(audio)
        n = audio.shape[-1]
        starts = range(0, max(n, 1), self.chunk_samples)
        if progress and len(starts) > 1:
            from tqdm import tqdm

            starts = tqdm(starts, desc="chunks", unit="chunk", leave=False)
        parts = [self.separate_chunk(audio[:, s:s + self.chunk_samples]) for s in starts]
        est = np.concatenate(parts, axis=-1)
        return {name: est[k] for k, name in enumerate(self.names)}


def separate(audio: np.ndarray, rate: int = SAMPLE_RATE, weights=None, separator: Separator | None = None,
             **options) -> dict[str, np.ndarray]:
    """Separate ``audio`` (channels, samples) at ``rate`` Hz: {target: (2, samples at 44.1 kHz) float32}.

    Pass ``weights`` (see :func:`load_model`) or a ready ``separator``; other keyword arguments go to
    :class:`Separator` (``wiener``, ``stft_window``, ``niter``, ``residual``, ``softmask``, ``chunk_samples``).
    """
    from common.audio import check_finite, resample

    audio = np.asarray(audio, dtype=np.float32)
    check_finite(audio)
    if int(rate) != SAMPLE_RATE:
        audio = resample(audio, int(rate), SAMPLE_RATE)
    if separator is None:
        separator = Separator(load_network(weights), **options)
    return separator(audio)


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from common.cli import add_separate_arguments

    p = argparse.ArgumentParser(prog="python -m xumx_slicq.separate", description=__doc__.split("\n\n")[0])
    add_separate_arguments(p, inputs="audio files (any rate; mono duplicated to stereo)",
                           weights="training run folder (model.weights.h5), a .weights.h5 file, or a .npz in the "
                                   "original PyTorch state-dict layout", sources=TARGETS)
    p.add_argument("--wiener", choices=WIENER_MODES, default="stft",
                   help="Wiener-EM on the STFT (default, as the original) or on the zero-padded sliCQT")
    p.add_argument("--legacy", action="store_true",
                   help="the original's rectangular STFT window in STFT mode (the published STFT-mode figures)")
    p.add_argument("--niter", type=int, default=NITER, help=f"Wiener-EM iterations (default {NITER}, as the "
                                                             "original really ran)")
    p.add_argument("--residual", action="store_true", help="also write residual.wav (mixture minus the targets, "
                                                           "refined by the EM as a fifth source)")
    p.add_argument("--softmask", action="store_true",
                   help="initial estimates by ratio masks instead of magnitudes with the mixture phase")
    p.add_argument("--chunk-seconds", type=float, default=CHUNK_SAMPLES / SAMPLE_RATE,
                   help="independent chunks of this length (default 59.44 s, the original's; memory grows "
                        "with it)")
    return p


def main(argv=None) -> int:
    from common.cli import (CLIError, import_tensorflow_without_keras, keep_freed_memory, output_names,
                            parse_separate_args, quiet_tensorflow, run_batch, run_cli)

    parser = build_parser()
    args = parse_separate_args(parser, argv)
    if args.niter < 0:
        parser.error("--niter must be 0 or more")
    quiet_tensorflow()
    keep_freed_memory()
    import threading

    from common.audio import load_audio, save_audio

    from .weights import StateDictError

    def run() -> int:
        names = output_names(args.inputs, args.name_from_folder)
        path = _weights_file(args.weights)
        # The weights are read and folded before TensorFlow is imported (which leaves Keras out: the frozen
        # networks do not use it). Done on a worker thread during the import, with the first input's decoding,
        # the whole command took ~1 s longer: the import is Python-bound and the two threads fought for the
        # GIL (A/B of the command, 30 s song: 7.2-8.1 s against 6.4-6.6 s).
        network = _read_network(path)
        import_tensorflow_without_keras()
        network = network or load_network(path)
        # the networks' graph is traced (~0.5 s of Python) while the first chunk is transformed
        threading.Thread(target=network.trace, daemon=True).start()
        separator = Separator(network, wiener=args.wiener,
                              stft_window="boxcar" if args.legacy else "hann", niter=args.niter,
                              residual=args.residual, softmask=args.softmask,
                              chunk_samples=max(MIN_SAMPLES, int(round(args.chunk_seconds * SAMPLE_RATE))))

        def process(path: str, name: str) -> str:
            x, _ = load_audio(path, sr=SAMPLE_RATE, max_channels=None)
            estimates = separator(x, progress=not args.quiet)
            folder = Path(args.outdir) / name
            for target, audio in estimates.items():
                save_audio(folder / f"{target}{args.suffix}", audio, SAMPLE_RATE, subtype=args.subtype)
            if args.plots:
                from common.plots import save_separation_figure

                save_separation_figure(folder / "spectrograms.png", x, estimates, SAMPLE_RATE,
                                       title=f"xumx-sliCQ: {name}")
            return f"{path} -> {folder}/{{{','.join(estimates)}}}{args.suffix}"

        return run_batch(args.inputs, names, process, quiet=args.quiet, outdir=args.outdir)

    return run_cli(run, errors=(WeightsError, StateDictError, CLIError))


if __name__ == "__main__":
    from common.cli import exit_now

    exit_now(main())
