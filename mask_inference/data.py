"""Training mixtures in the manner of the tutorial's on-the-fly mixer, as a tf.data pipeline.

The original (source-separation/tutorial:common/data.py::mixer with scaper 1.6, design §1.4, §3)
draws, for mixture i with np.random.RandomState(i): one song (coherent: all stems from it, same
offset), a 5-s mono excerpt, a reference loudness ref_db ~ U[-30, -10] LUFS and, per stem, an
SNR ~ U[-5, 5] dB; each stem is set to ref_db + snr LUFS; with probability 0.5 one pitch shift
~ U[-2, 2] semitones and one time stretch ~ U[0.9, 1.1] shared by all stems; 10 ms fades; the
mixture is the sum and is peak-normalised together with the stems only if it clips.

Here a "song" is a pair of mono stems (accompaniment, vocals): a MIR-1K clip (left, right channels)
or a MUSDB track (vocals; drums + bass + other, downmixed to mono). The network input is the
mixture magnitude and the target the vocal magnitude, both (frames, 257).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal

from . import params, stft


class DataError(ValueError):
    """Training data that cannot be used (no clips, too few samples, wrong rate...)."""


@dataclass
class StemPair:
    """One song for the mixer: mono stems of equal length at ``rate``. Arrays are (samples,)."""
    name: str
    accompaniment: np.ndarray
    vocals: np.ndarray
    rate: int


# ----------------------------------------------------------------------------------------------
# Loudness (ITU-R BS.1770 integrated loudness, as pyloudnorm computes it for scaper)
# ----------------------------------------------------------------------------------------------

def _biquad_high_shelf(rate: int, gain_db: float = 4.0, q: float = 1 / math.sqrt(2), fc: float = 1500.0):
    a_lin = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * fc / rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    b = [a_lin * ((a_lin + 1) + (a_lin - 1) * cos + 2 * math.sqrt(a_lin) * alpha),
         -2 * a_lin * ((a_lin - 1) + (a_lin + 1) * cos),
         a_lin * ((a_lin + 1) + (a_lin - 1) * cos - 2 * math.sqrt(a_lin) * alpha)]
    a = [(a_lin + 1) - (a_lin - 1) * cos + 2 * math.sqrt(a_lin) * alpha,
         2 * ((a_lin - 1) - (a_lin + 1) * cos),
         (a_lin + 1) - (a_lin - 1) * cos - 2 * math.sqrt(a_lin) * alpha]
    return np.array(b) / a[0], np.array(a) / a[0]


def _biquad_high_pass(rate: int, q: float = 0.5, fc: float = 38.0):
    w0 = 2 * math.pi * fc / rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
    a = [1 + alpha, -2 * cos, 1 - alpha]
    return np.array(b) / a[0], np.array(a) / a[0]


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """BS.1770 integrated loudness (LUFS) of a mono signal (samples,); -inf when silent.

    K-weighting (high shelf +4 dB at 1.5 kHz, high pass at 38 Hz, biquads designed for ``rate``),
    400 ms blocks with 75 % overlap, absolute gate -70 LUFS, relative gate -10 LU.
    """
    x = np.asarray(audio, dtype=np.float64)
    for b, a in (_biquad_high_shelf(rate), _biquad_high_pass(rate)):
        x = scipy.signal.lfilter(b, a, x)
    block = int(round(0.4 * rate))
    step = block // 4
    if len(x) <= block:
        z = np.array([np.mean(x ** 2)])
    else:
        starts = np.arange(0, len(x) - block + 1, step)
        csum = np.concatenate([[0.0], np.cumsum(x ** 2)])
        z = (csum[starts + block] - csum[starts]) / block
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(z)
    kept = z[loud >= -70.0]
    if kept.size == 0:
        return float("-inf")
    relative_gate = -0.691 + 10 * np.log10(kept.mean()) - 10.0
    kept = z[(loud >= -70.0) & (loud >= relative_gate)]
    return float(-0.691 + 10 * np.log10(kept.mean()))


# ----------------------------------------------------------------------------------------------
# The mixer
# ----------------------------------------------------------------------------------------------

@dataclass
class MixerConfig:
    """Mixer settings; the defaults are the tutorial's (design §1.4)."""
    duration: float = params.EXCERPT_SECONDS
    ref_db: tuple[float, float] = params.REF_DB_RANGE
    snr: tuple[float, float] = params.SNR_RANGE
    pitch_shift: tuple[float, float] = params.PITCH_SHIFT_RANGE
    time_stretch: tuple[float, float] = params.TIME_STRETCH_RANGE
    augment_prob: float = params.AUGMENT_PROB
    fix_clipping: bool = True


