"""REPET (Rafii & Pardo 2012) exactly as nussl 1.1.9 runs it with its defaults.

nussl/nussl:nussl/separation/primitive/repet.py (design §2.7):
  1. V = |STFT| (bins, frames, channels), nussl's default STFT for the rate (stft.default_window).
  2. beat spectrum: the mean over channels of V**2; autocorrelation of every frequency row along
     time (zero-padded to 2T then to a power of two, Wiener-Khinchin), lags 0..T-1 divided by
     (T - lag), then the mean over frequencies.
  3. period = argmax of the beat spectrum over lags [min, max] (inclusive), min = 0.8 s and
     max = min(8 s, duration / 3), both converted to frames with ceil(seconds / (hop / rate)).
  4. per channel: V cut into segments of one period (NaN-padded), their nanmedian tiled back,
     W = min(median model, V), background mask (W + eps) / (V + eps), foreground = 1 - background.
  5. bins below the one closest to 100 Hz go to the background (HighLowPassFilter).
Vocals = foreground, accompaniment = background, both with the mixture phase.
"""
from __future__ import annotations

import math

import numpy as np

from . import params, stft


def beat_spectrum(power: np.ndarray) -> np.ndarray:
    """Beat spectrum of a power spectrogram (bins, frames) -> (frames,), lag 0 first."""
    bins, frames = power.shape
    size = 2 ** int(math.ceil(math.log2(2 * frames)))
    spectrum = np.fft.fft(power, n=size, axis=1)
    autocorrelation = np.real(np.fft.ifft(np.abs(spectrum) ** 2, axis=1))[:, :frames]
    autocorrelation = autocorrelation / np.arange(frames, 0, -1)[None, :]
    return autocorrelation.mean(axis=0)


def seconds_to_frames(seconds: float, hop: int, rate: int) -> int:
    """nussl's _update_period: ceil(seconds / (hop / rate))."""
    return int(math.ceil(float(seconds) / (hop / rate)))


def find_period(beat: np.ndarray, min_frames: int, max_frames: int) -> int:
    """Lag in [min_frames, max_frames] with the largest beat-spectrum value (nussl's simple search)."""
    candidates = beat[1:][min_frames - 1:max_frames]
    if candidates.size == 0:
        raise ValueError(f"REPET: no period to search: lags {min_frames}..{max_frames} frames, beat spectrum "
                         f"of {beat.size} lags; the clip is too short for REPET")
    return int(np.argmax(candidates)) + min_frames


def repeating_mask(magnitude: np.ndarray, period: int, eps: float = params.REPET_EPS) -> np.ndarray:
    """Soft background mask of one channel's magnitude (bins, frames) for a period in frames."""
    bins, frames = magnitude.shape
    repetitions = int(math.ceil(frames / period))
    padded = np.full((bins, repetitions * period), np.nan)
    padded[:, :frames] = magnitude
    segments = padded.reshape(bins, repetitions, period)
    model = np.nanmedian(segments, axis=1)               # (bins, period)
    model = np.tile(model, (1, repetitions))[:, :frames]
    return (np.minimum(model, magnitude) + eps) / (magnitude + eps)


def high_pass_bin(rate: int, window: int, cutoff: float = params.REPET_HIGH_PASS) -> int:
    """Index of the bin closest to ``cutoff`` on nussl's freq_vector = linspace(0, rate // 2, bins)."""
    freqs = np.linspace(0, rate // 2, window // 2 + 1)
    return int(np.argmin(np.abs(freqs - cutoff)))


def repet_masks(spec: np.ndarray, rate: int, window: int, hop: int, duration: float,
                min_period: float = params.REPET_MIN_PERIOD, max_period: float = params.REPET_MAX_PERIOD,
                period: float | None = None, high_pass: float = params.REPET_HIGH_PASS):
    """REPET masks for a complex STFT (channels, bins, frames).

    Returns (background, foreground) masks shaped like ``spec`` and the period in frames.
    """
    magnitude = np.abs(spec)
    if period is None:
        beat = beat_spectrum(np.mean(magnitude ** 2, axis=0))
        lo = seconds_to_frames(min_period, hop, rate)
        hi = seconds_to_frames(min(max_period, duration / 3.0), hop, rate)
        if hi < lo and max_period >= min_period:  # nussl fails here with an empty argmax
            raise ValueError(f"REPET: the clip is too short ({duration:.2f} s): the repeating period is searched "
                             f"from {min_period:g} s ({lo} frames) up to a third of the clip ({duration / 3:.2f} s, "
                             f"{hi} frames), so REPET needs more than {3 * (lo - 1) * hop / rate:.3f} s of audio "
                             f"(a third of it must reach {lo} frames)")
        period_frames = find_period(beat, lo, hi)
    else:
        period_frames = seconds_to_frames(period, hop, rate)
    background = np.stack([repeating_mask(m, period_frames) for m in magnitude])
    foreground = 1.0 - background
    k = high_pass_bin(rate, window, high_pass)
    background[:, :k, :] = np.maximum(background[:, :k, :], 1.0)
    foreground[:, :k, :] = np.minimum(foreground[:, :k, :], 0.0)
    return background, foreground, period_frames


def separate_repet(audio: np.ndarray, rate: int, window: int | None = None, hop: int | None = None,
                   **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """REPET on (channels, samples) -> (vocals, accompaniment), each (channels, samples) float32."""
    if window is None:
        window, hop = stft.default_window(rate)
    elif hop is None:
        hop = window // params.DEFAULT_HOP_DIVISOR
    spec = stft.stft(audio, window, hop)
    background, foreground, _ = repet_masks(spec, rate, window, hop, audio.shape[-1] / rate, **kwargs)
    n = audio.shape[-1]
    return stft.istft(spec * foreground, n, window, hop), stft.istft(spec * background, n, window, hop)