def _fade(x: np.ndarray, rate: int) -> np.ndarray:
    n = min(int(params.FADE_SECONDS * rate), len(x) // 2)
    if n > 0:
        ramp = np.sin(np.linspace(0, np.pi / 2, n)) ** 2
        x = x.copy()
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def pitch_and_tempo(stems: np.ndarray, rate: int, semitones: float, stretch: float) -> np.ndarray:
    """Shift the pitch of (n, samples) by ``semitones`` and multiply its duration by ``stretch``.

    One phase-vocoder pass and one resampling (librosa), shared by all stems (coherent); the
    original used sox's quick pitch and tempo effects through scaper.
    """
    import librosa

    ratio = 2.0 ** (semitones / 12.0)
    stretched = librosa.effects.time_stretch(stems, rate=1.0 / (ratio * stretch))
    return librosa.resample(stretched, orig_sr=rate * ratio, target_sr=rate, res_type="soxr_hq",
                            fix=False)


class Mixer:
    """Deterministic mixture ``i`` from a list of songs: ``mix(i) -> (mixture, vocals)`` (samples,)."""

    def __init__(self, songs: list[StemPair], config: MixerConfig | None = None):
        if not songs:
            raise DataError("the mixer got no songs: the training folder holds no usable clips")
        rates = {s.rate for s in songs}
        if len(rates) != 1:
            raise DataError(f"songs have different sample rates {sorted(rates)}; resample them to one rate")
        self.songs = songs
        self.rate = rates.pop()
        self.config = config or MixerConfig()
        self.length = int(round(self.config.duration * self.rate))

    def mix(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        rng = np.random.RandomState(index % (2 ** 32))
        song = self.songs[rng.randint(len(self.songs))]
        augment = rng.rand() < cfg.augment_prob
        semitones = rng.uniform(*cfg.pitch_shift) if augment else 0.0
        stretch = rng.uniform(*cfg.time_stretch) if augment else 1.0
        # source excerpt long enough to give `length` samples after the stretch
        need = int(math.ceil(self.length / stretch)) + 1
        total = len(song.vocals)
        offset = rng.randint(0, max(total - need, 0) + 1)
        stems = np.stack([song.accompaniment[offset:offset + need], song.vocals[offset:offset + need]])
        if augment:
            stems = pitch_and_tempo(stems, self.rate, semitones, stretch)
        stems = stems[:, :self.length]
        if stems.shape[1] < self.length:  # short clip: padded with silence, as scaper pads events
            stems = np.pad(stems, ((0, 0), (0, self.length - stems.shape[1])))
        ref_db = rng.uniform(*cfg.ref_db)
        out = []
        for stem in stems:
            snr = rng.uniform(*cfg.snr)
            loud = integrated_loudness(stem, self.rate)
            gain = 10 ** ((ref_db + snr - loud) / 20) if np.isfinite(loud) else 1.0
            out.append(_fade(stem * gain, self.rate))
        accompaniment, vocals = out
        mixture = accompaniment + vocals
        peak = np.max(np.abs(mixture))
        if cfg.fix_clipping and peak > 1.0:
            mixture, vocals = mixture / peak, vocals / peak
        return mixture.astype(np.float32), vocals.astype(np.float32)

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(mixture magnitude, vocal magnitude), each float32 (frames, 257)."""
        mixture, vocals = self.mix(index)
        return stft.magnitude_frames(mixture), stft.magnitude_frames(vocals)

    @property
    def frames(self) -> int:
        return stft.num_frames(self.length)


def make_dataset(mixer: Mixer, batch_size: int = params.BATCH_SIZE, start: int = 0,
                 stop: int | None = None):
    """tf.data pipeline of batches ((B, T, 257) mixture, (B, T, 257) vocals) over mixtures
    ``start`` to ``stop`` (exclusive; None = endless).

    Mixture indices run start, start + 1, ... in order (the original's sequential sampler), so a
    resumed run continues exactly where it stopped. Give ``stop`` when the number of iterations is
    known: an endless pipeline whose prefetch thread is still calling ``numpy_function`` when the
    interpreter exits can deadlock it (seen here: the process hung after training had finished).
    """
    import tensorflow as tf

    frames, bins = mixer.frames, params.NUM_BINS

    def load(index):
        mix, voc = tf.numpy_function(lambda i: mixer.example(int(i)), [index], [tf.float32, tf.float32])
        mix.set_shape((frames, bins))
        voc.set_shape((frames, bins))
        return mix, voc

    ds = tf.data.Dataset.range(start, 2 ** 62 if stop is None else stop)
    ds = ds.map(load, num_parallel_calls=1, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(2)


def validation_arrays(mixer: Mixer, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` fixed validation mixtures (seeds 0..count-1) -> two float32 (count, T, 257) arrays."""
    pairs = [mixer.example(i) for i in range(count)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


# ----------------------------------------------------------------------------------------------
# Songs from the datasets (through common.datasets)
# ----------------------------------------------------------------------------------------------

def mir1k_songs(root: str | Path, split: str) -> list[StemPair]:
    """MIR-1K clips of ``split`` as mono stem pairs at 16 kHz (left = accompaniment, right = vocals)."""
    from common.datasets import load_mir1k_clip, mir1k_clips

    paths = mir1k_clips(root, split)
    if not paths:
        raise DataError(f"no MIR-1K clips for split '{split}' under {root}; expected {root}/{split}/*.wav|flac")
    songs = []
    for path in paths:
        track = load_mir1k_clip(path, mix="sum")
        songs.append(StemPair(track.name, track.sources["accompaniment"][0], track.sources["vocals"][0],
                              track.rate))
    return songs


def musdb_songs(root: str | Path, split: str, musdb_format: str = "auto") -> list[StemPair]:
    """MUSDB18 training tracks of ``split`` ('train' or 'valid') as mono pairs at 44.1 kHz.

    musdb_format: "wav" (MUSDB18-HQ), "stems" (MUSDB18 .stem.mp4) or "auto" (detected from the folder).

    vocals vs bass + drums + other (SumSources in the original). Everything is held in memory:
    fine for the 7-s sample set the original used, ~8 GB for full MUSDB18.
    """
    from common.datasets import iter_musdb

    songs = []
    for track in iter_musdb(root, subsets="train", split=split, musdb_format=musdb_format):
        accompaniment = sum(track.sources[k] for k in ("bass", "drums", "other")).mean(axis=0)
        songs.append(StemPair(track.name, accompaniment.astype(np.float32),
                              track.sources["vocals"].mean(axis=0).astype(np.float32), track.rate))
    if not songs:
        raise DataError(f"no MUSDB18 tracks in split '{split}' under {root}")
    return songs
